"""Writing to the lake: rows as Parquet data files, one per partition, committed as one
snapshot with optimistic concurrency (`LakeCommitConflict` when another writer interferes).
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import os
import uuid
import warnings
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlparse

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyiceberg.exceptions import CommitFailedException, ValidationException
from pyiceberg.expressions import BooleanExpression, In
from pyiceberg.io.pyarrow import (
    _get_field_from_arrow_table,
    _get_parquet_writer_kwargs,
    compute_statistics_plan,
    data_file_statistics_from_parquet_metadata,
    parquet_path_to_id_mapping,
    write_file,
)
from pyiceberg.manifest import DataFile, DataFileContent, FileFormat
from pyiceberg.partitioning import PartitionFieldValue, PartitionKey, _to_partition_representation
from pyiceberg.schema import sanitize_column_names
from pyiceberg.table import Table, TableProperties, WriteTask
from pyiceberg.typedef import Record
from pyiceberg.utils.properties import property_as_int

from tasks.common.lake.errors import LakeCommitConflict


def key_in(column: str, values: Iterable[Any]) -> BooleanExpression:
    """`column IN values` as a pyiceberg row filter."""
    # pyiceberg's `In` takes positional literals; its pydantic signature hides that from mypy.
    return In(column, set(values))  # type: ignore[call-arg, arg-type]


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
    *,
    keep_on_conflict: bool = False,
) -> int:
    """One snapshot replacing `deleted` by `added`; a concurrent change to them is a conflict.

    Optimistic concurrency: the commit asserts the branch head it planned against. If
    another writer got there first, pyiceberg refreshes and re-validates once per retry:
    the commit still lands when the other writer touched neither these files nor rows that
    `conflict_filter` could match; otherwise `LakeCommitConflict`, and the `added` files are
    deleted unless the caller keeps them to commit again (`keep_on_conflict`).
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
        if not keep_on_conflict:
            delete_files(table, added)
        raise LakeCommitConflict(f"{'.'.join(table.name())}: {exc}") from exc
    return snapshot_id


def delete_files(table: Table, files: Iterable[DataFile]) -> None:
    """Delete data files no snapshot references (written for a commit that did not land)."""
    for data_file in files:
        with contextlib.suppress(OSError):
            table.io.delete(data_file.file_path)


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
    added = write_data_files(table, chunks)
    deleted = [t.file for t in table.scan().plan_files()] if replace else []
    if not added and not deleted:
        return None
    return _commit_files(table, deleted, added, None, snapshot_properties)


def write_data_files(table: Table, chunks: Iterable[pa.Table]) -> list[DataFile]:
    """Each chunk as one data file per partition it spans, not committed (`commit_appended`)."""
    arrow_schema = table.schema().as_arrow()
    write_uuid, counter = uuid.uuid4(), itertools.count(0)
    with _executor(table) as pool:
        jobs = [
            pool.submit(_write, table, _conform(chunk, arrow_schema), write_uuid, counter)
            for chunk in chunks
            if chunk.num_rows
        ]
        return [data_file for job in jobs for data_file in job.result()]


def commit_appended(
    table: Table, added: Sequence[DataFile], snapshot_properties: Mapping[str, str]
) -> int:
    """One snapshot adding ADDED, valid only if no data was added since TABLE was loaded
    (`LakeCommitConflict` otherwise); the files are kept on a conflict, to be committed
    again once the caller has checked the newer table."""
    return _commit_files(table, (), added, None, snapshot_properties, keep_on_conflict=True)


def _conform(rows: pa.Table, arrow_schema: pa.Schema) -> pa.Table:
    """`rows` with the schema's columns, order and types (missing columns are null)."""
    columns = [
        rows.column(f.name).cast(f.type)
        if f.name in rows.column_names
        else pa.nulls(rows.num_rows, f.type)
        for f in arrow_schema
    ]
    return pa.Table.from_arrays(columns, schema=arrow_schema)
