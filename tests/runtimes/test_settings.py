"""teambot.yaml: defaults, a full file, and every kind of problem reported at once with its location."""

from __future__ import annotations

import pytest

from teambot.errors import EXIT_BAD_INPUT, ConfigError
from teambot.settings import DEFAULT_OUTPUT_CAP, Settings, load_settings


def problems_of(tmp_path, text: str) -> list[str]:
    (tmp_path / "teambot.yaml").write_text(text)
    with pytest.raises(ConfigError) as err:
        load_settings(tmp_path)
    assert err.value.exit_code == EXIT_BAD_INPUT
    return err.value.problems


def test_missing_file_means_defaults(tmp_path):
    """No teambot.yaml: the demo runtime, concurrency 3, .agent-tracking, .github/agents."""
    settings = load_settings(tmp_path)
    assert settings == Settings()
    assert (settings.runtime, settings.max_concurrency, settings.workspace) == ("demo", 3, ".agent-tracking")
    assert settings.personas_dir == ".github/agents"
    assert settings.command.output_cap_bytes == DEFAULT_OUTPUT_CAP
    assert settings.openai.api_key_env == "OPENAI_API_KEY"


def test_comment_only_file_means_defaults(tmp_path):
    """A file with only comments (as a user may leave it) sets nothing."""
    (tmp_path / "teambot.yaml").write_text("# nothing yet\n\n---\n")
    assert load_settings(tmp_path) == Settings()


def test_explicit_missing_path_is_an_error(tmp_path):
    """A config path given explicitly must exist."""
    with pytest.raises(ConfigError, match="no such file"):
        load_settings(tmp_path, tmp_path / "other.yaml")


def test_full_file(tmp_path):
    """Every section is read: agents, command, openai, secret_env_vars; empty sections are allowed."""
    (tmp_path / "teambot.yaml").write_text(
        "runtime: command\nmax_concurrency: 5\nworkspace: runs\npersonas_dir: personas\n"
        "secret_env_vars: [MY_PASSWORD]\n"
        "agents:\n"
        "  pm: {runtime: openai, model: gpt-4o, timeout: 600}\n"
        "  builder-1: {preset: claude, model: sonnet}\n"
        "  reviewer: {argv: [my-agent, --in, '{prompt_file}'], prompt_via: file}\n"
        "command: {preset: codex, output_cap_bytes: 2048, grace_seconds: 1.5}\n"
        "openai: {base_url: 'http://127.0.0.1:11434/v1', model: llama3, api_key_env: OLLAMA_KEY,"
        " timeout: 30, max_retries: 2, stream: false}\n"
    )
    s = load_settings(tmp_path)
    assert s.runtime == "command" and s.max_concurrency == 5 and s.workspace == "runs"
    assert s.agents["pm"].runtime == "openai" and s.agents["pm"].timeout == 600
    assert s.agents["builder-1"].preset == "claude"
    assert s.agents["reviewer"].argv == ["my-agent", "--in", "{prompt_file}"]
    assert s.command.preset == "codex" and s.command.grace_seconds == 1.5
    assert s.openai.stream is False and s.openai.max_retries == 2
    assert s.secret_env_vars == ["MY_PASSWORD"]
    (tmp_path / "teambot.yaml").write_text("runtime: demo\nagents:\ncommand:\n")
    assert load_settings(tmp_path).agents == {}


def test_unknown_key_with_location_and_suggestion(tmp_path):
    """An unknown field names the file, line and column, the field path and a did-you-mean."""
    problems = problems_of(tmp_path, "runtime: demo\nmax_concurency: 4\n")
    assert problems == [f"{tmp_path / 'teambot.yaml'}:2:1: max_concurency: unknown field (did you mean 'max_concurrency'?)"]


def test_nested_type_errors_name_the_field_path(tmp_path):
    """Type errors deep in agents/command/openai give the dotted path and line."""
    problems = problems_of(tmp_path, "agents:\n  pm:\n    timeout: soon\ncommand:\n  grace_seconds: -1\nopenai:\n  stream: maybe\n")
    text = "\n".join(problems)
    assert ":3:5: agents.pm.timeout: expected a number" in text
    assert ":5:3: command.grace_seconds: must be at least 0" in text
    assert ":7:3: openai.stream: expected true or false" in text


def test_every_meaning_problem_at_once(tmp_path):
    """Unknown runtimes and presets, argv plus preset, bad placeholders, prompt_via, base_url: all reported."""
    problems = problems_of(tmp_path, (
        "runtime: comand\n"
        "agents:\n"
        "  pm: {runtime: gpt}\n"
        "  ba: {preset: claud}\n"
        "  writer: {preset: claude, argv: [x]}\n"
        "  builder-1: {argv: [x, '{promt_file}']}\n"
        "  builder-2: {argv: [x], prompt_via: file}\n"
        "  reviewer: {argv: [x, --model, '{model}']}\n"
        "openai: {base_url: 'localhost:8000/v1', api_key_env: sk-abcdef}\n"
    ))
    text = "\n".join(problems)
    assert "runtime: unknown runtime (did you mean 'command'?)" in text
    assert "agents.pm.runtime: unknown runtime; choose one of" in text
    assert "agents.ba.preset: unknown preset (did you mean 'claude'?)" in text
    assert "agents.writer.argv: give either argv or preset, not both" in text
    assert "agents.builder-1.argv[1]: unknown placeholder (did you mean {prompt_file}?)" in text
    assert "agents.builder-2.prompt_via: is 'file' but argv has no {prompt_file} placeholder" in text
    assert "agents.reviewer.argv: uses {model} but this agent sets no model" in text
    assert "openai.base_url: must be an http:// or https:// URL" in text
    assert "openai.api_key_env: must be the NAME of an environment variable" in text
    assert len(problems) == 9


def test_yaml_syntax_error_has_line_and_column(tmp_path):
    """Broken YAML is reported with its position, not a traceback."""
    problems = problems_of(tmp_path, "runtime: demo\nagents: [unclosed\n")
    assert len(problems) == 1 and "invalid YAML" in problems[0]
    assert f"{tmp_path / 'teambot.yaml'}:3:" in problems[0] or f"{tmp_path / 'teambot.yaml'}:2:" in problems[0]


def test_top_level_must_be_a_mapping(tmp_path):
    """A list at the top level is a problem, not a crash."""
    problems = problems_of(tmp_path, "- runtime\n- demo\n")
    assert "the top level must be a mapping" in problems[0]


def test_prompt_via_values(tmp_path):
    """prompt_via accepts only stdin or file."""
    problems = problems_of(tmp_path, "command: {argv: [x], prompt_via: pipe}\n")
    assert "command.prompt_via" in problems[0]


@pytest.mark.parametrize("value", ["ghp_" + "aB3dE6gH9jK2mN5pQ8sT1vW4yZ7bC0eF3hJ6", "sk-proj-Abc123", "github_pat_11AAB",
                                   "my api key", "eyJhbGciOiJIUzI1NiJ9.e30.sig", "1PASSWORD"])
def test_api_key_env_must_be_a_variable_name(tmp_path, value):
    """openai.api_key_env holding anything but a variable name (a pasted key) is a problem that never repeats it."""
    problems = problems_of(tmp_path, f"openai: {{api_key_env: '{value}'}}\n")
    where = f"{tmp_path / 'teambot.yaml'}:1:10"
    assert problems == [f"{where}: openai.api_key_env: must be the NAME of an environment variable, not the key itself"]


def test_api_key_env_names_are_accepted(tmp_path):
    """Ordinary variable names, upper or lower case, load."""
    for name in ("OPENAI_API_KEY", "AZURE_OPENAI_API_KEY_2", "ollama_key", "_KEY"):
        (tmp_path / "teambot.yaml").write_text(f"openai: {{api_key_env: {name}}}\n")
        assert load_settings(tmp_path).openai.api_key_env == name


@pytest.mark.parametrize(("url", "reason"), [("http://[::1", "is not a valid URL"), ("http://h:port/v1", "is not a valid URL"),
                                             ("https://", "has no valid host name")])
def test_invalid_base_url_is_a_load_problem(tmp_path, url, reason):
    """A base_url httpx cannot use is reported when teambot.yaml is read, not by the first stage mid-run."""
    problems = problems_of(tmp_path, f"openai: {{base_url: '{url}'}}\n")
    assert len(problems) == 1 and f"openai.base_url: {reason}" in problems[0]


PASTED_KEY = "sk-proj-Zq81Xv27Lm64Rt09Wb35Hn72Kd18Pf46"


def test_a_key_pasted_into_any_typed_field_is_never_echoed(tmp_path):
    """A key written where a number, a choice, a URL or a name belongs is reported by field, never repeated."""
    from tests.helpers import EXAMPLE_OBJECTIVE, teambot

    key = PASTED_KEY
    (tmp_path / "teambot.yaml").write_text(
        f"runtime: {key}\nmax_concurrency: {key}\nsecret_env_vars: {key}\n"
        f"openai: {{base_url: {key}, timeout: {key}, stream: {key}, api_key_env: {key}, model: [{key}]}}\n"
        f"command: {{preset: {key}, prompt_via: {key}, output_cap_bytes: {key}}}\n"
        f"agents:\n  pm: {{runtime: {key}, timeout: {key}, prompt_via: {key}, argv: [x, '{{{key.replace('-', '_')}}}']}}\n"
        f"review: {{max_iterations: {key}}}\nacceptance: {{command: [x, '{{{key.replace('-', '_')}}}'], timeout: {key}}}\n"
    )
    (tmp_path / "objective.md").write_text(EXAMPLE_OBJECTIVE.read_text())
    proc = teambot("run", "objective.md", cwd=tmp_path)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2 and "Traceback" not in out, out
    for field in ("runtime:", "max_concurrency:", "openai.base_url:", "openai.timeout:", "openai.api_key_env:",
                  "command.preset:", "command.prompt_via:", "agents.pm.prompt_via:", "agents.pm.argv[1]:",
                  "review.max_iterations:", "acceptance.command[1]:"):
        assert field in out, (field, out)
    for part in ("Zq81", "Xv27", "Lm64", "Pf46"):  # not the key, nor any piece of it
        assert part not in out, out


@pytest.mark.parametrize("url", ["http://exa mple.com/v1", "http://localhost:99999/v1", "http://user:pw@localhost/v1",
                                 "http://localhost:8000/v1?api-version=1", "ftp://localhost/v1", "localhost:8000/v1"])
def test_base_url_must_be_an_http_url_with_a_host(tmp_path, url):
    """A base_url that is not an http(s) URL with a valid host, port and no credentials or query is one problem."""
    problems = problems_of(tmp_path, f"openai: {{base_url: '{url}'}}\n")
    assert len(problems) == 1 and ":1:10: openai.base_url: " in problems[0], problems
    assert url not in problems[0]


@pytest.mark.parametrize("url", ["http://localhost:11434/v1", "https://api.openai.com/v1/", "http://[::1]:8000/v1",
                                 "HTTPS://example.com/openai/v1", "http://127.0.0.1:8080"])
def test_usable_base_urls_load(tmp_path, url):
    """Ordinary server roots (names, IPv4, IPv6 literals, ports, a trailing slash) are accepted."""
    (tmp_path / "teambot.yaml").write_text(f"openai: {{base_url: '{url}'}}\n")
    assert load_settings(tmp_path).openai.base_url == url


def test_bad_base_url_stops_run_naming_the_field(tmp_path):
    """`teambot run` with an unusable base_url exits 2 before anything runs, naming openai.base_url."""
    from tests.helpers import EXAMPLE_OBJECTIVE, teambot

    (tmp_path / "teambot.yaml").write_text("openai:\n  base_url: 'http://exa mple.com/v1'\n")
    (tmp_path / "objective.md").write_text(EXAMPLE_OBJECTIVE.read_text())
    proc = teambot("run", "objective.md", cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert "teambot.yaml:2:3: openai.base_url: has no valid host name" in proc.stderr
    assert not (tmp_path / ".agent-tracking").exists()


def test_an_agent_id_no_stage_uses_is_a_warning_with_did_you_mean(project):
    """`agents: {builder_1: ...}` for the workflow's builder-1 warns on run and resume, naming the line and the fix."""
    from tests.helpers import teambot

    (project / "teambot.yaml").write_text("agents:\n  pm: {timeout: 300}\n  builder_1: {timeout: 5}\n")
    proc = teambot("run", "objective.md", "-q", cwd=project, env={"TEAMBOT_DEMO_FAIL": "SPEC"})
    assert proc.returncode == 1, proc.stderr
    expected = (f"warning: {project / 'teambot.yaml'}:3:3: agents.builder_1: no stage uses agent 'builder_1' "
                "(did you mean 'builder-1'?)")
    assert expected in proc.stderr and "'pm'" not in proc.stderr, proc.stderr
    proc = teambot("resume", "-q", cwd=project)
    assert proc.returncode == 0 and expected in proc.stderr, proc.stderr


def test_an_agent_id_that_looks_like_a_key_is_not_repeated(project):
    """An unused agent id that looks like a pasted key is warned about by line only, never repeated."""
    from tests.helpers import teambot

    (project / "teambot.yaml").write_text(f"agents:\n  {PASTED_KEY}: {{}}\n")
    proc = teambot("run", "objective.md", "--dry-run", cwd=project)
    assert proc.returncode == 0, proc.stderr
    assert "teambot.yaml:2:3: agents: no stage uses this agent id" in proc.stderr
    assert "Zq81" not in proc.stdout + proc.stderr


@pytest.mark.parametrize(("text", "where"), [
    (f"openai: {{{PASTED_KEY}: 1}}\n", ":1:10: openai.<unknown key>: unknown field"),
    (f"agents: {{pm: {{{PASTED_KEY}: 1}}}}\n", ":1:15: agents.pm.<unknown key>: unknown field"),
    (f"{PASTED_KEY}: 1\n", ":1:1: <unknown key>: unknown field"),
    (f"openai: {{{PASTED_KEY}: 1, {PASTED_KEY}: 2}}\n", ": openai.<unknown key>: duplicate key '<unknown key>'"),
])
def test_a_key_pasted_as_a_mapping_key_is_never_echoed(tmp_path, text, where):
    """A pasted key written as a field name is shown as `<unknown key>` by position, even when no variable holds it."""
    from tests.helpers import EXAMPLE_OBJECTIVE, teambot

    (tmp_path / "teambot.yaml").write_text(text)
    (tmp_path / "objective.md").write_text(EXAMPLE_OBJECTIVE.read_text())
    for env in ({}, {"OPENAI_API_KEY": PASTED_KEY, "MY_TOKEN": PASTED_KEY}):
        proc = teambot("run", "objective.md", cwd=tmp_path, env=env)
        out = proc.stdout + proc.stderr
        assert proc.returncode == 2 and "Traceback" not in out, out
        assert where in proc.stderr, proc.stderr
        for part in ("Zq81", "Xv27", "Lm64", "Pf46"):
            assert part not in out, out


def test_a_short_field_name_typo_is_still_named_with_did_you_mean(tmp_path):
    """Hiding pasted keys keeps ordinary typos readable: `openai: {modle: x}` names the key and the fix."""
    problems = problems_of(tmp_path, "openai: {modle: x}\nagents: {builder-1: {timeuot: 5}}\n")
    assert any("openai.modle: unknown field (did you mean 'model'?)" in p for p in problems), problems
    assert any("agents.builder-1.timeuot: unknown field (did you mean 'timeout'?)" in p for p in problems), problems


def test_a_name_like_key_that_is_a_secret_of_the_environment_is_masked(tmp_path, monkeypatch):
    """A secret that happens to look like a field name is still masked in teambot.yaml's problems (second defence)."""
    monkeypatch.setenv("MY_TOKEN", "hunter_two_pw")
    problems = problems_of(tmp_path, "openai: {hunter_two_pw: 1}\n")
    assert problems == [f"{tmp_path / 'teambot.yaml'}:1:10: openai.***: unknown field"], problems
