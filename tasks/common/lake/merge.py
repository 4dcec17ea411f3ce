"""MERGE by key into a lake table, file by file, and the simpler replace by key."""

from __future__ import annotations

import bisect
import itertools
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyiceberg.conversions import from_bytes
from pyiceberg.exceptions import CommitFailedException, ValidationException
from pyiceberg.expressions import AlwaysTrue, BooleanExpression
from pyiceberg.io.pyarrow import ArrowScan
from pyiceberg.manifest import DataFile, FileFormat
from pyiceberg.schema import Schema
from pyiceberg.table import FileScanTask, Table
from pyiceberg.types import PrimitiveType

from tasks.common.lake.errors import LakeCommitConflict
from tasks.common.lake.write import _commit_files, _conform, _executor, _write, key_in

ALWAYS_TRUE = AlwaysTrue()


@dataclass(frozen=True)
class MergeResult:
    """What `merge_rows` did. Keys are the update table's key values."""

    rows_matched: int = 0
    rows_updated: int = 0
    rows_stale: int = 0
    updated_keys: list[Any] = field(default_factory=list)
    unmatched_keys: list[Any] = field(default_factory=list)
    files_planned: int = 0
    files_candidate: int = 0
    files_rewritten: int = 0
    files_added: int = 0
    snapshot_id: int | None = None
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)  # seconds per phase


@dataclass
class _FileMerge:
    task: FileScanTask
    found: pa.Array  # update keys present in the file
    updated: pa.Array  # keys whose rows changed
    added: list[DataFile] | None  # the rewritten file(s), None when nothing changed


def merge_rows(
    table: Table,
    updates: pa.Table,
    key: str,
    columns: Sequence[str],
    *,
    version_column: str | None = None,
    row_filter: BooleanExpression = ALWAYS_TRUE,
    snapshot_properties: Mapping[str, str] | None = None,
) -> MergeResult:
    """MERGE INTO table USING updates ON key: WHEN MATCHED THEN UPDATE SET columns.

    Only rows whose key is in `updates` change; every other row keeps its values and its
    position. Rows whose key the table lacks are reported in `unmatched_keys`, not inserted.
    With `version_column` (which must be among `columns`) a row is updated only when the
    incoming version is greater than the stored one or the stored one is null, so a
    redelivered or older batch changes nothing.

    How: files are pruned by partition (`row_filter`, when the caller knows it) and by the
    key column's min/max statistics; when more files survive than there are keys, their key
    column is probed first. Only files holding a key are read whole, updated in Arrow (hash
    lookup of the key, one `take` per column) and rewritten one for one, in parallel. One
    overwrite snapshot replaces them, against the snapshot `table` was loaded at; a
    conflicting concurrent commit raises `LakeCommitConflict` (re-load the table and retry).
    Nothing is committed when nothing changes.
    """
    started = time.perf_counter()
    columns = list(columns)
    schema = table.schema()
    updates = _checked_updates(schema, updates, key, columns, version_column)
    keys = updates.column(key)
    if updates.num_rows == 0:
        return MergeResult(seconds=time.perf_counter() - started)
    snapshot = table.current_snapshot()
    if snapshot is None:
        return MergeResult(unmatched_keys=keys.to_pylist(), seconds=time.perf_counter() - started)

    clock = _Clock()
    tasks = list(table.scan(row_filter=row_filter, snapshot_id=snapshot.snapshot_id).plan_files())
    sorted_keys = sorted(keys.to_pylist())
    candidates = _candidates(tasks, schema, key, sorted_keys)
    key_array = keys.combine_chunks()
    clock.lap("plan")

    merges = _merge_files(
        table, candidates, updates, key_array, key, columns, version_column, clock
    )
    found = pa.chunked_array([m.found for m in merges], type=key_array.type)
    matched = pc.unique(found) if len(found) else found
    unmatched = pc.filter(key_array, pc.invert(pc.is_in(key_array, value_set=matched)))
    rewritten = [m for m in merges if m.added is not None]
    deleted = [m.task.file for m in rewritten]
    added = [f for m in rewritten for f in m.added or ()]
    updated = pa.chunked_array([m.updated for m in rewritten], type=key_array.type)
    updated_keys = updated.to_pylist()
    clock.lap("rewrite")

    snapshot_id = None
    if deleted:
        # Beyond pyiceberg's IN_PREDICATE_LIMIT an IN is "might match" for every file,
        # so ALWAYS_TRUE detects the same conflicts without binding thousands of literals.
        conflict = key_in(key, set(sorted_keys)) if len(sorted_keys) <= 200 else ALWAYS_TRUE
        snapshot_id = _commit_files(table, deleted, added, conflict, snapshot_properties)
    clock.lap("commit")
    return MergeResult(
        rows_matched=len(matched),
        rows_updated=len(updated_keys),
        rows_stale=len(matched) - len(updated_keys),
        updated_keys=updated_keys,
        unmatched_keys=unmatched.to_pylist(),
        files_planned=len(tasks),
        files_candidate=len(candidates),
        files_rewritten=len(deleted),
        files_added=len(added),
        snapshot_id=snapshot_id,
        seconds=time.perf_counter() - started,
        timings=clock.laps,
    )


def _checked_updates(
    schema: Schema,
    updates: pa.Table,
    key: str,
    columns: list[str],
    version_column: str | None,
) -> pa.Table:
    """The key and `columns` of `updates` in the table's types, one chunk; ValueError when
    a column is unknown or missing, the key is updated, or a key is null or repeated."""
    for name in (key, *columns):
        schema.find_field(name)  # raises ValueError naming an unknown column
        if name not in updates.column_names:
            raise ValueError(f"updates lack column {name!r}")
    if key in columns:
        raise ValueError(f"the key {key!r} cannot be updated")
    if version_column is not None and version_column not in columns:
        raise ValueError(f"version column {version_column!r} must be one of the updated columns")

    updates = _conform(updates.select([key, *columns]), schema.select(key, *columns).as_arrow())
    updates = updates.combine_chunks()
    keys = updates.column(key)
    if keys.null_count:
        raise ValueError(f"updates have a null {key!r}")
    if pc.count_distinct(keys).as_py() != len(keys):
        raise ValueError(f"updates have duplicate {key!r} values; collapse them first")
    return updates


def _candidates(
    tasks: list[FileScanTask], schema: Schema, key: str, sorted_keys: list[Any]
) -> list[FileScanTask]:
    """The planned files whose key statistics admit one of `sorted_keys`."""
    key_field = schema.find_field(key)
    if not isinstance(key_field.field_type, PrimitiveType):
        raise ValueError(f"the key {key!r} must be a primitive column")
    return [
        t
        for t in tasks
        if _may_contain(t.file, key_field.field_id, key_field.field_type, sorted_keys)
    ]


def _merge_files(
    table: Table,
    candidates: list[FileScanTask],
    updates: pa.Table,
    key_array: pa.Array,
    key: str,
    columns: list[str],
    version_column: str | None,
    clock: _Clock,
) -> list[_FileMerge]:
    """Each candidate file merged (and rewritten where a row changes), in parallel."""
    # Probing key columns first pays off only when some candidates surely hold no key
    # (more candidates than keys); otherwise each candidate is read whole just once.
    write_uuid, counter = uuid.uuid4(), itertools.count(0)
    with _executor(table) as pool:
        if len(candidates) > len(key_array):
            probes = [pool.submit(_probe, table, t, key, key_array) for t in candidates]
            candidates = [t for job in probes if (t := job.result()) is not None]
            clock.lap("probe")
        jobs = [
            pool.submit(
                _merge_file, table, task, updates, key, columns, version_column, write_uuid, counter
            )
            for task in candidates
        ]
        return [job.result() for job in jobs]


class _Clock:
    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = round(now - self._last, 4)
        self._last = now


def _may_contain(
    data_file: DataFile, field_id: int, field_type: PrimitiveType, sorted_keys: list[Any]
) -> bool:
    """Whether the file's key bounds admit any of `sorted_keys` (bounds may be absent)."""
    lower_raw = (data_file.lower_bounds or {}).get(field_id)
    upper_raw = (data_file.upper_bounds or {}).get(field_id)
    lower = from_bytes(field_type, lower_raw) if lower_raw is not None else None
    upper = from_bytes(field_type, upper_raw) if upper_raw is not None else None
    # Truncated string bounds stay valid: the lower is a prefix (<= min), and writers only
    # store an upper bound they could round up (>= max).
    start = 0 if lower is None else bisect.bisect_left(sorted_keys, lower)
    return start < len(sorted_keys) and (upper is None or sorted_keys[start] <= upper)


def _read(table: Table, task: FileScanTask, schema: Schema) -> pa.Table:
    """One data file in `schema` (a projection of the table's), delete files applied.

    Files written with the current schema's field ids and without delete files are read
    straight with Parquet (a third of the cost); anything else goes through pyiceberg's
    ArrowScan, which resolves evolved schemas and applies deletes.
    """
    if not task.delete_files and task.file.file_format == FileFormat.PARQUET:
        with table.io.new_input(task.file.file_path).open(seekable=True) as stream:
            parquet = pq.ParquetFile(stream)
            if _field_ids(parquet.schema_arrow) == _field_ids(table.schema().as_arrow()):
                target = schema.as_arrow()
                return parquet.read(columns=target.names).cast(target)
    return ArrowScan(table.metadata, table.io, schema, ALWAYS_TRUE).to_table([task])


def _field_ids(fields: Iterable[pa.Field]) -> tuple[Any, ...]:
    """Names and Parquet field ids of a schema, nested fields included."""
    out = []
    for f in fields:
        children: Iterable[pa.Field] = ()
        if pa.types.is_list(f.type) or pa.types.is_large_list(f.type):
            children = [f.type.value_field]
        elif pa.types.is_map(f.type):
            children = [f.type.key_field, f.type.item_field]
        elif pa.types.is_struct(f.type):
            children = [f.type.field(i) for i in range(f.type.num_fields)]
        out.append((f.name, (f.metadata or {}).get(b"PARQUET:field_id"), _field_ids(children)))
    return tuple(out)


def _probe(table: Table, task: FileScanTask, key: str, keys: pa.Array) -> FileScanTask | None:
    column = _read(table, task, table.schema().select(key)).column(key)
    return task if pc.any(pc.is_in(column, value_set=keys)).as_py() else None


def _merge_file(
    table: Table,
    task: FileScanTask,
    updates: pa.Table,
    key: str,
    columns: list[str],
    version_column: str | None,
    write_uuid: uuid.UUID,
    counter: itertools.count[int],
) -> _FileMerge:
    """Apply the updates to one file's rows and rewrite it if any row changes."""
    rows = _read(table, task, table.schema())
    update_keys = updates.column(key)
    position = pc.index_in(rows.column(key), value_set=update_keys)
    found = pc.is_valid(position)
    apply = found
    if version_column is not None:
        stored = rows.column(version_column)
        incoming = updates.column(version_column).take(position)
        newer = pc.or_kleene(pc.is_null(stored), pc.greater(incoming, stored))
        apply = pc.and_(found, pc.fill_null(newer, False))
    found_keys = pc.filter(rows.column(key), found).combine_chunks().cast(update_keys.type)
    if not pc.any(apply).as_py():
        return _FileMerge(task, found_keys, pa.array([], update_keys.type), None)
    # Row i takes update row position[i] where applied, else itself: one `take` over the
    # file's column followed by the update column (works for every type, lists included).
    n = rows.num_rows
    source = pc.if_else(apply, pc.add(position.cast(pa.int64()), n), _arange(n))
    for name in columns:
        current = rows.column(name)
        incoming = updates.column(name).cast(current.type)
        merged = pa.chunked_array([*current.chunks, *incoming.chunks], type=current.type)
        rows = rows.set_column(rows.schema.get_field_index(name), name, merged.take(source))
    updated = pc.filter(rows.column(key), apply).combine_chunks().cast(update_keys.type)
    return _FileMerge(task, found_keys, updated, _write(table, rows, write_uuid, counter))


_aranges: dict[int, pa.Array] = {}


def _arange(n: int) -> pa.Array:
    cached = _aranges.get(n)
    if cached is None:
        cached = pa.array(range(n), type=pa.int64())
        if len(_aranges) < 256:
            _aranges[n] = cached
    return cached


# -- replace by key ------------------------------------------------------------------


def replace_rows(
    table: Table,
    rows: pa.Table,
    key: str,
    remove: Iterable[Any] = (),
    *,
    snapshot_properties: Mapping[str, str] | None = None,
) -> int | None:
    """Delete the rows whose key is in `remove` or in `rows`, then append `rows`: one commit.

    For small keyed tables (quarantines, dead letters), where rewriting is cheap and
    simplicity wins. Returns the last snapshot id, or None when nothing changed.
    """
    keys = set(remove) | set(rows.column(key).to_pylist())
    present: list[Any] = []
    if keys and table.current_snapshot() is not None:
        found = table.scan(row_filter=key_in(key, keys), selected_fields=(key,)).to_arrow()
        present = [k for k in found.column(key).to_pylist() if k in keys]
    if not present and rows.num_rows == 0:
        return None
    try:
        with table.transaction() as txn:
            props = dict(snapshot_properties or {})
            if present:
                txn.delete(key_in(key, set(present)), snapshot_properties=props)
            if rows.num_rows:
                txn.append(_conform(rows, table.schema().as_arrow()), snapshot_properties=props)
    except (CommitFailedException, ValidationException) as exc:
        raise LakeCommitConflict(f"{'.'.join(table.name())}: {exc}") from exc
    snapshot = table.current_snapshot()
    return snapshot.snapshot_id if snapshot else None
