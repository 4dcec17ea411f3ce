"""One kind of row in the store: how a service's entities are journalled and read back.

Each service module (dynamodb.py, sqs.py...) has one `Rows`: the observers it subscribes
to moto's models (sluice/engine/observers.py) mark the entities that changed; `restore`
hands each saved row back to the module and drops the ones whose table, queue or bucket
the template no longer has.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sluice.durable.journal import AppendedRow, Journal, Snapshot
from sluice.durable.store import Store
from sluice.engine import observers


class Rows:
    def __init__(
        self,
        kind: str,
        observe: dict[str, observers.Observer] | None = None,
        put: Callable[[str, bytes], bool] | None = None,
        appended: AppendedRow | None = None,
    ) -> None:
        self.kind = kind
        self.observe = observe or {}
        self.put = put  # puts one saved row back: False when where it belongs is gone
        self.appended = appended  # the row of a group's items appended between flushes
        self.journal: Journal | None = None  # None: changes are not journalled

    def attach(self, journal: Journal | None) -> None:
        """Journal every change from now on (None: stop)."""
        self.journal = journal
        for point, observer in self.observe.items():
            observers.subscribe(point, observer)

    def mark(self, key: str, snapshot: Snapshot) -> None:
        if self.journal is not None:
            self.journal.mark(self.kind, key, snapshot)

    def append(self, group: str, item: Any) -> None:
        if self.journal is not None:
            assert self.appended is not None
            self.journal.append(self.kind, group, item, self.appended)

    def restore(self, store: Store) -> int:
        """Hand each saved row to `put`, in key order; a row it refuses is deleted.
        Answers how many came back."""
        assert self.put is not None
        restored, gone = 0, list[tuple[str, str, bytes | None]]()
        for key, value in store.load(self.kind):
            if self.put(key, value):
                restored += 1
            else:
                gone.append((self.kind, key, None))
        store.write(gone)
        return restored
