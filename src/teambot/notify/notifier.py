"""Delivering notifications: one background thread per target, each delivery recorded in events.jsonl.

The run never waits for a target while it goes: `on_event` only queues. Each target's thread
delivers its queue in order, with a timeout per attempt and a few retries with backoff, and
records `notification_sent` or `notification_failed`. When the run ends, `close` waits at most
FLUSH_SECONDS for what is still queued, then records the rest as not delivered. A target never
fails the run. Payloads go through the run's redactor, and a target is only ever named by its
origin (a webhook URL's path and query are its secret) or its program's name.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from teambot.errors import TeambotError
from teambot.events import Event, EventLog
from teambot.notify.config import NotifyTarget, origin, url_problem

FLUSH_SECONDS = 5.0  # the longest a run's end waits for its notifications
BACKOFF_SECONDS = 0.5  # before the first retry; doubles each time
MESSAGE_CAP = 2000  # characters of a message (errors can be long)
_PLACEHOLDER_RE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_OUTPUT_CAP = 300  # characters of a failing program's stderr quoted in the failure


@dataclass(frozen=True, eq=False)  # compared by identity: the same payload may be queued twice
class Item:
    """One notification for one target."""

    event: str
    stage: str | None
    payload: dict[str, Any]


@dataclass(frozen=True)
class Trigger:
    """An events.jsonl event that sends notification `name`; `status` is its subject's status."""

    name: str
    status: str
    message: Callable[[Event, str], str]  # (event, feature) -> the one-line message


def _reasons(found: object) -> str:
    """`STAGE: why; STAGE: why` from an event's {stage: reason} detail."""
    if isinstance(found, dict) and found:
        return "; ".join(f"{k}: {v}" for k, v in found.items())
    return ""


def _completed(e: Event, feature: str) -> str:
    took = e.details.get("elapsed_seconds")
    return f"teambot run '{feature}' completed" + (f" in {took:.1f} s" if isinstance(took, (int, float)) else "")


def _failed(e: Event, feature: str) -> str:
    why = str(e.details.get("error") or "") or _reasons(e.details.get("failed"))
    pending = ", ".join(map(str, e.details.get("pending") or []))
    return f"teambot run '{feature}' failed: " + (why or f"stages could not start: {pending}")


def _blocked(e: Event, feature: str) -> str:
    return f"teambot run '{feature}' is blocked and needs a person: {_reasons(e.details.get('blocked'))}"


def _stage_failed(e: Event, feature: str) -> str:
    return f"teambot run '{feature}': stage {e.stage} failed (attempt {e.details.get('attempt')}): {e.details.get('error')}"


# events.jsonl type -> the notification it sends. A feature adds its event with one line here
# (its name is already accepted in config.NOTIFY_EVENTS), e.g. for approvals:
#   "run_waiting": Trigger("run_waiting", "waiting", lambda e, f: f"teambot run '{f}' waits for a decision"),
TRIGGERS: dict[str, Trigger] = {
    "run_completed": Trigger("run_completed", "completed", _completed),
    "run_failed": Trigger("run_failed", "failed", _failed),
    "run_blocked": Trigger("run_blocked", "blocked", _blocked),
    "stage_failed": Trigger("stage_failed", "failed", _stage_failed),
    "budget_exceeded": Trigger("budget_exceeded", "blocked", lambda e, f: f"teambot run '{f}': stage {e.stage} stopped "
                                                                          f"by the {e.details.get('scope')} budget "
                                                                          f"({e.details.get('limit')})"),
    "run_waiting": Trigger("run_waiting", "waiting", lambda e, f: f"teambot run '{f}' waits for a person's decision: "
                                                                   f"{_reasons(e.details.get('waiting'))}"),
}


@dataclass(frozen=True)
class Outcome:
    """One delivery: attempts made, the last error (None: delivered), the HTTP status, earlier attempts' errors."""

    attempts: int
    error: str | None
    status: int | None = None
    retried: list[str] = field(default_factory=list)


class _Failed(Exception):
    """One attempt failed; `retry` False when another attempt would not help (a 4xx, a missing program)."""

    def __init__(self, message: str, status: int | None = None, *, retry: bool = True) -> None:
        super().__init__(message)
        self.status = status
        self.retry = retry


class _Worker:
    """One target's queue and thread."""

    def __init__(self, index: int, target: NotifyTarget) -> None:
        self.index = index
        self.target = target
        self.url = target.url or (os.environ.get(target.url_env, "") if target.url_env else "")
        self.unusable: str | None = None  # why nothing can be sent (a variable not set)
        if target.argv is not None:
            self.label = f"notify[{index}] {Path(target.argv[0]).name}"
        elif target.url_env is not None:
            self.label = f"notify[{index}] ${target.url_env}"
            if not self.url:
                self.unusable = f"environment variable {target.url_env} is not set"
            elif url_problem(self.url):
                self.unusable = f"the value of {target.url_env} {url_problem(self.url)}"
            else:
                self.label += f" {origin(self.url)}"
        else:
            self.label = f"notify[{index}] {origin(self.url)}"
        self.queue: queue.Queue[Item | None] = queue.Queue()
        self.pending: list[Item] = []  # queued or being delivered, under Notifier._pending_lock
        self.proc: subprocess.Popen[bytes] | None = None
        self.thread = threading.Thread(target=self._run, name=f"teambot-notify-{index}", daemon=True)
        self.notifier: Notifier | None = None

    def _run(self) -> None:
        import httpx

        timeout = httpx.Timeout(self.target.timeout, connect=min(self.target.timeout, 5.0))
        with httpx.Client(timeout=timeout, follow_redirects=False, trust_env=True) as client:
            while (item := self.queue.get()) is not None and self.notifier is not None and not self.notifier.closed:
                self.notifier.record(self, item, self._deliver(client, item.payload))

    def _deliver(self, client, payload: dict[str, Any]) -> Outcome:
        if self.unusable:
            return Outcome(0, self.unusable)
        errors: list[str] = []
        while True:
            try:
                status = self._post(client, payload) if self.target.argv is None else self._exec(payload)
                return Outcome(len(errors) + 1, None, status, errors)
            except _Failed as exc:
                if not exc.retry or len(errors) >= self.target.retries:
                    return Outcome(len(errors) + 1, str(exc), exc.status, errors)
                errors.append(str(exc))
                time.sleep(BACKOFF_SECONDS * 2 ** (len(errors) - 1))

    def _post(self, client, payload: dict[str, Any]) -> int:
        import httpx

        body = {"text": payload["message"]} if self.target.format == "slack" else payload
        try:
            resp = client.post(self.url, json=body, headers={"User-Agent": "teambot"})
        except httpx.TimeoutException:
            raise _Failed(f"no answer within {self.target.timeout:g} s") from None
        except httpx.TransportError as exc:  # the exception's text may quote the URL: only its kind is shown
            raise _Failed(f"could not connect ({type(exc).__name__})") from None
        if 200 <= resp.status_code < 300:
            return resp.status_code
        if resp.status_code >= 500 or resp.status_code in (408, 429):
            raise _Failed(f"HTTP {resp.status_code}", resp.status_code)
        raise _Failed(f"HTTP {resp.status_code}", resp.status_code, retry=False)

    def _exec(self, payload: dict[str, Any]) -> None:
        """Run the argv target; exit 0 is success."""
        fields = {k: "" if v is None else str(v) for k, v in payload.items()}
        argv = [_fill(arg, fields) for arg in self.target.argv or []]
        try:
            self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                         start_new_session=True)  # its own group: a hung program is ended whole
        except OSError as exc:
            raise _Failed(f"cannot start {Path(argv[0]).name}: {exc.strerror or type(exc).__name__}", retry=False) from None
        try:
            _, err = self.proc.communicate(json.dumps(payload).encode(), timeout=self.target.timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            self.proc.wait()
            raise _Failed(f"{Path(argv[0]).name} did not finish within {self.target.timeout:g} s") from None
        if self.proc.returncode != 0:
            tail = err.decode("utf-8", "replace").strip()[-_OUTPUT_CAP:]
            raise _Failed(f"{Path(argv[0]).name} exited with status {self.proc.returncode}" + (f": {tail}" if tail else ""))

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except OSError:
                pass


def _fill(arg: str, fields: dict[str, str]) -> str:
    """`arg` with its {placeholders} filled in one pass (a message quoting `{stage}` stays as it is)."""
    return _PLACEHOLDER_RE.sub(lambda m: fields.get(m.group(1), m.group(0)), arg)


class Notifier:
    """Listens to a run's events and notifies each target of the ones it asked for."""

    def __init__(self, targets: Sequence[NotifyTarget], events: EventLog, *, feature: str, run_dir: Path,
                 redact: Callable[[str], str]) -> None:
        self.events = events
        self.feature = feature
        self.run_dir = run_dir
        self.redact = redact
        self.closed = False
        self._lock = threading.Lock()  # a result is recorded, or given up on at close, never both
        # Never held while taking another lock: on_event runs inside the event log's lock.
        self._pending_lock = threading.Lock()
        self.workers = [_Worker(i, t) for i, t in enumerate(targets)]
        for worker in self.workers:
            worker.notifier = self
            worker.thread.start()

    def on_event(self, event: Event) -> None:
        """Queue the event's notification for every target that wants it (runs on the emitting
        thread, inside the event log's lock: it only queues)."""
        trigger = TRIGGERS.get(event.type)
        if trigger is None or self.closed:
            return
        wanted = [w for w in self.workers if w.target.wants(trigger.name)]
        if not wanted:
            return
        payload = self.payload(trigger, event)
        for worker in wanted:
            item = Item(trigger.name, event.stage, payload)
            with self._pending_lock:
                worker.pending.append(item)
            worker.queue.put(item)

    def payload(self, trigger: Trigger, event: Event) -> dict[str, Any]:
        message = trigger.message(event, self.feature)
        if len(message) > MESSAGE_CAP:
            message = message[:MESSAGE_CAP] + " [...]"
        raw = {"event": trigger.name, "feature": self.feature, "stage": event.stage, "message": message,
               "status": trigger.status, "run_dir": str(self.run_dir), "ts": event.ts}
        # redacted whole, after the message is built and cut: the event's details already were
        return {k: self.redact(v) if isinstance(v, str) else v for k, v in raw.items()}

    def record(self, worker: _Worker, item: Item, outcome: Outcome) -> None:
        """Write one delivery's outcome to events.jsonl (from the worker's thread), unless close gave up on it."""
        with self._lock:
            if self.closed:
                return
            with self._pending_lock:
                worker.pending.remove(item)
            details: dict[str, Any] = {"target": worker.label, "event": item.event, "attempts": outcome.attempts}
            if outcome.status is not None:
                details["http_status"] = outcome.status
            if outcome.retried:  # every failed attempt is on record, not only the last
                details["retried_after"] = outcome.retried
            try:
                if outcome.error is None:
                    self.events.emit("notification_sent", item.stage, **details)
                else:
                    self.events.emit("notification_failed", item.stage, **details, error=outcome.error)
            except (TeambotError, OSError):  # the event log is gone (a swapped file): a notification never fails the run
                pass

    def close(self, wait: float = FLUSH_SECONDS) -> None:
        """Deliver what is queued within `wait` seconds, then record the rest as not delivered
        (also when Ctrl-C cuts the wait short). Call before the event log is closed."""
        deadline = time.monotonic() + wait
        try:
            for worker in self.workers:
                worker.queue.put(None)
            for worker in self.workers:
                worker.thread.join(max(0.0, deadline - time.monotonic()))
        finally:
            self._give_up(f"not delivered within {wait:g} s of the run's end")

    def _give_up(self, why: str) -> None:
        with self._lock:
            self.closed = True
            for worker in self.workers:
                with self._pending_lock:
                    left, worker.pending = worker.pending, []
                worker.kill()  # a program still running is ended with its group
                for item in left:
                    try:
                        self.events.emit("notification_failed", item.stage, target=worker.label, event=item.event,
                                         error=why)
                    except (TeambotError, OSError):  # the event log is gone: a notification never fails the run
                        pass
