"""PrepareBatch: the Pipe's batch of stream records -> what the index must hold for those artists.

Input (the state machine adds the execution ARN, the correlation id of every log line)::

    {"correlationId": "arn:aws:states:...:execution:...", "records": [<stream record>, ...]}

Output (`IndexChanges`), the newest change per artist only::

    {"correlationId": "...", "upserts": [{"artistId": "a-1", "name": "Jo Ink", ...}],
     "deletes": ["a-2"], "operations": 2, "ignored": 0, "superseded": 1}

Records of other item types are counted and ignored (the Pipe's filter already drops them).
An artist item that fails the schema fails the batch: nothing of it is written, and the
Pipe retries it and then sends it to the DLQ.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from pydantic import ValidationError

from schemas.artist_search_sync import (
    FLOW,
    ArtistSearchDocument,
    IndexChanges,
    PrepareBatchInput,
    StreamRecord,
    artist_document,
    artist_id_from_keys,
    changed_fields,
    collapse,
)
from schemas.validation import describe_validation_error
from tasks.artist_search_sync.errors import (
    ArtistSearchSyncError,
    InvalidArtistItemError,
    MalformedBatchError,
)
from tasks.common.powertools import model_handler, powertools
from tasks.common.validation import parsed

logger, tracer, metrics = powertools(FLOW)


@contextmanager
def _counting_rejections() -> Iterator[None]:
    """A batch the flow refuses (one of its own errors) is counted and logged, then fails."""
    try:
        yield
    except ArtistSearchSyncError as exc:
        metrics.add_metric(name="BatchesRejected", unit=MetricUnit.Count, value=1)
        logger.warning("batch rejected", extra={"error": type(exc).__name__, "cause": str(exc)})
        raise


def prepare_batch(event: Any) -> IndexChanges:
    with _counting_rejections():
        return _prepare(event)


def _prepare(event: Any) -> IndexChanges:
    batch = parsed(PrepareBatchInput, event, MalformedBatchError)
    logger.set_correlation_id(batch.correlationId)

    artist_records = 0
    for record in batch.records:
        artist_id = artist_id_from_keys(record.dynamodb.keys)
        if artist_id is None:
            continue
        artist_records += 1
        if record.eventName == "MODIFY":
            _log_modify(artist_id, record)

    upserts: list[ArtistSearchDocument] = []
    deletes: list[str] = []
    for artist_id, record in collapse(batch.records).items():
        if record.eventName == "REMOVE":
            deletes.append(artist_id)
        else:
            upserts.append(_document(artist_id, record))

    try:
        changes = IndexChanges(
            correlationId=batch.correlationId,
            upserts=upserts,
            deletes=deletes,
            ignored=len(batch.records) - artist_records,
            superseded=artist_records - len(upserts) - len(deletes),
        )
    except ValidationError as exc:  # e.g. a REMOVE whose key holds no valid artist id
        raise MalformedBatchError(describe_validation_error(exc)) from exc
    metrics.add_metric(name="RecordsReceived", unit=MetricUnit.Count, value=len(batch.records))
    metrics.add_metric(name="RecordsSuperseded", unit=MetricUnit.Count, value=changes.superseded)
    logger.info(
        "batch prepared",
        extra={
            "records": len(batch.records),
            "upserts": [d.artistId for d in upserts],
            "deletes": deletes,
            "ignored": changes.ignored,
            "superseded": changes.superseded,
        },
    )
    return changes


def _log_modify(artist_id: str, record: StreamRecord) -> None:
    old, new = record.dynamodb.old_image, record.dynamodb.new_image
    logger.info(
        "artist modified",
        extra={
            "artistId": artist_id,
            "eventID": record.eventID,
            "sequenceNumber": record.dynamodb.SequenceNumber,
            # None when the stream does not carry both images (not NEW_AND_OLD_IMAGES).
            "changedFields": changed_fields(old, new) if old is not None and new else None,
        },
    )


def _document(artist_id: str, record: StreamRecord) -> ArtistSearchDocument:
    image = record.dynamodb.new_image
    if image is None:
        raise MalformedBatchError(
            f"record {record.eventID} ({record.eventName} of artist {artist_id}): "
            "dynamodb.NewImage is missing; the stream must be NEW_AND_OLD_IMAGES"
        )
    try:
        return artist_document(image)
    except ValidationError as exc:
        raise InvalidArtistItemError(
            f"artist {artist_id} (record {record.eventID}): {describe_validation_error(exc)}"
        ) from exc


handler = model_handler(prepare_batch, logger, tracer, metrics, correlation_id_path="correlationId")
