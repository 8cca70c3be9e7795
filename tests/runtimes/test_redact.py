"""Secret redaction: which environment values count as secrets, and their replacement."""

from __future__ import annotations

from teambot.redact import Redactor, redact, secret_values


def test_secret_names():
    """Values of *KEY*, *TOKEN*, *SECRET* variables and of named extras count; short values do not."""
    env = {"OPENAI_API_KEY": "sk-aaaaaaaa", "GH_TOKEN": "ghp_bbbbbb", "client_secret": "cccccccc",
           "MY_CRED": "dddddddd", "PATH": "/usr/bin:/bin", "DEBUG_TOKEN": "1", "HOME": "/home/x"}
    assert set(secret_values(environ=env)) == {"sk-aaaaaaaa", "ghp_bbbbbb", "cccccccc"}
    assert "dddddddd" in secret_values(["MY_CRED"], environ=env)


def test_longest_secret_first():
    """A secret that contains another is replaced whole."""
    env = {"A_KEY": "abcdefgh", "B_KEY": "abcdefgh-longer"}
    assert secret_values(environ=env) == ["abcdefgh-longer", "abcdefgh"]
    assert Redactor(environ=env)("x abcdefgh-longer y abcdefgh") == "x *** y ***"


def test_redact_reads_the_environment(monkeypatch):
    """redact(text) uses the current environment by default."""
    monkeypatch.setenv("SOME_SECRET", "hunter2hunter2")
    assert redact("password: hunter2hunter2!") == "password: ***!"


def test_event_details_are_redacted_before_json_escaping(tmp_path, monkeypatch):
    """A secret with quotes and backslashes is replaced in events.jsonl even though JSON escapes it."""
    from teambot.events import EventLog

    secret = 'pa"ss\\word-123456'
    monkeypatch.setenv("SERVICE_TOKEN", secret)
    log = EventLog(tmp_path / "events.jsonl", redact=Redactor())
    log.emit("stage_failed", "SPEC", error=f"server said {secret}", nested={"list": [secret]})
    log.close()
    import json

    event = json.loads((tmp_path / "events.jsonl").read_text())
    assert event["details"] == {"error": "server said ***", "nested": {"list": ["***"]}}
