"""Test stacks forked from one zygote (sluice/stack_zygote.py) behave as stacks started
afresh: each draws its own identifiers, and each exit is reported as subprocess reports it."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from sluice import stack_zygote
from sluice.engine import moto_services
from sluice.testing import StackProcess

FIXTURE = Path(__file__).parent / "fixture" / "template.yaml"


def _forked_uuid() -> str:
    """A moto identifier drawn in a forked child of this process."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        from moto.moto_api._internal import mock_random

        os.write(write, str(mock_random.uuid4()).encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    with os.fdopen(read) as out:
        return out.read()


def test_forked_processes_draw_different_moto_identifiers() -> None:
    os.register_at_fork(after_in_child=moto_services.identifiers_reseeded)
    assert _forked_uuid() != _forked_uuid()


def test_a_forked_stack_reports_how_it_ended(tmp_path: Path) -> None:
    stopped = StackProcess(FIXTURE, tmp_path / "stopped")
    killed = StackProcess(FIXTURE, tmp_path / "killed")
    assert isinstance(stopped.proc, stack_zygote.ForkedStack)
    assert stopped.proc.poll() is None
    stopped.stop()
    killed.kill()
    assert (stopped.proc.returncode, killed.proc.returncode) == (0, -signal.SIGKILL)
