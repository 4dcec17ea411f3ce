"""The artist search index: one small interface, OpenSearch in AWS, SQLite FTS5 on a laptop.

    index = search_index_from_env()          # SEARCH_BACKEND=embedded|opensearch
    index.ensure_index()
    index.bulk(upserts=[doc], deletes=["a-2"])
    index.search("blackwork", style=None, city="leeds", limit=10)  # -> [SearchHit(...)]

This module is the port (the `SearchIndex` protocol, its results and errors) and imports
no backend, so a task that only needs the errors ships without opensearch-py. The
backends: `index.embedded.EmbeddedIndex` and `index.opensearch.OpenSearchIndex`;
`index.backends.search_index_from_env` picks one.

Configuration (env):

- `SEARCH_BACKEND`: `embedded` (default) or `opensearch`.
- `SEARCH_INDEX_PATH`: the embedded index's SQLite file.
- `OPENSEARCH_ENDPOINT`, `OPENSEARCH_INDEX` (default `artists`), optional
  `OPENSEARCH_SERVICE` (`es` or `aoss`; inferred from the endpoint's host) and `AWS_REGION`.

Errors: `SearchIndexUnavailable` is transient (throttling, 5xx, connection, a locked
database) and the state machine retries it; `SearchIndexError` is anything else.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from schemas.artist_search_sync import ArtistSearchDocument

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


def check_disjoint(upserts: Sequence[ArtistSearchDocument], deletes: Sequence[str]) -> None:
    ids = [d.artistId for d in upserts] + list(deletes)
    if len(ids) != len(set(ids)):
        raise ValueError("bulk: each artist id may appear once across upserts and deletes")


__all__ = [
    "FIELD_BOOSTS",
    "BulkItemFailure",
    "BulkResult",
    "SearchHit",
    "SearchIndex",
    "SearchIndexError",
    "SearchIndexUnavailable",
    "check_disjoint",
    "query_terms",
]
