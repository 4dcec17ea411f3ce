"""StopJob: StopModelInvocationJob once the maximum wait is exceeded (already ended is fine)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError

from schemas.bedrock_batch import FLOW
from tasks.bedrock_batch import jobs
from tasks.common.powertools import lambda_handler, powertools

logger, tracer, metrics = powertools(FLOW)


@lambda_handler(logger, tracer)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    arn = str(event["job"]["jobArn"])
    try:
        jobs.bedrock().stop_model_invocation_job(jobIdentifier=arn)
    except ClientError as exc:
        logger.warning("stop refused", extra={"cause": str(exc)})
    message = f"the job ran longer than maxWaitSeconds ({event['maxWaitSeconds']} s); stopped"
    return {"status": "Stopped", "message": message}
