"""Racing starts of one run: one wins, every refused start names the winner's pid."""

from __future__ import annotations

import re
import signal
from pathlib import Path

from tests.helpers import start_teambot, wait_for

def test_racing_starts_have_one_winner_and_every_loser_names_it(project: Path, run_dir: Path) -> None:
    """Ten `teambot run` of one feature at once: one runs, the nine refused (exit 3) each name its pid."""
    racers = [start_teambot("run", "objective.md", "-q", cwd=project, env={"TEAMBOT_DEMO_DELAY": "3"}) for _ in range(10)]
    try:
        assert wait_for(lambda: sum(p.poll() is not None for p in racers) >= 9, timeout=90)
        winners = [p for p in racers if p.poll() is None]
        assert len(winners) == 1, "exactly one start runs"
        losers = [(p, p.communicate()[1]) for p in racers if p is not winners[0]]
        for proc, err in losers:
            assert proc.returncode == 3, err
            named = re.findall(r"\bpid (\d+) ", err)
            assert named == [str(winners[0].pid)], err
    finally:
        for proc in racers:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=30)
