"""Crash tests: a burst written through a flow's real trigger, SIGKILL at a seeded point,
the stack restarted on the same data directory, the rest of the burst written."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from crash_support import Crash


@pytest.fixture
def crash(tmp_path: Path) -> Iterator[Crash]:
    crash = Crash(tmp_path / "stack")
    yield crash
    for stack in crash.stacks:
        if stack.proc.poll() is None:
            stack.stop()
