"""teambot.yaml: which runtime does each agent's work, and how (pydantic, extra="forbid").

A missing file means the defaults. A bad file raises ConfigError listing every problem at
once, each as `file:line:col: field.path: reason` (exit 2). No reason repeats a value from
the file: any field may hold a pasted API key, and errors reach terminals and CI logs. The
full schema is documented in docs/configuration.md; command-line flags override these values.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from teambot.limits import Budget
from teambot.errors import ConfigError
from teambot.names import control_character
from teambot.notify.config import NotifyTarget, notify_problems

if TYPE_CHECKING:  # pragma: no cover - typing only
    from teambot.config.problems import Positions, Problem

SETTINGS_FILE = "teambot.yaml"
MAX_BYTES = 1 << 20
DEFAULT_OUTPUT_CAP = 10 * 1024 * 1024
_PLACEHOLDER_RE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_ENV_NAME_RE = re.compile(r"\A[A-Za-z_][A-Za-z0-9_]*\Z")
# A DNS name or IPv4 address, or an IPv6 literal (urlsplit drops its brackets)
_HOST_RE = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?\.?|[0-9A-Fa-f:.]*:[0-9A-Fa-f:.%A-Za-z]*")
# Keys that are also valid names (GitHub, Hugging Face, Stripe-style): caught by their prefix
_KEY_PREFIXES = ("sk_", "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", "hf_", "AIza")

Text = Annotated[str, StringConstraints(min_length=1)]
Argv = Annotated[list[Text], Field(min_length=1)]
PromptVia = Literal["stdin", "file"]
# the agent's stdout: plain text, or a CLI's machine-readable output with its usage (runtimes/usage.py)
OutputFormat = Literal["text", "claude-json", "codex-jsonl", "gemini-json"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class AgentSettings(_Strict):
    """Overrides for one agent id (the `work_agent` of stages.yaml)."""

    runtime: Text | None = None  # default: the top-level `runtime`
    preset: Text | None = None  # command runtime: a preset name (claude, codex, gemini, copilot, aider)
    argv: Argv | None = None  # command runtime: the exact argv (instead of a preset)
    model: Text | None = None  # openai: the model; command: fills {model} / the preset's model flag
    timeout: Annotated[float, Field(gt=0)] | None = None  # seconds, for stages that set no timeout
    prompt_via: PromptVia | None = None  # command runtime: stdin, or the {prompt_file} in argv
    output_format: OutputFormat | None = None  # command runtime: default the preset's, else text


NO_AGENT_SETTINGS = AgentSettings()  # an agent teambot.yaml says nothing about (frozen: shared)


class CommandSettings(_Strict):
    """The command runtime's defaults (agents without their own argv/preset use these)."""

    argv: Argv | None = None
    preset: Text | None = None
    prompt_via: PromptVia | None = None
    output_format: OutputFormat | None = None
    output_cap_bytes: Annotated[int, Field(ge=1024)] = DEFAULT_OUTPUT_CAP
    grace_seconds: Annotated[float, Field(ge=0, le=600)] = 5.0  # SIGTERM → SIGKILL wait


class OpenAISettings(_Strict):
    """An OpenAI-compatible /chat/completions endpoint."""

    base_url: Text = "https://api.openai.com/v1"
    model: Text | None = None
    api_key_env: Text = "OPENAI_API_KEY"  # the NAME of the variable holding the key, never the key
    timeout: Annotated[float, Field(gt=0)] = 120.0  # seconds to connect / wait for the next bytes
    max_retries: Annotated[int, Field(ge=0, le=20)] = 4
    retry_backoff_seconds: Annotated[float, Field(ge=0, le=600)] = 1.0
    stream: bool = True


class ReviewSettings(_Strict):
    """Review stages (is_review_stage): how many work → review iterations one budget allows."""

    max_iterations: Annotated[int, Field(ge=1, le=50)] = 4


class AcceptanceSettings(_Strict):
    """Acceptance test stages: the command teambot runs itself, and its iteration budget."""

    # argv, no shell; {junit} becomes a path teambot reads JUnit XML from (recommended)
    command: Argv | None = None
    max_iterations: Annotated[int, Field(ge=1, le=50)] = 4
    timeout: Annotated[float, Field(gt=0)] = 1800.0  # seconds per run of the command


class Price(_Strict):
    """A model's price in US dollars per million tokens (teambot.yaml `prices.<model>`)."""

    input: Annotated[float, Field(ge=0, allow_inf_nan=False)]
    output: Annotated[float, Field(ge=0, allow_inf_nan=False)]
    cached_input: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = None  # default: the input price


class Settings(_Strict):
    """The whole teambot.yaml document."""

    runtime: Text = "demo"
    max_concurrency: Annotated[int, Field(ge=1, le=64)] = 3
    workspace: Text = ".agent-tracking"
    personas_dir: Text = ".github/agents"
    secret_env_vars: list[Text] = Field(default_factory=list)  # more variables whose values are secrets
    # in a git project every stage works in the run's integration worktree ("worktree"), or in
    # the project directory itself ("none": only for workflows without task stages)
    isolation: Literal["worktree", "none"] = "worktree"
    # where a run's git worktrees live, relative to the project (a folder per run under it);
    # default: `worktrees/` inside the run's directory
    worktrees_dir: Text | None = None
    agents: dict[str, AgentSettings] = Field(default_factory=dict)
    command: CommandSettings = Field(default_factory=CommandSettings)
    openai: OpenAISettings = Field(default_factory=OpenAISettings)
    review: ReviewSettings = Field(default_factory=ReviewSettings)
    acceptance: AcceptanceSettings = Field(default_factory=AcceptanceSettings)
    notify: list[NotifyTarget] = Field(default_factory=list)  # notify/config.py
    prices: dict[Text, Price] = Field(default_factory=dict)  # model -> price per million tokens (costs.py)
    budget: Budget = Field(default_factory=Budget)  # the run's spending limit (costs.py)


_MODELS = (Settings, AgentSettings, CommandSettings, OpenAISettings, ReviewSettings, AcceptanceSettings, NotifyTarget,
           Price, Budget)
_ALL_FIELDS = sorted({f for m in _MODELS for f in m.model_fields})
_SECTIONS = ("agents", "command", "openai", "secret_env_vars", "review", "acceptance", "notify", "prices", "budget")


def load_settings(project_dir: Path, path: Path | None = None) -> Settings:
    """Read `path` (default: <project_dir>/teambot.yaml). Missing default file → defaults."""
    return read_settings(project_dir, path)[0]


def read_settings(project_dir: Path, path: Path | None = None, *,
                  agents_used: Collection[str] | None = None) -> tuple[Settings, list[str]]:
    """load_settings, plus warnings (`file:line:col: agents.ID: ...`) for each agent id under
    `agents:` that is not in `agents_used` (the workflow's agents): such settings do nothing."""
    from teambot.config.problems import Positions, Problem, from_pydantic
    from teambot.config.yamlsafe import parse
    from teambot.inputs import read_input

    explicit = path is not None
    path = Path(path) if explicit else project_dir / SETTINGS_FILE
    try:
        raw = read_input(path, MAX_BYTES, "config file")  # regular files only, at most MAX_BYTES
    except FileNotFoundError:
        if explicit:
            raise ConfigError(f"{path}: cannot read config file: no such file", hint="run `teambot init` to write one") from None
        return Settings(), []
    if _blank(raw):
        return Settings(), []
    document, problems = parse(raw)
    if document is None:
        raise _invalid(path, _render(problems, path, Positions(), None))
    data = document.data
    if not isinstance(data, dict):
        problems.append(Problem((), "the top level must be a mapping of settings (runtime, agents, command, openai, ...)"))
        raise _invalid(path, _render(problems, path, document.positions, data))
    data = {k: v for k, v in data.items() if not (k in _SECTIONS and v is None)}  # `agents:` left empty
    settings = None
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        problems += from_pydantic(exc, (), _ALL_FIELDS, show_values=False)
    problems += [Problem(p, m) for p, m in check_meaning(data)]
    if problems:
        raise _invalid(path, _render(problems, path, document.positions, data))
    assert settings is not None
    if agents_used is None:
        return settings, []
    return settings, _render(_unused_agents(settings, agents_used, document.positions), path, Positions(), data)


def _unused_agents(settings: Settings, used: Collection[str], positions: Positions) -> list[Problem]:
    """A typo in an agent id (`builder_1` for `builder-1`) must not silently do nothing."""
    from teambot.config.problems import Problem, did_you_mean, dotted

    warnings = []
    for agent in settings.agents:
        if agent in used:
            continue
        if is_env_name(agent.replace("-", "_").replace(".", "_")):
            where, what = dotted(("agents", agent)), f"no stage uses agent '{agent}'"
        else:  # not repeated: an id that does not look like a name may be a pasted key
            where, what = "agents", "no stage uses this agent id"
        line, column = positions.find(("agents", agent)) or (None, None)
        warnings.append(Problem((), f"{where}: {what}{did_you_mean(agent, sorted(used))}; its settings do nothing "
                                    f"(agents of this workflow: {', '.join(sorted(used)) or 'none'})", line, column))
    return warnings


def check_meaning(data: dict[str, Any]) -> list[tuple[tuple, str]]:
    """(key path, reason) for values that have the right type but make no sense together."""
    from teambot.runtimes.registry import RUNTIME_NAMES  # here: keeps `import teambot.settings` light

    found: list[tuple[tuple, str]] = []
    runtime = data.get("runtime")
    if isinstance(runtime, str) and runtime and runtime not in RUNTIME_NAMES:
        found.append((("runtime",), _unknown_runtime(runtime)))
    command = data.get("command")
    if isinstance(command, dict):
        found += _command_problems(("command",), command)
    agents = data.get("agents")
    if isinstance(agents, dict):
        for agent, body in agents.items():
            bad = control_character(agent) if isinstance(agent, str) else None
            if bad:  # ids become file names, argv elements and log lines
                found.append((("agents", agent), f"agent id contains a control character ({bad})"))
            if not isinstance(body, dict):
                continue
            where = ("agents", agent)
            name = body.get("runtime")
            if isinstance(name, str) and name and name not in RUNTIME_NAMES:
                found.append((where + ("runtime",), _unknown_runtime(name)))
            found += _command_problems(where, body)
            argv = body.get("argv")
            if _has_placeholder(argv, "model") and not body.get("model"):
                found.append((where + ("argv",), "uses {model} but this agent sets no model"))
    acceptance = data.get("acceptance")
    if isinstance(acceptance, dict) and isinstance(acceptance.get("command"), list):
        from teambot.config.validate import ACCEPTANCE_PLACEHOLDERS

        found += _placeholder_problems(("acceptance", "command"), acceptance["command"], ACCEPTANCE_PLACEHOLDERS)
    found += notify_problems(data.get("notify"))
    openai = data.get("openai")
    if isinstance(openai, dict):
        url = openai.get("base_url")
        if isinstance(url, str) and url:
            found += [(("openai", "base_url"), reason) for reason in _url_problems(url)]
        env = openai.get("api_key_env")
        if isinstance(env, str) and env and not is_env_name(env):  # never echo it: it may be a pasted key
            found.append((("openai", "api_key_env"), "must be the NAME of an environment variable, not the key itself"))
    return found


def is_env_name(value: str) -> bool:
    """True if `value` looks like the NAME of an environment variable rather than a pasted key.

    A name matches ^[A-Za-z_][A-Za-z0-9_]*$; so do some keys (ghp_ + 36 letters and digits),
    hence the known key prefixes and a long run mixing lower case, upper case and digits.
    """
    if not _ENV_NAME_RE.fullmatch(value) or value.startswith(_KEY_PREFIXES):
        return False
    return not any(len(part) >= 24 and not part.isupper() and not part.islower() and any(c.isdigit() for c in part)
                   for part in value.split("_"))


def _url_problems(url: str) -> list[str]:
    """Why `url` cannot be the base of the chat-completions URL (found when the file is read, not mid-run).

    The reasons never repeat the URL: a key pasted here must not reach a terminal or a log.
    """
    from urllib.parse import urlsplit

    import httpx  # here: keeps `import teambot.settings` light

    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError when the port is out of range or not a number
        httpx.URL(url.rstrip("/") + "/chat/completions")  # what the runtime will request
    except (ValueError, httpx.InvalidURL):
        return ["is not a valid URL; give the server's API root, e.g. http://localhost:11434/v1"]
    if parts.scheme.lower() not in ("http", "https"):
        return ["must be an http:// or https:// URL, e.g. https://api.openai.com/v1"]
    host = parts.hostname or ""
    if not host or not _HOST_RE.fullmatch(host):
        return ["has no valid host name, e.g. http://localhost:11434/v1"]
    if parts.username is not None or parts.password is not None:
        return ["must not hold a user name or password; put the key in the variable that api_key_env names"]
    if parts.query or parts.fragment or url.endswith(("?", "#")):
        return ["must not have a query (?...) or fragment (#...): teambot appends /chat/completions to it"]
    return []


def _command_problems(where: tuple, body: dict[str, Any]) -> list[tuple[tuple, str]]:
    from teambot.config.problems import did_you_mean
    from teambot.runtimes.presets import PLACEHOLDERS, PRESETS

    found: list[tuple[tuple, str]] = []
    preset, argv = body.get("preset"), body.get("argv")
    if isinstance(preset, str) and preset and preset not in PRESETS:
        found.append((where + ("preset",), f"unknown preset{did_you_mean(preset, PRESETS)}; "
                                           f"choose one of: {', '.join(PRESETS)}"))
    if preset is not None and argv is not None:
        found.append((where + ("argv",), "give either argv or preset, not both"))
    if isinstance(argv, list):
        found += _placeholder_problems(where + ("argv",), argv, PLACEHOLDERS)
        if body.get("prompt_via") == "file" and not _has_placeholder(argv, "prompt_file"):
            found.append((where + ("prompt_via",), "is 'file' but argv has no {prompt_file} placeholder"))
    return found


def _placeholder_problems(where: tuple, argv: list, known: Collection[str]) -> list[tuple[tuple, str]]:
    """An unknown {placeholder} in an argv element; the element's index says where (never its text)."""
    import difflib

    found: list[tuple[tuple, str]] = []
    for i, arg in enumerate(argv):
        for name in _PLACEHOLDER_RE.findall(arg) if isinstance(arg, str) else ():
            if name not in known:
                close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
                hint = f" (did you mean {{{close[0]}}}?)" if close else ""
                found.append((where + (i,), f"unknown placeholder{hint}; known: {', '.join('{' + p + '}' for p in known)}"))
    return found


def _has_placeholder(argv: object, name: str) -> bool:
    return isinstance(argv, list) and any(isinstance(a, str) and "{" + name + "}" in a for a in argv)


def _unknown_runtime(name: str) -> str:
    from teambot.config.problems import did_you_mean
    from teambot.runtimes.registry import RUNTIME_NAMES

    return f"unknown runtime{did_you_mean(name, RUNTIME_NAMES)}; choose one of: {', '.join(RUNTIME_NAMES)}"


def _blank(raw: bytes) -> bool:
    """Only whitespace and comments: the file exists but sets nothing."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return False
    return all(not line.strip() or line.lstrip().startswith("#") or line.strip() in ("---", "...") for line in text.splitlines())


def _render(problems: list[Problem], path: Path, positions: Positions, data: object) -> list[str]:
    """The problems' lines with no key that may be a pasted secret (see `looks_like_field_name`),
    then, in case one slipped through, every secret of the environment (and of the variables the
    file names) masked."""
    from teambot.config.problems import render
    from teambot.redact import Redactor

    names: list[str] = []
    if isinstance(data, dict):
        openai, extra = data.get("openai"), data.get("secret_env_vars")
        if isinstance(openai, dict) and isinstance(openai.get("api_key_env"), str):
            names.append(openai["api_key_env"])
        names += [name for name in extra if isinstance(name, str)] if isinstance(extra, list) else []
    redactor = Redactor(names)
    return [redactor(line) for line in render(problems, str(path), positions, hide_keys=True)]


def _invalid(path: Path, lines: list[str]) -> ConfigError:
    from teambot.config.problems import invalid

    return invalid(path, lines, "config", "fix them all; the settings are described in docs/configuration.md")


__all__ = ["AcceptanceSettings", "AgentSettings", "ReviewSettings", "CommandSettings", "OpenAISettings", "SETTINGS_FILE", "Settings",
           "load_settings", "read_settings"]
