"""Test hook: SIGKILL teambot itself at a named point, to test what resume does after a crash there.

`TEAMBOT_TEST_CRASH_AT=POINT:NAME` kills the process when it reaches `crash_point(POINT, NAME)`:
- `spawned:STAGE` (or `spawned:STAGE/TASK`): an agent has started, its process group is not
  recorded yet (runtimes/command.py);
- `agent`, `committed`, `intent`, `merged`, `verified` with a task id (kinds/task_run.py).
Unset (always, outside tests), it costs one environment lookup.
"""

from __future__ import annotations

import os
import signal

ENV = "TEAMBOT_TEST_CRASH_AT"


def crash_point(point: str, name: str) -> None:
    wanted = os.environ.get(ENV)
    if wanted and wanted == f"{point}:{name}":
        os.kill(os.getpid(), signal.SIGKILL)
