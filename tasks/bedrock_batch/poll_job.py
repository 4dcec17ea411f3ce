"""PollJob: GetModelInvocationJob -> the job's status, mirrored into its record.

Input: ``{"jobId", "job": {"jobArn", "submittedAt"}, "maxWaitSeconds"}``.
Output: ``{"status": "InProgress", "message": null, "waitExceeded": false, "counts": {...}}``.
`waitExceeded` turns true once the job has run longer than the config's maxWaitSeconds.
"""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError

from schemas.bedrock_batch import FLOW
from tasks.bedrock_batch import jobs
from tasks.bedrock_batch.errors import BedrockJobMissingError, BedrockThrottledError
from tasks.bedrock_batch.submit_job import TRANSIENT
from tasks.common.powertools import lambda_handler, powertools

logger, tracer, metrics = powertools(FLOW)
COUNTS = ("totalRecordCount", "processedRecordCount", "successRecordCount", "errorRecordCount")


@lambda_handler(logger, tracer)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    job_id, job = str(event["jobId"]), event["job"]
    logger.append_keys(jobId=job_id)
    try:
        found = jobs.bedrock().get_model_invocation_job(jobIdentifier=job["jobArn"])
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in TRANSIENT:
            raise BedrockThrottledError(str(exc)) from None
        raise BedrockJobMissingError(f"{job['jobArn']}: {exc}") from None
    status = str(found.get("status", "Submitted"))
    counts = {k: int(found[k]) for k in COUNTS if k in found}
    waited = time.time() - float(job["submittedAt"])
    jobs.update_job(
        job_id, {"status": status, "bedrockCounts": counts, "lastPolledAt": jobs.iso(jobs.now())}
    )
    logger.info("job polled", extra={"status": status, "waitedSeconds": round(waited)})
    return {
        "status": status,
        "message": found.get("message"),
        "waitExceeded": waited > float(event["maxWaitSeconds"]),
        "counts": counts,
    }
