"""teambot.yaml `notify:`: where to send notifications and which events, and the checks on it.

Like the rest of teambot.yaml, no reason repeats a value from the file: a webhook URL is a
secret (a Slack webhook's path is its token), so a URL is only ever shown as its origin.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

# Every notification event teambot.yaml may name. The ones with no trigger in
# notifier.TRIGGERS yet are accepted and sent once their feature emits them.
NOTIFY_EVENTS = ("run_completed", "run_failed", "run_blocked", "run_waiting", "stage_failed", "budget_exceeded")
# {placeholders} of an argv target (the same fields as the JSON payload)
ARGV_PLACEHOLDERS = ("event", "feature", "stage", "message", "status", "run_dir")

_Text = Annotated[str, StringConstraints(min_length=1)]


class NotifyTarget(BaseModel):
    """One place notifications go: a webhook (`url`, or `url_env` naming the variable that holds
    it) or a local program (`argv`, no shell; the JSON payload on its stdin)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    url: _Text | None = None
    url_env: _Text | None = None  # the NAME of an environment variable holding the URL (it is a secret)
    argv: Annotated[list[_Text], Field(min_length=1)] | None = None
    events: list[_Text] | None = None  # default: every event in NOTIFY_EVENTS
    format: Literal["json", "slack"] | None = None  # url targets only; default json
    timeout: Annotated[float, Field(gt=0, le=120)] = 10.0  # seconds per attempt
    retries: Annotated[int, Field(ge=0, le=5)] = 2  # extra attempts after a retryable failure

    def wants(self, event: str) -> bool:
        return event in (self.events if self.events is not None else NOTIFY_EVENTS)


def notify_problems(targets: object) -> list[tuple[tuple, str]]:
    """(key path, reason) for `notify:` entries that have the right types but make no sense."""
    if not isinstance(targets, list):
        return []  # pydantic reports the type
    found: list[tuple[tuple, str]] = []
    for i, body in enumerate(targets):
        if isinstance(body, dict):
            found += _target_problems(("notify", i), body)
    return found


def _target_problems(where: tuple, body: dict[str, Any]) -> list[tuple[tuple, str]]:
    from teambot.config.problems import did_you_mean
    from teambot.settings import _placeholder_problems, is_env_name

    found: list[tuple[tuple, str]] = []
    given = [key for key in ("url", "url_env", "argv") if body.get(key) is not None]
    if len(given) != 1:
        found.append((where, "give exactly one of url, url_env or argv" + (f" (found {', '.join(given)})" if given else "")))
    url, env, argv = body.get("url"), body.get("url_env"), body.get("argv")
    if isinstance(url, str) and url and (reason := url_problem(url)):
        found.append((where + ("url",), reason))
    if isinstance(env, str) and env and not is_env_name(env):  # never echoed: it may be the URL itself
        found.append((where + ("url_env",), "must be the NAME of an environment variable holding the URL, not the URL"))
    if argv is not None and body.get("format") is not None:
        found.append((where + ("format",), "applies to url targets only; an argv program gets the JSON payload on stdin"))
    if isinstance(argv, list):
        found += _placeholder_problems(where + ("argv",), argv, ARGV_PLACEHOLDERS)
    events = body.get("events")
    if isinstance(events, list):
        if not events:
            found.append((where + ("events",), "lists no event; leave `events` out to get all of them"))
        for j, name in enumerate(events):
            if isinstance(name, str) and name and name not in NOTIFY_EVENTS:
                found.append((where + ("events", j), (f"unknown event{did_you_mean(name, NOTIFY_EVENTS)}; "
                                                      f"choose from: {', '.join(NOTIFY_EVENTS)}")))
    return found


def url_problem(url: str) -> str | None:
    """Why `url` cannot receive notifications (never repeating it), else None."""
    from urllib.parse import urlsplit

    from teambot.settings import _HOST_RE

    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError when the port is out of range or not a number
    except ValueError:
        return "is not a valid URL, e.g. https://hooks.slack.com/services/..."
    if parts.scheme.lower() not in ("http", "https"):
        return "must be an http:// or https:// URL"
    if not parts.hostname or not _HOST_RE.fullmatch(parts.hostname) or any(c.isspace() for c in url):
        return "has no valid host name, e.g. https://hooks.slack.com/services/..."
    return None


def origin(url: str) -> str:
    """What may be shown of `url`: scheme, host and port. Its path, query and credentials may be a token."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(invalid URL)"
    host = parts.hostname or ""
    return f"{parts.scheme.lower()}://{'[' + host + ']' if ':' in host else host}{port}"
