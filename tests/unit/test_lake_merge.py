"""merge_rows: the pruned file-rewrite MERGE, checked against a reference computed in DuckDB."""

from __future__ import annotations

import random
import threading
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest
from pyiceberg.catalog import Catalog
from pyiceberg.table import Table

from devkit.violations_sync import SEEDED_SEQUENCE_BASE, seed_violations, violation_id
from schemas.violations_sync import (
    BEDROCK_COLUMNS,
    KEY,
    VIOLATIONS_TABLE,
    sortable_sequence_number,
)
from schemas.violations_sync_lake import (
    VIOLATIONS_SCHEMA,
)
from tasks.common.lake import LakeCommitConflict, MergeResult, catalog_from_env, merge_rows
from tasks.common.lake_sql import duckdb_connection

ROWS = 20_000
VERSION = "bedrock_sequence_number"
UPDATE_ARROW = VIOLATIONS_SCHEMA.select(KEY, *BEDROCK_COLUMNS).as_arrow()


@pytest.fixture
def catalog(tmp_path: Path) -> Catalog:
    catalog = catalog_from_env({"LAKE_WAREHOUSE": str(tmp_path / "lake")})
    seed_violations(catalog, ROWS, seed=7, months=6, files_per_month=3)
    return catalog


def updates(keys: list[str], sequence: int, label: str = "new") -> pa.Table:
    return pa.Table.from_pylist(
        [
            {
                KEY: key,
                "bedrock_title": f"{label} title {key}",
                "bedrock_description": None if i % 7 == 0 else f"{label} description",
                "tags": [label, key] if i % 3 else [],
                "generated_at": None,
                "attribution": "test",
                VERSION: sortable_sequence_number(str(sequence + i)),
            }
            for i, key in enumerate(keys)
        ],
        schema=UPDATE_ARROW,
    )


def table_rows(catalog: Catalog) -> pa.Table:
    return (
        duckdb_connection(catalog)
        .sql(f"SELECT * FROM {VIOLATIONS_TABLE} ORDER BY {KEY}")
        .to_arrow_table()
    )


def reference(before: pa.Table, update: pa.Table, versioned: bool = True) -> tuple[pa.Table, int]:
    """The MERGE written as SQL: the table every implementation must produce."""
    con = duckdb.connect()
    con.register("v", before)
    con.register("u", update)
    newer = f"(v.{VERSION} IS NULL OR u.{VERSION} > v.{VERSION})"
    applies = f"(u.{KEY} IS NOT NULL AND {newer if versioned else 'true'})"
    sets = ", ".join(
        f"CASE WHEN {applies} THEN u.{c} ELSE v.{c} END AS {c}" for c in BEDROCK_COLUMNS
    )
    con.execute(
        f"CREATE TABLE expected AS SELECT v.* REPLACE ({sets}) FROM v LEFT JOIN u USING ({KEY})"
    )
    [(applied,)] = con.sql(
        f"SELECT count(*) FROM v JOIN u USING ({KEY}) WHERE {newer if versioned else 'true'}"
    ).fetchall()
    return con.sql(f"SELECT * FROM expected ORDER BY {KEY}").to_arrow_table(), applied


def assert_same_rows(actual: pa.Table, expected: pa.Table) -> None:
    con = duckdb.connect()
    con.register("a", actual)
    con.register("e", expected)
    assert actual.num_rows == expected.num_rows
    [(diff,)] = con.sql(
        "SELECT count(*) FROM ((SELECT * FROM a EXCEPT ALL SELECT * FROM e) "
        "UNION ALL (SELECT * FROM e EXCEPT ALL SELECT * FROM a))"
    ).fetchall()
    assert diff == 0


def data_files(table: Table) -> set[str]:
    return {t.file.file_path for t in table.scan().plan_files()}


def merge(catalog: Catalog, update: pa.Table, **kwargs: Any) -> MergeResult:
    kwargs.setdefault("version_column", VERSION)
    return merge_rows(catalog.load_table(VIOLATIONS_TABLE), update, KEY, BEDROCK_COLUMNS, **kwargs)


def test_merge_equals_the_sql_reference(catalog: Catalog) -> None:
    rng = random.Random(3)
    keys = [violation_id(i) for i in rng.sample(range(1, ROWS + 1), 400)]
    missing = ["VIO-99999998", "VIO-99999999", "NOPE"]
    # The last 140 carry a version below the seeded content's, which must win where present.
    update = pa.concat_tables(
        [
            updates(keys[:260] + missing, 10**25),
            updates(keys[260:], SEEDED_SEQUENCE_BASE - 10**6, label="stale"),
        ]
    )
    before = table_rows(catalog)
    expected, applied = reference(before, update)

    result = merge(catalog, update)

    assert_same_rows(table_rows(catalog), expected)
    assert sorted(result.unmatched_keys) == sorted(missing)
    assert result.rows_matched == 400
    assert result.rows_updated == applied == len(result.updated_keys)
    assert result.rows_stale == 400 - applied
    assert 260 <= applied < 400  # stale updates win only where no content was seeded


def test_untouched_rows_keep_their_files_and_values(catalog: Catalog) -> None:
    table = catalog.load_table(VIOLATIONS_TABLE)
    files_before = data_files(table)
    before = table_rows(catalog)
    keys = [violation_id(i) for i in (10, 11, 12, 19_990)]  # the first and last files

    result = merge(catalog, updates(keys, 10**25))

    files_after = data_files(catalog.load_table(VIOLATIONS_TABLE))
    kept = files_before & files_after
    assert len(files_before - kept) == result.files_rewritten == 2
    assert len(files_after - kept) == result.files_added == 2
    after = table_rows(catalog)
    untouched = pa.compute.invert(pa.compute.is_in(before[KEY], value_set=pa.array(keys)))
    assert_same_rows(after.filter(untouched), before.filter(untouched))


def test_statistics_prune_files_without_the_keys(catalog: Catalog) -> None:
    keys = [violation_id(i) for i in range(100, 150)]  # one contiguous id range

    result = merge(catalog, updates(keys, 10**25))

    assert result.files_planned == 18
    assert result.files_candidate == result.files_rewritten == 1


def test_one_overwrite_snapshot_per_batch(catalog: Catalog) -> None:
    snapshots = len(catalog.load_table(VIOLATIONS_TABLE).snapshots())
    keys = [violation_id(i) for i in range(1, ROWS + 1, 97)]

    result = merge(catalog, updates(keys, 10**25))

    table = catalog.load_table(VIOLATIONS_TABLE)
    assert len(table.snapshots()) == snapshots + 1
    current = table.current_snapshot()
    assert current is not None and current.snapshot_id == result.snapshot_id
    summary = current.summary
    assert summary is not None
    assert summary.operation.value == "overwrite"
    assert summary["total-records"] == str(ROWS)
    assert summary["added-data-files"] == str(result.files_added)
    assert summary["deleted-data-files"] == str(result.files_rewritten)


def test_redelivered_batch_commits_nothing(catalog: Catalog) -> None:
    update = updates([violation_id(i) for i in range(1, 50)], 10**25)
    first = merge(catalog, update)
    snapshots = len(catalog.load_table(VIOLATIONS_TABLE).snapshots())

    again = merge(catalog, update)

    assert first.rows_updated == 49
    assert again.rows_updated == 0 and again.rows_stale == 49
    assert again.snapshot_id is None and again.files_rewritten == 0
    assert len(catalog.load_table(VIOLATIONS_TABLE).snapshots()) == snapshots


def test_without_a_version_column_matched_rows_always_update(catalog: Catalog) -> None:
    update = updates([violation_id(i) for i in range(1, 30)], 1, label="unversioned")
    expected, _ = reference(table_rows(catalog), update, versioned=False)

    result = merge(catalog, update, version_column=None)

    assert result.rows_updated == 29
    assert_same_rows(table_rows(catalog), expected)


def test_rewritten_files_stay_in_their_partition(catalog: Catalog) -> None:
    table = catalog.load_table(VIOLATIONS_TABLE)
    old = {t.file.file_path: t.file.partition for t in table.scan().plan_files()}

    merge(catalog, updates([violation_id(5), violation_id(ROWS - 5)], 10**25))

    new = {
        t.file.file_path: t.file.partition
        for t in catalog.load_table(VIOLATIONS_TABLE).scan().plan_files()
    }
    assert sorted(map(str, old.values())) == sorted(map(str, new.values()))
    for path in set(new) - set(old):
        assert "/violation_month=" in path


def test_concurrent_writer_on_the_same_file_conflicts_and_a_retry_is_correct(
    catalog: Catalog,
) -> None:
    first = catalog.load_table(VIOLATIONS_TABLE)
    second = catalog.load_table(VIOLATIONS_TABLE)  # both planned from the same snapshot
    update_a = updates([violation_id(i) for i in range(1, 40)], 10**25, label="a")
    update_b = updates([violation_id(i) for i in range(20, 60)], 10**26, label="b")
    expected, _ = reference(table_rows(catalog), update_a)
    expected, _ = reference(expected, update_b)

    merge_rows(first, update_a, KEY, BEDROCK_COLUMNS, version_column=VERSION)
    with pytest.raises(LakeCommitConflict, match=r"silver\.violations"):
        merge_rows(second, update_b, KEY, BEDROCK_COLUMNS, version_column=VERSION)
    retried = merge(catalog, update_b)  # what the state machine's Retry does: re-load, re-plan

    assert retried.rows_updated == 40
    assert_same_rows(table_rows(catalog), expected)


def test_concurrent_writers_on_different_files_both_land(catalog: Catalog) -> None:
    first = catalog.load_table(VIOLATIONS_TABLE)
    second = catalog.load_table(VIOLATIONS_TABLE)
    update_a = updates([violation_id(i) for i in range(1, 20)], 10**25, label="a")
    update_b = updates([violation_id(i) for i in range(ROWS - 20, ROWS)], 10**25, label="b")
    expected, _ = reference(table_rows(catalog), update_a)
    expected, _ = reference(expected, update_b)

    merge_rows(first, update_a, KEY, BEDROCK_COLUMNS, version_column=VERSION)
    merge_rows(second, update_b, KEY, BEDROCK_COLUMNS, version_column=VERSION)

    assert_same_rows(table_rows(catalog), expected)


def test_racing_threads_with_retries_end_correct(catalog: Catalog) -> None:
    batches = [
        updates(
            [violation_id(i) for i in range(1 + 10 * n, 80 + 10 * n)], 10**25 * (n + 1), f"w{n}"
        )
        for n in range(3)
    ]
    expected = table_rows(catalog)
    for batch in batches:  # every batch is newer than the one before, so order does not matter
        expected, _ = reference(expected, batch)
    conflicts: list[int] = []

    def writer(batch: pa.Table) -> None:
        for _ in range(20):
            try:
                merge(catalog, batch)
                return
            except LakeCommitConflict:
                conflicts.append(1)
        raise AssertionError("never committed")

    threads = [threading.Thread(target=writer, args=(b,)) for b in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert_same_rows(table_rows(catalog), expected)


def test_invalid_updates_are_rejected(catalog: Catalog) -> None:
    table = catalog.load_table(VIOLATIONS_TABLE)
    twice = updates([violation_id(1), violation_id(1)], 10**25)
    with pytest.raises(ValueError, match="duplicate"):
        merge_rows(table, twice, KEY, BEDROCK_COLUMNS)
    with pytest.raises(ValueError, match="cannot be updated"):
        merge_rows(table, updates([violation_id(1)], 1), KEY, [KEY, "bedrock_title"])
    with pytest.raises(ValueError, match="lack column"):
        merge_rows(table, updates([violation_id(1)], 1).drop_columns(["tags"]), KEY, ["tags"])
    with pytest.raises(ValueError, match="version column"):
        merge_rows(
            table, updates([violation_id(1)], 1), KEY, ["bedrock_title"], version_column=VERSION
        )


def test_empty_updates_and_empty_tables_change_nothing(catalog: Catalog, tmp_path: Path) -> None:
    nothing = merge(catalog, updates([], 1))
    assert (nothing.rows_matched, nothing.snapshot_id, nothing.unmatched_keys) == (0, None, [])
    empty = catalog_from_env({"LAKE_WAREHOUSE": str(tmp_path / "empty")})
    seed_violations(empty, 0)
    result = merge(empty, updates(["A", "B"], 1))
    assert result.unmatched_keys == ["A", "B"] and result.snapshot_id is None
