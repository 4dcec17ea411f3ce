"""lake_maintenance through its real trigger: a "Lake Maintenance Requested" event on the
default bus -> the table's rule (the same rule that runs on the schedule) -> Standard SM ->
compaction, snapshot expiry, orphan removal on `pricing.sales_history`.

The stack is this module's own (the project's template with its `local` parameters), so no
other test's writer touches the lake while the assertions read the whole table.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pyiceberg.catalog import Catalog
from pyiceberg.table import Table

from devkit.lake_maintenance import load_like_the_loader, sale_records, start_through_the_rule
from devkit.sale_dual_write import lake_warehouse
from schemas.sale_dual_write import LAKE_TABLE
from sluice.testing import Execution, StackProcess, project_stack, wait_for
from tasks.common.lake import LakeCommitConflict, catalog_from_env
from tasks.common.lake.compact import partition_values
from tasks.common.lake.housekeeping import local_root
from tasks.common.lake_sql import duckdb_connection
from tasks.sale_dual_write.load_lake_batch import append_new, lake_table

FLOW = "lake_maintenance"
ROOT = Path(__file__).resolve().parents[2]
DAY = 24 * 3600


@pytest.fixture(scope="module")
def lake_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackProcess]:
    stack = project_stack(ROOT, tmp_path_factory.mktemp("lake-maintenance"))
    yield stack
    stack.stop()


def catalog_of(stack: StackProcess) -> Catalog:
    return catalog_from_env({"LAKE_WAREHOUSE": str(lake_warehouse(stack.gateway))})


def table_rows(catalog: Catalog) -> Counter[tuple[Any, ...]]:
    """Every row of the table, read with DuckDB, as a multiset of whole rows."""
    result = duckdb_connection(catalog).sql(f"SELECT * FROM {LAKE_TABLE}")
    return Counter(
        tuple(tuple(v) if isinstance(v, list) else v for v in row) for row in result.fetchall()
    )


def files_per_partition(table: Table) -> Counter[tuple[Any, ...]]:
    return Counter(partition_values(t) for t in table.scan().plan_files())


def run_through_the_rule(stack: StackProcess, timeout: float = 180) -> Execution:
    """The execution a maintenance request starts, once it ended."""
    return stack.execution(start_through_the_rule(stack.gateway, LAKE_TABLE), timeout=timeout)


def plant_orphans(table: Table) -> tuple[Path, Path]:
    """A crashed writer's file from four days ago and a running writer's file from now."""
    root = local_root(table)
    assert root is not None
    old, young = root / "data" / "crashed-writer.parquet", root / "data" / "running-writer.parquet"
    for path in (old, young):
        path.write_bytes(b"never committed")
    os.utime(old, (time.time() - 4 * DAY,) * 2)
    return old, young


@pytest.mark.built
def test_the_rule_compacts_each_partition_expires_snapshots_and_removes_orphans(
    lake_stack: StackProcess,
) -> None:
    catalog = catalog_of(lake_stack)
    load_like_the_loader(catalog, sale_records("tenant-small", range(48)), batch=3)
    table = catalog.load_table(LAKE_TABLE)
    files_before, rows_before = files_per_partition(table), table_rows(catalog)
    snapshots_before = {s.snapshot_id for s in table.metadata.snapshots}
    old_orphan, young_orphan = plant_orphans(table)
    assert max(files_before.values()) >= 3 and len(snapshots_before) == 16

    run = run_through_the_rule(lake_stack)

    assert run.status == "SUCCEEDED", run.cause
    assert run.input == {"table": LAKE_TABLE}  # the rule's constant input
    table = catalog.load_table(LAKE_TABLE)
    files_after = files_per_partition(table)
    assert files_after.keys() == files_before.keys() and set(files_after.values()) == {1}
    assert table_rows(catalog) == rows_before
    # Snapshots older than the local maximum age (0 s) are gone: only the head is left.
    assert [s.snapshot_id for s in table.metadata.snapshots] == [
        table.current_snapshot().snapshot_id
    ]  # type: ignore[union-attr]
    assert not snapshots_before & {s.snapshot_id for s in table.metadata.snapshots}
    assert not old_orphan.exists() and young_orphan.exists()
    out = run.output
    assert out["compaction"]["filesBefore"] == sum(files_before.values())
    assert out["compaction"]["filesAfter"] == len(files_after)
    assert out["expiry"]["snapshotsExpired"] >= len(snapshots_before)
    assert out["orphans"]["orphansRemoved"] >= 1 and out["orphans"]["orphansTooYoung"] >= 1
    # Only the live files are left in data/ (besides the young orphan).
    on_disk = {str(p) for p in (local_root(table) / "data").rglob("*.parquet")}  # type: ignore[operator]
    live = {t.file.file_path.removeprefix("file://") for t in table.scan().plan_files()}
    assert on_disk == live | {str(young_orphan)}
    young_orphan.unlink()


def test_a_second_run_changes_nothing(lake_stack: StackProcess) -> None:
    catalog = catalog_of(lake_stack)
    load_like_the_loader(catalog, sale_records("tenant-twice", range(12)), batch=2)
    first = run_through_the_rule(lake_stack)
    assert first.status == "SUCCEEDED", first.cause
    table = catalog.load_table(LAKE_TABLE)
    metadata, files = table.metadata_location, {t.file.file_path for t in table.scan().plan_files()}

    second = run_through_the_rule(lake_stack)

    assert second.status == "SUCCEEDED", second.cause
    assert second.output["compaction"]["partitionsCompacted"] == 0
    assert second.output["expiry"]["snapshotsExpired"] == 0
    assert second.output["orphans"]["orphansRemoved"] == 0
    table = catalog.load_table(LAKE_TABLE)
    assert table.metadata_location == metadata  # not one commit
    assert {t.file.file_path for t in table.scan().plan_files()} == files


def test_rounds_go_on_until_no_partition_is_left_and_a_conflict_is_retried(
    lake_stack: StackProcess,
) -> None:
    catalog = catalog_of(lake_stack)
    load_like_the_loader(catalog, sale_records("tenant-rounds", range(18)), batch=3)
    before = table_rows(catalog)
    lake_stack.inject_fault("LakeCompactFilesFunction", "LakeCommitConflict")

    # Started by hand (as `sluice exec` does), one partition per round.
    run = lake_stack.run(FLOW, {"table": LAKE_TABLE, "compactRoundSeconds": 0}, timeout=180)

    assert run.status == "SUCCEEDED", run.cause
    compaction = run.output["compaction"]
    assert compaction["rounds"] == compaction["partitionsCompacted"] > 1
    assert compaction["remaining"] == 0 and run_conflicts(run.events) == 1
    assert table_rows(catalog) == before
    assert set(files_per_partition(catalog.load_table(LAKE_TABLE)).values()) == {1}


def test_a_writer_committing_during_compaction_loses_and_doubles_no_row(
    lake_stack: StackProcess,
) -> None:
    catalog = catalog_of(lake_stack)
    tenant = "tenant-busy"
    load_like_the_loader(catalog, sale_records(tenant, range(30)), batch=3)
    before = table_rows(catalog)
    arn = start_through_the_rule(lake_stack.gateway, LAKE_TABLE)
    history = History(lake_stack, arn)
    wait_for(lambda: history.compaction_started(), timeout=60, what="CompactFiles running")

    # The loader's commit, one sale at a time, until one side's commit has conflicted.
    writer = Writer(catalog, sale_records(tenant, range(30, 90)), until=history.conflicts)
    writer.run()
    run = lake_stack.execution(arn, timeout=240)

    assert run.status == "SUCCEEDED", run.cause
    assert writer.written and writer.conflicts + run_conflicts(run.events) > 0
    after = table_rows(catalog)
    ids_after = Counter(row[0] for row in after)
    expected = {row[0] for row in before} | {r.saleId for r in writer.written}
    assert set(ids_after) == expected and set(ids_after.values()) == {1}
    assert before - after == Counter()  # every row there before is there, unchanged


def run_conflicts(events: list[dict[str, Any]]) -> int:
    """How often a maintenance task failed with LakeCommitConflict (and was retried)."""
    return sum(
        1
        for e in events
        for key in ("taskFailedEventDetails", "lambdaFunctionFailedEventDetails")
        if e.get(key, {}).get("error") == "LakeCommitConflict"
    )


class History:
    """A running execution's history, read again on each question."""

    def __init__(self, stack: StackProcess, arn: str) -> None:
        self.sfn, self.arn = stack.client("stepfunctions"), arn

    def events(self) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = self.sfn.get_execution_history(
            executionArn=self.arn, maxResults=1000
        )["events"]
        return events

    def compaction_started(self) -> bool:
        return any(e["type"] in ("TaskStarted", "LambdaFunctionStarted") for e in self.events())

    def conflicts(self) -> int:
        return run_conflicts(self.events())


class Writer:
    """The lake loader's commit, one sale per commit, retried on conflict like its state
    machine does, until a commit of its own or of the compaction has conflicted. The
    loader's own conflicts are those it raised and those it met and committed past, on the
    newer table (its `commits` beyond the first)."""

    def __init__(self, catalog: Catalog, records: list[Any], until: Callable[[], int]) -> None:
        self.catalog, self.pending, self.until = catalog, list(records), until
        self.written: list[Any] = []
        self.conflicts = 0

    def run(self) -> None:
        while self.pending:
            try:
                done = append_new(lake_table(self.catalog), self.pending[:1])
            except LakeCommitConflict:
                self.conflicts += 1
                continue  # the same sale again, as the loader's Retry does
            self.conflicts += done.commits - 1
            self.written.append(self.pending.pop(0))
            if self.conflicts or self.until():
                return


def test_a_request_for_a_table_the_lake_lacks_fails_naming_it(lake_stack: StackProcess) -> None:
    result = lake_stack.cli(
        "exec", FLOW, "--input", '{"table": "pricing.nope"}', "--wait", "--json"
    )

    assert "InvalidMaintenanceRequest" in result.stdout, result.stdout + result.stderr
    assert "pricing.nope" in result.stdout


def test_the_schedule_starts_a_run_for_each_lake_table(lake_stack: StackProcess) -> None:
    """Each table's rule has the template's ScheduleExpression (rate(1 day)): at a time
    scale of 1/20000 a day passes in 4.3 s, and each rule starts the machine for its table."""
    sfn = lake_stack.client("stepfunctions")
    before = {e["executionArn"] for e in lake_stack.executions(FLOW)}

    def started() -> list[dict[str, Any]]:
        return [e for e in lake_stack.executions(FLOW) if e["executionArn"] not in before]

    def tables_started() -> set[str] | None:
        inputs = [sfn.describe_execution(executionArn=e["executionArn"]) for e in started()]
        tables = {json.loads(d["input"])["table"] for d in inputs}
        return tables if len(tables) == 2 else None

    with lake_stack.time_scale(1 / 20000):
        tables = wait_for(tables_started, timeout=120, what="a scheduled run per table")
    assert tables == {LAKE_TABLE, "silver.violations"}
    wait_for(
        lambda: all(e["status"] != "RUNNING" for e in started()) or None,
        timeout=180,
        what="the scheduled runs to end",
    )
