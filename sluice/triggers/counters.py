"""Thread-safe counters each poller and the rule deliverer expose for display."""

from __future__ import annotations

import threading

COUNTER_NAMES = (
    "invocations",
    "batches_delivered",
    "records_delivered",
    "records_discarded",
    "failures",
    "records_sent_to_dlq",
    "records_dropped",
    "errors",
    "target_ms",
)


class Counters:
    """``invocations``: target calls; ``batches/records_delivered``: successfully handled;
    ``records_discarded``: dropped by filters; ``failures``: failed invocations (whole or
    partial); ``records_sent_to_dlq``; ``records_dropped``: given up with no DLQ (logged);
    ``errors``: poller/infrastructure errors; ``target_ms``: milliseconds spent in target
    calls (summed over concurrent calls), to tell a slow target from a slow poller."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values = dict.fromkeys(COUNTER_NAMES, 0)

    def incr(self, name: str, n: int = 1) -> None:
        if name not in self._values:
            raise KeyError(name)
        with self._lock:
            self._values[name] += n

    def __getitem__(self, name: str) -> int:
        with self._lock:
            return self._values[name]

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._values)
