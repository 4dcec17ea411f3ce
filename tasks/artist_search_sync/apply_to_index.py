"""ApplyToIndex: PrepareBatch's `IndexChanges` -> one bulk request to the search index.

Upserts use the artist id as document id and deletes of absent documents succeed, so a
retried or redelivered batch leaves the same index. Transient index failures raise
`SearchIndexUnavailable`, which the state machine retries with backoff and jitter;
documents the index rejects raise `SearchIndexWriteError`, which fails the execution.

Output (`ApplyResult`)::

    {"correlationId": "...", "upserted": 1, "deleted": 1, "notFound": 0}
"""

from __future__ import annotations

import functools
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from schemas.artist_search_sync import FLOW, ApplyResult, IndexChanges
from tasks.artist_search_sync.errors import MalformedBatchError, SearchIndexWriteError
from tasks.artist_search_sync.index import SearchIndex, SearchIndexUnavailable
from tasks.artist_search_sync.index.backends import search_index_from_env
from tasks.common.powertools import model_handler, powertools
from tasks.common.validation import parsed

logger, tracer, metrics = powertools(FLOW)


@functools.cache
def search_index() -> SearchIndex:
    """One index client per sandbox; not cached when creating the index fails."""
    index = search_index_from_env()
    index.ensure_index()
    return index


def apply_to_index(event: Any, index: SearchIndex | None = None) -> ApplyResult:
    changes = parsed(IndexChanges, event, MalformedBatchError)
    logger.set_correlation_id(changes.correlationId)
    index = index if index is not None else search_index()

    try:
        result = index.bulk(changes.upserts, changes.deletes)
    except SearchIndexUnavailable as exc:
        metrics.add_metric(name="IndexUnavailable", unit=MetricUnit.Count, value=1)
        logger.warning("search index unavailable; the batch is retried", extra={"cause": str(exc)})
        raise
    if result.failures:
        rejected = len(result.failures)
        metrics.add_metric(name="DocumentsRejected", unit=MetricUnit.Count, value=rejected)
        detail = "; ".join(
            f"{f.artist_id} ({f.operation}): HTTP {f.status} {f.reason}" for f in result.failures
        )
        logger.error("search index rejected documents", extra={"failures": detail})
        raise SearchIndexWriteError(detail)

    metrics.add_metric(name="DocumentsUpserted", unit=MetricUnit.Count, value=result.upserted)
    metrics.add_metric(name="DocumentsDeleted", unit=MetricUnit.Count, value=result.deleted)
    applied = ApplyResult(
        correlationId=changes.correlationId,
        upserted=result.upserted,
        deleted=result.deleted,
        notFound=result.not_found,
    )
    logger.info("index updated", extra=applied.model_dump(exclude={"correlationId"}))
    return applied


handler = model_handler(
    apply_to_index, logger, tracer, metrics, correlation_id_path="correlationId"
)
