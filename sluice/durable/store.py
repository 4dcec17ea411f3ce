"""The stack's durable state: one SQLite database in WAL mode under the data directory.

Rows are (kind, key) -> value: the latest state of one entity (a DynamoDB item, an SQS
message, an S3 object, an execution...), or nothing once it is gone. Each `write` is one
transaction. `synchronous=NORMAL` in WAL mode makes a commit survive the process being
killed (the WAL is in the operating system's hands once `write` returns); only a power loss
or an operating-system crash can lose the last commits, which a local stack accepts.

Checkpoints (copying the WAL into the database, with the only fsyncs of WAL mode) run on
a connection and thread of their own every `checkpoint_s`, so a commit never waits for a
disk flush. A write is one statement per kind of change: the sqlite3 module releases the
GIL around each statement, and on a busy stack each release can cost a switch interval.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path

log = logging.getLogger(__name__)

FILE_NAME = "state.sqlite"
SCHEMA = """
CREATE TABLE IF NOT EXISTS state (
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    value BLOB NOT NULL,
    PRIMARY KEY (kind, key)
) WITHOUT ROWID
"""
# Rows per statement: one statement binds 3 values a row, far below SQLite's limit.
CHUNK = 256
_UPSERT = (
    "INSERT INTO state (kind, key, value) VALUES {} "
    "ON CONFLICT (kind, key) DO UPDATE SET value = excluded.value"
)
_DELETE = "DELETE FROM state WHERE (kind, key) IN (VALUES {})"


def _connect(path: Path) -> sqlite3.Connection:
    # One prepared statement per batch size (up to CHUNK) of each kind of change stays cached.
    db = sqlite3.connect(
        path, check_same_thread=False, isolation_level=None, cached_statements=2 * CHUNK + 16
    )
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    return db


def _chunks[T](rows: list[T]) -> Iterable[list[T]]:
    return (rows[i : i + CHUNK] for i in range(0, len(rows), CHUNK))


class Store:
    def __init__(self, path: Path, checkpoint_s: float = 1.0) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = _connect(path)
        self._db.execute(SCHEMA)
        self._db.execute("PRAGMA wal_autocheckpoint=0")  # checkpoints are _checkpoints'
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._checkpointer = threading.Thread(
            target=self._checkpoints, args=(checkpoint_s,), name="checkpoint", daemon=True
        )
        self._checkpointer.start()

    def write(self, changes: Iterable[tuple[str, str, bytes | None]]) -> int:
        """Apply (kind, key, value or None to delete) in one transaction; answers the count."""
        upserts: list[tuple[str, str, bytes]] = []
        deletes: list[tuple[str, str]] = []
        for kind, key, value in changes:
            if value is None:
                deletes.append((kind, key))
            else:
                upserts.append((kind, key, value))
        statements = [
            (_UPSERT.format(", ".join(["(?, ?, ?)"] * len(chunk))), [v for r in chunk for v in r])
            for chunk in _chunks(upserts)
        ] + [
            (_DELETE.format(", ".join(["(?, ?)"] * len(chunk))), [v for r in chunk for v in r])
            for chunk in _chunks(deletes)
        ]
        if not statements:
            return 0
        with self._lock:
            if len(statements) == 1:  # a statement on its own is a transaction
                self._db.execute(*statements[0])
            else:
                self._db.execute("BEGIN")
                try:
                    for statement in statements:
                        self._db.execute(*statement)
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
        return len(upserts) + len(deletes)

    def load(self, kind: str) -> list[tuple[str, bytes]]:
        """Every row of one kind, in key order."""
        with self._lock:
            rows = self._db.execute(
                "SELECT key, value FROM state WHERE kind = ? ORDER BY key", (kind,)
            ).fetchall()
        return [(str(k), bytes(v)) for k, v in rows]

    def count(self) -> int:
        with self._lock:
            (n,) = self._db.execute("SELECT count(*) FROM state").fetchone()
        return int(n)

    def _checkpoints(self, interval_s: float) -> None:
        """Copy the WAL's commits into the database now and then, without blocking writes
        (PASSIVE); the next write after a complete checkpoint starts the WAL over."""
        db = _connect(self.path)
        try:
            while not self._stop.wait(interval_s):
                try:
                    db.execute("PRAGMA wal_checkpoint(PASSIVE)")
                except sqlite3.Error:  # tried again next time; commits are in the WAL
                    log.warning("durable state: checkpoint failed", exc_info=True)
        finally:
            db.close()

    def close(self) -> None:
        self._stop.set()
        self._checkpointer.join()
        with self._lock:
            self._db.close()  # the last connection closed checkpoints the WAL


def clear(data_dir: Path) -> list[Path]:
    """Remove the durable state of the stack in DATA_DIR (the database and its WAL files);
    answers what was removed."""
    removed = []
    for suffix in ("", "-wal", "-shm"):
        path = data_dir / f"{FILE_NAME}{suffix}"
        if path.exists():
            path.unlink()
            removed.append(path)
    return removed
