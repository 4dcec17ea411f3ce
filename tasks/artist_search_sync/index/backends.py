"""The search index backend the environment names (`SEARCH_BACKEND`)."""

from __future__ import annotations

import os

from tasks.artist_search_sync.index import SearchIndex, SearchIndexError
from tasks.artist_search_sync.index.embedded import EmbeddedIndex
from tasks.artist_search_sync.index.opensearch import OpenSearchIndex

BACKEND_ENV = "SEARCH_BACKEND"
BACKENDS = ("embedded", "opensearch")


def search_index_from_env() -> SearchIndex:
    """The backend named by SEARCH_BACKEND, configured from the environment."""
    backend = (os.environ.get(BACKEND_ENV) or "embedded").strip().lower()
    if backend == "embedded":
        return EmbeddedIndex.from_env()
    if backend == "opensearch":
        return OpenSearchIndex.from_env()
    raise SearchIndexError(f"{BACKEND_ENV} must be one of {', '.join(BACKENDS)}, got {backend!r}")
