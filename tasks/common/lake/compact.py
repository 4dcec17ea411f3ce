"""Compaction: a partition's small data files rewritten as few files of a target size.

Each partition is one commit that replaces its small files by files holding exactly their
rows (no row changes, so readers see the same table). The commit is validated like any
other writer's: if a concurrent commit removed one of the files, or added files to the same
partition, it fails with `LakeCommitConflict` and nothing is lost; re-running compacts
what is still small. Partitions already compacted have nothing to do, so a second run
commits nothing.
"""

from __future__ import annotations

import functools
import itertools
import time
import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
from pyiceberg.expressions import (
    AlwaysTrue,
    And,
    BooleanExpression,
    EqualTo,
    IsNull,
)
from pyiceberg.table import FileScanTask, Table
from pyiceberg.transforms import IdentityTransform

from tasks.common.lake.merge import _read
from tasks.common.lake.write import _commit_files, _write

# A file below this share of the target size counts as small (Iceberg's bin-pack default).
SMALL_SHARE = 0.75
DEFAULT_TARGET_FILE_BYTES = 128 * 1024 * 1024


@dataclass(frozen=True)
class PartitionPlan:
    """The small files of one partition, packed into groups of at most the target size."""

    spec_id: int
    partition: tuple[Any, ...]
    groups: list[list[FileScanTask]]

    @property
    def files(self) -> int:
        return sum(len(g) for g in self.groups)


@dataclass
class CompactionResult:
    """What `compact` did; `remaining` partitions still have small files to rewrite."""

    partitions_compacted: int = 0
    files_rewritten: int = 0
    files_added: int = 0
    rows_rewritten: int = 0
    remaining: int = 0
    snapshot_ids: list[int] = field(default_factory=list)


def plan(table: Table, target_file_bytes: int = DEFAULT_TARGET_FILE_BYTES) -> list[PartitionPlan]:
    """The partitions with two or more small files, most files first.

    Files with delete files attached are left alone (no writer of this lake produces them;
    rewriting them would need the deletes applied and their removal committed too).
    """
    snapshot = table.current_snapshot()
    if snapshot is None:
        return []
    small_limit = target_file_bytes * SMALL_SHARE
    by_partition: dict[tuple[int, tuple[Any, ...]], list[FileScanTask]] = defaultdict(list)
    for task in table.scan(snapshot_id=snapshot.snapshot_id).plan_files():
        if task.delete_files or task.file.file_size_in_bytes >= small_limit:
            continue
        by_partition[(task.file.spec_id, partition_values(task))].append(task)
    plans = []
    for (spec_id, partition), tasks in by_partition.items():
        groups = [g for g in _bin_pack(tasks, target_file_bytes) if len(g) > 1]
        if groups:
            plans.append(PartitionPlan(spec_id, partition, groups))
    plans.sort(key=lambda p: p.files, reverse=True)
    return plans


def partition_values(task: FileScanTask) -> tuple[Any, ...]:
    """The partition of TASK's file, as a tuple of its values."""
    partition = task.file.partition
    return tuple(partition[i] for i in range(len(partition)))


def _bin_pack(tasks: Sequence[FileScanTask], target_file_bytes: int) -> list[list[FileScanTask]]:
    """Files in commit order, cut into consecutive groups of at most the target size."""
    groups: list[list[FileScanTask]] = [[]]
    size = 0
    for task in sorted(tasks, key=lambda t: t.file.file_path):
        if groups[-1] and size + task.file.file_size_in_bytes > target_file_bytes:
            groups.append([])
            size = 0
        groups[-1].append(task)
        size += task.file.file_size_in_bytes
    return groups


def compact(
    table: Table,
    target_file_bytes: int = DEFAULT_TARGET_FILE_BYTES,
    *,
    deadline: float | None = None,
    snapshot_properties: Mapping[str, str] | None = None,
) -> CompactionResult:
    """Rewrite each partition's small files, one commit per partition, until DEADLINE
    (a `time.monotonic()` value) passes; the partitions left are counted in `remaining`.

    A commit conflict raises `LakeCommitConflict` after the partitions before it were
    committed: load the table again and call again to go on.
    """
    result = CompactionResult()
    plans = plan(table, target_file_bytes)
    for i, partition_plan in enumerate(plans):
        if deadline is not None and i > 0 and time.monotonic() > deadline:
            result.remaining = len(plans) - i
            break
        deleted = [t.file for group in partition_plan.groups for t in group]
        added, rows = [], 0
        write_uuid, counter = uuid.uuid4(), itertools.count(0)
        for group in partition_plan.groups:
            data = _sorted(
                table, pa.concat_tables([_read(table, t, table.schema()) for t in group])
            )
            rows += data.num_rows
            added += _write(table, data, write_uuid, counter)
        conflict = _partition_filter(table, partition_plan)
        snapshot_id = _commit_files(table, deleted, added, conflict, snapshot_properties)
        result.partitions_compacted += 1
        result.files_rewritten += len(deleted)
        result.files_added += len(added)
        result.rows_rewritten += rows
        result.snapshot_ids.append(snapshot_id)
    return result


def _sorted(table: Table, rows: pa.Table) -> pa.Table:
    """ROWS in the table's sort order (identity fields), so that a table written sorted for
    statistics pruning (silver.violations, by id) stays so; unsorted tables keep commit order."""
    keys = []
    for sort_field in table.sort_order().fields:
        name = table.schema().find_column_name(sort_field.source_id)
        if not isinstance(sort_field.transform, IdentityTransform) or name is None:
            break
        keys.append((name, "descending" if sort_field.direction.value == "desc" else "ascending"))
    return rows.sort_by(keys) if keys else rows


def _partition_filter(table: Table, partition_plan: PartitionPlan) -> BooleanExpression:
    """Rows of this partition, as a row filter, so that only writers of the same partition
    conflict with its compaction. Identity partitions only; otherwise the whole table."""
    spec = table.specs()[partition_plan.spec_id]
    schema = table.schema()
    terms: list[BooleanExpression] = []
    for spec_field, value in zip(spec.fields, partition_plan.partition, strict=True):
        if not isinstance(spec_field.transform, IdentityTransform):
            return AlwaysTrue()
        name = schema.find_column_name(spec_field.source_id)
        if name is None:
            return AlwaysTrue()
        # pyiceberg's predicates take positional terms; their pydantic signatures hide that.
        terms.append(
            IsNull(name)  # type: ignore[call-arg, arg-type]
            if value is None
            else EqualTo(name, value)  # type: ignore[call-arg, arg-type]
        )
    return functools.reduce(And, terms) if terms else AlwaysTrue()
