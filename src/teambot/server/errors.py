"""TeambotErrors as JSON responses: the CLI's message, a status code chosen by the error's class."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from teambot.errors import (EXIT_BAD_INPUT, ConfigError, DiskFullError, FileNotServedError, LockedError, NotRunningError,
                            RunExistsError, RunNotFoundError, StageNotFoundError, TeambotError)
from teambot.service import AlreadyDecidedError, StageNotWaitingError

_STATUS: list[tuple[type[TeambotError], int]] = [
    (RunNotFoundError, 404), (StageNotFoundError, 404), (FileNotServedError, 404),
    (LockedError, 409), (RunExistsError, 409), (NotRunningError, 409),
    (StageNotWaitingError, 409), (AlreadyDecidedError, 409),  # a decision that does not fit the stage's state
    (DiskFullError, 507),
]


def status_of(err: TeambotError) -> int:
    """404 unknown run/stage/file, 409 a live owner or a conflicting state, 422 bad input, else 500."""
    for cls, code in _STATUS:
        if isinstance(err, cls):
            return code
    return 422 if err.exit_code == EXIT_BAD_INPUT else 500


def body(message: str, hint: str | None = None, problems: list[str] | None = None) -> dict:
    return {"error": message, "hint": hint, "problems": problems or []}


def install(app: FastAPI) -> None:
    @app.exception_handler(TeambotError)
    async def teambot_error(_: Request, err: TeambotError) -> JSONResponse:
        problems = err.problems if isinstance(err, ConfigError) else []
        return JSONResponse(body(err.message, err.hint, problems), status_code=status_of(err))

    @app.exception_handler(RequestValidationError)
    async def bad_request(_: Request, err: RequestValidationError) -> JSONResponse:
        problems = [f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in err.errors()]
        return JSONResponse(body(f"bad request: {len(problems)} problem(s)", problems=problems), status_code=422)

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, err: HTTPException) -> JSONResponse:
        return JSONResponse(body(str(err.detail)), status_code=err.status_code, headers=getattr(err, "headers", None))
