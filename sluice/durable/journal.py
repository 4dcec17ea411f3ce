"""Write-through journal: moto's models mark what changed, the journal writes it.

An observer of moto's models calls `mark(kind, key, snapshot)` right after an entity changed;
`snapshot()` answers the entity's current serialised state (None once it is gone) and is
called at flush time, so several changes to one entity between flushes cost one write.
An entity that only grows (an execution's history) calls `append(kind, group, item, row)`
instead: the items a group gets between two flushes become one new row, `row(group, items)`.
The gateway flushes after every request it hands to moto, before the response is sent: a
client that got an answer has its change on disk; requests that end while a flush commits
share the next commit. Changes made outside a request (an execution finishing on its own
thread, a notification released later) are flushed by a background thread every
`interval_s`. One flush is one transaction, of the marks and appends made until it took
them, so a change is never on disk without the changes made before it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from sluice.durable.store import Store

log = logging.getLogger(__name__)

FLUSH_ATTEMPTS = 5  # flushes a request tries before it answers with an entity unread
# Reads of an entity within one flush: one read while another thread changes it (a
# dictionary changing size) almost always succeeds the next time. Read in this flush, it
# keeps its place before the marks made after it (an event's end after its execution's
# writes, a message's delete after what its run wrote) instead of reaching disk after them.
READ_ATTEMPTS = 3
Snapshot = Callable[[], bytes | None]
AppendedRow = Callable[[str, list[Any]], tuple[str, bytes]]


class Journal:
    def __init__(self, store: Store, interval_s: float = 0.05) -> None:
        self.store = store
        self.interval_s = interval_s
        self._dirty: dict[tuple[str, str], Snapshot] = {}
        self._appended: dict[tuple[str, str], tuple[AppendedRow, list[Any]]] = {}
        self._mark_lock = threading.Lock()
        # Marks are numbered; `_written` is the number of the last mark on disk.
        self._marks = 0
        self._written = 0
        # One flush at a time; the others wait for `_written` to reach their marks.
        self._flushed = threading.Condition()
        self._flushing = False
        self._taken_at = 0.0  # when a flush last took the marks (time.monotonic())
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.writes = 0

    def mark(self, kind: str, key: str, snapshot: Snapshot) -> None:
        with self._mark_lock:
            self._dirty[(kind, key)] = snapshot
            self._marks += 1

    def append(self, kind: str, group: str, item: Any, row: AppendedRow) -> None:
        with self._mark_lock:
            appended = self._appended.get((kind, group))
            if appended is None:
                self._appended[(kind, group)] = (row, [item])
            else:
                appended[1].append(item)
            self._marks += 1

    def flush(self) -> None:
        """Write every change marked until now; answers once they are on disk.

        A group commit: requests that end while a flush commits wait for it; the first of
        them whose marks it did not take then writes the marks of all, and each of the
        others answers as soon as a commit holds its own. A flush that could not read one
        of its entities (changed by another thread meanwhile) credits no mark, so it is
        tried again, up to FLUSH_ATTEMPTS times, before this answers regardless.
        """
        with self._mark_lock:
            wanted = self._marks
        for _ in range(FLUSH_ATTEMPTS):
            with self._flushed:
                while self._written < wanted and self._flushing:
                    self._flushed.wait()
                if self._written >= wanted:
                    return
                self._flushing = True
            written = self._written
            try:
                if (taken := self._write()) is not None:
                    written = taken
            finally:
                with self._flushed:
                    self._written = written
                    self._flushing = False
                    self._flushed.notify_all()
        log.error(
            "durable state: marks up to %d not all written after %d flushes", wanted, FLUSH_ATTEMPTS
        )

    def _write(self) -> int | None:
        """Write the marks made until now; answers the number of the last one, or None if
        an entity could not be read (it is marked again: the next flush writes it)."""
        with self._mark_lock:
            dirty, self._dirty = self._dirty, {}
            appended, self._appended = self._appended, {}
            taken = self._marks
        self._taken_at = time.monotonic()
        changes: list[tuple[str, str, bytes | None]] = [
            (kind, *row(group, items)) for (kind, group), (row, items) in appended.items()
        ]
        unread = False
        for (kind, key), snapshot in dirty.items():
            try:
                changes.append((kind, key, _read(snapshot)))
            except Exception:
                # Still changing after READ_ATTEMPTS reads: tried again at the next flush
                # (unless marked again meanwhile), without holding back the rest.
                log.warning("durable state: %s %s read again later", kind, key, exc_info=True)
                unread = True
                with self._mark_lock:
                    self._dirty.setdefault((kind, key), snapshot)
        self.writes += self.store.write(changes)
        return None if unread else taken

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="journal", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        """Flush what no other flush took within `interval_s`: while requests keep flushing,
        this thread mostly finds their flushes took it, and stays out of their way."""
        wait_s = self.interval_s
        while not self._stop.wait(wait_s):
            since = time.monotonic() - self._taken_at
            if since < self.interval_s:  # marks made before then are written
                wait_s = self.interval_s - since
                continue
            wait_s = self.interval_s
            try:
                self.flush()
            except Exception:
                log.exception("durable state: flush failed")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.flush()


def _read(snapshot: Snapshot) -> bytes | None:
    for _ in range(READ_ATTEMPTS - 1):
        try:
            return snapshot()
        except Exception:
            continue
    return snapshot()
