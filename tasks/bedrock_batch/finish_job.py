"""FinishJob: the chunks' counts -> the job record's final status, processedAt and stats.

Input: ``{"jobId", "poll": {"status"}, "selection", "chunks": [ChunkResult, ...]}``.
Output: ``{"jobId", "status", "stats": {"processed", "errors", "total"}, "errorRecordIds",
"estimate"}`` (error ids: the first 100; every one is under ``.../errors/`` in S3).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from schemas.bedrock_batch import FLOW, OUTPUT_PREFIX, ChunkResult, JobStats
from tasks.bedrock_batch import jobs
from tasks.common.powertools import lambda_handler, powertools

logger, tracer, metrics = powertools(FLOW)
ERROR_IDS_IN_RECORD = 100


@lambda_handler(logger, tracer)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    job_id = str(event["jobId"])
    chunks = [ChunkResult.model_validate(c) for c in event.get("chunks") or []]
    stats = JobStats(
        processed=sum(c.processed for c in chunks),
        errors=sum(c.errors for c in chunks),
        total=sum(c.total for c in chunks),
    )
    error_ids = [r for c in sorted(chunks, key=lambda c: c.index) for r in c.errorRecordIds]
    status = str(event["poll"]["status"])
    attributes: dict[str, Any] = {
        "status": status,
        "processedAt": jobs.iso(jobs.now()),
        "stats": stats.model_dump(),
        "errorRecordIds": error_ids[:ERROR_IDS_IN_RECORD],
    }
    if stats.errors:
        attributes["errorsPrefix"] = f"s3://{jobs.bucket()}/{OUTPUT_PREFIX}/{job_id}/errors/"
    jobs.update_job(job_id, attributes)
    logger.info("batch job processed", extra={"jobId": job_id, **stats.model_dump()})
    return {
        "jobId": job_id,
        "status": status,
        "stats": stats.model_dump(),
        "errorRecordIds": error_ids[:ERROR_IDS_IN_RECORD],
        "estimate": event["selection"]["estimate"],
    }
