"""FailJob: the job ended Failed, Stopped or Expired -> the record says so; the state machine
then fails with ``BedrockJobFailed`` and the job's own message as the cause."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from schemas.bedrock_batch import FLOW
from tasks.bedrock_batch import jobs
from tasks.common.powertools import lambda_handler, powertools

logger, tracer, metrics = powertools(FLOW)


@lambda_handler(logger, tracer)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    job_id = str(event["jobId"])
    status = str(event["poll"]["status"])
    message = str(event["poll"].get("message") or f"the batch job ended {status}")
    jobs.update_job(
        job_id, {"status": status, "message": message, "processedAt": jobs.iso(jobs.now())}
    )
    logger.warning("batch job did not complete", extra={"jobId": job_id, "status": status})
    return {"error": "BedrockJobFailed", "cause": f"{job_id} {status}: {message}"}
