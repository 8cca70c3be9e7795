"""The HTTP API and the dashboard over one project's runs: FastAPI calling teambot.service only.

The app holds no state of its own beyond where the project is and the token: every answer is
read from the run files, so the server can stop and start at any time. Handlers are plain
`def`s (FastAPI runs them in a thread pool): the service reads files and may wait for a
launched process to take its run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from fastapi import APIRouter, Body, FastAPI, Query, Request
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from teambot import service
from teambot.server import errors, sse
from teambot.server.auth import BodyLimit, TokenAuth
from teambot.server.render import markdown_html
from teambot.service.results import RunOptions

DASHBOARD = Path(__file__).resolve().parent.parent / "data" / "dashboard"
_SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
_TEXT = "text/plain; charset=utf-8"
# the dashboard runs only its own script: rendered agent text can never bring one in
_CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'"


class StartRequest(RunOptions):
    """POST /api/runs: the objective's markdown plus `teambot run`'s options."""

    objective: str = Field(max_length=1 << 20)


class UnblockRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    iterations: int | None = Field(default=None, ge=1, le=50)


_NOTE = 1 << 18  # characters of a decision's comment: feedback an agent reads, not a document


class ApproveRequest(BaseModel):
    """POST .../approve: an optional note; `resume`: start `teambot resume` if no process drives the run."""

    model_config = ConfigDict(extra="forbid")
    comment: str | None = Field(default=None, max_length=_NOTE)
    resume: bool = False


class RejectRequest(BaseModel):
    """POST .../reject: what is wrong (the stage runs again, its prompt carrying it)."""

    model_config = ConfigDict(extra="forbid")
    comment: str = Field(max_length=_NOTE)
    resume: bool = False


class ReviewRequest(BaseModel):
    """POST .../review: `{"approve": true, "comment"?}` or `{"request_changes": TEXT}` (a human reviewer's verdict)."""

    model_config = ConfigDict(extra="forbid")
    approve: bool = False
    request_changes: str | None = Field(default=None, max_length=_NOTE)
    comment: str | None = Field(default=None, max_length=_NOTE)
    resume: bool = False


class Rendered(BaseModel):
    path: str
    text: str
    html: str


class Info(BaseModel):
    project_dir: str
    workspace: str


def create_app(project_dir: Path, workspace: Path, token: str):
    """The ASGI app: FastAPI behind the token check and the body size limit."""
    from fastapi_offline import FastAPIOffline  # /docs with its own Swagger UI files: no CDN

    app = FastAPIOffline(title="teambot", summary="Runs of AI coding agents: status, events, files and control",
                         redoc_url=None)
    errors.install(app)
    api = APIRouter(prefix="/api")

    @api.get("/info", response_model=Info)
    def info() -> Info:
        return Info(project_dir=str(project_dir), workspace=str(workspace))

    @api.get("/runs", response_model=list[service.RunSummary])
    def runs() -> list[service.RunSummary]:
        return service.list_runs(workspace)

    @api.post("/runs", response_model=service.Launched, status_code=201)
    def start(request: StartRequest) -> service.Launched:
        options = RunOptions(**request.model_dump(exclude={"objective", "rerun_stale"}))
        return service.start_run(project_dir, workspace, request.objective, options)

    @api.get("/runs/{feature}", response_model=service.RunStatus)
    def status(feature: str) -> service.RunStatus:
        return service.run_status(workspace, _feature(feature), project_dir=project_dir)

    @api.get("/runs/{feature}/graph", response_model=service.Graph)
    def graph(feature: str) -> service.Graph:
        return service.graph(workspace, _feature(feature), project_dir=project_dir)

    @api.get("/runs/{feature}/events", response_model=service.EventPage,
             responses={200: {"content": {"text/event-stream": {}}}})
    def events(feature: str, request: Request, since: int | None = Query(default=None, ge=0)):
        """Server-Sent Events (ids: byte offsets); `?since=ID` without `Accept: text/event-stream` is one JSON page."""
        service.files.run_paths(workspace, _feature(feature))  # 404 before a stream starts
        if since is not None and "text/event-stream" not in request.headers.get("accept", ""):
            return service.events(workspace, feature, since)
        stream = sse.run_events(request, workspace, feature, sse.start_id(request, since))
        return StreamingResponse(stream, media_type="text/event-stream", headers=_SSE_HEADERS)

    @api.post("/runs/{feature}/resume", response_model=service.Launched, status_code=202)
    def resume(feature: str, options: RunOptions | None = Body(default=None)) -> service.Launched:
        return service.resume_run(project_dir, workspace, _feature(feature), options or RunOptions())

    @api.post("/runs/{feature}/cancel", response_model=service.Cancelled)
    def cancel(feature: str) -> service.Cancelled:
        return service.cancel_run(workspace, _feature(feature))

    @api.post("/runs/{feature}/stages/{stage}/rerun", response_model=service.RerunResult)
    def rerun(feature: str, stage: str) -> service.RerunResult:
        return service.rerun_stage(workspace, _feature(feature), stage, project_dir=project_dir)

    @api.post("/runs/{feature}/stages/{stage}/unblock", response_model=service.UnblockResult)
    def unblock(feature: str, stage: str, body: UnblockRequest | None = Body(default=None)) -> service.UnblockResult:
        return service.unblock_stage(workspace, _feature(feature), stage, iterations=body.iterations if body else None)

    def decided(feature: str, stage: str, action: str, comment: str | None, resume: bool,
                field: str | None = None) -> service.Decided:
        done = service.decide_stage(workspace, _feature(feature), stage, action, comment, by=service.http_user(), field=field)
        return service.see_applied(project_dir, workspace, done) if resume else done

    @api.get("/runs/{feature}/stages/{stage}/decision", response_model=service.StageDecisions)
    def decision(feature: str, stage: str) -> service.StageDecisions:
        """Whether the stage waits for a person, since when, which decisions it takes and what to read first."""
        return service.stage_decisions(workspace, _feature(feature), stage)

    @api.post("/runs/{feature}/stages/{stage}/approve", response_model=service.Decided)
    def approve(feature: str, stage: str, body: ApproveRequest | None = Body(default=None)) -> service.Decided:
        """Approve a stage in awaiting_approval (as `teambot approve`): its dependents may start."""
        body = body or ApproveRequest()
        return decided(feature, stage, "approve", body.comment, body.resume)

    @api.post("/runs/{feature}/stages/{stage}/reject", response_model=service.Decided)
    def reject(feature: str, stage: str, body: RejectRequest) -> service.Decided:
        """Reject a stage in awaiting_approval (as `teambot reject`): it runs again with the comment as feedback."""
        return decided(feature, stage, "reject", body.comment, body.resume)

    @api.post("/runs/{feature}/stages/{stage}/review", response_model=service.Decided)
    def review(feature: str, stage: str, body: ReviewRequest) -> service.Decided:
        """A human reviewer's verdict on a stage in awaiting_review (as `teambot review`)."""
        action, text = service.review_action(body.approve, body.request_changes, body.comment)
        return decided(feature, stage, action, text, body.resume, "request_changes" if action == "changes_requested" else None)

    @api.get("/runs/{feature}/files/{path:path}", responses={200: {"content": {_TEXT: {}}}})
    def run_file(feature: str, path: str, format: Literal["text", "html"] = "text"):
        """A result file of the run (under outputs/, artifacts/ or iterations/), e.g. what a waiting stage produced."""
        return _file(service.run_file(workspace, _feature(feature), path), path, format)

    @api.get("/runs/{feature}/stages/{stage}/log", response_class=PlainTextResponse,
             responses={200: {"content": {"text/event-stream": {}}}})
    def log(feature: str, stage: str, request: Request, tail: int | None = Query(default=None, ge=0, le=100_000),
            since: int | None = Query(default=None, ge=0)):
        """The stage's log (`?tail=N`: its last N lines); with `Accept: text/event-stream`, followed live
        (ids: byte offsets; Last-Event-ID or `?since=` continue from one)."""
        if "text/event-stream" in request.headers.get("accept", ""):
            service.stage_iterations(workspace, _feature(feature), stage)  # 404 for an unknown run or stage
            start = sse.start_id(request, since)
            stream = sse.log_tail(request, lambda: service.stage_file(workspace, feature, stage, "log"), start)
            return StreamingResponse(stream, media_type="text/event-stream", headers=_SSE_HEADERS)
        path = service.stage_file(workspace, _feature(feature), stage, "log")
        return PlainTextResponse(service.read_text(path, tail=tail), media_type=_TEXT)

    @api.get("/runs/{feature}/stages/{stage}/output", responses={200: {"content": {_TEXT: {}}}})
    def output(feature: str, stage: str, format: Literal["text", "html"] = "text"):
        path = service.stage_file(workspace, _feature(feature), stage, "output")
        return _file(path, f"outputs/{stage}.md", format)

    @api.get("/runs/{feature}/stages/{stage}/prompt", response_class=PlainTextResponse)
    def prompt(feature: str, stage: str) -> PlainTextResponse:
        path = service.stage_file(workspace, _feature(feature), stage, "prompt")
        return PlainTextResponse(service.read_text(path), media_type=_TEXT)

    @api.get("/runs/{feature}/stages/{stage}/tasks/{task}/{which}", responses={200: {"content": {_TEXT: {}}}})
    def task_text(feature: str, stage: str, task: str, which: Literal["log", "output", "prompt"],
                  tail: int | None = Query(default=None, ge=0, le=100_000)) -> PlainTextResponse:
        """A task's log (`?tail=N`), output or prompt (a task stage's task, e.g. IMPLEMENTATION / T1)."""
        path = service.task_file(workspace, _feature(feature), stage, task, which)
        return PlainTextResponse(service.read_text(path, tail=tail if which == "log" else None), media_type=_TEXT)

    @api.get("/runs/{feature}/stages/{stage}/iterations", response_model=service.StageIterations)
    def iterations(feature: str, stage: str) -> service.StageIterations:
        return service.stage_iterations(workspace, _feature(feature), stage)

    @api.get("/runs/{feature}/artifacts", response_model=list[service.results.FileEntry])
    def artifacts(feature: str):
        return service.list_artifacts(workspace, _feature(feature))

    @api.get("/runs/{feature}/artifacts/{path:path}", responses={200: {"content": {_TEXT: {}}}})
    def artifact(feature: str, path: str, format: Literal["text", "html"] = "text"):
        return _file(service.artifact_file(workspace, _feature(feature), path), path, format)

    app.include_router(api)
    _dashboard(app)
    return BodyLimit(TokenAuth(app, token))


def _feature(feature: str) -> str:
    """A feature names a directory of the workspace: nothing that could leave it."""
    from teambot.errors import RunNotFoundError

    if "/" in feature or "\\" in feature or feature.startswith(".") or "\0" in feature:
        raise RunNotFoundError(f"no run named '{feature}'")
    return feature


def _file(path: Path, shown: str, format: str):
    text = service.read_text(path)
    if format == "html":
        return Rendered(path=shown, text=text, html=markdown_html(text))
    return PlainTextResponse(text, media_type=_TEXT, headers={"X-Content-Type-Options": "nosniff"})


def _dashboard(app: FastAPI) -> None:
    """The dashboard's own files (shipped in the package; no CDN)."""
    files = {p.name: p for p in DASHBOARD.iterdir() if p.is_file()} if DASHBOARD.is_dir() else {}
    types = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}

    @app.get("/", include_in_schema=False)
    def index():
        return FileResponse(DASHBOARD / "index.html", media_type=types[".html"], headers={"Cache-Control": "no-store", "Content-Security-Policy": _CSP})

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str):
        path = files.get(name)
        if path is None:
            return JSONResponse(errors.body(f"no file '{name}'"), status_code=404)
        return FileResponse(path, media_type=types.get(path.suffix, "application/octet-stream"),
                            headers={"Cache-Control": "no-cache"})
