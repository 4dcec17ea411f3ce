"""Normalize: a Pipe batch of DynamoDB stream records -> the newest change per violation.

Input: the batch exactly as the Pipe delivers it, a JSON array of stream records of the
Violations table (the Pipe's filter passes only ``SK = BEDROCK_CONTENT``)::

    [{"eventName": "MODIFY", "dynamodb": {"Keys": {...}, "NewImage": {...},
      "SequenceNumber": "4421584500000000017450439091", ...}, ...}, ...]

Output (`NormalizeOutput`)::

    {"records": 3, "ignored": 0, "superseded": 1,
     "changes": [{"violation_id": "OSHA-1", "event_name": "MODIFY",
                  "sequence_number": "4421584500000000017450439091",
                  "bedrock_title": "...", "tags": ["fall-protection"], ...}]}

Per-key order: records of one item arrive in stream order, and only the one with the
highest SequenceNumber survives, so an older image never overwrites a newer one.

Size: every change carries a subset of the text of its stream record, so the output is
smaller than the Pipe batch, which Pipes caps at 256 KiB for a Step Functions target.
No S3 manifest is needed.

A record that cannot be decoded raises `PoisonRecordError` naming it and the field; the
execution fails, and the Pipe retries the batch (bisecting it) until the record reaches
the Pipe's dead-letter queue.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from pydantic import ValidationError

from schemas.validation import describe_validation_error
from schemas.violations_sync import (
    CONTENT_SK,
    FLOW,
    BedrockContentItem,
    ContentKeys,
    NormalizeOutput,
    StreamRecord,
    ViolationChange,
)
from tasks.common.powertools import model_handler, powertools
from tasks.violations_sync.errors import PoisonRecordError

logger, tracer, metrics = powertools(FLOW)


def normalize(batch: Any) -> NormalizeOutput:
    if not isinstance(batch, list):
        raise PoisonRecordError(
            f"expected the Pipe batch (a JSON array of stream records), got {type(batch).__name__}"
        )
    newest: dict[str, ViolationChange] = {}
    ignored = 0
    for position, raw in enumerate(batch):
        change = decode_record(raw, position)
        if change is None:
            ignored += 1
            continue
        kept = newest.get(change.violation_id)
        if kept is None or int(change.sequence_number) > int(kept.sequence_number):
            newest[change.violation_id] = change
    changes = sorted(newest.values(), key=lambda c: c.violation_id)
    output = NormalizeOutput(
        records=len(batch),
        ignored=ignored,
        superseded=len(batch) - ignored - len(changes),
        changes=changes,
    )
    metrics.add_metric(name="RecordsReceived", unit=MetricUnit.Count, value=output.records)
    metrics.add_metric(name="ChangesNormalized", unit=MetricUnit.Count, value=len(changes))
    logger.info("batch normalized", extra=output.model_dump(exclude={"changes"}))
    return output


def decode_record(raw: Any, position: int) -> ViolationChange | None:
    """One stream record -> its change, or None for an item that is not Bedrock content."""
    where = _describe(raw, position)
    try:
        record = StreamRecord.model_validate(raw)
    except ValidationError as exc:
        raise PoisonRecordError(f"{where}: {describe_validation_error(exc)}") from exc
    except (TypeError, ValueError, AttributeError) as exc:  # DynamoDB JSON that won't decode
        raise PoisonRecordError(f"{where}: {type(exc).__name__}: {exc}") from exc

    if record.dynamodb.Keys.get("SK") != CONTENT_SK:
        logger.info("not Bedrock content; ignored", extra={"record": where})
        return None
    try:
        keys = ContentKeys.model_validate(record.dynamodb.Keys)
        if record.eventName == "REMOVE":
            return ViolationChange(
                violation_id=keys.violation_id,
                event_name="REMOVE",
                sequence_number=record.dynamodb.SequenceNumber,
            )
        image = record.dynamodb.NewImage
        if not isinstance(image, dict):
            raise PoisonRecordError(
                f"{where}: {record.eventName} without NewImage; the stream view type must "
                "include new images (NEW_IMAGE or NEW_AND_OLD_IMAGES)"
            )
        item = BedrockContentItem.model_validate(image)
        return ViolationChange(
            violation_id=keys.violation_id,
            event_name=record.eventName,
            sequence_number=record.dynamodb.SequenceNumber,
            bedrock_title=item.title_bedrock,
            bedrock_description=item.description_bedrock,
            tags=item.tags,
            generated_at=item.generated_at,
            attribution=item.attribution,
        )
    except ValidationError as exc:
        raise PoisonRecordError(f"{where}: {describe_validation_error(exc)}") from exc


def _describe(raw: Any, position: int) -> str:
    """`record 3 (eventID ..., SequenceNumber ...)`: enough to find it in the DLQ."""
    if not isinstance(raw, dict):
        return f"record {position}"
    dynamodb = raw.get("dynamodb")
    sequence = dynamodb.get("SequenceNumber") if isinstance(dynamodb, dict) else None
    return f"record {position} (eventID {raw.get('eventID')}, SequenceNumber {sequence})"


handler = model_handler(normalize, logger, tracer, metrics)
