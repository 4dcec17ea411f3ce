"""Every task's Powertools: one flow's logger, tracer and metrics, and the handler decorator.

    logger, tracer, metrics = powertools(FLOW)

    @lambda_handler(logger, tracer, metrics, correlation_id_path="correlationId")
    def handler(event, context): ...

A task that maps its event to a pydantic result is served by `model_handler` (after the
task's definition): ``handler = model_handler(prepare_batch, logger, tracer, metrics)``.

The decorator traces the invocation, adds the Lambda context (and the correlation id found
at CORRELATION_ID_PATH in the event) to every log line, and, given METRICS, flushes the
invocation's metrics as one EMF document.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from aws_lambda_powertools import Logger, Metrics, Tracer
from pydantic import BaseModel

Handler = TypeVar("Handler", bound=Callable[..., Any])


def powertools(flow: str) -> tuple[Logger, Tracer, Metrics]:
    """FLOW's logger and tracer (service FLOW) and metrics (namespace ``Sluice/FLOW``)."""
    return (
        Logger(service=flow),
        Tracer(service=flow),
        Metrics(namespace=f"Sluice/{flow}", service=flow),
    )


def lambda_handler(
    logger: Logger,
    tracer: Tracer,
    metrics: Metrics | None = None,
    *,
    correlation_id_path: str | None = None,
) -> Callable[[Handler], Handler]:
    def wrap(handler: Handler) -> Handler:
        wrapped: Any = tracer.capture_lambda_handler(handler)
        wrapped = logger.inject_lambda_context(wrapped, correlation_id_path=correlation_id_path)
        if metrics is not None:
            wrapped = metrics.log_metrics(wrapped)
        result: Handler = wrapped
        return result

    return wrap


def model_handler(
    task: Callable[[Any], BaseModel],
    logger: Logger,
    tracer: Tracer,
    metrics: Metrics | None = None,
    *,
    correlation_id_path: str | None = None,
    exclude_none: bool = False,
) -> Callable[[Any, Any], dict[str, Any]]:
    """The Lambda handler answering TASK(event) as JSON-ready data."""

    @lambda_handler(logger, tracer, metrics, correlation_id_path=correlation_id_path)
    def handler(event: Any, context: Any) -> dict[str, Any]:
        return task(event).model_dump(mode="json", exclude_none=exclude_none)

    return handler
