"""LoadResult: one SQS record (an S3 notification) -> the CallRecording put to make, or a skip.

The state machine writes the returned item with the direct `dynamodb:putItem` integration,
conditioned so that a redelivered event rewrites the same record and an older result never
overwrites a newer one, whatever order the events arrive in:

- no record yet: written;
- the stored record came from the same object key: the event with the larger S3
  `sequencer` wins (S3's documented order for the events of one key; `eventTime` is not);
- from another key (another transcription job of the call): sequencers of different keys
  are not comparable, so the later `eventTime` wins, and on equal times the larger key.

Example output::

    {"messageId": "...", "action": "PUT", "callId": "call-001",
     "item": {"hash": {"S": "call-001"}, "timestamp": {"N": "1736468400000"},
              "s3Key": {"S": "transcription-outputs/..."}, "s3Sequencer": {"S": "0055AED6..."},
              ...},
     "expressionAttributeValues": {":ts": {"N": "1736468400000"},
                                   ":key": {"S": "transcription-outputs/..."},
                                   ":seq": {"S": "0055AED6..."}}}
"""

from __future__ import annotations

import functools
import json
from typing import TYPE_CHECKING, Any

import boto3
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser.models import SqsRecordModel
from botocore.exceptions import ClientError

from schemas.transcript_persistence import (
    FLOW,
    SEQUENCER_ATTRIBUTE,
    TEST_EVENT,
    BdaCustomOutput,
    CallRecording,
    InvalidResultKey,
    InvalidSequencer,
    LoadResultOutput,
    S3NotificationMessage,
    S3TestEvent,
    decode_s3_key,
    parse_result_key,
    sequencer_order,
)
from tasks.common.powertools import model_handler, powertools
from tasks.common.validation import parsed
from tasks.transcript_persistence.errors import (
    InvalidResultKeyError,
    MalformedEventError,
    MalformedResultError,
    ResultNotFoundError,
    TranscriptPersistenceError,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

logger, tracer, metrics = powertools(FLOW)

# Guards the worker's memory; real custom outputs are a few KiB.
MAX_RESULT_BYTES = 5 * 1024 * 1024
# The item travels through state input/output, capped at 256 KiB per payload, measured in
# UTF-8 bytes: a summary in Japanese or Greek takes two or three bytes a character.
MAX_ITEM_BYTES = 200 * 1024


@functools.cache
def s3_client() -> S3Client:
    return boto3.client("s3")


def load_result(event: Any) -> LoadResultOutput:
    try:
        output = _load(event)
    except TranscriptPersistenceError as exc:
        metrics.add_metric(name=type(exc).__name__, unit=MetricUnit.Count, value=1)
        logger.warning("result not loaded", extra={"error": type(exc).__name__, "cause": str(exc)})
        raise
    metric = "ResultsLoaded" if output.action == "PUT" else "MessagesSkipped"
    metrics.add_metric(name=metric, unit=MetricUnit.Count, value=1)
    logger.info("result loaded", extra=output.model_dump(exclude={"item"}, exclude_none=True))
    return output


def _load(event: Any) -> LoadResultOutput:
    record = parsed(SqsRecordModel, event, MalformedEventError, "not an SQS record: ")
    message_id = record.messageId
    try:
        body = json.loads(str(record.body))
    except json.JSONDecodeError as exc:
        raise MalformedEventError(f"message body is not JSON: {exc}") from exc

    if isinstance(body, dict) and body.get("Event") == TEST_EVENT:
        test_event = S3TestEvent.model_validate(body)
        return LoadResultOutput(
            messageId=message_id, action="SKIP", reason=f"{TEST_EVENT} for {test_event.Bucket}"
        )

    notification = parsed(
        S3NotificationMessage, event, MalformedEventError, "not an S3 event notification: "
    ).body
    # S3 puts one record in each notification; more would need one put per record.
    if len(notification.Records) != 1:
        raise MalformedEventError(
            f"expected 1 S3 record per message, got {len(notification.Records)}"
        )
    s3_record = notification.Records[0]
    if not s3_record.eventName.startswith("ObjectCreated:"):
        return LoadResultOutput(
            messageId=message_id, action="SKIP", reason=f"event {s3_record.eventName}"
        )

    bucket = s3_record.s3.bucket.name
    key = decode_s3_key(s3_record.s3.object.key)
    try:
        result_key = parse_result_key(key)
    except InvalidResultKey as exc:
        raise InvalidResultKeyError(str(exc)) from exc

    try:
        sequencer = sequencer_order(s3_record.s3.object.sequencer)
    except InvalidSequencer as exc:
        raise MalformedEventError(str(exc)) from exc

    result = _read_result(bucket, key)
    recording = CallRecording(
        callId=result_key.call_id,
        timestamp=s3_record.event_time_ms,
        topics=result.inference_result.topics,
        callCategories=result.inference_result.call_categories,
        callSummary=result.inference_result.call_summary,
        s3Key=key,
    )
    output = LoadResultOutput(
        messageId=message_id,
        action="PUT",
        callId=recording.callId,
        item={**recording.to_dynamodb_item(), SEQUENCER_ATTRIBUTE: {"S": sequencer}},
        expressionAttributeValues={
            ":ts": {"N": str(recording.timestamp)},
            ":key": {"S": key},
            ":seq": {"S": sequencer},
        },
    )
    size = len(output.model_dump_json(exclude_none=True).encode("utf-8"))
    if size > MAX_ITEM_BYTES:
        raise MalformedResultError(
            f"s3://{bucket}/{key}: record is {size} bytes of UTF-8, over {MAX_ITEM_BYTES}"
        )
    return output


def _read_result(bucket: str, key: str) -> BdaCustomOutput:
    where = f"s3://{bucket}/{key}"
    try:
        obj = s3_client().get_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
            raise ResultNotFoundError(f"{where} does not exist") from exc
        raise
    if obj.get("ContentLength", 0) > MAX_RESULT_BYTES:
        raise MalformedResultError(f"{where} is larger than {MAX_RESULT_BYTES} bytes")
    raw = obj["Body"].read()
    try:
        document = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedResultError(f"{where} is not JSON: {exc}") from exc
    return parsed(BdaCustomOutput, document, MalformedResultError, f"{where}: ")


handler = model_handler(
    load_result, logger, tracer, metrics, correlation_id_path="messageId", exclude_none=True
)
