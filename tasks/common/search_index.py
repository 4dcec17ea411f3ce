"""The artist search index: one small interface, OpenSearch in AWS, SQLite FTS5 on a laptop.

    index = search_index_from_env()          # SEARCH_BACKEND=embedded|opensearch
    index.ensure_index()
    index.bulk(upserts=[doc], deletes=["a-2"])
    index.search("blackwork", style=None, city="leeds", limit=10)  # -> [SearchHit(...)]

Configuration (env):

- `SEARCH_BACKEND`: `embedded` (default) or `opensearch`.
- `SEARCH_INDEX_PATH`: the embedded index's SQLite file.
- `OPENSEARCH_ENDPOINT`, `OPENSEARCH_INDEX` (default `artists`), optional
  `OPENSEARCH_SERVICE` (`es` or `aoss`; inferred from the endpoint's host) and `AWS_REGION`.

Errors: `SearchIndexUnavailable` is transient (throttling, 5xx, connection, a locked
database) and the state machine retries it; `SearchIndexError` is anything else.
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlsplit

import boto3
from opensearchpy import OpenSearch, RequestsAWSV4SignerAuth, RequestsHttpConnection
from opensearchpy.exceptions import ConnectionError as OpenSearchConnectionError
from opensearchpy.exceptions import NotFoundError, RequestError, TransportError

from schemas.artist_search_sync import ArtistSearchDocument, normalize_key

BACKEND_ENV = "SEARCH_BACKEND"
INDEX_PATH_ENV = "SEARCH_INDEX_PATH"
OPENSEARCH_ENDPOINT_ENV = "OPENSEARCH_ENDPOINT"
OPENSEARCH_INDEX_ENV = "OPENSEARCH_INDEX"
OPENSEARCH_SERVICE_ENV = "OPENSEARCH_SERVICE"
DEFAULT_INDEX_NAME = "artists"

# Relevance weights per field, shared by both backends so rankings agree in spirit.
FIELD_BOOSTS: dict[str, float] = {
    "name": 10.0,
    "studioName": 4.0,
    "styles": 5.0,
    "specialties": 3.0,
    "city": 2.0,
    "location": 2.0,
    "instagramHandle": 5.0,
    "bio": 1.0,
}
MAX_QUERY_TERMS = 16
_TERM = re.compile(r"\w+")


class SearchIndexError(Exception):
    """The index refused a request for a reason retrying will not fix (auth, bad request)."""


class SearchIndexUnavailable(SearchIndexError):
    """Transient: throttled, 5xx, unreachable or locked; safe to retry (writes are idempotent)."""


@dataclass(frozen=True)
class BulkItemFailure:
    artist_id: str
    operation: str  # "upsert" | "delete"
    status: int
    reason: str


@dataclass(frozen=True)
class BulkResult:
    upserted: int = 0
    deleted: int = 0
    not_found: int = 0  # deletes of absent documents: success, the index already agrees
    failures: tuple[BulkItemFailure, ...] = ()


@dataclass(frozen=True)
class SearchHit:
    artist_id: str
    score: float
    document: ArtistSearchDocument


@runtime_checkable
class SearchIndex(Protocol):
    def ensure_index(self) -> None: ...

    def bulk(self, upserts: Sequence[ArtistSearchDocument], deletes: Sequence[str]) -> BulkResult:
        """Upsert documents (id = artistId) and delete ids; an id in both is a caller bug."""
        ...

    def search(
        self, q: str | None, style: str | None, city: str | None, limit: int
    ) -> list[SearchHit]:
        """Best first. With q: relevance (all terms must match); without: rating."""
        ...

    def get(self, artist_id: str) -> ArtistSearchDocument | None: ...

    def count(self) -> int: ...

    def all_ids(self) -> set[str]: ...


def query_terms(q: str | None) -> list[str]:
    """Words of a free-text query; punctuation is never query syntax."""
    return _TERM.findall(q or "")[:MAX_QUERY_TERMS]


def _check_disjoint(upserts: Sequence[ArtistSearchDocument], deletes: Sequence[str]) -> None:
    ids = [d.artistId for d in upserts] + list(deletes)
    if len(ids) != len(set(ids)):
        raise ValueError("bulk: each artist id may appear once across upserts and deletes")


# -- Embedded: SQLite FTS5 -----------------------------------------------------------------

_FTS_COLUMNS = tuple(FIELD_BOOSTS)
_BM25_WEIGHTS = ", ".join(str(w) for w in FIELD_BOOSTS.values())

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
            raise SearchIndexError(f"{INDEX_PATH_ENV} is required for the embedded index")
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

    def _translated(self, exc: sqlite3.OperationalError) -> SearchIndexError:
        if _transient(exc):
            return SearchIndexUnavailable(f"{self.path}: {exc}")
        return SearchIndexError(f"{self.path}: {exc}")

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

    def bulk(self, upserts: Sequence[ArtistSearchDocument], deletes: Sequence[str]) -> BulkResult:
        _check_disjoint(upserts, deletes)
        deleted = not_found = 0
        with self._transaction() as conn:
            for doc in upserts:
                self._upsert(conn, doc)
            for artist_id in deletes:
                if self._delete(conn, artist_id):
                    deleted += 1
                else:
                    not_found += 1
        return BulkResult(upserted=len(upserts), deleted=deleted, not_found=not_found)

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
    ) -> list[SearchHit]:
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
            terms = query_terms(q)
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
            SearchHit(
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


# -- OpenSearch (AWS) --------------------------------------------------------------------

_TEXT = {"type": "text", "analyzer": "artist_text"}
INDEX_BODY: dict[str, Any] = {
    "settings": {
        "analysis": {
            "analyzer": {
                # Close to the embedded index's `porter unicode61 remove_diacritics`.
                "artist_text": {
                    "type": "custom",
                    "tokenizer": "standard",
                    "filter": ["lowercase", "asciifolding", "porter_stem"],
                }
            }
        }
    },
    "mappings": {
        # New item attributes stay in _source without changing the mapping.
        "dynamic": False,
        "properties": {
            "artistId": {"type": "keyword"},
            "name": {**_TEXT, "fields": {"raw": {"type": "keyword"}}},
            "styles": {"type": "keyword", "fields": {"text": _TEXT}},
            "specialties": _TEXT,
            "city": _TEXT,
            "cityKey": {"type": "keyword"},
            "location": _TEXT,
            "studioName": _TEXT,
            "instagramHandle": {"type": "keyword", "fields": {"text": _TEXT}},
            "bio": _TEXT,
            "geo": {"type": "geo_point"},
            "geohash": {"type": "keyword"},
            "rating": {"type": "float"},
            "reviewCount": {"type": "integer"},
            "updatedAt": {"type": "date"},
        },
    },
}
_QUERY_FIELDS = {
    "name": "name",
    "studioName": "studioName",
    "styles": "styles.text",
    "specialties": "specialties",
    "city": "city",
    "location": "location",
    "instagramHandle": "instagramHandle.text",
    "bio": "bio",
}
SEARCH_FIELDS = [f"{_QUERY_FIELDS[name]}^{boost:g}" for name, boost in FIELD_BOOSTS.items()]
PAGE_SIZE = 1000


def _status(exc: TransportError) -> int | None:
    return exc.status_code if isinstance(exc.status_code, int) else None


def _error_type(exc: TransportError) -> str:
    return str(exc.error or "")


def _missing_index(exc: NotFoundError) -> bool:
    return _error_type(exc) == "index_not_found_exception"


def _transient_status(status: int) -> bool:
    return status == 429 or status >= 500


class OpenSearchIndex:
    """An OpenSearch domain (`es`) or Serverless collection (`aoss`) index, signed with SigV4.

    The client never retries (max_retries=0): the state machine's Retry owns backoff, so
    the attempts show in the execution history.
    """

    def __init__(self, client: OpenSearch, index: str) -> None:
        self.client = client
        self.index = index

    @classmethod
    def connect(
        cls,
        endpoint: str,
        index: str = DEFAULT_INDEX_NAME,
        *,
        region: str,
        service: str | None = None,
        credentials: Any = None,
        timeout: float = 10.0,
    ) -> OpenSearchIndex:
        url = urlsplit(endpoint if "://" in endpoint else f"https://{endpoint}")
        if not url.hostname:
            raise SearchIndexError(f"{OPENSEARCH_ENDPOINT_ENV} {endpoint!r} has no host")
        https = url.scheme == "https"
        if service is None:
            service = "aoss" if url.hostname.endswith(".aoss.amazonaws.com") else "es"
        if credentials is None:
            credentials = boto3.Session().get_credentials()
        client = OpenSearch(
            hosts=[{"host": url.hostname, "port": url.port or (443 if https else 80)}],
            # RequestsAWSV4SignerAuth is AWSV4SignerAuth's current name (botocore SigV4).
            http_auth=RequestsAWSV4SignerAuth(credentials, region, service),
            use_ssl=https,
            verify_certs=https,
            connection_class=RequestsHttpConnection,
            timeout=timeout,
            max_retries=0,
            retry_on_timeout=False,
        )
        return cls(client, index)

    @classmethod
    def from_env(cls) -> OpenSearchIndex:
        endpoint = os.environ.get(OPENSEARCH_ENDPOINT_ENV)
        if not endpoint:
            raise SearchIndexError(f"{OPENSEARCH_ENDPOINT_ENV} is required for opensearch")
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        if not region:
            raise SearchIndexError("AWS_REGION is required to sign OpenSearch requests")
        return cls.connect(
            endpoint,
            os.environ.get(OPENSEARCH_INDEX_ENV) or DEFAULT_INDEX_NAME,
            region=region,
            service=os.environ.get(OPENSEARCH_SERVICE_ENV) or None,
        )

    @contextlib.contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        try:
            yield
        except OpenSearchConnectionError as exc:  # includes timeouts and TLS failures
            raise SearchIndexUnavailable(f"{action}: {exc}") from exc
        except TransportError as exc:
            status = _status(exc)
            message = f"{action}: HTTP {status} {_error_type(exc)}"
            if status is not None and _transient_status(status):
                raise SearchIndexUnavailable(message) from exc
            raise SearchIndexError(message) from exc

    def ensure_index(self) -> None:
        with self._errors(f"create index {self.index}"):
            try:
                self.client.indices.create(index=self.index, body=INDEX_BODY)
            except RequestError as exc:
                # Another cold start created it first: the index is there, as wanted.
                if _error_type(exc) != "resource_already_exists_exception":
                    raise

    def bulk(self, upserts: Sequence[ArtistSearchDocument], deletes: Sequence[str]) -> BulkResult:
        _check_disjoint(upserts, deletes)
        if not upserts and not deletes:
            return BulkResult()
        body: list[dict[str, Any]] = []
        for doc in upserts:
            body.append({"index": {"_id": doc.artistId}})
            body.append(doc.model_dump(mode="json"))
        for artist_id in deletes:
            body.append({"delete": {"_id": artist_id}})
        with self._errors("bulk"):
            response = self.client.bulk(body=body, index=self.index)
        return _bulk_result(response)

    def search(
        self, q: str | None, style: str | None, city: str | None, limit: int
    ) -> list[SearchHit]:
        if q is not None and q.strip() and not query_terms(q):
            return []
        with self._errors("search"):
            try:
                response = self.client.search(
                    index=self.index, body=search_body(q, style, city, limit)
                )
            except NotFoundError as exc:
                if _missing_index(exc):
                    return []
                raise
        return [
            SearchHit(
                artist_id=hit["_id"],
                score=float(hit.get("_score") or 0.0),
                document=ArtistSearchDocument.model_validate(hit["_source"]),
            )
            for hit in response["hits"]["hits"]
        ]

    def get(self, artist_id: str) -> ArtistSearchDocument | None:
        with self._errors("get"):
            try:
                response = self.client.get(index=self.index, id=artist_id)
            except NotFoundError:
                return None
        return ArtistSearchDocument.model_validate(response["_source"])

    def count(self) -> int:
        with self._errors("count"):
            try:
                response = self.client.count(index=self.index)
            except NotFoundError as exc:
                if _missing_index(exc):
                    return 0
                raise
        return int(response["count"])

    def all_ids(self) -> set[str]:
        ids: set[str] = set()
        after: list[Any] | None = None
        while True:
            # search_after on the keyword id works on domains and Serverless (no scroll there).
            body: dict[str, Any] = {
                "size": PAGE_SIZE,
                "_source": False,
                "query": {"match_all": {}},
                "sort": [{"artistId": "asc"}],
            }
            if after is not None:
                body["search_after"] = after
            with self._errors("list ids"):
                try:
                    response = self.client.search(index=self.index, body=body)
                except NotFoundError as exc:
                    if _missing_index(exc):
                        return ids
                    raise
            hits = response["hits"]["hits"]
            ids.update(hit["_id"] for hit in hits)
            if len(hits) < PAGE_SIZE:
                return ids
            after = hits[-1]["sort"]


def search_body(q: str | None, style: str | None, city: str | None, limit: int) -> dict[str, Any]:
    """The `_search` request: all query words must match (across fields), filters are exact."""
    filters: list[dict[str, Any]] = []
    if style is not None:
        filters.append({"term": {"styles": normalize_key(style)}})
    if city is not None:
        filters.append({"term": {"cityKey": normalize_key(city)}})
    if q is not None and q.strip():
        match = {
            "multi_match": {
                "query": " ".join(query_terms(q)),
                "type": "cross_fields",
                "operator": "and",
                "fields": SEARCH_FIELDS,
            }
        }
        return {
            "size": limit,
            "query": {"bool": {"must": [match], "filter": filters}},
            "sort": [{"_score": "desc"}, {"artistId": "asc"}],
        }
    return {
        "size": limit,
        "query": {"bool": {"filter": filters}},
        "sort": [
            {"rating": {"order": "desc", "missing": "_last"}},
            {"reviewCount": "desc"},
            {"artistId": "asc"},
        ],
    }


def _bulk_result(response: dict[str, Any]) -> BulkResult:
    """Per-item outcomes: delete-404 is success; 429/5xx items make the whole bulk transient."""
    upserted = deleted = not_found = 0
    failures: list[BulkItemFailure] = []
    transient: list[str] = []
    for item in response.get("items", []):
        ((action, result),) = item.items()
        status = int(result.get("status", 0))
        artist_id = str(result.get("_id"))
        operation = "delete" if action == "delete" else "upsert"
        if 200 <= status < 300:
            if operation == "delete":
                deleted += 1
            else:
                upserted += 1
        elif operation == "delete" and status == 404:
            not_found += 1
        elif _transient_status(status):
            transient.append(f"{artist_id}: HTTP {status}")
        else:
            error = result.get("error")
            reason = (
                f"{error.get('type')}: {error.get('reason')}"
                if isinstance(error, dict)
                else str(error)
            )
            failures.append(BulkItemFailure(artist_id, operation, status, reason))
    if transient:
        # Retrying the whole bulk is safe: the items that did succeed are idempotent.
        raise SearchIndexUnavailable(f"bulk items throttled or failed: {', '.join(transient)}")
    return BulkResult(
        upserted=upserted, deleted=deleted, not_found=not_found, failures=tuple(failures)
    )


# -- Selection -------------------------------------------------------------------------------


BACKENDS = ("embedded", "opensearch")


def search_index_from_env() -> SearchIndex:
    """The backend named by SEARCH_BACKEND, configured from the environment."""
    backend = (os.environ.get(BACKEND_ENV) or "embedded").strip().lower()
    if backend == "embedded":
        return EmbeddedIndex.from_env()
    if backend == "opensearch":
        return OpenSearchIndex.from_env()
    raise SearchIndexError(f"{BACKEND_ENV} must be one of {', '.join(BACKENDS)}, got {backend!r}")


__all__ = [
    "BulkItemFailure",
    "BulkResult",
    "EmbeddedIndex",
    "OpenSearchIndex",
    "SearchHit",
    "SearchIndex",
    "SearchIndexError",
    "SearchIndexUnavailable",
    "search_index_from_env",
]
