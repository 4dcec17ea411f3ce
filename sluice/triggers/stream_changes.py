"""Records added to the stack's DynamoDB streams, counted, for idle stream pollers to wait on.

AWS's pollers read each shard four times a second whether or not anything was written;
locally the stream lives in the same process, so a poller with nothing pending waits for
the next record instead (and reads anyway every `IDLE_READ_S`,
in case something was missed): an idle stack spends no CPU
on its stream pipes, and a record is read as soon as it is written.
"""

from __future__ import annotations

import threading
from typing import Any

from sluice.engine import observers

STREAM_RECORD_ADDED = "moto.dynamodb.models.table:StreamShard.add"
IDLE_READ_S = 5.0


class StreamChanges:
    def __init__(self, idle_read_s: float = IDLE_READ_S) -> None:
        self._idle_read_s = idle_read_s
        self._added = threading.Condition()
        self._count = 0
        observers.subscribe(STREAM_RECORD_ADDED, self._record_added)

    def count(self) -> int:
        """How many records the streams took so far."""
        return self._count

    def wait(self, since: int, stop: threading.Event) -> None:
        """Until a record is added after the count SINCE, STOP is set (with `wake`), or
        the idle read is due."""
        with self._added:
            self._added.wait_for(lambda: self._count != since or stop.is_set(), self._idle_read_s)

    def wake(self) -> None:
        """Waiters look at their stop again."""
        with self._added:
            self._added.notify_all()

    def close(self) -> None:
        observers.unsubscribe(STREAM_RECORD_ADDED, self._record_added)

    def _record_added(self, *_: Any) -> None:
        with self._added:
            self._count += 1
            self._added.notify_all()
