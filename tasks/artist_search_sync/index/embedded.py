"""The embedded search index: SQLite FTS5 in one file, for laptops and tests."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from schemas.artist_search_sync import ArtistSearchDocument, normalize_key
from tasks.artist_search_sync import index as port

INDEX_PATH_ENV = "SEARCH_INDEX_PATH"

_FTS_COLUMNS = tuple(port.FIELD_BOOSTS)
_BM25_WEIGHTS = ", ".join(str(w) for w in port.FIELD_BOOSTS.values())

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS artists (
    rowid INTEGER PRIMARY KEY,
    artist_id TEXT NOT NULL UNIQUE,
    city_key TEXT,
    rating REAL,
    review_count INTEGER NOT NULL,
    document TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS artists_city ON artists (city_key);
CREATE TABLE IF NOT EXISTS artist_styles (
    style TEXT NOT NULL,
    artist_id TEXT NOT NULL,
    PRIMARY KEY (style, artist_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS artist_styles_artist ON artist_styles (artist_id);
CREATE VIRTUAL TABLE IF NOT EXISTS artists_fts USING fts5(
    {", ".join(_FTS_COLUMNS)},
    tokenize = 'porter unicode61 remove_diacritics 2'
);
"""


def _fts_values(doc: ArtistSearchDocument) -> tuple[str, ...]:
    text = {
        "name": doc.name,
        "studioName": doc.studioName or "",
        "styles": " ".join(doc.styles),
        "specialties": " ".join(doc.specialties),
        "city": doc.city or "",
        "location": doc.location or "",
        "instagramHandle": doc.instagramHandle or "",
        "bio": doc.bio or "",
    }
    return tuple(text[c] for c in _FTS_COLUMNS)


def _transient(exc: sqlite3.OperationalError) -> bool:
    message = str(exc).lower()
    return "locked" in message or "busy" in message


class EmbeddedIndex:
    """A full-text index in one SQLite file: FTS5 with bm25 ranking.

    Several processes (Lambda workers, the API) may share the file: WAL lets readers run
    beside one writer, the busy timeout queues writers, and each `bulk` is one
    `BEGIN IMMEDIATE` transaction, so it applies whole or not at all.
    """

    def __init__(self, path: str | Path, *, busy_timeout: float = 10.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        # The engine may call a task from another thread than the one that built it.
        self._conn = sqlite3.connect(
            self.path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
        )
        self._conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        self._use_wal(busy_timeout)
        self.ensure_index()

    def _use_wal(self, busy_timeout: float) -> None:
        # Switching to WAL while another process creates the file fails at once with
        # "locked" (the busy handler does not cover it), so wait here as it would.
        deadline = time.monotonic() + busy_timeout
        while True:
            try:
                self._conn.execute("PRAGMA journal_mode = WAL")
                break
            except sqlite3.OperationalError as exc:
                if not _transient(exc) or time.monotonic() >= deadline:
                    raise self._translated(exc) from exc
                time.sleep(0.01)
        self._conn.execute("PRAGMA synchronous = NORMAL")

    @classmethod
    def from_env(cls) -> EmbeddedIndex:
        path = os.environ.get(INDEX_PATH_ENV)
        if not path:
            raise port.SearchIndexError(f"{INDEX_PATH_ENV} is required for the embedded index")
        return cls(path)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.OperationalError as exc:
            raise self._translated(exc) from exc

    def _translated(self, exc: sqlite3.OperationalError) -> port.SearchIndexError:
        if _transient(exc):
            return port.SearchIndexUnavailable(f"{self.path}: {exc}")
        return port.SearchIndexError(f"{self.path}: {exc}")

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock, self._errors():
            # IMMEDIATE takes the write lock up front: no deadlock upgrading a read lock.
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def ensure_index(self) -> None:
        with self._transaction() as conn:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)

    def bulk(
        self, upserts: Sequence[ArtistSearchDocument], deletes: Sequence[str]
    ) -> port.BulkResult:
        port.check_disjoint(upserts, deletes)
        deleted = not_found = 0
        with self._transaction() as conn:
            for doc in upserts:
                self._upsert(conn, doc)
            for artist_id in deletes:
                if self._delete(conn, artist_id):
                    deleted += 1
                else:
                    not_found += 1
        return port.BulkResult(upserted=len(upserts), deleted=deleted, not_found=not_found)

    @staticmethod
    def _upsert(conn: sqlite3.Connection, doc: ArtistSearchDocument) -> None:
        (rowid,) = conn.execute(
            """INSERT INTO artists (artist_id, city_key, rating, review_count, document)
               VALUES (?, ?, ?, ?, ?)
               ON CONFLICT (artist_id) DO UPDATE SET city_key = excluded.city_key,
                   rating = excluded.rating, review_count = excluded.review_count,
                   document = excluded.document
               RETURNING rowid""",
            (doc.artistId, doc.cityKey, doc.rating, doc.reviewCount, doc.model_dump_json()),
        ).fetchone()
        conn.execute("DELETE FROM artists_fts WHERE rowid = ?", (rowid,))
        conn.execute(
            f"INSERT INTO artists_fts (rowid, {', '.join(_FTS_COLUMNS)}) "
            f"VALUES (?{', ?' * len(_FTS_COLUMNS)})",
            (rowid, *_fts_values(doc)),
        )
        conn.execute("DELETE FROM artist_styles WHERE artist_id = ?", (doc.artistId,))
        conn.executemany(
            "INSERT INTO artist_styles (style, artist_id) VALUES (?, ?)",
            [(style, doc.artistId) for style in doc.styles],
        )

    @staticmethod
    def _delete(conn: sqlite3.Connection, artist_id: str) -> bool:
        row = conn.execute(
            "DELETE FROM artists WHERE artist_id = ? RETURNING rowid", (artist_id,)
        ).fetchone()
        if row is None:
            return False
        conn.execute("DELETE FROM artists_fts WHERE rowid = ?", (row[0],))
        conn.execute("DELETE FROM artist_styles WHERE artist_id = ?", (artist_id,))
        return True

    def search(
        self, q: str | None, style: str | None, city: str | None, limit: int
    ) -> list[port.SearchHit]:
        where: list[str] = []
        params: list[Any] = []
        if city is not None:
            where.append("a.city_key = ?")
            params.append(normalize_key(city))
        if style is not None:
            where.append(
                "EXISTS (SELECT 1 FROM artist_styles s WHERE s.artist_id = a.artist_id "
                "AND s.style = ?)"
            )
            params.append(normalize_key(style))
        if q is not None and q.strip():
            terms = port.query_terms(q)
            if not terms:
                return []
            # Each word a quoted string: implicit AND, and no user-controlled FTS syntax.
            match = " ".join(f'"{term}"' for term in terms)
            sql = (
                f"SELECT a.artist_id, -bm25(artists_fts, {_BM25_WEIGHTS}) AS score, a.document "
                "FROM artists_fts JOIN artists a ON a.rowid = artists_fts.rowid "
                f"WHERE artists_fts MATCH ? {''.join(' AND ' + w for w in where)} "
                "ORDER BY score DESC, a.artist_id LIMIT ?"
            )
            params = [match, *params, limit]
        else:
            sql = (
                "SELECT a.artist_id, 0.0 AS score, a.document FROM artists a "
                f"{'WHERE ' + ' AND '.join(where) if where else ''} "
                "ORDER BY a.rating IS NULL, a.rating DESC, a.review_count DESC, a.artist_id "
                "LIMIT ?"
            )
            params.append(limit)
        with self._lock, self._errors():
            rows = self._conn.execute(sql, params).fetchall()
        return [
            port.SearchHit(
                artist_id=artist_id,
                score=float(score),
                document=ArtistSearchDocument.model_validate_json(document),
            )
            for artist_id, score, document in rows
        ]

    def get(self, artist_id: str) -> ArtistSearchDocument | None:
        with self._lock, self._errors():
            row = self._conn.execute(
                "SELECT document FROM artists WHERE artist_id = ?", (artist_id,)
            ).fetchone()
        return None if row is None else ArtistSearchDocument.model_validate_json(row[0])

    def count(self) -> int:
        with self._lock, self._errors():
            (n,) = self._conn.execute("SELECT count(*) FROM artists").fetchone()
        return int(n)

    def all_ids(self) -> set[str]:
        with self._lock, self._errors():
            return {row[0] for row in self._conn.execute("SELECT artist_id FROM artists")}
