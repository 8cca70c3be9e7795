"""teambot.yaml `notify:`: every problem reported at once (exit 2), naming the field, never the URL."""

from __future__ import annotations

from pathlib import Path

import pytest

from teambot.errors import ConfigError
from teambot.settings import load_settings
from tests.helpers import teambot

TOKEN = "T0AAA/B0BBB/zzSecretPathToken99"


def problems(project: Path, body: str) -> list[str]:
    (project / "teambot.yaml").write_text(body, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(project)
    return caught.value.problems


def test_valid_targets_load_with_defaults(tmp_path):
    """A url target, a url_env target and an argv target load; events default to all, format to json."""
    (tmp_path / "teambot.yaml").write_text(
        "notify:\n  - url: https://hooks.example.org/x?token=abc\n    format: slack\n    events: [run_completed]\n"
        "  - url_env: SLACK_WEBHOOK_URL\n  - argv: [notify-send, 'teambot {event}', '{message}']\n    timeout: 3\n",
        encoding="utf-8")
    first, second, third = load_settings(tmp_path).notify
    assert first.format == "slack" and first.wants("run_completed") and not first.wants("run_failed")
    assert second.url_env == "SLACK_WEBHOOK_URL" and second.wants("stage_failed") and second.wants("budget_exceeded")
    assert third.argv == ["notify-send", "teambot {event}", "{message}"] and third.timeout == 3


def test_every_problem_is_reported_with_its_field_and_no_value(tmp_path):
    """Unknown events (with did-you-mean), a non-http URL, url and argv together, a pasted URL in url_env,
    a bad placeholder and format on an argv target are all reported, and the URL's token never shows."""
    lines = problems(tmp_path, (
        "notify:\n"
        "  - url: https://hooks.slack.com/services/" + TOKEN + "\n    events: [run_complete, stage_failed, nonsense]\n"
        "  - url: ftp://files.example.org/" + TOKEN + "\n"
        "  - url: https://a.example.org/" + TOKEN + "\n    argv: [notify-send]\n"
        "  - url_env: https://hooks.slack.com/services/" + TOKEN + "\n"
        "  - argv: [notify-send, '{mesage}']\n    format: slack\n"
        "  - events: [run_failed]\n"
        "  - url: https://b.example.org\n    evnets: [run_failed]\n    retries: 9\n"))
    text = "\n".join(lines)
    assert "notify[0].events[0]: unknown event (did you mean 'run_completed'?)" in text
    assert "notify[0].events[2]: unknown event; choose from: run_completed, run_failed, run_blocked, run_waiting" in text
    assert "notify[1].url: must be an http:// or https:// URL" in text
    assert "notify[2]: give exactly one of url, url_env or argv (found url, argv)" in text
    assert "notify[3].url_env: must be the NAME of an environment variable holding the URL" in text
    assert "notify[4].argv[1]: unknown placeholder (did you mean {message}?)" in text
    assert "notify[4].format: applies to url targets only" in text
    assert "notify[5]: give exactly one of url, url_env or argv" in text
    assert "notify[6].evnets: unknown field (did you mean 'events'?)" in text
    assert "notify[6].retries: must be at most 5" in text
    assert len(lines) == 10
    assert TOKEN not in text and "slack.com" not in text


def test_bad_notify_config_exits_2_before_anything_runs(tmp_path):
    """`teambot run` with a bad notify target exits 2 naming the field, and starts no run."""
    (tmp_path / "objective.md").write_text("---\nfeature: note\n---\n# Notify me\n\nBuild.\n", encoding="utf-8")
    (tmp_path / "teambot.yaml").write_text("notify:\n  - url: mailto:me@" + TOKEN + "\n    events: [run_faild]\n",
                                           encoding="utf-8")
    proc = teambot("run", "objective.md", cwd=tmp_path)
    assert proc.returncode == 2
    assert "teambot.yaml:2:5: notify[0].url: must be an http:// or https:// URL" in proc.stderr
    assert "teambot.yaml:3:14: notify[0].events[0]: unknown event (did you mean 'run_failed'?)" in proc.stderr
    assert "Traceback" not in proc.stderr and TOKEN not in proc.stdout + proc.stderr
    assert not (tmp_path / ".agent-tracking" / "note").exists()


def test_empty_notify_section_means_none(tmp_path):
    """`notify:` left empty (everything commented out) means no targets."""
    (tmp_path / "teambot.yaml").write_text("notify:\n#  - url: https://example.org\n", encoding="utf-8")
    assert load_settings(tmp_path).notify == []
