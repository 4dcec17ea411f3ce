"""The stack's durable state: one SQLite database in WAL mode under the data directory.

Rows are (kind, key) -> value: the latest state of one entity (a DynamoDB item, an SQS
message, an S3 object, an execution...), or nothing once it is gone. Each `write` is one
transaction. `synchronous=NORMAL` in WAL mode makes a commit survive the process being
killed (the WAL is in the operating system's hands once `write` returns); only a power loss
or an operating-system crash can lose the last commits, which a local stack accepts.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path

FILE_NAME = "state.sqlite"
SCHEMA = """
CREATE TABLE IF NOT EXISTS state (
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    value BLOB NOT NULL,
    PRIMARY KEY (kind, key)
) WITHOUT ROWID
"""


class Store:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(SCHEMA)
        self._lock = threading.Lock()

    def write(self, changes: Iterable[tuple[str, str, bytes | None]]) -> int:
        """Apply (kind, key, value or None to delete) in one transaction; answers the count."""
        upserts, deletes = [], []
        for kind, key, value in changes:
            if value is None:
                deletes.append((kind, key))
            else:
                upserts.append((kind, key, value))
        if not upserts and not deletes:
            return 0
        with self._lock:
            self._db.execute("BEGIN")
            try:
                self._db.executemany(
                    "INSERT INTO state (kind, key, value) VALUES (?, ?, ?) "
                    "ON CONFLICT (kind, key) DO UPDATE SET value = excluded.value",
                    upserts,
                )
                self._db.executemany("DELETE FROM state WHERE kind = ? AND key = ?", deletes)
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

    def close(self) -> None:
        with self._lock:
            self._db.close()


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
