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
    NestedField(1, "sale_id", StringType(), required=False),
    NestedField(2, "tenant_id", StringType(), required=False),
    NestedField(3, "product_id", StringType(), required=False),
    NestedField(4, "category", StringType(), required=False),
    NestedField(5, "brand", StringType(), required=False),
    NestedField(6, "condition", StringType(), required=False),
    NestedField(7, "description", StringType(), required=False),
    NestedField(8, "listed_price", DoubleType(), required=False),
    NestedField(9, "sold_price", DoubleType(), required=False),
    NestedField(10, "discount_percent", DoubleType(), required=False),
    NestedField(11, "sold_date", DateType(), required=False),
    NestedField(12, "quarter", StringType(), required=False),
    NestedField(13, "year", IntegerType(), required=False),
    NestedField(14, "month", IntegerType(), required=False),
    NestedField(15, "season", StringType(), required=False),
    NestedField(16, "days_to_sell", IntegerType(), required=False),
    NestedField(17, "image_s3_key", StringType(), required=False),
    NestedField(18, "embedding_id", StringType(), required=False),
    NestedField(19, "embedding_dimension", IntegerType(), required=False),
    NestedField(
        20,
        "embedding_vector",
        ListType(element_id=24, element_type=DoubleType(), element_required=False),
        required=False,
    ),
    NestedField(21, "source_system", StringType(), required=False),
    NestedField(22, "vendor_id", StringType(), required=False),
    NestedField(23, "ingestion_timestamp", TimestamptzType(), required=False),
)
LAKE_PARTITION_SPEC = PartitionSpec(
    PartitionField(source_id=2, field_id=1000, transform=IdentityTransform(), name="tenant_id"),
    PartitionField(source_id=13, field_id=1001, transform=IdentityTransform(), name="year"),
    PartitionField(source_id=14, field_id=1002, transform=IdentityTransform(), name="month"),
)
