"""ValidateConfig: the execution input -> a normalized config and the job's id.

Input: ``{"input": <ExecutionInput>, "executionId": "arn:aws:states:...:execution:..."}``.
Output: ``{"jobId": "batch-...", "config": {...every field, defaults filled in...}}``.
An invalid config raises `InvalidBatchConfigError` naming every bad field, e.g.
``config.limits.priority: Input should be 'low', 'medium' or 'high'``.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from schemas.bedrock_batch import (
    FLOW,
    ExecutionInput,
    job_id_for_execution,
)
from schemas.validation import describe_validation_error
from tasks.bedrock_batch.errors import InvalidBatchConfigError
from tasks.common.powertools import lambda_handler, powertools

logger, tracer, metrics = powertools(FLOW)


@lambda_handler(logger, tracer)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return validate(event.get("input"), str(event.get("executionId") or ""))


def validate(payload: Any, execution_id: str) -> dict[str, Any]:
    try:
        parsed = ExecutionInput.model_validate(payload if payload is not None else {})
    except ValidationError as exc:
        raise InvalidBatchConfigError(describe_validation_error(exc)) from None
    job_id = parsed.jobId or job_id_for_execution(execution_id)
    logger.append_keys(jobId=job_id)
    logger.info("config valid", extra={"dryRun": parsed.config.dryRun})
    return {"jobId": job_id, "config": parsed.config.model_dump(mode="json")}
