"""Problems found in a stages file: where they are, what is wrong, and how they are printed."""

from __future__ import annotations

import datetime as _dt
import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from teambot.errors import ConfigError
from teambot.names import control_character

if TYPE_CHECKING:  # pragma: no cover - typing only
    from pydantic import ValidationError

Key = str | int
KeyPath = tuple[Key, ...]


@dataclass(frozen=True)
class Problem:
    """One problem: the key path it concerns (`stages.SPEC.work_agent`) and the reason.

    `line`/`column` (1-based) are set when the problem has its own position (YAML syntax,
    duplicate keys); otherwise the position is looked up from `path` when printing.
    """

    path: KeyPath
    message: str
    line: int | None = None
    column: int | None = None


class Positions:
    """Where each key path of the document is written: path -> (line, column), 1-based."""

    def __init__(self, marks: Mapping[KeyPath, tuple[int, int]] | None = None) -> None:
        self._marks = dict(marks or {})

    def find(self, path: KeyPath) -> tuple[int, int] | None:
        """The position of `path`, else of its nearest ancestor that exists in the file."""
        for end in range(len(path), 0, -1):
            mark = self._marks.get(path[:end])
            if mark is not None:
                return mark
        return None


HIDDEN_KEY = "<unknown key>"
_KEY_NAME_RE = re.compile(r"\A[A-Za-z_][A-Za-z0-9_-]{0,39}\Z")
# Prefixes of API keys and tokens (OpenAI, GitHub, Hugging Face, Google, Slack, GitLab, Stripe).
_SECRET_PREFIXES = ("sk-", "sk_", "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", "hf_", "aiza", "xox",
                    "glpat-", "pk_", "rk_")


def looks_like_field_name(key: object) -> bool:
    """True if a mapping key may be printed: short, name-like, and not like a pasted key or token.

    A key written where a field name belongs may be a pasted secret (`openai: {sk-proj-...: 1}`);
    such a key is shown as `<unknown key>`, the file:line:col already says where it is.
    """
    if not isinstance(key, str):
        return False
    key = "".join(c for c in key if c.isprintable())  # `dotted` shows a control character quoted
    if not _KEY_NAME_RE.fullmatch(key) or key.lower().startswith(_SECRET_PREFIXES):
        return False
    if sum(c.isdigit() for c in key) * 4 > len(key) and len(key) >= 8:  # mostly digits: an id or a token
        return False
    # a long run mixing upper case, lower case and digits is random, not a word
    return not any(len(part) >= 16 and not part.isupper() and not part.islower() and any(c.isdigit() for c in part)
                   for part in re.split(r"[-_]", key))


def dotted(path: Iterable[Key], *, hide_keys: bool = False) -> str:
    """`("stages", "SPEC", "artifacts", 0)` -> `stages.SPEC.artifacts[0]`; a key holding a
    control character is quoted (`stages['EVIL\\n']`) so the problem stays on one line.
    `hide_keys` prints a key that does not look like a field name as `<unknown key>`."""
    out = ""
    for part in path:
        if hide_keys and not (isinstance(part, int) and not isinstance(part, bool)) and not looks_like_field_name(part):
            out += f".{HIDDEN_KEY}" if out else HIDDEN_KEY
        elif isinstance(part, int) and not isinstance(part, bool):
            out += f"[{part}]"
        elif isinstance(part, str) and control_character(part):
            out += f"[{part!r}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def render(problems: Iterable[Problem], filename: str, positions: Positions, *, hide_keys: bool = False) -> list[str]:
    """`file:line:col: path: reason` lines, in file order (problems with no position last).

    `hide_keys` (teambot.yaml) never prints a key that may be a pasted secret, in the path or
    in the reason (a duplicate key's message names it): see `looks_like_field_name`.
    """
    located: list[tuple[tuple[int, int], str]] = []
    for problem in problems:
        mark = (problem.line, problem.column or 1) if problem.line else positions.find(problem.path)
        where = f"{filename}:{mark[0]}:{mark[1]}" if mark else filename
        what = f"{dotted(problem.path, hide_keys=hide_keys)}: " if problem.path else ""
        message = problem.message
        if hide_keys:
            for part in problem.path:
                if isinstance(part, str) and part and not looks_like_field_name(part):
                    message = message.replace(part, HIDDEN_KEY)
        located.append((mark or (1 << 30, 0), f"{where}: {what}{message}"))
    located.sort(key=lambda item: item[0])  # stable: same position keeps the order found
    return [text for _, text in located]


def invalid(where: object, lines: list[str], kind: str, hint: str) -> ConfigError:
    """One ConfigError for every problem found in a file: "<file>: N problems in <kind> file"."""
    count = f"{len(lines)} problem{'s' if len(lines) != 1 else ''}"
    return ConfigError(f"{where}: {count} in {kind} file", problems=lines, hint=hint)


def did_you_mean(word: object, choices: Iterable[str]) -> str:
    """` (did you mean 'x'?)` for a close match, else ``."""
    close = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def describe(value: object, *, show: bool = True) -> str:
    """What a YAML value is, for `expected ..., got ...` messages.

    `show=False` names only the kind of value, never the value itself: teambot.yaml's
    errors use it, since any of its fields may hold a pasted API key.
    """
    if value is None:
        return "null"
    if not show:
        kinds = {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "a list", dict: "a mapping"}
        return next((name for kind, name in kinds.items() if isinstance(value, kind)),
                    "a date; quote it to use it as text" if isinstance(value, _dt.date) else "a value of another kind")
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, int):
        return f"an integer ({value})"
    if isinstance(value, float):
        return f"a number ({value})"
    if isinstance(value, str):
        short = value if len(value) <= 40 else value[:37] + "..."
        return f"a string ({short!r})"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, _dt.date):
        return f"a date ({value.isoformat()}); quote it to use it as text"
    return f"a {type(value).__name__}"


_EXPECTED = {
    "string_type": "a string",
    "bool_type": "true or false",
    "int_type": "a whole number",
    "float_type": "a number",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping of fields",
    "model_attributes_type": "a mapping of fields",
}


def _type_message(kind: str, value: Any, show: bool) -> str:
    message = f"expected {_EXPECTED[kind]}, got {describe(value, show=show)}"
    # YAML 1.1 reads yes/no/on/off and bare numbers as booleans and numbers.
    if kind == "string_type" and isinstance(value, bool | int | float):
        message += "; put it in quotes to use it as text"
    elif kind in ("bool_type", "int_type", "float_type") and isinstance(value, str):
        message += "; remove the quotes"
    return message


def from_pydantic(exc: ValidationError, prefix: KeyPath, fields: Iterable[str], *, show_values: bool = True) -> list[Problem]:
    """One Problem per pydantic error, with its path under `prefix` and a plain reason.

    `show_values=False` never puts an input value in a reason (see `describe`).
    """
    fields = list(fields)
    problems: list[Problem] = []
    for err in exc.errors(include_url=False):
        loc = tuple(part for part in err["loc"] if part != "[key]")
        kind, value, ctx = err["type"], err.get("input"), err.get("ctx") or {}
        if kind == "extra_forbidden":
            message = "unknown field" + did_you_mean(loc[-1] if loc else "", fields)
        elif kind == "missing":
            message = "missing required field"
        elif kind == "invalid_key":
            message = f"field names must be strings, got {describe(value, show=show_values)}"
        elif kind in _EXPECTED:
            message = _type_message(kind, value, show_values)
        elif kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
            words = {"greater_than": "greater than", "greater_than_equal": "at least",
                     "less_than": "less than", "less_than_equal": "at most"}[kind]
            limit = next(iter(ctx.values()), "?")
            if isinstance(limit, float) and limit.is_integer():
                limit = int(limit)
            message = f"must be {words} {limit}, got {describe(value, show=show_values)}"
        elif kind == "string_too_short":
            message = "must not be empty"
        else:
            message = f"{err['msg']}, got {describe(value, show=show_values)}"
        problems.append(Problem(prefix + loc, message))
    return problems
