"""ReportFailures: the Map's per-message outcomes -> Pipes' partial batch response.

Input (the Map output)::

    [{"messageId": "m1", "outcome": "STORED"},
     {"messageId": "m2", "outcome": "FAILED", "error": {"Error": "MalformedResultError", ...}}]

Output: ``{"batchItemFailures": [{"itemIdentifier": "m2"}]}``; an empty list acknowledges the
whole batch. JSONPath cannot filter this portably (filters that match nothing behave
differently between engines), hence a task.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import TypeAdapter, ValidationError

from schemas.transcript_persistence import (
    FLOW,
    BatchItemFailure,
    BatchResponse,
    MessageOutcome,
    describe_validation_error,
)
from tasks.transcript_persistence.errors import InvalidOutcomeError

logger = Logger(service=FLOW)
tracer = Tracer(service=FLOW)
_OUTCOMES = TypeAdapter(list[MessageOutcome])


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: list[dict[str, Any]], context: LambdaContext) -> dict[str, Any]:
    return report_failures(event).model_dump()


def report_failures(event: Any) -> BatchResponse:
    try:
        outcomes = _OUTCOMES.validate_python(event)
    except ValidationError as exc:
        # Failing the execution makes Pipes retry the whole batch, which is safe: puts are
        # conditional and idempotent.
        raise InvalidOutcomeError(describe_validation_error(exc)) from exc

    failed: dict[str, MessageOutcome] = {}
    counts: dict[str, int] = {}
    for outcome in outcomes:
        counts[outcome.outcome] = counts.get(outcome.outcome, 0) + 1
        if outcome.outcome == "FAILED":
            failed.setdefault(outcome.messageId, outcome)
    for message_id, outcome in failed.items():
        error = outcome.error or {}
        logger.warning(
            "message failed; SQS will redeliver it",
            extra={
                "messageId": message_id,
                "error": error.get("Error"),
                "cause": error.get("Cause"),
            },
        )
    logger.info("batch processed", extra={"outcomes": counts})
    return BatchResponse(
        batchItemFailures=[BatchItemFailure(itemIdentifier=message_id) for message_id in failed]
    )
