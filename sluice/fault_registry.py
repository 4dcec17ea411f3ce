"""Pending injected faults, at most one per target, each good for its `remaining` uses;
thread-safe. The Lambda service keeps one per function, Step Functions one per machine."""

from __future__ import annotations

import copy
import threading
from typing import Protocol


class Spent(Protocol):
    remaining: int


class FaultRegistry[F: Spent]:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: dict[str, F] = {}

    def put(self, target: str, fault: F) -> F:
        """Replace TARGET's fault; a fault with no uses removes it."""
        with self._lock:
            if fault.remaining > 0:
                self._faults[target] = fault
            else:
                self._faults.pop(target, None)
        return fault

    def pending(self) -> list[F]:
        """Copies, in the order they were put."""
        with self._lock:
            return [copy.copy(f) for f in self._faults.values()]

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def take(self, target: str) -> F | None:
        """Use one of TARGET's fault's uses: a copy with what remains after it, or None."""
        with self._lock:
            fault = self._faults.get(target)
            if fault is None:
                return None
            fault.remaining -= 1
            if fault.remaining <= 0:
                del self._faults[target]
            return copy.copy(fault)

    def any_pending(self) -> bool:
        """Without the lock: a quick look before the work of finding the target."""
        return bool(self._faults)
