"""The router: each stage goes to its agent's runtime; --runtime forces one; presets; personas; timeouts."""

from __future__ import annotations

import sys

import pytest

from teambot.errors import EXIT_BAD_INPUT, AgentTimeout, ConfigError, UsageError
from teambot.redact import Redactor
from teambot.runtimes.command import CommandRuntime
from teambot.runtimes.demo import DemoRuntime
from teambot.runtimes.openai import OpenAIRuntime
from teambot.runtimes.presets import PRESETS
from teambot.runtimes.registry import RUNTIME_NAMES, check_runtime_name
from teambot.runtimes.router import build_runtime
from teambot.settings import Settings
from tests.runtimes.conftest import FAKE_AGENT


def settings(**data) -> Settings:
    return Settings.model_validate(data)


FAKE = [sys.executable, str(FAKE_AGENT)]


async def test_dispatch_by_agent(make_request, llm_server):
    """pm uses its command, writer the openai server, everyone else the default demo runtime."""
    router = build_runtime(settings(agents={"pm": {"runtime": "command", "argv": [*FAKE, "--print-env", "TEAMBOT_AGENT"]},
                                            "writer": {"runtime": "openai", "model": "canned"}},
                                    openai={"base_url": llm_server.url}))
    try:
        assert "TEAMBOT_AGENT=pm" in (await router.run(make_request("PLAN", agent="pm"))).output
        assert (await router.run(make_request("DOCS", agent="writer"))).output.startswith("Canned reply")
        assert "ba finished SPEC" in (await router.run(make_request("SPEC", agent="ba"))).output
        assert isinstance(router.runtime_for("pm"), CommandRuntime)
        assert isinstance(router.runtime_for("writer"), OpenAIRuntime)
        assert isinstance(router.runtime_for("ba"), DemoRuntime)
        assert router.runtime_for("pm") is router.runtime_for("pm")
    finally:
        await router.aclose()


async def test_override_forces_every_agent(make_request):
    """--runtime command puts every agent on the command runtime, keeping per-agent argv."""
    router = build_runtime(settings(runtime="demo", command={"argv": [*FAKE, "--print-env", "TEAMBOT_STAGE"]},
                                    agents={"pm": {"runtime": "demo", "argv": [*FAKE, "--print-argv", "--stderr", "pm"]}}),
                           override="command")
    assert "TEAMBOT_STAGE=SPEC" in (await router.run(make_request("SPEC", agent="ba"))).output
    assert "argv: --print-argv --stderr pm" in (await router.run(make_request("PLAN", agent="pm"))).output
    await router.aclose()


def test_unknown_override():
    """An unknown --runtime is a usage error listing the runtimes."""
    with pytest.raises(UsageError, match="unknown runtime 'gtp'"):
        build_runtime(Settings(), override="gtp")


def test_presets_resolve_with_model():
    """A preset with a model gets the model flag after its command words; prompt_via follows the preset."""
    router = build_runtime(settings(runtime="command", command={"preset": "codex", "grace_seconds": 2},
                                    agents={"builder-1": {"preset": "claude", "model": "sonnet"},
                                            "ba": {"model": "o3"}, "pm": {"preset": "aider"}}))
    claude = router.runtime_for("builder-1").spec
    assert claude.argv[:3] == ("claude", "--model", "{model}") and claude.model == "sonnet"
    assert claude.prompt_via == "stdin" and claude.grace == 2
    codex = router.runtime_for("ba").spec
    assert codex.argv[:4] == ("codex", "exec", "--model", "{model}") and codex.argv[-1] == "-"
    assert router.runtime_for("pm").spec.prompt_via == "file"
    assert "preset aider" in router.runtime_for("pm").spec.origin


def test_prompt_via_inferred_from_argv():
    """A custom argv with {prompt_file} gets the prompt in the file, else on stdin."""
    router = build_runtime(settings(runtime="command", agents={"a": {"argv": ["x", "{prompt_file}"]}, "b": {"argv": ["y"]}}))
    assert router.runtime_for("a").spec.prompt_via == "file"
    assert router.runtime_for("b").spec.prompt_via == "stdin"


def test_check_names_agents_that_cannot_run():
    """check() lists agents with no command configured, a missing executable, or no openai model."""
    router = build_runtime(settings(runtime="command", agents={"pm": {"argv": ["no-such-agent-cli-xyz"]},
                                                               "writer": {"runtime": "openai"},
                                                               "ok": {"argv": FAKE}}))
    with pytest.raises(ConfigError) as err:
        router.check(["pm", "ba", "writer", "ok", None])
    text = "\n".join(err.value.problems)
    assert "agents.ba: no agent command configured" in text
    assert "agents.pm: agent command 'no-such-agent-cli-xyz'" in text
    assert "agents.writer: runtime openai needs a model" in text
    assert len(err.value.problems) == 3


def test_check_looks_up_relative_programs_under_the_project(tmp_path, monkeypatch):
    """check() resolves argv[0] as a run would: ./bin/agent and {project_dir}/bin/agent under the project dir."""
    (tmp_path / "bin").mkdir()
    agent = tmp_path / "bin" / "agent"
    agent.write_text("#!/bin/sh\n")
    agent.chmod(0o755)
    router = build_runtime(settings(runtime="command", agents={
        "a": {"argv": ["./bin/agent"]}, "b": {"argv": ["./bin/missing"]},
        "c": {"argv": ["{project_dir}/bin/agent"]}, "d": {"argv": ["{run_dir}/made-per-stage"]}}))
    with pytest.raises(ConfigError) as err:
        router.check(["a", "b", "c", "d"], project_dir=tmp_path)
    assert err.value.problems == ["agents.b: agent command './bin/missing' (agents.b.argv) does not exist or is not executable"]
    monkeypatch.chdir(tmp_path)  # the default project directory is the current one, as for the CLI
    router.check(["a", "c", "d"])
    with pytest.raises(ConfigError):
        router.check(["b"])


def test_check_refuses_openai_for_stages_with_several_artifacts():
    """An agent on the openai runtime whose stage declares more than one artifact is a problem up front."""
    router = build_runtime(settings(runtime="demo", openai={"model": "m"},
                                    agents={"writer": {"runtime": "openai"}, "pm": {"runtime": "command", "argv": FAKE}}))
    router.check(["writer", "pm"])  # positional, as before: nothing to object to
    router.check(["writer", "pm", None], artifacts={"writer": 1, "pm": 3, None: 2})
    with pytest.raises(ConfigError) as err:
        router.check(["writer", "pm", None], artifacts={"writer": 2, "pm": 3, None: 2})
    assert err.value.problems == [("agents.writer: the openai runtime writes one artifact per stage, but one of this "
                                   "agent's stages declares 2; put it on a command runtime or split the stage")]
    everyone = build_runtime(settings(openai={"model": "m"}), override="openai")
    with pytest.raises(ConfigError) as err:
        everyone.check([None, "ba"], artifacts={None: 3, "ba": 1})
    assert len(err.value.problems) == 1
    assert err.value.problems[0].startswith("stages without a work_agent: the openai runtime writes one artifact per stage")


async def test_build_runtime_uses_the_given_redactor(make_request, monkeypatch):
    """The redactor passed to build_runtime is the one the agents' runtimes use (no second one is built)."""
    monkeypatch.delenv("CUSTOM_TOKEN", raising=False)
    redactor = Redactor(environ={"CUSTOM_TOKEN": "custom-secret-value"})
    router = build_runtime(settings(runtime="command", command={"argv": [*FAKE, "--stderr", "saw custom-secret-value"]}),
                           redactor=redactor)
    assert router.redactor is redactor
    request = make_request()
    await router.run(request)
    await router.aclose()
    log = request.log_path.read_text()
    assert "[stderr] saw ***" in log and "custom-secret-value" not in log


def test_check_runtime_name():
    """check_runtime_name accepts the runtimes and refuses anything else with a usage error listing them."""
    for name in RUNTIME_NAMES:
        check_runtime_name(name)
    with pytest.raises(UsageError) as err:
        check_runtime_name("gtp")
    assert err.value.message == "unknown runtime 'gtp'" and err.value.exit_code == EXIT_BAD_INPUT
    assert err.value.hint == "choose one of: demo, command, openai"


async def test_agent_timeout_applies_when_the_stage_has_none(make_request):
    """agents.<id>.timeout bounds a stage without its own timeout, ending in AgentTimeout."""
    router = build_runtime(settings(runtime="command", command={"grace_seconds": 0.2},
                                    agents={"pm": {"argv": [*FAKE, "--hang"], "timeout": 0.5}}))
    with pytest.raises(AgentTimeout, match=r"agents\.pm\.timeout"):
        await router.run(make_request("PLAN", agent="pm"))


def test_every_preset_is_documented():
    """docs/runtimes.md shows each preset's exact argv."""
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "runtimes.md").read_text()
    for preset in PRESETS.values():
        assert " ".join(_shell_quote(a) for a in preset.argv) in doc, preset.name


def _shell_quote(arg: str) -> str:
    import shlex

    return shlex.quote(arg) if not arg.startswith("{") else arg
