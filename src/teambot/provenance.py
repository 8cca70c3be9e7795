"""Provenance: what a stage attempt read, recorded with `succeeded`, and why a finished stage is stale now.

A stage's inputs are a map key -> sha256 (or "absent") of everything that shapes its work:
`objective` (the text its prompt includes), `template:<path>` (its prompt template's text),
`persona:<agent>` (each agent it holds), `agent:<agent>:runtime|model|command` (teambot.yaml's
settings that choose how the agent is called: never an environment value) and
`artifact:<name>` (each upstream artifact it was given). A finished stage is stale when one
of them changed, when its definition's fingerprint changed, or when one of its own
artifacts was deleted or edited since it succeeded (checked cheaply: size and mtime first,
the hash only when they differ). Keys are compared only when both the record and the
present have them: regrouping the workflow changes which artifacts a stage is given, and
must not make finished work stale (docs/stages.md). A record without `inputs` (a run from
an older teambot) is judged by its fingerprint and the presence of its artifacts only.
See .agent-tracking/design/provenance.md.
"""

from __future__ import annotations

import hashlib
import json
import stat
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from teambot.errors import TeambotError
from teambot.fsutil import sha256_file
from teambot.lifecycle import StageStatus
from teambot.paths import RunPaths
from teambot.store.models import StageRecord

if TYPE_CHECKING:  # pragma: no cover - typing only (status reads without loading the stage models)
    from teambot.config.models import StageConfig
    from teambot.objective import Objective

ABSENT = "absent"
DEFINITION_CHANGED = "definition changed"
_NO_PROMPT = ("command", "sync")  # StageKindName values of the kinds that build no prompt and call no agent


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", errors="replace")).hexdigest()


def agent_call(settings, override: str | None, agent: str) -> dict[str, str]:
    """The settings that choose how `agent` is called (as runtimes/router.py chooses them), as text.

    `command` is the argv or preset of a command runtime, the endpoint of an openai one.
    """
    from teambot.settings import NO_AGENT_SETTINGS

    own = settings.agents.get(agent, NO_AGENT_SETTINGS)
    runtime = override or own.runtime or settings.runtime
    model = own.model or (settings.openai.model if runtime == "openai" else None)
    command = ""
    if runtime == "command":
        shared = settings.command
        source = own if own.argv or own.preset else shared
        command = json.dumps({"argv": source.argv, "preset": source.preset}, sort_keys=True)
    elif runtime == "openai":
        command = settings.openai.base_url
    return {"runtime": runtime, "model": model or "", "command": command}


@dataclass(frozen=True)
class StageView:
    """What provenance reads of a stage's definition (service/stale.py keeps these per stages-file content)."""

    prompts: bool  # its kind builds a prompt and calls agents (not command, not sync)
    include_objective: bool
    prompt_template: str | None
    agents: tuple[str, ...]  # the agents it holds while it runs (empty without a prompt)

    @classmethod
    def of(cls, stage: StageConfig) -> StageView:
        from teambot.executor import agents_of  # the kinds are reached through the executor only

        prompts = stage.kind not in _NO_PROMPT
        return cls(prompts, stage.include_objective, stage.prompt_template, tuple(agents_of(stage)) if prompts else ())


@dataclass(frozen=True)
class StagePlan:
    """A stage as stale detection compares it: its definition's fingerprint, its view, what it is given."""

    fingerprint: str
    view: StageView
    upstream: tuple[tuple[str, str], ...]  # (producing stage, artifact): executor.artifact_lineage


def stage_plans(workflow) -> dict[str, StagePlan]:
    """Each stage of the workflow as stale detection needs it, in workflow order."""
    from teambot.executor import artifact_lineage

    lineage = artifact_lineage(workflow)
    stages = workflow.config.stages
    return {name: StagePlan(stages[name].fingerprint(), StageView.of(stages[name]), lineage[name])
            for name in workflow.graph.order}


class InputReader:
    """Reads the current value of a stage's inputs: at an attempt (recorded) and for status/resume (compared).

    `settings` None: teambot.yaml is not known here (agent keys are left out). With `cache`,
    each template, persona, agent and artifact is read once (status and resume read a still
    run; the executor must read each stage's inputs as they are when it starts).
    """

    def __init__(self, project_dir: Path, objective: Objective | None,
                 personas: Callable[[str | None], str | None] | None, settings=None, override: str | None = None,
                 *, cache: bool = False) -> None:
        self.project_dir = project_dir
        self.objective = objective
        self.personas = personas
        self.settings = settings
        self.override = override
        self._cache: dict[str, str | None] | None = {} if cache else None
        self._objective = digest(objective.body) if objective is not None else None
        self._agents: dict[str, dict[str, str]] = {}  # settings do not change while a process runs

    def inputs(self, stage: StageConfig | StageView, upstream: Iterable[tuple[str, str]], records: Mapping[str, StageRecord],
               paths: RunPaths, personas: Callable[[str | None], str | None] | None = None) -> dict[str, str]:
        """key -> sha256 (or ABSENT) of what the stage reads; a value that cannot be read now is left out.

        `upstream` is (producing stage, artifact) of every artifact its prompt is given
        (executor.artifact_lineage); those of a skipped stage are not given. `personas` replaces
        the reader's own (the executor passes the reader its attempt's prompt uses).
        """
        read_persona = personas or self.personas
        view = stage if isinstance(stage, StageView) else StageView.of(stage)
        found: dict[str, str | None] = {}
        if view.prompts:
            if view.include_objective:
                found["objective"] = self._objective
            if view.prompt_template:
                key = f"template:{view.prompt_template}"
                found[key] = self._read(key, lambda: self._template(view.prompt_template))
            for agent in view.agents:
                found[f"persona:{agent}"] = self._read(f"persona:{agent}", lambda: self._persona(read_persona, agent))
                if self.settings is not None:
                    call = self._agent(agent)
                    found |= {f"agent:{agent}:{part}": value for part, value in call.items()}
        for producer, artifact in upstream:
            record = records.get(producer)
            if record is not None and record.status == StageStatus.SKIPPED:
                continue
            key = f"artifact:{artifact}"
            found[key] = self._read(key, lambda: artifact_digest(paths, artifact, record))
        return {k: v for k, v in found.items() if v is not None}

    def _read(self, key: str, read: Callable[[], str | None]) -> str | None:
        if self._cache is None:
            return read()
        if key not in self._cache:
            self._cache[key] = read()
        return self._cache[key]

    def _template(self, name: str) -> str | None:
        from teambot.prompts.assemble import template_text

        try:
            return digest(template_text(name, self.project_dir))
        except (TeambotError, OSError):  # unreadable now: not compared (a run reports it when it reads it)
            return None

    @staticmethod
    def _persona(read: Callable[[str | None], str | None] | None, agent: str) -> str | None:
        if read is None:
            return None
        try:
            text = read(agent)
        except (TeambotError, OSError):
            return None
        return ABSENT if text is None else digest(text)

    def _agent(self, agent: str) -> dict[str, str]:
        if agent not in self._agents:
            self._agents[agent] = {part: digest(value) for part, value in agent_call(self.settings, self.override, agent).items()}
        return self._agents[agent]


def no_persona(agent: str | None) -> None:
    return None


def read_once(read: Callable[[str | None], str | None] | None) -> Callable[[str | None], str | None] | None:
    """`read`, each agent's persona read at most once (per attempt: a persona edited meanwhile is
    the next attempt's); a read that failed is tried again (and fails the same way)."""
    if read is None:
        return None
    seen: dict[str | None, str | None] = {}

    def persona(agent: str | None) -> str | None:
        if agent not in seen:
            seen[agent] = read(agent)
        return seen[agent]

    return persona


def artifact_digest(paths: RunPaths, artifact: str, record: StageRecord | None = None) -> str | None:
    """sha256 of the artifact as it is now, ABSENT if it is gone, None if it cannot be read.

    When `record` (its producer's) stamped it and size and mtime still match, its recorded hash
    is taken without reading the file.
    """
    try:
        path = paths.artifact(artifact)
        info = path.stat()
    except FileNotFoundError:
        return ABSENT
    except (TeambotError, OSError):
        return None
    if not stat.S_ISREG(info.st_mode):  # a directory (or a FIFO, never opened) where the file was
        return ABSENT
    if record is not None and artifact in record.artifacts:
        if tuple(record.artifact_stamps.get(artifact, ())) == (info.st_size, info.st_mtime_ns):
            return record.artifacts[artifact]
    try:
        return sha256_file(path)
    except OSError:
        return None


def stamps(paths: RunPaths, hashes: Mapping[str, str]) -> dict[str, tuple[int, int]]:
    """(size, mtime_ns) of each artifact just hashed, recorded beside its hash."""
    found = {}
    for artifact in hashes:
        info = paths.artifact(artifact).stat()
        found[artifact] = (info.st_size, info.st_mtime_ns)
    return found


def missing_upstream(inputs: Mapping[str, str]) -> list[str]:
    """The upstream artifacts a stage is given that are gone (their producer succeeded: deleted since)."""
    return [key.removeprefix("artifact:") for key, value in inputs.items()
            if key.startswith("artifact:") and value == ABSENT]


def own_artifact_problems(record: StageRecord, paths: RunPaths) -> list[str]:
    """"artifact X missing" / "artifact X changed" for each of the stage's own artifacts no longer as it left them.

    An artifact without a stamp (recorded by an older teambot) is only checked to exist.
    """
    problems = []
    for artifact, recorded in record.artifacts.items():
        now = artifact_digest(paths, artifact, record)
        if now == ABSENT:
            problems.append(f"artifact {artifact} missing")
        elif now is not None and artifact in record.artifact_stamps and now != recorded:
            problems.append(f"artifact {artifact} changed")
    return problems


def input_changes(recorded: Mapping[str, str], current: Mapping[str, str]) -> list[str]:
    """A reason for each input both maps have whose value differs, in the recorded order."""
    return [describe(key, current[key]) for key, value in recorded.items() if key in current and current[key] != value]


def describe(key: str, now: str) -> str:
    kind, _, rest = key.partition(":")
    if kind == "objective":
        return "objective changed"
    if kind == "template":
        return f"prompt template {rest} changed"
    if kind == "persona":
        return f"persona {rest} changed"
    if kind == "artifact":
        return f"upstream artifact {rest} {'missing' if now == ABSENT else 'changed'}"
    if kind == "agent":
        agent, _, part = rest.rpartition(":")
        return f"{part} changed (agent {agent})"
    return f"{key} changed"


def stage_reasons(record: StageRecord, stage: StageConfig, current: Mapping[str, str] | None,
                  paths: RunPaths) -> list[str]:
    """Why a succeeded stage is stale now (empty: it is not). `current`: its inputs now (None: not compared)."""
    return _reasons(record, stage.fingerprint(), current, paths)


def _reasons(record: StageRecord, fingerprint: str, current: Mapping[str, str] | None, paths: RunPaths) -> list[str]:
    reasons = []
    if record.fingerprint is not None and record.fingerprint != fingerprint:
        reasons.append(DEFINITION_CHANGED)
    reasons += own_artifact_problems(record, paths)
    if record.inputs is not None and current is not None:
        reasons += input_changes(record.inputs, current)
    return reasons


def stale_reasons(workflow, records: Mapping[str, StageRecord], paths: RunPaths,
                  reader: InputReader | None) -> dict[str, list[str]]:
    """stage -> why it is stale, for each succeeded stage of the workflow that is, in workflow order."""
    return stale_in(stage_plans(workflow), records, paths, reader)


def stale_in(plans: Mapping[str, StagePlan], records: Mapping[str, StageRecord], paths: RunPaths,
             reader: InputReader | None) -> dict[str, list[str]]:
    """stale_reasons over the workflow's stage plans (in workflow order): what `status` calls."""
    found: dict[str, list[str]] = {}
    for name, plan in plans.items():
        record = records.get(name)
        if record is None or record.status != StageStatus.SUCCEEDED:
            continue
        current = None
        if reader is not None and record.inputs is not None:
            current = reader.inputs(plan.view, plan.upstream, records, paths)
        reasons = _reasons(record, plan.fingerprint, current, paths)
        if reasons:
            found[name] = reasons
    return found


def reader_for_run(run, paths: RunPaths, project_dir: Path | None) -> tuple[InputReader, list[str]]:
    """An InputReader as the run's next process would read (for status), and notes on what it could not read.

    The project directory is `project_dir`, else the one the run last ran in, else the
    current one; an objective or teambot.yaml that cannot be read leaves its inputs uncompared.
    """
    from functools import partial

    from teambot.objective import load_objective
    from teambot.prompts.personas import load_persona
    from teambot.settings import read_settings

    project = project_dir
    if project is None:
        recorded = Path(run.project_dir) if run.project_dir else None
        project = recorded if recorded is not None and recorded.is_dir() else Path.cwd()
    notes: list[str] = []
    objective = None
    source = Path(run.objective_path)
    try:
        objective = load_objective(source if source.is_file() else paths.objective_copy)
    except TeambotError as err:
        notes.append(f"{err.message}; stages are not compared with the objective")
    settings = personas = None
    try:
        settings = read_settings(project)[0]
    except TeambotError as err:
        notes.append(f"{err.message}; stages are not compared with agent settings and personas")
    else:
        folder = Path(settings.personas_dir)
        personas = partial(load_persona, folder if folder.is_absolute() else project / folder)
    return InputReader(project, objective, personas, settings, run.runtime_override, cache=True), notes


def format_reasons(reasons: Mapping[str, list[str]]) -> list[str]:
    """`  STAGE: why; why` per stale stage."""
    return [f"  {name}: {'; '.join(why)}" for name, why in reasons.items()]


def unchanged(record: StageRecord, stage: StageConfig, current: Mapping[str, str], paths: RunPaths) -> bool:
    """A stage with recorded inputs that would not be stale now: early cutoff keeps it without running."""
    return record.inputs is not None and not stage_reasons(record, stage, current, paths)


def adopt_revisions(inputs: dict[str, str], upstream: Iterable[tuple[str, str]], records: Mapping[str, StageRecord],
                    paths: RunPaths, commit: Callable[..., object], *, durable: bool) -> dict[str, str]:
    """After a successful attempt: re-stamp (commit) each producer whose artifact the attempt revised
    (see revised_upstream) and return the inputs with the content the stage leaves."""
    from teambot.fsutil import fsync_files

    for producer, revised in revised_upstream(inputs, upstream, records, paths).items():
        record = records[producer]
        if durable:  # on disk before the record pointing at it, as for the stage's own artifacts
            fsync_files(paths.artifact(artifact) for artifact in revised)
        commit(producer, artifacts=record.artifacts | revised, artifact_stamps=record.artifact_stamps | stamps(paths, revised))
        inputs = inputs | {f"artifact:{artifact}": sha for artifact, sha in revised.items()}
    return inputs


def revised_upstream(inputs: Mapping[str, str], upstream: Iterable[tuple[str, str]],
                     records: Mapping[str, StageRecord], paths: RunPaths) -> dict[str, dict[str, str]]:
    """producer -> {artifact: sha256 now} for each upstream artifact that changed while the stage ran.

    A stage may revise what it was given (a review's work agent fixing the spec under review):
    that is the workflow's own work, not an edit after the fact, so its producer's record is
    re-stamped and the stage records the content it leaves.
    """
    found: dict[str, dict[str, str]] = {}
    for producer, artifact in upstream:
        before = inputs.get(f"artifact:{artifact}")
        record = records.get(producer)
        if before is None or record is None or record.status != StageStatus.SUCCEEDED or artifact not in record.artifacts:
            continue
        now = artifact_digest(paths, artifact, record)
        if now is not None and now != ABSENT and now != before:
            found.setdefault(producer, {})[artifact] = now
    return found
