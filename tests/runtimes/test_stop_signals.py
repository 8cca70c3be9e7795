"""Every signal that stops teambot (SIGHUP from a closed terminal, SIGQUIT, SIGUSR1, ...) ends the agents first."""

from __future__ import annotations

import fcntl
import os
import select
import signal
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

import pytest

from tests.helpers import cli_env, kill_run_processes, run_processes, start_teambot, wait_for
from tests.runtimes.test_e2e import committed, configure




def _assert_interrupted_cleanly(run_dir: Path) -> None:
    assert wait_for(lambda: run_processes(run_dir) == [], timeout=5), "an agent outlived teambot"
    state = committed(run_dir)
    assert state.run.status == "interrupted"
    assert state.stages["SETUP"].status == "interrupted"
    assert not [n for n, r in state.stages.items() if r.status == "running"]


@pytest.mark.parametrize("signum", [signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1])
def test_a_stop_signal_interrupts_and_ends_the_agents(project, run_dir, signum):
    """SIGHUP, SIGQUIT and any other stop signal act like SIGTERM: exit 130, stages interrupted, no agent left."""
    pid_file = project / "pids.txt"
    configure(project, "--hang", "--child", "--pid-file", str(pid_file))
    proc = start_teambot("run", "objective.md", cwd=project)
    try:
        assert wait_for(lambda: pid_file.exists() and len(pid_file.read_text().split()) >= 2)
        assert len(run_processes(run_dir)) == 2
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 130, err
        assert "Traceback" not in err
        assert "teambot resume" in out
        _assert_interrupted_cleanly(run_dir)
    finally:
        if proc.poll() is None:
            proc.kill()
        kill_run_processes(run_dir)


def test_a_second_hangup_is_not_a_second_ctrl_c(project, run_dir):
    """Two SIGHUPs (a closing terminal: the kernel, then the shell) still stop gracefully: stages recorded interrupted."""
    pid_file = project / "pids.txt"
    configure(project, "--hang", "--child", "--ignore-term", "--pid-file", str(pid_file))  # stopping takes the grace
    proc = start_teambot("run", "objective.md", cwd=project)
    try:
        assert wait_for(lambda: pid_file.exists() and len(pid_file.read_text().split()) >= 2)
        proc.send_signal(signal.SIGHUP)
        time.sleep(0.2)
        proc.send_signal(signal.SIGHUP)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 130, err
        _assert_interrupted_cleanly(run_dir)
    finally:
        if proc.poll() is None:
            proc.kill()
        kill_run_processes(run_dir)


def _drain(fd: int, stop: threading.Event) -> None:
    """Read the terminal's output so teambot never blocks writing to it."""
    while not stop.is_set():
        ready, _, _ = select.select([fd], [], [], 0.05)
        if ready:
            try:
                if not os.read(fd, 65536):
                    return
            except OSError:
                return


def test_closing_the_terminal_interrupts_and_ends_the_agents(project, run_dir):
    """teambot on a terminal that closes (the kernel's SIGHUP, writes then fail): exit 130, no agent left, state interrupted."""
    pid_file = project / "pids.txt"
    configure(project, "--hang", "--child", "--pid-file", str(pid_file))
    master, slave = os.openpty()
    stop = threading.Event()
    reader = threading.Thread(target=_drain, args=(master, stop), daemon=True)
    reader.start()
    proc = subprocess.Popen(  # a session leader whose controlling terminal is the pty, as under a terminal window
        [sys.executable, "-m", "teambot", "run", "objective.md"], cwd=project, env=cli_env(),
        stdin=slave, stdout=slave, stderr=slave, start_new_session=True,
        preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),
    )
    os.close(slave)
    try:
        assert wait_for(lambda: pid_file.exists() and len(pid_file.read_text().split()) >= 2)
        stop.set()
        reader.join()
        os.close(master)  # the terminal window closes: hang-up
        assert proc.wait(timeout=30) == 130
        _assert_interrupted_cleanly(run_dir)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        kill_run_processes(run_dir)
