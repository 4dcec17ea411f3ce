"""Test stacks forked from one zygote (sluice/stack_zygote.py) behave as stacks started
afresh: each draws its own identifiers, and each exit is reported as subprocess reports it."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from sluice import stack_zygote
from sluice.testing import StackProcess

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
