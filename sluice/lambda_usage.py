"""What the local Lambda service records per invoke and totals per function: the figures
Lambda's REPORT line and its bill have (`GET /_sluice/lambda/usage`)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any


@dataclass
class InvokeRecord:
    """One invoke as the console and CLI show it (CloudWatch Logs, locally)."""

    function: str
    request_id: str
    started: float
    duration_ms: float
    error_type: str | None
    logs: str
    # As Lambda's REPORT line has it: the handler's run rounded up to the next millisecond
    # (the whole timeout when the worker was killed), and the function's MemorySize.
    billed_ms: int = 0
    memory_mb: int = 0
    cpu_ms: float = 0.0  # CPU time of the worker process during the handler (all threads)
    init_ms: float | None = None  # a cold start's Init Duration, as Lambda's REPORT line
    wait_ms: float = 0.0  # waited for an idle worker or a start slot (local only, not billed)


@dataclass
class FunctionUsage:
    """What one function has used since the stack started: the figures Lambda bills."""

    function: str
    memory_mb: int
    invocations: int = 0
    errors: int = 0
    duration_ms: float = 0.0
    billed_ms: int = 0
    cpu_ms: float = 0.0
    cold_starts: int = 0
    init_ms: float = 0.0  # summed Init Durations of the cold starts
    wait_ms: float = 0.0  # summed waits for a worker (see InvokeRecord.wait_ms)
    error_types: dict[str, int] = field(default_factory=dict)  # errorType -> invokes

    @property
    def gb_seconds(self) -> float:
        return self.memory_mb / 1024 * self.billed_ms / 1000

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.__dict__,
            "error_types": dict(self.error_types),
            "gb_seconds": self.gb_seconds,
        }


class UsageTally:
    """Per-function totals since the runtime started; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._usage: dict[str, FunctionUsage] = {}

    def count(self, record: InvokeRecord) -> None:
        with self._lock:
            usage = self._usage.get(record.function)
            if usage is None or usage.memory_mb != record.memory_mb:
                # A redeploy with another MemorySize starts a new tally for the function.
                usage = self._usage[record.function] = FunctionUsage(
                    record.function, record.memory_mb
                )
            usage.invocations += 1
            if record.error_type is not None:
                usage.errors += 1
                usage.error_types[record.error_type] = (
                    usage.error_types.get(record.error_type, 0) + 1
                )
            usage.duration_ms += record.duration_ms
            usage.billed_ms += record.billed_ms
            usage.cpu_ms += record.cpu_ms
            usage.wait_ms += record.wait_ms
            if record.init_ms is not None:
                usage.cold_starts += 1
                usage.init_ms += record.init_ms

    def totals(self) -> list[FunctionUsage]:
        """Copies, by function name."""
        with self._lock:
            return [
                FunctionUsage(**{**u.__dict__, "error_types": dict(u.error_types)})
                for _, u in sorted(self._usage.items())
            ]
