"""Write-through journal: moto's models mark what changed, the journal writes it.

A patched model method calls `mark(kind, key, snapshot)` right after it changed an entity;
`snapshot()` answers the entity's current serialised state (None once it is gone) and is
called at flush time, so several changes to one entity between flushes cost one write.
The gateway flushes after every request it hands to moto, before the response is sent: a
client that got an answer has its change on disk. Changes made outside a request (an
execution finishing on its own thread, a notification released later) are flushed by a
background thread every `interval_s`. One flush is one transaction.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from sluice.durable.store import Store

log = logging.getLogger(__name__)

Snapshot = Callable[[], bytes | None]


class Journal:
    def __init__(self, store: Store, interval_s: float = 0.05) -> None:
        self.store = store
        self.interval_s = interval_s
        self._dirty: dict[tuple[str, str], Snapshot] = {}
        self._mark_lock = threading.Lock()
        # Held for a whole flush: a request that finds nothing left to flush still waits
        # for the flush that took its marks to commit before its response goes out.
        self._flush_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.writes = 0

    def mark(self, kind: str, key: str, snapshot: Snapshot) -> None:
        with self._mark_lock:
            self._dirty[(kind, key)] = snapshot

    def flush(self) -> None:
        with self._flush_lock:
            with self._mark_lock:
                dirty, self._dirty = self._dirty, {}
            if not dirty:
                return
            changes = []
            for (kind, key), snapshot in dirty.items():
                try:
                    changes.append((kind, key, snapshot()))
                except Exception:
                    # Read while another thread changed it: tried again at the next flush
                    # (unless marked again meanwhile), without holding back the rest.
                    log.warning("durable state: %s %s read again later", kind, key, exc_info=True)
                    with self._mark_lock:
                        self._dirty.setdefault((kind, key), snapshot)
            self.writes += self.store.write(changes)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="journal", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.flush()
            except Exception:
                log.exception("durable state: flush failed")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.flush()
