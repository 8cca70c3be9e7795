"""`teambot status [FEATURE] [--json]`: what a run has done, read without disturbing it."""

from __future__ import annotations

import json
from pathlib import Path

import click

from teambot.cli.common import workspace_option


@click.command("status")
@click.argument("feature", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@workspace_option
def command(feature: str | None, as_json: bool, workspace: Path | None) -> int:
    """Show a run's stages, their status, agent, attempts and timing."""
    from teambot import service
    from teambot.cli.common import pick_feature, workspace_dir

    ws = workspace_dir(workspace)
    if feature is None and len(service.feature_names(ws)) > 1:
        summaries = service.list_runs(ws)
        if as_json:
            shown = _emit(dumps({"runs": [s.model_dump(mode="json") for s in summaries]}))
        else:
            lines = []
            for s in summaries:
                cost = f"  cost {_money(s.cost_usd)}" if s.cost_usd is not None else ""
                lines.append(f"{s.feature:<30} {s.status:<12} {s.succeeded}/{s.total} stages  updated {s.updated_at or '-'}{cost}")
                if s.error:
                    lines.append(f"    {s.error}")
            lines.append("name one for details: teambot status FEATURE")
            shown = _emit("\n".join(lines))
        _memo(shown, ws, [(s.feature, s.status) for s in summaries])
        return 0
    name = pick_feature(ws, feature, unfinished_only=False)
    # an error (a damaged state, a run without stages) raises before anything is printed
    report = service.run_status(ws, name).model_dump(mode="json")
    if as_json:
        shown = _emit(dumps(report))
    else:
        lines: list[str] = []  # one write: a line at a time through click costs ~5 ms per 1000 stages
        _print_report(report, lines.append)
        shown = _emit("\n".join(lines))
    _memo(shown, ws, [(name, report["status"] if not report["waiting"] else "waiting")])
    return 0


def _emit(text: str) -> bytes:
    """Print `text` and a newline as click.echo would (ANSI codes dropped unless stdout is a
    terminal, stdout's encoding), as bytes: the exact bytes a memo of this status replays."""
    stream = click.get_text_stream("stdout")
    out = text + "\n"
    if not stream.isatty():
        out = click.unstyle(out)
    data = out.encode(stream.encoding or "utf-8", stream.errors or "strict")
    click.echo(data, nl=False)
    return data


# Run statuses whose report only changes when a file does (a `waiting` run's text counts the
# hours since it stopped; a `running` one has a live writer).
_STILL = frozenset({"completed", "failed", "blocked", "interrupted"})


def _memo(shown: bytes, workspace: Path, runs: list[tuple[str, str]]) -> None:
    """Offer what was printed as the memo of this `status` (statusmemo/recorder.py decides whether it may be replayed).

    Each run's owner.json is looked at (its full fingerprint is recorded), so a process that takes
    the run over (resume, rerun, approve: they write it right after taking the lock) makes the memo
    differ even before it writes the state.
    """
    from teambot.paths import RunPaths
    from teambot.statusmemo.recorder import keep

    for name, _ in runs:
        try:
            RunPaths(workspace, name).owner.stat()
        except OSError:  # absent is recorded as absent; anything else spoils the memo
            pass
    keep(shown, all(status in _STILL for _, status in runs))


class _Unusual(Exception):
    """A value the fast writer leaves to json.dumps (a non-str key, a NaN, a subclass, another type)."""


def _simple() -> dict[type, object]:
    from json.encoder import encode_basestring_ascii

    return {type(None): lambda _: "null", bool: lambda v: "true" if v else "false", int: int.__repr__,
            str: encode_basestring_ascii}


def dumps(value: object) -> str:
    """Exactly `json.dumps(value, indent=2)`, written without the pure-Python encoder's generators.

    json.dumps uses its C encoder only without `indent`; for a 1000-stage report the pure-Python
    one takes ~10 ms, this ~6. Strings go through the C function json uses (ensure_ascii); values
    of any type but exactly str, int, bool, None, finite float, list, tuple and dict with str
    keys are left to json.dumps, so the text is always the same.
    """
    from json.encoder import encode_basestring_ascii as text
    from math import isfinite

    out: list[str] = []
    write = out.append
    simple = _simple()

    def put(item: object, pad: str) -> None:
        kind = type(item)
        if kind in simple:
            write(simple[kind](item))
        elif kind is float and isfinite(item):
            write(float.__repr__(item))
        elif kind is list or kind is tuple:
            if not item:
                write("[]")
                return
            inner, deeper = "\n" + pad + "  ", pad + "  "
            sep = "[" + inner
            for element in item:
                known = simple.get(type(element))
                if known is not None:
                    write(sep + known(element))
                else:
                    write(sep)
                    put(element, deeper)
                sep = "," + inner
            write("\n" + pad + "]")
        elif kind is dict:
            if not item:
                write("{}")
                return
            inner, deeper = "\n" + pad + "  ", pad + "  "
            sep = "{" + inner
            for key, element in item.items():
                if type(key) is not str:
                    raise _Unusual
                known = simple.get(type(element))
                if known is not None:
                    write(sep + text(key) + ": " + known(element))
                else:
                    write(sep + text(key) + ": ")
                    put(element, deeper)
                sep = "," + inner
            write("\n" + pad + "}")
        else:
            raise _Unusual

    try:
        put(value, "")
    except _Unusual:
        return json.dumps(value, indent=2)
    return "".join(out)


def _print_report(report: dict, say) -> None:
    say(f"run {report['feature']}: {report['status']}  ({report['elapsed_seconds']:.1f} s, runtime {report['runtime']})")
    if report["error"]:
        say(f"  error: {report['error']}")
    say("")
    for stage in report["stages"]:
        if stage["status"] == "running" and stage["started_at"]:
            when = f"running since {stage['started_at'][11:19]} UTC"
        elif stage["status"] != "pending" and stage["finished_at"]:
            when = _took(stage["started_at"], stage["finished_at"])
        else:
            when = ""
        extra = " [stale]" if stage["stale"] else ""
        tokens = _spent(stage["usage"])
        say(f"  {stage['name']:<24} {stage['status']:<12} {stage['agent'] or '-':<10} attempts {stage['attempts']}  {when}{tokens}{extra}")
        if stage.get("iterations"):
            say(f"      {_iterations_line(stage['iterations'], stage['budget_start'])}")
        if stage["error"] and stage["status"] != "succeeded":
            say(f"      {stage['error']}")
        if stage.get("decide"):
            _print_waiting(stage, say)
        for child in stage.get("children", []):
            _print_child(child, say)
    usage = report["usage"]
    if usage["prompt_tokens"] or usage["completion_tokens"] or usage.get("cost_usd") is not None:
        cached = f" ({usage['cached_prompt_tokens']} cached)" if usage.get("cached_prompt_tokens") else ""
        cost = f"; cost {_money(usage['cost_usd'])}" if usage.get("cost_usd") is not None else ""
        say(f"\n  tokens: {usage['prompt_tokens']} prompt{cached} + {usage['completion_tokens']} completion{cost}")
    for note in report["notes"]:
        say(f"note: {note}")
    if report["stale"]:
        say("note: stale stages (something they read or produced changed since they ran); "
                   "`teambot resume --rerun-stale` runs them again, and their dependents if what those read changed:")
        for name, why in report["stale_reasons"].items():
            say(f"  {name}: {'; '.join(why)}")


def _print_waiting(stage: dict, say) -> None:
    """Under a waiting stage: since when (and how long), what to look at, the command that decides."""
    from datetime import datetime, timezone

    if stage["waiting_since"]:
        since = datetime.fromisoformat(stage["waiting_since"])
        hours = (datetime.now(timezone.utc) - since).total_seconds() / 3600
        say(f"      waiting since {stage['waiting_since'][:19].replace('T', ' ')} UTC ({hours:.1f} h)")
    for path in stage["produced"]:
        say(f"      look at: {path}")
    say(f"      decide: {stage['decide']}")


def _print_child(child: dict, say) -> None:
    """`    T1  succeeded  builder-1  attempts 1  took 2.0 s, at ...  merged abc1234` under its stage."""
    when = _took(child["started_at"], child["finished_at"]) if child["finished_at"] else ""
    if child["status"] == "running" and child["started_at"]:
        when = f"running since {child['started_at'][11:19]} UTC"
    merged = f"  merged {child['merge_commit'][:12]}" if child["merge_commit"] else ""
    tokens = _spent(child["usage"])
    say(f"    {child['name']:<22} {child['status']:<12} {child['agent'] or '-':<10} attempts {child['attempts']}  {when}{merged}{tokens}")
    if child["error"] and child["status"] != "succeeded":
        say(f"        {child['error']}")


def _spent(usage: dict | None) -> str:
    """`  tokens 120+45 $0.0012` (the cost only when known), or "" when nothing was recorded."""
    if not usage:
        return ""
    cost = f" {_money(usage['cost_usd'])}" if usage.get("cost_usd") is not None else ""
    return f"  tokens {usage['prompt_tokens']}+{usage['completion_tokens']}{cost}"


def _money(dollars: float) -> str:
    from teambot.costs import money

    return money(dollars)


def _iterations_line(iterations: list[dict], budget_start: int) -> str:
    """`iterations: 1 changes_requested, 2 changes_requested, 3 approved` (the current budget after |)."""
    shown = []
    for i, it in enumerate(iterations):
        if it.get("test"):
            what = "passed" if it["test"]["passed"] else f"failed ({it['test']['summary']})"
        elif it.get("verdict"):
            what = it["verdict"]
        else:
            what = "in progress (work step done)" if it.get("work") else "in progress"
        shown.append(("| " if i == budget_start and i else "") + f"{it['number']} {what}")
    return "iterations: " + ", ".join(shown)


def _took(started: str | None, finished: str) -> str:
    """`took 1.2 s, at HH:MM:SS` from two ISO timestamps."""
    from datetime import datetime

    end = datetime.fromisoformat(finished).astimezone()  # shown in local time, like the live lines
    if started is None:
        return f"at {end:%H:%M:%S}"
    return f"took {(end - datetime.fromisoformat(started)).total_seconds():.1f} s, at {end:%H:%M:%S}"
