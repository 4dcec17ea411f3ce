"""Sending failed work to a dead-letter destination (SQS queue or SNS topic)."""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sluice.triggers.clients import Arn, ClientFactory, QueueUrls
from sluice.triggers.targets import Outcome

log = logging.getLogger(__name__)

# SQS and SNS both cap a message at 256 KiB.
MAX_MESSAGE_BYTES = 262_144


class DeadLetterSender:
    def __init__(self, client_factory: ClientFactory) -> None:
        self._client_factory = client_factory
        self._queues = QueueUrls(client_factory)

    def send(
        self,
        dlq_arn: str,
        body: str,
        attributes: Mapping[str, str] | None = None,
    ) -> None:
        """Raises on failure so the caller can log what was lost."""
        arn = Arn.parse(dlq_arn)
        if arn.service == "sqs":
            kwargs: dict[str, Any] = {"QueueUrl": self._queues.url(dlq_arn), "MessageBody": body}
            if attributes:
                kwargs["MessageAttributes"] = {
                    k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()
                }
            self._client_factory("sqs").send_message(**kwargs)
        elif arn.service == "sns":
            sns_kwargs: dict[str, Any] = {"TopicArn": dlq_arn, "Message": body}
            if attributes:
                sns_kwargs["MessageAttributes"] = {
                    k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()
                }
            self._client_factory("sns").publish(**sns_kwargs)
        else:
            raise ValueError(f"unsupported dead-letter destination {dlq_arn}")


def split_records_document(document: dict[str, Any], records: list[dict[str, Any]]) -> list[str]:
    """Serialise an on-failure document with ``records`` attached, split across several
    messages if needed so each fits the 256 KiB limit. Every part repeats the metadata and
    carries ``recordsPart`` {index, count} so parts can be reassembled."""
    whole = json.dumps({**document, "records": records})
    if len(whole.encode()) <= MAX_MESSAGE_BYTES:
        return [whole]
    overhead = len(json.dumps({**document, "records": [], "recordsPart": {"index": 0, "count": 0}}))
    budget = MAX_MESSAGE_BYTES - overhead - 64
    chunks: list[list[dict[str, Any]]] = [[]]
    size = 0
    for rec in records:
        rec_size = len(json.dumps(rec).encode()) + 2
        if chunks[-1] and size + rec_size > budget:
            chunks.append([])
            size = 0
        chunks[-1].append(rec)
        size += rec_size
    return [
        json.dumps(
            {**document, "records": chunk, "recordsPart": {"index": i, "count": len(chunks)}}
        )
        for i, chunk in enumerate(chunks)
    ]


def stream_batch_document(
    pipe: str,
    target_arn: str,
    stream_arn: str,
    shard_id: str,
    batch: list[dict[str, Any]],
    condition: str,
    invokes: int,
    outcome: Outcome,
) -> dict[str, Any]:
    """The on-failure document AWS sends for a stream batch it gave up on (without records)."""
    first, last = batch[0]["dynamodb"], batch[-1]["dynamodb"]
    return {
        "requestContext": {
            "requestId": str(uuid.uuid4()),
            "pipeName": pipe,
            "targetArn": target_arn,
            "condition": condition,
            "approximateInvokeCount": invokes,
            "error": outcome.error,
            "cause": outcome.cause,
            "executionArn": outcome.execution_arn,
        },
        "version": "1.0",
        "timestamp": _iso(time.time()),
        "DDBStreamBatchInfo": {
            "shardId": shard_id,
            "startSequenceNumber": first.get("SequenceNumber"),
            "endSequenceNumber": last.get("SequenceNumber"),
            "approximateArrivalOfFirstRecord": _iso(first.get("ApproximateCreationDateTime")),
            "approximateArrivalOfLastRecord": _iso(last.get("ApproximateCreationDateTime")),
            "batchSize": len(batch),
            "streamArn": stream_arn,
        },
    }


def _iso(epoch: Any) -> str | None:
    if not isinstance(epoch, int | float):
        return None
    return (
        datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )
