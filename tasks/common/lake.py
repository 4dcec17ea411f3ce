"""The lake: Iceberg tables behind one catalog, merged file by file (DuckDB reads them:
`tasks.common.lake_sql`, which no Lambda function ships).

Configuration is the only difference between a laptop and AWS:

``LAKE_WAREHOUSE``
    Locally a directory: the SQLite catalog (``catalog.db``) lives inside it, next to the
    data, so catalog and data survive together. In AWS the S3 Tables table bucket ARN.
``LAKE_CATALOG_URI``
    Unset locally. In AWS the S3 Tables Iceberg REST endpoint,
    ``https://s3tables.<region>.amazonaws.com/iceberg``, signed with SigV4 (signing name
    ``s3tables``, region from ``AWS_REGION``). A ``sqlite://`` or ``postgresql://`` URI
    selects a SQL catalog at that address instead.
``LAKE_CATALOG_NAME``
    Optional, default ``sluice``.

Example::

    catalog = catalog_from_env()
    table = ensure_table(catalog, "silver.violations", SCHEMA, SPEC)
    result = merge_rows(table, updates, key="violation_id", columns=["bedrock_title"])
"""

from __future__ import annotations

import bisect
import contextlib
import functools
import itertools
import os
import time
import uuid
import warnings
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyiceberg.catalog import Catalog
from pyiceberg.catalog.rest import RestCatalog
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.conversions import from_bytes
from pyiceberg.exceptions import CommitFailedException, ValidationException
from pyiceberg.expressions import AlwaysTrue, BooleanExpression, In
from pyiceberg.io.pyarrow import (
    ArrowScan,
    _get_field_from_arrow_table,
    _get_parquet_writer_kwargs,
    compute_statistics_plan,
    data_file_statistics_from_parquet_metadata,
    parquet_path_to_id_mapping,
    write_file,
)
from pyiceberg.manifest import DataFile, DataFileContent, FileFormat
from pyiceberg.partitioning import (
    UNPARTITIONED_PARTITION_SPEC,
    PartitionFieldValue,
    PartitionKey,
    PartitionSpec,
    _to_partition_representation,
)
from pyiceberg.schema import Schema, sanitize_column_names
from pyiceberg.table import FileScanTask, Table, TableProperties, WriteTask
from pyiceberg.table.sorting import UNSORTED_SORT_ORDER, SortOrder
from pyiceberg.typedef import Record
from pyiceberg.types import PrimitiveType
from pyiceberg.utils.properties import property_as_int

ALWAYS_TRUE = AlwaysTrue()

ENV_WAREHOUSE = "LAKE_WAREHOUSE"
ENV_CATALOG_URI = "LAKE_CATALOG_URI"
ENV_CATALOG_NAME = "LAKE_CATALOG_NAME"
DEFAULT_CATALOG_NAME = "sluice"
CATALOG_DB = "catalog.db"
S3TABLES_SIGNING_NAME = "s3tables"


class LakeError(Exception):
    """Base class of lake failures."""


class LakeConfigError(LakeError):
    """The lake's environment variables are missing or inconsistent."""


class LakeCommitConflict(LakeError):
    """Another writer changed the files this commit replaces; re-plan and retry.

    The class name is the ASL error name a state machine retries with backoff.
    """


def key_in(column: str, values: Iterable[Any]) -> BooleanExpression:
    """`column IN values` as a pyiceberg row filter."""
    # pyiceberg's `In` takes positional literals; its pydantic signature hides that from mypy.
    return In(column, set(values))  # type: ignore[call-arg, arg-type]


# -- catalog -----------------------------------------------------------------------


def catalog_properties(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The catalog configuration the environment describes (see the module docstring)."""
    env = os.environ if environ is None else environ
    warehouse = env.get(ENV_WAREHOUSE, "").strip()
    uri = env.get(ENV_CATALOG_URI, "").strip()
    if not warehouse:
        raise LakeConfigError(f"{ENV_WAREHOUSE} is not set")
    if uri.startswith(("https://", "http://")):
        region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
        if not region:
            raise LakeConfigError(f"{ENV_CATALOG_URI} is a REST endpoint but AWS_REGION is not set")
        if not warehouse.startswith("arn:"):
            # S3 Tables names the warehouse by table bucket ARN; a bare name fails late.
            raise LakeConfigError(
                f"{ENV_WAREHOUSE} must be the table bucket ARN, got {warehouse!r}"
            )
        return {
            "type": "rest",
            "uri": uri,
            "warehouse": warehouse,
            "rest.sigv4-enabled": "true",
            "rest.signing-name": S3TABLES_SIGNING_NAME,
            "rest.signing-region": region,
        }
    if uri and not uri.startswith(("sqlite:", "postgresql")):
        raise LakeConfigError(f"{ENV_CATALOG_URI} must be https://, sqlite:// or postgresql://")
    if "://" in warehouse and not warehouse.startswith("file://"):
        if not uri:
            raise LakeConfigError(f"a remote {ENV_WAREHOUSE} needs {ENV_CATALOG_URI}")
        return {"type": "sql", "uri": uri, "warehouse": warehouse}
    path = Path(urlparse(warehouse).path if warehouse.startswith("file://") else warehouse)
    path = path.expanduser().resolve()
    return {
        "type": "sql",
        "uri": uri or f"sqlite:///{path / CATALOG_DB}",
        "warehouse": path.as_uri(),
    }


def catalog_from_env(environ: Mapping[str, str] | None = None) -> Catalog:
    """The configured catalog; one per configuration per process (warm Lambdas reuse it)."""
    env = os.environ if environ is None else environ
    name = env.get(ENV_CATALOG_NAME, "").strip() or DEFAULT_CATALOG_NAME
    return _catalog(name, tuple(sorted(catalog_properties(env).items())))


@functools.lru_cache(maxsize=8)
def _catalog(name: str, properties: tuple[tuple[str, str], ...]) -> Catalog:
    props = dict(properties)
    if props.pop("type") == "rest":
        return RestCatalog(name, **props)
    warehouse = urlparse(props["warehouse"])
    if warehouse.scheme == "file":
        Path(warehouse.path).mkdir(parents=True, exist_ok=True)
    return SqlCatalog(name, **props)


def ensure_table(
    catalog: Catalog,
    identifier: str,
    schema: Schema,
    partition_spec: PartitionSpec = UNPARTITIONED_PARTITION_SPEC,
    sort_order: SortOrder = UNSORTED_SORT_ORDER,
    properties: Mapping[str, str] | None = None,
) -> Table:
    """Create the table (and its namespace) unless it exists; add any columns it lacks.

    Safe to call from concurrent writers: creation races end with both using one table.
    Only additive schema changes are applied; the partition spec of an existing table is kept.
    """
    catalog.create_namespace_if_not_exists(Catalog.namespace_from(identifier))
    table = catalog.create_table_if_not_exists(
        identifier,
        schema,
        partition_spec=partition_spec,
        sort_order=sort_order,
        properties=dict(properties or {}),
    )
    current = {f.name for f in table.schema().fields}
    if any(f.name not in current for f in schema.fields):
        with table.update_schema() as update:
            update.union_by_name(schema)
    return table


# -- writing -----------------------------------------------------------------------


def _executor(table: Table) -> ThreadPoolExecutor:
    """Threads for per-file work (Arrow releases the GIL while it decodes and encodes).

    A local warehouse is CPU bound: one thread per core. Object storage waits on the
    network, so more requests are kept in flight. Separate from pyiceberg's executor,
    which these tasks wait on.
    """
    cores = os.cpu_count() or 2
    local = urlparse(table.location()).scheme in ("", "file")
    return ThreadPoolExecutor(max_workers=cores if local else min(32, 8 * cores))


def _partition_groups(table: Table, rows: pa.Table) -> list[tuple[PartitionKey | None, pa.Table]]:
    """`rows` split by partition of the current spec (usually one group).

    Transforms run on each distinct source value in Python, so no native transform
    library is needed and the cost follows the distinct values, not the rows.
    """
    spec = table.spec()
    if spec.is_unpartitioned() or rows.num_rows == 0:
        return [(None, rows)]
    schema = table.schema()
    columns: dict[str, pa.Array] = {}
    for i, f in enumerate(spec.fields):
        source_type = schema.find_field(f.source_id).field_type
        source = _get_field_from_arrow_table(rows, schema.find_column_name(f.source_id) or "")
        distinct = pc.unique(source)
        transform = f.transform.transform(source_type)
        values = pa.array(
            [transform(_to_partition_representation(source_type, v)) for v in distinct.to_pylist()]
        )
        columns[f"p{i}"] = values.take(pc.index_in(source, value_set=distinct))
    keys = pa.table(columns)
    if all(pc.count_distinct(c, mode="all").as_py() == 1 for c in columns.values()):
        groups = [{name: c[0].as_py() for name, c in columns.items()}]  # the usual case
    else:
        groups = keys.group_by(list(columns)).aggregate([]).to_pylist()

    def key(group: dict[str, Any]) -> PartitionKey:
        values = [PartitionFieldValue(f, group[f"p{i}"]) for i, f in enumerate(spec.fields)]
        return PartitionKey(field_values=values, partition_spec=spec, schema=schema)

    if len(groups) == 1:
        return [(key(groups[0]), rows)]
    out: list[tuple[PartitionKey | None, pa.Table]] = []
    for group in groups:
        mask = functools.reduce(
            pc.and_kleene,
            [
                pc.is_null(keys[name]) if value is None else pc.equal(keys[name], value)
                for name, value in group.items()
            ],
        )
        out.append((key(group), rows.filter(pc.fill_null(mask, False))))
    return out


def _write(
    table: Table, rows: pa.Table, write_uuid: uuid.UUID, counter: itertools.count[int]
) -> list[DataFile]:
    """`rows` as one data file per partition they span (one file for one partition)."""
    return [
        _write_data_file(table, part, partition_key, write_uuid, next(counter))
        for partition_key, part in _partition_groups(table, rows)
        if part.num_rows
    ]


def _write_data_file(
    table: Table,
    rows: pa.Table,
    partition_key: PartitionKey | None,
    write_uuid: uuid.UUID,
    task_id: int,
) -> DataFile:
    """One Parquet data file, written as pyiceberg's `write_file` does (same properties,
    field ids, metrics) but without its per-batch schema projection, and with dictionary
    encoding only where values repeat: both cost more than the encoding itself."""
    schema = table.schema()
    if sanitize_column_names(schema) != schema:  # names Parquet cannot hold: pyiceberg's path
        task = WriteTask(
            write_uuid=write_uuid,
            task_id=task_id,
            schema=schema,
            record_batches=rows.to_batches(),
            partition_key=partition_key,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pyiceberg warns when a name mapping is defaulted
            return next(iter(write_file(table.io, table.metadata, iter([task]))))
    arrow_schema = schema.as_arrow()
    rows = rows.cast(arrow_schema)
    path = table.location_provider().new_data_location(
        data_file_name=f"00000-{task_id}-{write_uuid}.parquet", partition_key=partition_key
    )
    output = table.io.new_output(path)
    properties = table.properties
    with output.create(overwrite=True) as stream:
        writer = pq.ParquetWriter(
            stream,
            schema=arrow_schema,
            store_decimal_as_integer=True,
            use_dictionary=_dictionary_columns(rows),
            **_get_parquet_writer_kwargs(properties),
        )
        with writer:
            writer.write(
                rows,
                row_group_size=property_as_int(
                    properties,
                    TableProperties.PARQUET_ROW_GROUP_LIMIT,
                    TableProperties.PARQUET_ROW_GROUP_LIMIT_DEFAULT,
                ),
            )
    statistics = data_file_statistics_from_parquet_metadata(
        parquet_metadata=writer.writer.metadata,
        stats_columns=compute_statistics_plan(schema, properties),
        parquet_column_mapping=parquet_path_to_id_mapping(schema),
    )
    return DataFile.from_args(
        content=DataFileContent.DATA,
        file_path=path,
        file_format=FileFormat.PARQUET,
        partition=partition_key.partition if partition_key else Record(),
        file_size_in_bytes=len(output),
        sort_order_id=None,
        spec_id=table.metadata.default_spec_id,
        equality_ids=None,
        key_metadata=None,
        **statistics.to_serialized_dict(),
    )


_SAMPLE = 1024


def _dictionary_columns(rows: pa.Table) -> list[str]:
    """Columns whose sampled values repeat (at most half distinct): dictionary-encode those.

    Unique text (ids, generated descriptions) gains nothing from a dictionary and costs a
    hash per value; repeated values (agency, state, tags) shrink a lot.
    """
    sample = rows.slice(0, _SAMPLE)
    names = []
    for name, column in zip(sample.column_names, sample.columns, strict=True):
        leaf, path = column, name
        while pa.types.is_list(leaf.type) or pa.types.is_large_list(leaf.type):
            leaf = pc.list_flatten(leaf)
            path += ".list.element"
        if pa.types.is_nested(leaf.type):
            names.append(path)  # structs and maps: Parquet's default
        elif len(leaf) and pc.count_distinct(leaf).as_py() * 2 <= len(leaf):
            names.append(path)
    return names


def _commit_files(
    table: Table,
    deleted: Sequence[DataFile],
    added: Sequence[DataFile],
    conflict_filter: BooleanExpression | None,
    snapshot_properties: Mapping[str, str] | None,
) -> int:
    """One snapshot replacing `deleted` by `added`; a concurrent change to them is a conflict.

    Optimistic concurrency: the commit asserts the branch head it planned against. If
    another writer got there first, pyiceberg refreshes and re-validates once per retry:
    the commit still lands when the other writer touched neither these files nor rows that
    `conflict_filter` could match; otherwise `LakeCommitConflict`.
    """
    try:
        with table.transaction() as txn:
            update = txn.update_snapshot(snapshot_properties=dict(snapshot_properties or {}))
            with update.overwrite() as overwrite:
                if conflict_filter is not None:
                    overwrite.delete_by_predicate(conflict_filter)
                for data_file in deleted:
                    overwrite.delete_data_file(data_file)
                for data_file in added:
                    overwrite.append_data_file(data_file)
                snapshot_id = overwrite.snapshot_id
    except (CommitFailedException, ValidationException) as exc:
        # Both guarantee the commit did not land, so the files written for it are orphans.
        for data_file in added:
            with contextlib.suppress(OSError):
                table.io.delete(data_file.file_path)
        raise LakeCommitConflict(f"{'.'.join(table.name())}: {exc}") from exc
    return snapshot_id


def write_files(
    table: Table,
    chunks: Iterable[pa.Table],
    *,
    replace: bool = False,
    snapshot_properties: Mapping[str, str] | None = None,
) -> int | None:
    """Write each chunk as one data file per partition it spans, committed as one snapshot.

    `replace` drops every current data file in the same snapshot. Returns the snapshot id,
    or None when there was nothing to commit.
    """
    arrow_schema = table.schema().as_arrow()
    write_uuid, counter = uuid.uuid4(), itertools.count(0)
    with _executor(table) as pool:
        jobs = [
            pool.submit(_write, table, _conform(chunk, arrow_schema), write_uuid, counter)
            for chunk in chunks
            if chunk.num_rows
        ]
        added = [data_file for job in jobs for data_file in job.result()]
    deleted = [t.file for t in table.scan().plan_files()] if replace else []
    if not added and not deleted:
        return None
    return _commit_files(table, deleted, added, None, snapshot_properties)


def _conform(rows: pa.Table, arrow_schema: pa.Schema) -> pa.Table:
    """`rows` with the schema's columns, order and types (missing columns are null)."""
    columns = [
        rows.column(f.name).cast(f.type)
        if f.name in rows.column_names
        else pa.nulls(rows.num_rows, f.type)
        for f in arrow_schema
    ]
    return pa.Table.from_arrays(columns, schema=arrow_schema)


# -- MERGE -------------------------------------------------------------------------


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
    if updates.num_rows == 0:
        return MergeResult(seconds=time.perf_counter() - started)
    snapshot = table.current_snapshot()
    if snapshot is None:
        return MergeResult(unmatched_keys=keys.to_pylist(), seconds=time.perf_counter() - started)

    clock = _Clock()
    tasks = list(table.scan(row_filter=row_filter, snapshot_id=snapshot.snapshot_id).plan_files())
    key_field = schema.find_field(key)
    if not isinstance(key_field.field_type, PrimitiveType):
        raise ValueError(f"the key {key!r} must be a primitive column")
    sorted_keys = sorted(keys.to_pylist())
    candidates = [
        t
        for t in tasks
        if _may_contain(t.file, key_field.field_id, key_field.field_type, sorted_keys)
    ]

    key_array = keys.combine_chunks()
    n_candidates = len(candidates)
    clock.lap("plan")
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
        merges = [job.result() for job in jobs]
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
        files_candidate=n_candidates,
        files_rewritten=len(deleted),
        files_added=len(added),
        snapshot_id=snapshot_id,
        seconds=time.perf_counter() - started,
        timings=clock.laps,
    )


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
