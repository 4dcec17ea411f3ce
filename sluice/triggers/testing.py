"""Test doubles for the trigger engine."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from sluice.triggers.targets import Outcome

Responder = Callable[[list[dict[str, Any]]], Outcome | None]


class ScriptedTarget:
    """A ``Target`` that records every batch it is given and answers with ``respond(batch)``
    (``None`` or no responder means success)."""

    def __init__(self, respond: Responder | None = None) -> None:
        self.batches: list[list[dict[str, Any]]] = []
        self._respond = respond
        self._lock = threading.Lock()
        self._called = threading.Condition(self._lock)

    def invoke(self, batch: list[dict[str, Any]]) -> Outcome:
        with self._lock:
            self.batches.append(list(batch))
            self._called.notify_all()
        outcome = self._respond(batch) if self._respond else None
        return outcome if outcome is not None else Outcome(ok=True)

    @property
    def records(self) -> list[dict[str, Any]]:
        with self._lock:
            return [r for b in self.batches for r in b]

    def wait_for_records(self, n: int, timeout: float) -> bool:
        """Block until at least ``n`` records were delivered in total (for threaded tests)."""
        with self._called:
            return self._called.wait_for(
                lambda: sum(len(b) for b in self.batches) >= n, timeout=timeout
            )
