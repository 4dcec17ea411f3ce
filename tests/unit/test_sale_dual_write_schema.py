"""sale_dual_write schema: validation names the bad field; the record is the seed's layout."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from devkit.sale_dual_write import sale_envelope, sale_event
from schemas.sale_dual_write import (
    CLAIM_LOCK_SECONDS,
    CLAIM_WINDOW_SECONDS,
    EMBEDDING_DIMENSION,
    ExecutionInput,
    SaleRecord,
    SaleSoldDetail,
    SaleSoldEvent,
    embedding_shard,
    lake_row,
    record_ttl,
    sale_id,
)
from schemas.validation import describe_validation_error
from tasks.sale_dual_write.errors import InvalidSaleEventError
from tasks.sale_dual_write.validate_sale import validate_sale

NOW = datetime(2025, 12, 30, 12, 0, tzinfo=UTC)
SEED_ATTRIBUTES = {
    "PK", "SK", "productId", "tenantId", "saleId", "category", "brand", "condition",
    "description", "listedPrice", "salePrice", "discountPercent", "saleDate", "season",
    "daysToSell", "imageS3Key", "embeddingId", "embedding", "embeddingDimension", "vendorId",
    "source", "GSI2PK", "GSI2SK", "recordCreatedAt", "eventTimestamp", "ttl",
}  # fmt: skip
SEED_DETAIL: dict[str, Any] = {
    "productId": "PROD-LV-12345",
    "tenantId": "carousel-labs",
    "category": "handbags",
    "brand": "Louis Vuitton",
    "condition": "like_new",
    "listedPrice": 500,
    "salePrice": 450,
    "soldDate": "2025-12-30",
    "imageS3Key": "s3://carousel-images/products/PROD-LV-12345.jpg",
    "embeddingId": "emb-lv-12345-abc",
    "embedding": [0.5, 0.3, 0.7] * 341 + [0.1],
    "description": "Louis Vuitton Speedy 30",
    "vendorId": "VENDOR-789",
    "daysToSell": 12,
}


def errors_for(**overrides: Any) -> str:
    with pytest.raises(InvalidSaleEventError) as raised:
        validate_sale({"event": sale_envelope({**SEED_DETAIL, **overrides}), "executionId": "x"})
    return str(raised.value)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("listedPrice", -1, "should be greater than"),
        ("listedPrice", 0, "greater than 0"),
        ("salePrice", -0.01, "greater than or equal to 0"),
        ("salePrice", "cheap", "valid number"),
        ("soldDate", "2025-02-30", "calendar date"),
        ("soldDate", "30/12/2025", "calendar date"),
        ("soldDate", 1735516800, "calendar date"),
        ("soldDate", "1999-12-31", "2000 or later"),
        ("soldDate", (date.today() + timedelta(days=5)).isoformat(), "future"),
        ("embedding", [0.1] * 1023, "at least 1024 items"),
        ("embedding", [0.1] * 1025, "at most 1024 items"),
        ("embedding", ["x"] * 1024, "valid number"),
        ("tenantId", "carousel#labs", "pattern"),
        ("productId", "", "pattern"),
        ("condition", "Like New", "pattern"),
        ("daysToSell", -3, "greater than or equal to 0"),
        ("category", "  ", "at least 1 character"),
        ("imageS3Key", "", "at least 1 character"),
    ],
)
def test_every_invalid_field_is_named(field: str, value: Any, message: str) -> None:
    cause = errors_for(**{field: value})
    assert f"detail.{field}" in cause and message in cause, cause


@pytest.mark.parametrize("field", sorted(SEED_DETAIL))
def test_every_missing_field_is_named(field: str) -> None:
    detail = {k: v for k, v in SEED_DETAIL.items() if k != field}
    with pytest.raises(InvalidSaleEventError, match=f"detail.{field}: Field required"):
        validate_sale({"event": sale_envelope(detail), "executionId": "x"})


def test_several_bad_fields_are_all_named_and_the_envelope_is_checked() -> None:
    cause = errors_for(listedPrice=-5, embedding=[1.0, 2.0])
    assert "detail.listedPrice" in cause and "detail.embedding" in cause
    envelope = {**sale_envelope(SEED_DETAIL), "source": "carousel.other"}
    with pytest.raises(ValidationError) as raised:
        ExecutionInput.model_validate(envelope)
    assert describe_validation_error(raised.value).startswith("source:")


def test_the_record_has_exactly_the_seed_keys_and_attributes() -> None:
    event = SaleSoldEvent.model_validate(sale_envelope(SEED_DETAIL))
    record = SaleRecord.from_event(event, NOW)
    item = record.to_dynamodb_item()
    sale = sale_id(event.detail)
    assert set(item) == SEED_ATTRIBUTES
    assert item["PK"] == {"S": "TENANT#carousel-labs#PRODUCT#PROD-LV-12345"}
    assert item["SK"] == {"S": f"SALE#2025-12-30#{sale}"}
    assert item["GSI2PK"] == {"S": f"TENANT#carousel-labs#EMBEDDING#{embedding_shard(sale)}"}
    assert 0 <= embedding_shard(sale) <= 4
    assert item["GSI2SK"] == {"S": "DATE#2025-12-30"}
    assert item["listedPrice"] == {"N": "500"} and item["salePrice"] == {"N": "450"}
    assert item["discountPercent"] == {"N": "10"}
    assert item["season"] == {"S": "Q4"} and item["saleDate"] == {"S": "2025-12-30"}
    assert item["embeddingDimension"] == {"N": "1024"}
    assert json.loads(item["embedding"]["S"]) == SEED_DETAIL["embedding"]
    assert item["source"] == {"S": "carousel"}
    assert item["recordCreatedAt"] == {"S": "2025-12-30T12:00:00Z"}
    assert item["ttl"] == {"N": str(int(datetime(2027, 12, 30, tzinfo=UTC).timestamp()))}
    assert SaleRecord.from_dynamodb_item(item) == record


def test_sale_id_is_deterministic_and_ignores_the_delivery() -> None:
    first = validate_sale({"event": sale_envelope(SEED_DETAIL), "executionId": "a"}, NOW)
    again = validate_sale({"event": sale_envelope(SEED_DETAIL), "executionId": "b"}, NOW)
    assert first.saleId == again.saleId and first.saleId.startswith("SALE-")
    assert first.claim.pk == again.claim.pk
    assert first.claim.eventId != again.claim.eventId  # EventBridge ids differ per publish
    other_day = validate_sale(
        {"event": sale_envelope({**SEED_DETAIL, "soldDate": "2025-12-29"}), "executionId": "c"}
    )
    assert other_day.saleId != first.saleId


def test_claim_key_lengths_and_lake_message() -> None:
    out = validate_sale({"event": sale_envelope(SEED_DETAIL), "executionId": "arn:x"}, NOW)
    assert out.claim.pk == f"IDEMPOTENCY#carousel-labs#carousel.product.sold#{out.saleId}"
    # Lengths only: the state machine takes the time at each claim attempt.
    assert out.claim.model_dump() == {
        "pk": out.claim.pk,
        "sk": "VERSION",
        "eventId": out.claim.eventId,
        "windowSeconds": CLAIM_WINDOW_SECONDS,
        "lockSeconds": CLAIM_LOCK_SECONDS,
    }
    assert out.record["PK"]["S"] == out.lakeMessage.PK
    assert out.record["SK"]["S"] == out.lakeMessage.SK
    assert len(out.lakeMessage.model_dump_json()) < 400  # a batch of 100 fits a Pipe input


def test_lake_row_partition_columns_and_leap_day_ttl() -> None:
    event = SaleSoldEvent.model_validate(sale_envelope({**SEED_DETAIL, "soldDate": "2024-02-29"}))
    record = SaleRecord.from_event(event, NOW)
    row = lake_row(record, NOW)
    assert (row["tenant_id"], row["year"], row["month"]) == ("carousel-labs", 2024, 2)
    assert row["quarter"] == row["season"] == "Q1"
    assert row["embedding_vector"] == SEED_DETAIL["embedding"]
    assert record_ttl(date(2024, 2, 29)) == int(datetime(2026, 2, 28, tzinfo=UTC).timestamp())


def test_the_producer_makes_valid_deterministic_sales() -> None:
    for i in range(10):
        detail = SaleSoldDetail.model_validate(sale_event(i, "tenant-a"))
        assert len(detail.embedding) == EMBEDDING_DIMENSION
    assert sale_event(3) == sale_event(3)
    assert sale_event(3)["embedding"] != sale_event(4)["embedding"]
