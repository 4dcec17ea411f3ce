"""ValidateSale: the EventBridge event -> everything the state machine writes.

Input: ``{"event": <the EventBridge envelope>, "executionId": "arn:aws:states:...:execution:..."}``.

Output (`ValidateOutput`)::

    {"saleId": "SALE-6f1c...", "tenantId": "tenant-a", "productId": "PROD-1", ...,
     "claim": {"pk": "IDEMPOTENCY#tenant-a#carousel.product.sold#SALE-6f1c...", "sk": "VERSION",
               "eventId": "<EventBridge id>", "windowSeconds": 86400, "lockSeconds": 600},
     "record": {"PK": {"S": "TENANT#tenant-a#PRODUCT#PROD-1"}, ...},
     "lakeMessage": {"saleId": "SALE-6f1c...", "PK": "...", "SK": "...", ...}}

An invalid event raises `InvalidSaleEventError` naming every bad field, e.g.
``detail.listedPrice: Input should be greater than 0; detail.embedding: List should have at
least 1024 items after validation, not 3``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from pydantic import ValidationError

from schemas.sale_dual_write import (
    FLOW,
    ClaimValues,
    LakeMessage,
    SaleRecord,
    SaleSoldEvent,
    ValidateInput,
    ValidateOutput,
)
from schemas.validation import describe_validation_error
from tasks.common.powertools import model_handler, powertools
from tasks.sale_dual_write.errors import InvalidSaleEventError

logger, tracer, metrics = powertools(FLOW)


def validate_sale(event: Any, now: datetime | None = None) -> ValidateOutput:
    try:
        request = ValidateInput.model_validate(event)
        sale = SaleSoldEvent.model_validate(request.event)
    except ValidationError as exc:
        metrics.add_metric(name="InvalidEvents", unit=MetricUnit.Count, value=1)
        cause = describe_validation_error(exc)
        logger.warning("invalid sale event", extra={"cause": cause})
        raise InvalidSaleEventError(cause) from exc
    now = now or datetime.now(UTC)
    record = SaleRecord.from_event(sale, now)
    output = ValidateOutput(
        saleId=record.saleId,
        tenantId=record.tenantId,
        productId=record.productId,
        soldDate=record.saleDate,
        executionId=request.executionId,
        claim=ClaimValues.of(record.tenantId, record.saleId, sale.id),
        record=record.to_dynamodb_item(),
        lakeMessage=LakeMessage.of(record),
    )
    metrics.add_metric(name="SalesValidated", unit=MetricUnit.Count, value=1)
    logger.info(
        "sale validated",
        extra={"saleId": record.saleId, "tenantId": record.tenantId, "eventId": sale.id},
    )
    return output


handler = model_handler(validate_sale, logger, tracer, metrics, correlation_id_path="executionId")
