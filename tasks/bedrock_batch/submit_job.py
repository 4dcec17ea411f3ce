"""SubmitJob: CreateModelInvocationJob, then the job's record in `BedrockBatchJobs`.

Input: ``{"jobId", "config", "selection", "input": {"inputUri", "outputUri", "records"}}``.
Output: ``{"jobArn", "bedrockJobId", "submittedAt", "outputUri"}``.

The job id is the client request token, so a retried step gets the job it already created
instead of a second one. A refusal (validation, quota) is recorded as a Failed job and
raised as `BedrockJobRejectedError`; throttling is raised as `BedrockThrottledError` for the
state machine to retry.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError

from schemas.bedrock_batch import FLOW
from tasks.bedrock_batch import jobs
from tasks.bedrock_batch.errors import BedrockJobRejectedError, BedrockThrottledError
from tasks.common.powertools import lambda_handler, powertools

logger, tracer, metrics = powertools(FLOW)
TRANSIENT = {
    "ThrottlingException",
    "ServiceUnavailableException",
    "InternalServerException",
    "TooManyRequestsException",
}


@lambda_handler(logger, tracer)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    job_id = str(event["jobId"])
    config, selection, written = event["config"], event["selection"], event["input"]
    logger.append_keys(jobId=job_id)
    created = jobs.now()
    record: dict[str, Any] = {
        "config": config,
        "estimate": selection["estimate"],
        "violationCount": selection["violationCount"],
        "inputUri": written["inputUri"],
        "executionArn": event.get("executionId"),
        "modelId": config["modelId"],
    }
    try:
        response = jobs.bedrock().create_model_invocation_job(
            jobName=job_id,
            clientRequestToken=job_id,
            roleArn=jobs.role_arn(),
            modelId=config["modelId"],
            inputDataConfig={
                "s3InputDataConfig": {"s3Uri": written["inputUri"], "s3InputFormat": "JSONL"}
            },
            outputDataConfig={"s3OutputDataConfig": {"s3Uri": written["outputUri"]}},
            tags=[{"key": "sluice:flow", "value": FLOW}, {"key": "sluice:jobId", "value": job_id}],
        )
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        message = f"{code}: {exc.response.get('Error', {}).get('Message', exc)}"
        if code in TRANSIENT:
            raise BedrockThrottledError(message) from None
        jobs.put_job(job_id, {**record, "status": "Failed", "message": message}, created)
        raise BedrockJobRejectedError(message) from None
    arn = str(response["jobArn"])
    jobs.put_job(
        job_id,
        {**record, "status": "Submitted", "jobArn": arn, "outputUri": written["outputUri"]},
        created,
    )
    logger.info("batch job created", extra={"jobArn": arn})
    return {
        "jobArn": arn,
        "bedrockJobId": arn.rsplit("/", 1)[-1],
        "submittedAt": int(created.timestamp()),
        "outputUri": written["outputUri"],
    }
