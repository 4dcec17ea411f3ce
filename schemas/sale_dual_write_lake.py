"""sale_dual_write's lake table `pricing.sales_history`, as an Iceberg schema.

Kept apart from `schemas/sale_dual_write.py` so that only the lake loader ships pyiceberg:
ValidateSale imports the sale models and stays a light package.
"""

from __future__ import annotations

from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.transforms import IdentityTransform
from pyiceberg.types import (
    DateType,
    DoubleType,
    IntegerType,
    ListType,
    NestedField,
    StringType,
    TimestamptzType,
)

LAKE_SCHEMA = Schema(
    NestedField(1, "sale_id", StringType()),
    NestedField(2, "tenant_id", StringType()),
    NestedField(3, "product_id", StringType()),
    NestedField(4, "category", StringType()),
    NestedField(5, "brand", StringType()),
    NestedField(6, "condition", StringType()),
    NestedField(7, "description", StringType()),
    NestedField(8, "listed_price", DoubleType()),
    NestedField(9, "sold_price", DoubleType()),
    NestedField(10, "discount_percent", DoubleType()),
    NestedField(11, "sold_date", DateType()),
    NestedField(12, "quarter", StringType()),
    NestedField(13, "year", IntegerType()),
    NestedField(14, "month", IntegerType()),
    NestedField(15, "season", StringType()),
    NestedField(16, "days_to_sell", IntegerType()),
    NestedField(17, "image_s3_key", StringType()),
    NestedField(18, "embedding_id", StringType()),
    NestedField(19, "embedding_dimension", IntegerType()),
    NestedField(
        20,
        "embedding_vector",
        ListType(element_id=24, element_type=DoubleType(), element_required=False),
    ),
    NestedField(21, "source_system", StringType()),
    NestedField(22, "vendor_id", StringType()),
    NestedField(23, "ingestion_timestamp", TimestamptzType()),
)
LAKE_PARTITION_SPEC = PartitionSpec(
    PartitionField(source_id=2, field_id=1000, transform=IdentityTransform(), name="tenant_id"),
    PartitionField(source_id=13, field_id=1001, transform=IdentityTransform(), name="year"),
    PartitionField(source_id=14, field_id=1002, transform=IdentityTransform(), name="month"),
)
