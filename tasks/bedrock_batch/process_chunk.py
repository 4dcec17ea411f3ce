"""ProcessChunk: one byte range of the output JSONL -> BEDROCK_CONTENT items in `Violations`.

Input: a `ChunkDescriptor`. Output (`ChunkResult`)::

    {"index": 0, "processed": 998, "errors": 2, "total": 1000,
     "errorRecordIds": ["VIO-00000042", ...], "errorsKey": "bedrock-batches/output/.../errors/..."}

A chunk owns the lines that *start* inside its range (it reads on past `end` to finish the
last one), so every line is processed by exactly one chunk. Each line's model output is
validated (title, description, tags); a record error or a malformed output is counted with
its recordId (all of them in the chunk's errors object, the first 50 in state) and never
written. Good items go through boto3's batch writer (25 per BatchWriteItem, unprocessed
items resent); throttling that outlasts the client's retries raises
`ViolationsTableUnavailableError`, so the state machine retries the chunk (puts of the same
content are idempotent).
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError

from schemas.bedrock_batch import (
    ERROR_IDS_IN_STATE,
    FLOW,
    OUTPUT_PREFIX,
    ChunkDescriptor,
    ChunkResult,
    content_item,
    parse_generated,
)
from tasks.bedrock_batch import jobs
from tasks.bedrock_batch.errors import ViolationsTableUnavailableError
from tasks.common.powertools import lambda_handler, powertools

logger, tracer, metrics = powertools(FLOW)
# What DynamoDB answers when the table cannot take the writes right now.
THROTTLED = {
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
}
READ_AHEAD = 256 * 1024


@lambda_handler(logger, tracer, metrics)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    chunk = ChunkDescriptor.model_validate(event)
    logger.append_keys(jobId=chunk.jobId, chunk=chunk.index)
    result = process(chunk, read_lines(chunk))
    metrics.add_metric(name="ContentWritten", unit=MetricUnit.Count, value=result.processed)
    metrics.add_metric(name="OutputErrors", unit=MetricUnit.Count, value=result.errors)
    return result.model_dump()


def read_lines(chunk: ChunkDescriptor) -> list[str]:
    """The lines that start in [start, end): read from start-1 to tell if start begins one."""
    s3 = jobs.s3()
    first = max(0, chunk.start - 1)
    data = s3.get_object(
        Bucket=chunk.bucket, Key=chunk.key, Range=f"bytes={first}-{chunk.end - 1}"
    )["Body"].read()
    position = chunk.end
    while not data.endswith(b"\n"):  # finish the last line, which may run past `end`
        more = s3.get_object(
            Bucket=chunk.bucket,
            Key=chunk.key,
            Range=f"bytes={position}-{position + READ_AHEAD - 1}",
        )["Body"].read()
        if not more:
            break
        cut = more.find(b"\n")
        data += more if cut < 0 else more[: cut + 1]
        position += len(more)
        if cut >= 0 or len(more) < READ_AHEAD:
            break
    if chunk.start > 0:
        # Drop the tail of a line that began before our range (or the newline ending one).
        data = data[data.find(b"\n") + 1 :] if b"\n" in data else b""
    return [line for line in data.decode().splitlines() if line.strip()]


def process(chunk: ChunkDescriptor, lines: list[str]) -> ChunkResult:
    now = jobs.now()
    items: list[dict[str, Any]] = []
    errors: list[dict[str, str]] = []
    for n, line in enumerate(lines):
        record_id = f"{chunk.key}#chunk{chunk.index}:line{n}"
        try:
            record = json.loads(line)
            record_id = str(record.get("recordId") or record_id)
            if record.get("error"):
                error = record["error"]
                raise ValueError(
                    f"record error {error.get('errorCode')}: {error.get('errorMessage')}"
                )
            content = parse_generated(record.get("modelOutput"))
        except (ValueError, AttributeError, TypeError) as exc:
            errors.append({"recordId": record_id, "reason": str(exc)[:500]})
            continue
        items.append(content_item(record_id, content, chunk.jobId, now))
    write_items(items)
    errors_key = None
    if errors:
        errors_key = f"{OUTPUT_PREFIX}/{chunk.jobId}/errors/chunk-{chunk.index:05d}.json"
        jobs.s3().put_object(Bucket=jobs.bucket(), Key=errors_key, Body=json.dumps(errors).encode())
        logger.warning("malformed outputs", extra={"errors": errors[:ERROR_IDS_IN_STATE]})
    return ChunkResult(
        index=chunk.index,
        processed=len(items),
        errors=len(errors),
        total=len(lines),
        errorRecordIds=[e["recordId"] for e in errors[:ERROR_IDS_IN_STATE]],
        errorsKey=errors_key,
    )


def write_items(items: list[dict[str, Any]]) -> None:
    table = jobs.violations_table()
    try:
        with table.batch_writer() as batch:
            for item in items:
                batch.put_item(Item=item)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in THROTTLED:
            raise
        raise ViolationsTableUnavailableError(f"{table.name}: {exc}") from exc
