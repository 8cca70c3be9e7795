"""An agent command's argv: finding its program, and showing it without the secrets typed into it."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Sequence
from pathlib import Path

from teambot.errors import AgentError
from teambot.redact import MARKER


def resolve_program(program: str, path_env: str, project_dir: Path, origin: str = "command.argv",
                    label: str = "agent command") -> str:
    """The executable argv[0] names: a path (relative ones under `project_dir`), else found on `path_env`.

    Raises a non-retryable AgentError naming the program and `origin` (where its argv came from).
    """
    if os.sep in program:
        path = project_dir / program  # an absolute program stays as it is
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
        raise AgentError(f"{label} {program!r} ({origin}) does not exist or is not executable", retryable=False)
    found = shutil.which(program, path=path_env)
    if found is None:
        fix = "install it, or set command.argv / agents.<id>.argv in teambot.yaml" if label == "agent command" \
            else f"install it, or change {origin}"
        raise AgentError(f"{label} {program!r} ({origin}) was not found on PATH; {fix}", retryable=False)
    return found


_SECRET_FLAG = re.compile(r"key|token|secret|passw|auth|header|cookie|credential", re.IGNORECASE)
# credentials inside an argument: `Authorization: Bearer X`, `-HCookie: a=b`, `--user-header=Basic X`
_CREDENTIAL = re.compile(r"\b(bearer|basic)\s+\S.*|(\b(?:proxy-)?authorization|\bcookie|\bx-api-key|\bapi-key)\s*:\s*\S.*",
                         re.IGNORECASE | re.DOTALL)


def mask_argv(argv: Sequence[str]) -> list[str]:
    """argv fit for logs and messages: the value of a flag whose name contains key, token, secret,
    password, auth, header, cookie or credential (`--api-key VALUE`, `--api-key=VALUE`) becomes ***,
    and so does whatever follows `Bearer `, `Basic ` or an `Authorization:`/`Cookie:` header name.

    Such values are typed into teambot.yaml, not read from the environment, so the redactor does
    not know them. Erring on the safe side, `--max-tokens 100` shows as `--max-tokens ***`.
    """
    shown: list[str] = []
    hide_next = False
    for arg in argv:
        if hide_next:
            shown.append(MARKER)
            hide_next = False
            continue
        if arg.startswith("-"):
            name, eq, _ = arg.partition("=")
            if _SECRET_FLAG.search(name):
                if eq:
                    arg = f"{name}={MARKER}"
                else:
                    hide_next = True
        shown.append(_CREDENTIAL.sub(_masked, arg))
    return shown


def _masked(match: re.Match[str]) -> str:
    """The scheme or header name of a credential, its value masked."""
    return f"{match.group(1)} {MARKER}" if match.group(1) else f"{match.group(2)}: {MARKER}"
