"""The router: each stage goes to its agent's runtime; --runtime forces one; presets; personas; timeouts."""

from __future__ import annotations

import sys

import pytest

from teambot.errors import AgentTimeout, ConfigError, UsageError
from teambot.runtimes.command import CommandRuntime
from teambot.runtimes.demo import DemoRuntime
from teambot.runtimes.openai import OpenAIRuntime
from teambot.runtimes.presets import PRESETS
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
