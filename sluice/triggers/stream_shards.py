"""A stream shard as its poller sees it: where reading got to, its lanes, and the position
that is safe to save.

A shard has `ParallelizationFactor` lanes (1 by default). Each record goes to the lane of
its partition key, and each lane has one batch in flight, so a key's records are delivered
in order while up to that many batches of the shard run at once, as Lambda and Pipes do
("the records with the same partition key are processed in order"). The saved position is
the last record before the first one not yet finished in any lane: a restarted poller
resumes there and may deliver again what later lanes had finished (at least once).
"""

from __future__ import annotations

import json
import threading
import zlib
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Protocol


class Positions(Protocol):
    resumed: bool  # the stack's state was restored: records may predate this poller

    def get(self, pipe: str, shard_id: str) -> str | None: ...

    def put(self, pipe: str, shard_id: str, sequence_number: str) -> None: ...


@dataclass
class Lane:
    """Records of some keys of a shard, delivered in order, one batch in flight."""

    # Read but not yet batched: (arrival time on the poller's clock, record).
    buffer: deque[tuple[float, dict[str, Any]]] = field(default_factory=deque)
    # The batch in progress; bisection splits it into several, delivered front first.
    work: list[list[dict[str, Any]]] = field(default_factory=list)
    attempts: int = 0  # retries consumed by work[0] (customer errors only)
    invokes: int = 0  # invocations of work[0], reported as approximateInvokeCount
    failures_in_row: int = 0  # drives backoff, transient errors included
    next_attempt_at: float = 0.0
    last_error: str | None = None
    last_cause: str | None = None

    @property
    def pending(self) -> int:
        return len(self.buffer) + sum(len(batch) for batch in list(self.work))


@dataclass
class Shard:
    shard_id: str
    parent_id: str | None
    start_type: str
    lanes: list[Lane]
    iterator: str | None = None
    last_seq: str | None = None  # last sequence number read, for iterator renewal
    closed: bool = False  # GetRecords returned no NextShardIterator
    # Sequence numbers read, in order, with whether each is finished (delivered,
    # dead-lettered or filtered out); the finished front is dropped as the position moves.
    _read: deque[list[Any]] = field(default_factory=deque)
    _by_seq: dict[str, list[Any]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def done(self) -> bool:
        return self.closed and not any(lane.buffer or lane.work for lane in self.lanes)

    @property
    def buffered(self) -> int:
        return sum(len(lane.buffer) for lane in self.lanes)

    def add(self, arrived: float, record: dict[str, Any], key: Any, delivered: bool) -> None:
        """A record read: to the lane of KEY, or, if it is not DELIVERED (filtered out),
        finished at once."""
        seq = record["dynamodb"].get("SequenceNumber")
        if seq is not None:
            entry = [str(seq), not delivered]
            with self._lock:
                self._read.append(entry)
                if delivered:
                    self._by_seq[str(seq)] = entry
        if delivered:
            self.lanes[lane_of(key, len(self.lanes))].buffer.append((arrived, record))

    def finish(self, batch: list[dict[str, Any]]) -> str | None:
        """BATCH will not be delivered again: the position now safe to save, if it moved."""
        with self._lock:
            for record in batch:
                entry = self._by_seq.pop(str(record["dynamodb"].get("SequenceNumber")), None)
                if entry is not None:
                    entry[1] = True
            position = None
            while self._read and self._read[0][1]:
                position = self._read.popleft()[0]
            return position


def lane_of(key: Any, lanes: int) -> int:
    """The lane of a partition key: the same key always the same lane."""
    if lanes == 1:
        return 0
    return zlib.crc32(json.dumps(key, sort_keys=True).encode()) % lanes
