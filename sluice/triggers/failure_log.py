"""Why did this SQS message fail? Kept so a DLQ listing can show the last error per message."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class FailureRecord:
    message_id: str
    error: str | None
    cause: str | None
    execution_arn: str | None
    at: float
    failures: int


class FailureLog:
    """Last failure per message id; optionally appended to a JSON-lines file and reloaded
    from it, so the reason survives a restart of the local runtime."""

    def __init__(self, path: str | Path | None = None) -> None:
        self._lock = threading.Lock()
        self._records: dict[str, FailureRecord] = {}
        self._path = Path(path) if path is not None else None
        if self._path is not None and self._path.exists():
            for line in self._path.read_text(encoding="utf-8").splitlines():
                try:
                    rec = FailureRecord(**json.loads(line))
                except (ValueError, TypeError):
                    continue  # tolerate a torn last line
                self._records[rec.message_id] = rec

    def record(
        self,
        message_id: str,
        error: str | None,
        cause: str | None,
        execution_arn: str | None = None,
    ) -> FailureRecord:
        with self._lock:
            prev = self._records.get(message_id)
            rec = FailureRecord(
                message_id=message_id,
                error=error,
                cause=cause,
                execution_arn=execution_arn,
                at=time.time(),
                failures=(prev.failures if prev else 0) + 1,
            )
            self._records[message_id] = rec
            if self._path is not None:
                self._path.parent.mkdir(parents=True, exist_ok=True)
                with self._path.open("a", encoding="utf-8") as f:
                    f.write(json.dumps(asdict(rec)) + "\n")
            return rec

    def get(self, message_id: str) -> FailureRecord | None:
        with self._lock:
            return self._records.get(message_id)

    def __len__(self) -> int:
        with self._lock:
            return len(self._records)
