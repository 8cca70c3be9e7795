"""Secret redaction: which environment values count as secrets, and their replacement."""

from __future__ import annotations

import re
from urllib.parse import quote, quote_plus

from teambot.redact import RedactingStream, Redactor, redact, secret_values


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


PEM = ("-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\n"
       "q3Vb9nXw2Lr8JmT0aZkq1pYc6HdR4sE5uF0gN7iK2oP3lM8vB9x\n-----END PRIVATE KEY-----\n")


def test_multi_line_values_are_redacted_line_by_line():
    """Each line of a multi-line secret is a secret too, as logs and messages hold it one line at a time."""
    redactor = Redactor(environ={"MY_PRIVATE_KEY": PEM})
    lines = PEM.splitlines()
    assert redactor(f"key={PEM}end") == "key=***end"
    assert redactor(f"stderr: {lines[1]}") == "stderr: ***"
    assert redactor(f"  {lines[2]}\r\n") == "  ***\r\n"


def test_stream_catches_a_secret_split_between_pieces():
    """A secret that arrives in two pieces is redacted whole: the piece ending in its start waits for the next."""
    stream = RedactingStream(Redactor(environ={"API_TOKEN": "tok-0123456789abcdef"}))
    first = stream.feed("start tok-01234")
    second = stream.feed("56789abcdef end\n")
    assert first == "start " and first + second + stream.finish() == "start *** end\n"


def test_stream_passes_on_what_cannot_start_a_secret_at_once():
    """Text whose end could not begin a secret is passed on whole (a live log is not held back)."""
    stream = RedactingStream(Redactor(environ={"API_TOKEN": "tok-0123456789abcdef"}))
    assert stream.feed("working...\n") == "working...\n"
    assert stream.feed("tok") == "" and stream.feed("en\n") == "token\n"


def test_stream_masks_a_secret_cut_short_at_the_end():
    """Text that ends in the first characters of a secret (an agent killed mid-line) does not show them."""
    stream = RedactingStream(Redactor(environ={"API_TOKEN": "tok-0123456789abcdef"}))
    assert stream.feed("x tok-0123456") + stream.finish() == "x ***"
    short = RedactingStream(Redactor(environ={"API_TOKEN": "tok-0123456789abcdef"}))
    assert short.feed("x to") + short.finish() == "x to"  # too short to tell from ordinary text


def test_secrets_cut_or_split_by_the_run_stay_out_of_every_output(project, run_dir):
    """Secrets split by a long-line break, in a PEM key, or cut by the stderr tail leave no trace anywhere a run shows."""
    from tests.helpers import teambot
    from tests.runtimes.conftest import SECRET
    from tests.runtimes.test_command import leaked, pem
    from tests.runtimes.test_e2e import configure

    key = pem()
    configure(project, "--env-at", "ACME_API_KEY=65530", "--print-env", "MY_PRIVATE_KEY", "--stderr-env-at",
              "MY_PRIVATE_KEY=0", "--stderr-env-at", "ACME_API_KEY=180", "--fail-stage", "SETUP")
    env = {"ACME_API_KEY": SECRET, "MY_PRIVATE_KEY": key}
    proc = teambot("run", "objective.md", cwd=project, env=env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    status = teambot("status", "--json", cwd=project, env=env)
    assert "stderr ends: " in status.stdout and "***" in status.stdout
    shown = {"console": proc.stdout + proc.stderr, "status --json": status.stdout + status.stderr}
    shown.update({str(p): p.read_text(errors="replace") for p in run_dir.rglob("*") if p.is_file()})
    assert {"state.json", "events.jsonl", "SETUP.log"} <= {p.rsplit("/", 1)[-1] for p in shown}
    for where, text in shown.items():
        assert leaked(text, SECRET) == [], where
        assert leaked(text, key, 12) == [], where


def test_url_encoded_forms_of_a_secret_are_redacted():
    """A secret percent-encoded whole (either hex case), as a form value (`+` for spaces), or only partly (as httpx
    encodes a URL) is replaced too; the module function and a RedactingStream see the whole forms."""
    secret = "Zq8vLmN3/pT5+wX7 rK2=Yh6`Jd4"
    redactor = Redactor(environ={"ACME_API_KEY": secret})
    forms = [quote(secret, safe=""), re.sub("%[0-9A-F]{2}", lambda m: m.group().lower(), quote(secret, safe="")), quote_plus(secret),
             secret.replace(" ", "%20").replace("`", "%60")]
    for form in forms:
        assert redactor(f"GET /cb?k={form}&x=1") == "GET /cb?k=***&x=1", form
    assert redact(f"k={quote_plus(secret)}", secret_values(environ={"ACME_API_KEY": secret})) == "k=***"
    stream = RedactingStream(redactor)
    encoded = quote(secret, safe="")
    assert stream.feed("a " + encoded[:10]) + stream.feed(encoded[10:] + " b") + stream.finish() == "a *** b"
    assert redactor("100% of Zq8vLmN3 is fine") == "100% of Zq8vLmN3 is fine"


def test_a_disguised_secret_on_stderr_leaks_nowhere(project, run_dir):
    """A secret with / + = ` and spaces, written URL-encoded, split by an escape and overstruck on an agent's stderr,
    leaves no 8-character piece in any file of the run, on the console or in `status --json`."""
    from tests.helpers import teambot
    from tests.runtimes.test_command import leaked
    from tests.runtimes.test_e2e import configure

    secret = "Zq8vLmN3/pT5+wX7rK2=Yh6 Jd4Fs9`Qw1eRt0y"
    configure(project, "--stderr-disguised", "ACME_API_KEY", "--exit", "1")
    env = {"ACME_API_KEY": secret}
    proc = teambot("run", "objective.md", cwd=project, env=env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    status = teambot("status", "--json", cwd=project, env=env)
    assert "stderr ends: " in status.stdout and "k=***&q=***" in status.stdout
    shown = {"console": proc.stdout + proc.stderr, "status --json": status.stdout + status.stderr}
    shown.update({str(p): p.read_text(errors="replace") for p in run_dir.rglob("*") if p.is_file()})
    assert {"state.json", "events.jsonl", "SETUP.log"} <= {p.rsplit("/", 1)[-1] for p in shown}
    for where, text in shown.items():
        assert leaked(text, secret) == [], where
