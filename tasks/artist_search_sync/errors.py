"""Failures the state machine tells apart: each class name is the ASL error name (`errorType`).

`SearchIndexUnavailable` (from `tasks.artist_search_sync.index`) is the only one retried inside
an execution. The others fail the execution, so the Pipe retries the batch and, once its
retries run out, sends it to the DLQ.
"""

from tasks.artist_search_sync.index import SearchIndexError, SearchIndexUnavailable


class ArtistSearchSyncError(Exception):
    """Base class; never raised itself."""


class MalformedBatchError(ArtistSearchSyncError):
    """The task input is not the expected shape (names the field)."""


class InvalidArtistItemError(ArtistSearchSyncError):
    """An artist's METADATA item fails the schema (names the artist and the field)."""


class SearchIndexWriteError(ArtistSearchSyncError):
    """The index rejected documents for a reason retrying will not fix (names the artists)."""


__all__ = [
    "ArtistSearchSyncError",
    "InvalidArtistItemError",
    "MalformedBatchError",
    "SearchIndexError",
    "SearchIndexUnavailable",
    "SearchIndexWriteError",
]
