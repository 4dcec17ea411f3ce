"""Test stacks and CLI calls forked from one zygote (sluice/stack_zygote.py) behave as
processes started afresh: each stack draws its own identifiers, each exit is reported as
subprocess reports it, and a CLI call prints and exits as `python -m sluice` does."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from sluice import stack_zygote
from sluice.testing import StackProcess, free_port

FIXTURE = Path(__file__).parent / "fixture" / "template.yaml"


# Forks twice from a process of its own (the test process has threads) and prints what
# moto drew in each child.
FORKS = """
import os
from moto.moto_api._internal import mock_random
from sluice.engine import moto_services
os.register_at_fork(after_in_child=moto_services.identifiers_reseeded)
for _ in range(2):
    pid = os.fork()
    if pid == 0:
        print(mock_random.uuid4(), flush=True)
        os._exit(0)
    os.waitpid(pid, 0)
"""


def test_forked_processes_draw_different_moto_identifiers() -> None:
    out = subprocess.run(
        [sys.executable, "-c", FORKS], capture_output=True, text=True, check=True
    ).stdout.split()
    assert len(out) == 2 and out[0] != out[1]


def test_a_forked_stack_reports_how_it_ended(tmp_path: Path) -> None:
    stopped = StackProcess(FIXTURE, tmp_path / "stopped")
    killed = StackProcess(FIXTURE, tmp_path / "killed")
    assert isinstance(stopped.proc, stack_zygote.ForkedStack)
    assert stopped.proc.poll() is None
    stopped.stop()
    killed.kill()
    assert (stopped.proc.returncode, killed.proc.returncode) == (0, -signal.SIGKILL)


def test_a_stopped_zygote_exits_by_itself_once_its_children_have() -> None:
    """Stopping a zygote ends its input, and it exits (0) once what it forked has; it is
    not killed at the end of the wait (its reader thread, blocked on the socket, once kept
    the socket open, so every test process waited 10 s for its zygote at exit)."""
    zygote = stack_zygote.Zygote()
    call = zygote.run([sys.executable, "-m", "sluice", "--help"], dict(os.environ), timeout=60)
    assert call.returncode == 0, call.stderr
    zygote.stop()
    assert zygote.proc.returncode == 0


@pytest.mark.parametrize(
    "args",
    [["--help"], ["executions"], ["history", "no-such-execution"], ["no-such-command"]],
    ids=["help", "a table", "an error", "a usage error"],
)
def test_a_forked_cli_call_answers_as_a_fresh_one(
    fixture_stack: StackProcess, args: list[str]
) -> None:
    command = [sys.executable, "-m", "sluice", *args]
    env = {**os.environ, "SLUICE_ENDPOINT": fixture_stack.gateway.url, "COLUMNS": "250"}
    zygote = stack_zygote.zygote()
    assert zygote is not None and zygote.fits(command, env)
    fresh = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)
    forked = zygote.run(command, env, timeout=60)
    assert (forked.returncode, forked.stdout, forked.stderr) == (
        fresh.returncode,
        fresh.stdout,
        fresh.stderr,
    )
    assert fresh.stdout + fresh.stderr  # each prints something: its usage, a table, why


def test_a_forked_cli_call_is_as_wide_as_its_own_columns(
    fixture_stack: StackProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A terminal's size in the test process (COLUMNS and LINES, which GNU readline also
    exports behind os.environ's back) must not fix the zygote's consoles: a forked call
    prints as wide as the COLUMNS it is given, as a fresh one does."""
    monkeypatch.setenv("COLUMNS", "80")  # os.environ and the C environment, as readline
    monkeypatch.setenv("LINES", "24")
    zygote = stack_zygote.Zygote()
    try:
        name = "zygote-width-" + "x" * 90  # "started <its ARN>" is longer than 80 columns
        command = [sys.executable, "-m", "sluice", "exec", "retry_catch", "--input", "{}"]
        env = {**os.environ, "SLUICE_ENDPOINT": fixture_stack.gateway.url, "COLUMNS": "250"}
        assert zygote.fits(command, env)
        forked = zygote.run([*command, "--name", name], env, timeout=60)
        assert forked.returncode == 0, forked.stderr
        assert name in forked.stdout  # on one line, not folded at 80
    finally:
        zygote.stop()


def test_a_forked_cli_call_past_its_timeout_is_killed(
    fixture_stack: StackProcess, tmp_path: Path
) -> None:
    """As subprocess.run's timeout: TimeoutExpired, and the call does not run on (here a
    `sluice up`, which would serve until stopped)."""
    zygote = stack_zygote.zygote()
    assert zygote is not None
    port = str(free_port())
    command = [sys.executable, "-m", "sluice", "up", "--template", str(FIXTURE), "--port", port]
    command += ["--data-dir", str(tmp_path)]
    with pytest.raises(subprocess.TimeoutExpired):
        zygote.run(command, dict(os.environ), timeout=1)
    with pytest.raises(ConnectionRefusedError):  # nothing serves the port: the stack is gone
        socket.create_connection(("127.0.0.1", int(port)), timeout=5).close()
