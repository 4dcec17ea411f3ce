"""sale_dual_write: a `carousel.product.sold` event -> one DynamoDB sales record + one lake row.

The EventBridge event's detail is validated here (every error names its field), and every
value written is derived from it deterministically, so a redelivered or re-published event
produces the very same record, lake row and idempotency key:

- `saleId` is a UUIDv5 of tenantId/productId/soldDate: the sale itself, not the delivery.
  EventBridge assigns a new event id each time a producer re-publishes (PutEvents retried
  after a timeout), so an id derived from it would turn one sale into two.
- The DynamoDB record keeps the seed's layout (PK/SK, GSI2 embedding shards, 2-year TTL).
- The lake row is what `pricing.sales_history` stores (Parquet, partitioned by
  tenant_id/year/month); the loader builds it from the stored record.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Annotated, Any, Literal

from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)

from schemas.base import Frozen

FLOW = "sale_dual_write"
EVENT_SOURCE = "carousel.products"
DETAIL_TYPE = "carousel.product.sold"
SOURCE_SYSTEM = "carousel"

EMBEDDING_DIMENSION = 1024
GSI2_SHARDS = 5
RECORD_TTL_YEARS = 2

# Idempotency (Powertools' scheme, in ASL): a claim is IN_PROGRESS until the writes finish,
# then COMPLETED for the window. Expiry comes from stored timestamps, compared in the
# claim's ConditionExpression; DynamoDB TTL only cleans up (it can lag 48 h). The times are
# taken by the state machine at each claim attempt (`$$.State.EnteredTime`), never here:
# a value computed once would go stale over the claim's retries and any redrive.
CLAIM_WINDOW_SECONDS = 24 * 3600
# Longer than the state machine's TimeoutSeconds (300) from the moment of the claim, so a
# claim is only ever taken over from an execution that no longer runs (a redriven one that
# comes back cannot complete it: MarkCompleted is conditional on still holding it).
CLAIM_LOCK_SECONDS = 600
CLAIM_SK = "VERSION"

_SALE_NAMESPACE = uuid.UUID("0b6f3c2e-5d1a-4c8e-9f27-3a1d6e0c9b45")

# Used inside `#`-separated keys, so `#` (and whitespace) can never be part of one.
IDENTIFIER_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}$"
Identifier = Annotated[str, StringConstraints(pattern=IDENTIFIER_PATTERN)]
Label = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Condition = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
Price = Annotated[float, Field(ge=0, le=10_000_000, allow_inf_nan=False)]
EmbeddingValue = Annotated[float, Field(allow_inf_nan=False)]

_SERIALIZER = TypeSerializer()
_DESERIALIZER = TypeDeserializer()


# -- The event ---------------------------------------------------------------------------


class SaleSoldDetail(Frozen):
    """The detail of a `carousel.product.sold` event. Unknown fields are ignored."""

    model_config = ConfigDict(extra="ignore")

    productId: Identifier
    tenantId: Identifier
    category: Label
    brand: Label
    condition: Condition = Field(description="snake_case grade, e.g. like_new")
    listedPrice: Price = Field(gt=0)
    salePrice: Price
    soldDate: date = Field(description="YYYY-MM-DD, UTC")
    imageS3Key: str = Field(min_length=1, max_length=1024, pattern=r"^[^\x00-\x1f\x7f]+$")
    embeddingId: Identifier
    embedding: list[EmbeddingValue] = Field(
        min_length=EMBEDDING_DIMENSION, max_length=EMBEDDING_DIMENSION
    )
    description: str = Field(max_length=5000)
    vendorId: Identifier
    daysToSell: int = Field(ge=0, le=36_500)

    @field_validator("soldDate", mode="before")
    @classmethod
    def _calendar_date(cls, value: Any) -> Any:
        # pydantic would also take epoch numbers and datetimes; the producer sends a date.
        if not isinstance(value, str) or len(value) != 10:
            raise ValueError("must be a calendar date YYYY-MM-DD")
        try:
            parsed = date.fromisoformat(value)
        except ValueError as exc:
            raise ValueError(f"must be a calendar date YYYY-MM-DD ({exc})") from None
        if parsed.year < 2000:
            raise ValueError("must be in 2000 or later")
        # One day of slack: the producer's day may already have begun east of UTC.
        if parsed > datetime.now(UTC).date() + timedelta(days=1):
            raise ValueError("must not be in the future")
        return parsed


class SaleSoldEvent(EventBridgeModel):
    """The EventBridge envelope the rule hands the state machine."""

    source: Literal["carousel.products"]
    detail_type: Literal["carousel.product.sold"] = Field(alias="detail-type")
    detail: SaleSoldDetail


# What the rule delivers, and what the console validates a hand-started execution against.
ExecutionInput = SaleSoldEvent


# -- Derived values ----------------------------------------------------------------------


def sale_id(detail: SaleSoldDetail) -> str:
    """Deterministic: the same tenant, product and sale date always give the same saleId."""
    name = f"{detail.tenantId}#{detail.productId}#{detail.soldDate.isoformat()}"
    return f"SALE-{uuid.uuid5(_SALE_NAMESPACE, name)}"


def quarter(day: date) -> str:
    return f"Q{(day.month - 1) // 3 + 1}"


def embedding_shard(sale: str) -> int:
    """GSI2 shard 0-4, stable per sale, spreading one tenant's day over five partitions."""
    return int.from_bytes(hashlib.sha256(sale.encode()).digest()[:4], "big") % GSI2_SHARDS


def record_ttl(day: date) -> int:
    """Epoch seconds of the sale date plus two calendar years (29 Feb -> 28 Feb)."""
    try:
        later = day.replace(year=day.year + RECORD_TTL_YEARS)
    except ValueError:
        later = day.replace(year=day.year + RECORD_TTL_YEARS, day=28)
    return int(datetime(later.year, later.month, later.day, tzinfo=UTC).timestamp())


def discount_percent(listed: float, sold: float) -> Decimal:
    """Percent off the listed price, 2 decimals (negative when sold above the listing)."""
    listed_d, sold_d = Decimal(repr(listed)), Decimal(repr(sold))
    return ((listed_d - sold_d) / listed_d * 100).quantize(Decimal("0.01"), ROUND_HALF_EVEN)


def _number(value: float | int | Decimal) -> Decimal:
    """As DynamoDB stores numbers: 450.0 -> 450, 449.50 -> 449.5.

    repr keeps a float's shortest exact form; Decimal(float) would expose binary noise.
    """
    number = value if isinstance(value, Decimal) else Decimal(repr(value))
    if number == number.to_integral_value():
        return number.quantize(Decimal(1))
    return number.normalize()


def sales_pk(tenant_id: str, product_id: str) -> str:
    return f"TENANT#{tenant_id}#PRODUCT#{product_id}"


def sales_sk(sold: date, sale: str) -> str:
    return f"SALE#{sold.isoformat()}#{sale}"


def claim_pk(tenant_id: str, sale: str) -> str:
    return f"IDEMPOTENCY#{tenant_id}#{DETAIL_TYPE}#{sale}"


# -- The DynamoDB sales record ------------------------------------------------------------


class SaleRecord(Frozen):
    """One SalesIntelligence item, attribute for attribute the seed's layout."""

    PK: str
    SK: str
    productId: str
    tenantId: str
    saleId: str
    category: str
    brand: str
    condition: str
    description: str
    listedPrice: float
    salePrice: float
    discountPercent: float
    saleDate: date
    season: str
    daysToSell: int
    imageS3Key: str
    embeddingId: str
    embedding: str = Field(description="the vector as a JSON array string")
    embeddingDimension: int
    vendorId: str
    source: str
    GSI2PK: str
    GSI2SK: str
    recordCreatedAt: datetime
    eventTimestamp: datetime
    ttl: int

    @classmethod
    def from_event(cls, event: SaleSoldEvent, now: datetime) -> SaleRecord:
        d = event.detail
        sale = sale_id(d)
        return cls(
            PK=sales_pk(d.tenantId, d.productId),
            SK=sales_sk(d.soldDate, sale),
            productId=d.productId,
            tenantId=d.tenantId,
            saleId=sale,
            category=d.category,
            brand=d.brand,
            condition=d.condition,
            description=d.description,
            listedPrice=d.listedPrice,
            salePrice=d.salePrice,
            discountPercent=float(discount_percent(d.listedPrice, d.salePrice)),
            saleDate=d.soldDate,
            season=quarter(d.soldDate),
            daysToSell=d.daysToSell,
            imageS3Key=d.imageS3Key,
            embeddingId=d.embeddingId,
            embedding=json.dumps(d.embedding),
            embeddingDimension=len(d.embedding),
            vendorId=d.vendorId,
            source=SOURCE_SYSTEM,
            GSI2PK=f"TENANT#{d.tenantId}#EMBEDDING#{embedding_shard(sale)}",
            GSI2SK=f"DATE#{d.soldDate.isoformat()}",
            recordCreatedAt=now.astimezone(UTC).replace(microsecond=0),
            eventTimestamp=event.time.astimezone(UTC),
            ttl=record_ttl(d.soldDate),
        )

    def to_item(self) -> dict[str, Any]:
        plain = self.model_dump(mode="json")
        for name in ("listedPrice", "salePrice", "discountPercent"):
            plain[name] = _number(getattr(self, name))
        for name in ("daysToSell", "embeddingDimension", "ttl"):
            plain[name] = Decimal(getattr(self, name))
        return plain

    def to_dynamodb_item(self) -> dict[str, Any]:
        """DynamoDB JSON, as the direct `dynamodb:putItem` integration takes it."""
        return {name: _SERIALIZER.serialize(value) for name, value in self.to_item().items()}

    @classmethod
    def from_dynamodb_item(cls, item: dict[str, Any]) -> SaleRecord:
        plain = {name: _DESERIALIZER.deserialize(value) for name, value in item.items()}
        return cls.model_validate(
            {k: float(v) if isinstance(v, Decimal) else v for k, v in plain.items()}
        )

    def embedding_vector(self) -> list[float]:
        vector: list[float] = json.loads(self.embedding)
        return vector


# -- The lake -----------------------------------------------------------------------------

LAKE_TABLE = "pricing.sales_history"
LAKE_KEY = "sale_id"


def lake_row(record: SaleRecord, ingested_at: datetime) -> dict[str, Any]:
    """The `pricing.sales_history` row of one stored sale."""
    return {
        "sale_id": record.saleId,
        "tenant_id": record.tenantId,
        "product_id": record.productId,
        "category": record.category,
        "brand": record.brand,
        "condition": record.condition,
        "description": record.description,
        "listed_price": record.listedPrice,
        "sold_price": record.salePrice,
        "discount_percent": record.discountPercent,
        "sold_date": record.saleDate,
        "quarter": record.season,
        "year": record.saleDate.year,
        "month": record.saleDate.month,
        "season": record.season,
        "days_to_sell": record.daysToSell,
        "image_s3_key": record.imageS3Key,
        "embedding_id": record.embeddingId,
        "embedding_dimension": record.embeddingDimension,
        "embedding_vector": record.embedding_vector(),
        "source_system": record.source,
        "vendor_id": record.vendorId,
        "ingestion_timestamp": ingested_at.astimezone(UTC),
    }


class LakeMessage(Frozen):
    """What the lake branch queues: the stored record's key, not the row.

    A row carries a 1024-float embedding (~20 KB of JSON); a Pipe batch of 100 rows would
    be ~2 MB, far over the 256 KiB a state machine input may be. Keys keep a batch of 100
    near 100 KB; the loader reads the rows from the table in one BatchGetItem per 100.
    """

    saleId: Identifier
    tenantId: Identifier
    productId: Identifier
    PK: str = Field(min_length=1)
    SK: str = Field(min_length=1)

    @classmethod
    def of(cls, record: SaleRecord) -> LakeMessage:
        """The record's own key fields, under the same names."""
        return cls.model_validate(record.model_dump(include=set(cls.model_fields)))


# -- Task inputs and outputs ------------------------------------------------------------------


class ValidateInput(BaseModel):
    """What the state machine hands ValidateSale: the event and its own execution ARN."""

    event: dict[str, Any]
    executionId: str = Field(min_length=1)


class ClaimValues(BaseModel):
    """The idempotency claim's key and lengths; the state machine adds the times at each
    claim attempt (now, now + windowSeconds, now + lockSeconds, in epoch seconds)."""

    pk: str
    sk: str = CLAIM_SK
    eventId: str = Field(description="the EventBridge id of the event that claimed")
    windowSeconds: int = CLAIM_WINDOW_SECONDS
    lockSeconds: int = CLAIM_LOCK_SECONDS

    @classmethod
    def of(cls, tenant_id: str, sale: str, event_id: str) -> ClaimValues:
        return cls(pk=claim_pk(tenant_id, sale), eventId=event_id)


class ValidateOutput(BaseModel):
    """Everything the writes need, so the rest of the execution is direct integrations."""

    saleId: str
    tenantId: str
    productId: str
    soldDate: date
    executionId: str
    claim: ClaimValues
    record: dict[str, Any] = Field(description="the SalesIntelligence item, DynamoDB JSON")
    lakeMessage: LakeMessage


class LoadSummary(BaseModel):
    """The loader's answer: Pipes reads `batchItemFailures`; the rest is for people."""

    batchItemFailures: list[dict[str, str]]
    messages: int
    sales: int
    appended: int
    alreadyInLake: int
    notYetStored: list[str] = Field(description="saleIds whose DynamoDB record is not there")
    snapshotId: int | None = None
    commits: int = Field(
        default=0,
        description="commit attempts: more than one when other loaders' commits came first "
        "and this batch's files were committed on the newer table",
    )
