"""violations_sync's lake tables: `silver.violations` and `silver.violations_unmatched`.

Defined once here as Iceberg schemas; the Arrow schemas derive from them. Kept apart from
`schemas/violations_sync.py` because importing pyiceberg and pyarrow is what makes a
function package heavy: only the functions that read or write the lake import this.
"""

from __future__ import annotations

from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.table.sorting import SortField, SortOrder
from pyiceberg.transforms import IdentityTransform, MonthTransform
from pyiceberg.types import (
    DateType,
    DecimalType,
    ListType,
    NestedField,
    StringType,
    TimestamptzType,
)

VIOLATIONS_SCHEMA = Schema(
    NestedField(1, "violation_id", StringType(), required=True),
    NestedField(2, "agency", StringType()),
    NestedField(3, "violation_type", StringType()),
    NestedField(4, "company", StringType()),
    NestedField(5, "violation_date", DateType()),
    NestedField(6, "fine_amount", DecimalType(12, 2)),
    NestedField(7, "state", StringType()),
    NestedField(8, "city", StringType()),
    NestedField(9, "naics_code", StringType()),
    NestedField(10, "standard", StringType(), doc="the cited regulation"),
    NestedField(11, "description", StringType(), doc="the agency's own text"),
    NestedField(12, "bedrock_title", StringType()),
    NestedField(13, "bedrock_description", StringType()),
    NestedField(14, "tags", ListType(18, StringType(), element_required=False)),
    NestedField(15, "generated_at", TimestamptzType()),
    NestedField(16, "attribution", StringType()),
    NestedField(
        17,
        "bedrock_sequence_number",
        StringType(),
        doc="stream SequenceNumber (40 digits) of the content; an older record never wins",
    ),
    identifier_field_ids=[1],
)

VIOLATIONS_PARTITION_SPEC = PartitionSpec(
    PartitionField(source_id=5, field_id=1000, transform=MonthTransform(), name="violation_month")
)
"""Month of `violation_date`.

Readers select by time (the console, `bedrock_batch`'s date-range filter, Athena), and a
month holds tens of thousands of rows at lake scale: big enough for efficient files, while
day partitions would be tiny and year partitions would make every rewrite large. The MERGE
key (`violation_id`) is not the partition source; MERGE prunes on the id column's min/max
statistics instead, which works because ids are assigned in time order and each file is
written sorted by id (see `VIOLATIONS_SORT_ORDER`), so a file covers a narrow id range."""

VIOLATIONS_SORT_ORDER = SortOrder(SortField(source_id=1, transform=IdentityTransform()))

UNMATCHED_SCHEMA = Schema(
    NestedField(1, "violation_id", StringType(), required=True),
    NestedField(2, "event_name", StringType(), required=True),
    NestedField(3, "sequence_number", StringType(), required=True),
    NestedField(4, "bedrock_title", StringType()),
    NestedField(5, "bedrock_description", StringType()),
    NestedField(6, "tags", ListType(11, StringType(), element_required=False)),
    NestedField(7, "generated_at", TimestamptzType()),
    NestedField(8, "attribution", StringType()),
    NestedField(9, "reason", StringType(), required=True),
    NestedField(10, "quarantined_at", TimestamptzType(), required=True),
    identifier_field_ids=[1],
)
"""Content whose violation is not in `silver.violations` yet: one row per violation (the
newest content), replaced by later content and removed once it merges or is deleted."""

VIOLATIONS_ARROW = VIOLATIONS_SCHEMA.as_arrow()
UNMATCHED_ARROW = UNMATCHED_SCHEMA.as_arrow()
