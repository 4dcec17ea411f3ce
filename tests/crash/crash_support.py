"""The crash tests' burst: written through a flow's real trigger, SIGKILL at a seeded
point, the stack restarted on the same data directory, the rest of the burst written.

A module of its own (not conftest.py), so that a test imports it by a name no other test
directory's conftest shares."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

from sluice.testing import StackProcess, project_stack

ROOT = Path(__file__).resolve().parents[2]

Write = Callable[[StackProcess, list[str]], None]


class Crash:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.stacks: list[StackProcess] = []
        self.kill_after = 0

    def start(self) -> StackProcess:
        stack = project_stack(ROOT, self.data_dir)
        self.stacks.append(stack)
        return stack

    def burst(
        self,
        events: list[str],
        write: Write,
        seed: int,
        prepare: Callable[[StackProcess], None] | None = None,
    ) -> StackProcess:
        """Write EVENTS[:k] (k chosen by SEED), kill the stack right after the last write
        was acknowledged (some events queued, some in flight), restart it and write the
        rest. PREPARE runs on the first stack before any write. Answers the restarted
        stack."""
        self.kill_after = random.Random(seed).randrange(1, len(events))
        stack = self.start()
        try:
            if prepare is not None:
                prepare(stack)
            write(stack, events[: self.kill_after])
        finally:
            stack.kill()
        stack = self.start()
        write(stack, events[self.kill_after :])
        return stack
