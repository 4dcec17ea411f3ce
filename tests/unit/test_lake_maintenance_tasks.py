"""Lake maintenance in process: compaction keeps every row and conflicts with a concurrent
writer of the same partition, expiry keeps what it must, orphan removal spares young files."""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyiceberg.catalog import Catalog
from pyiceberg.expressions import visitors
from pyiceberg.table import Table

from devkit.lake_maintenance import load_like_the_loader, sale_records
from devkit.violations_sync import seed_violations
from schemas.sale_dual_write import LAKE_TABLE
from schemas.violations_sync import VIOLATIONS_TABLE
from tasks.common.lake import LakeCommitConflict, catalog_from_env, write_files
from tasks.common.lake.compact import compact
from tasks.common.lake.housekeeping import (
    expire_snapshots,
    local_root,
    referenced_files,
    remove_orphan_files,
)
from tasks.lake_maintenance.compact_files import compact_files
from tasks.lake_maintenance.errors import InvalidMaintenanceRequest
from tasks.lake_maintenance.expire_snapshots import expire_snapshots as expire_task
from tasks.lake_maintenance.remove_orphan_files import remove_orphan_files as orphans_task
from tasks.sale_dual_write.load_lake_batch import append_new

DAY = 24 * 3600


@pytest.fixture
def catalog(tmp_path: Path) -> Catalog:
    return catalog_from_env({"LAKE_WAREHOUSE": str(tmp_path / "lake")})


def small_writes(catalog: Catalog, tenant: str = "tenant-a", sales: int = 24) -> Table:
    """SALES sales in commits of 4 (dates spread over ~11 months), as the loader writes."""
    load_like_the_loader(catalog, sale_records(tenant, range(sales)), batch=4)
    return catalog.load_table(LAKE_TABLE)


def rows(table: Table) -> Counter[tuple[Any, ...]]:
    """The table's rows as a multiset (every column but the embedding, by value)."""
    data = table.scan().to_arrow().drop_columns(["embedding_vector"])
    return Counter(tuple(r.values()) for r in data.to_pylist())


def files_per_partition(table: Table) -> Counter[tuple[Any, ...]]:
    return Counter(tuple(t.file.partition) for t in table.scan().plan_files())


def test_compaction_leaves_one_file_per_partition_and_the_same_rows(catalog: Catalog) -> None:
    table = small_writes(catalog)
    before, files_before = rows(table), files_per_partition(table)
    assert max(files_before.values()) > 1
    in_small_partitions = sum(
        t.file.record_count
        for t in table.scan().plan_files()
        if files_before[tuple(t.file.partition)] > 1
    )

    result = compact(table)

    table = catalog.load_table(LAKE_TABLE)
    assert rows(table) == before
    assert set(files_per_partition(table).values()) == {1}
    assert files_per_partition(table).keys() == files_before.keys()
    assert result.files_rewritten == sum(n for n in files_before.values() if n > 1)
    assert result.rows_rewritten == in_small_partitions
    assert table.current_snapshot().summary["operation"].value == "overwrite"  # type: ignore[union-attr]


def test_a_second_compaction_commits_nothing(catalog: Catalog) -> None:
    table = small_writes(catalog)
    compact(table)
    table = catalog.load_table(LAKE_TABLE)
    snapshots = len(table.metadata.snapshots)

    again = compact(table)

    assert again.partitions_compacted == 0 and again.snapshot_ids == []
    assert len(catalog.load_table(LAKE_TABLE).metadata.snapshots) == snapshots


def test_a_manifest_evaluated_between_another_ones_steps_does_not_fail_a_lone_compaction(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pyiceberg finds the files a compaction deletes by reading the parent snapshot's
    manifests in worker threads through ONE manifest evaluator; another thread's evaluation
    may run between this one taking its manifest's partition summaries and reading them
    (a thread switch, likelier under load). Here it always does: each evaluation first
    evaluates another tenant's manifest, in the same thread. The compaction, the table's
    only writer, must still find every file it rewrites and commit, with the same rows."""
    load_like_the_loader(catalog, sale_records("tenant-b", range(4)), batch=4)
    tenant_b = catalog.load_table(LAKE_TABLE)
    [other] = tenant_b.current_snapshot().manifests(tenant_b.io)  # type: ignore[union-attr]
    table = small_writes(catalog)
    before, files_before = rows(table), files_per_partition(table)
    assert max(files_before.values()) > 1
    visit, nested = visitors.visit, threading.local()

    def another_evaluation_in_between(obj: Any, visitor: Any) -> Any:
        if isinstance(visitor, visitors._ManifestEvalVisitor) and not getattr(nested, "on", 0):
            nested.on = 1
            try:
                visitor.eval(other)  # what another worker thread's evaluation does meanwhile
            finally:
                nested.on = 0
        return visit(obj, visitor)

    monkeypatch.setattr(visitors, "visit", another_evaluation_in_between)

    result = compact(table)

    table = catalog.load_table(LAKE_TABLE)
    assert rows(table) == before
    assert result.files_rewritten == sum(n for n in files_before.values() if n > 1)
    assert set(files_per_partition(table).values()) == {1}


def test_a_writer_committing_to_the_partition_during_compaction_makes_it_conflict(
    catalog: Catalog,
) -> None:
    stale = small_writes(catalog)  # the compaction planned against this snapshot
    before = rows(stale)
    # Meanwhile the loader appends a sale to the partition with the most files.
    [(partition, _)] = files_per_partition(stale).most_common(1)
    extra = [
        r
        for r in sale_records("tenant-a", range(24, 400))
        if (r.saleDate.year, r.saleDate.month) == partition[1:]
    ]
    append_new(catalog.load_table(LAKE_TABLE), extra[:1])

    with pytest.raises(LakeCommitConflict):
        compact(stale)

    # Nothing of the compaction landed; run again (as the state machine's retry does).
    table = catalog.load_table(LAKE_TABLE)
    assert sum(rows(table).values()) == sum(before.values()) + 1
    compact(table)
    after = catalog.load_table(LAKE_TABLE)
    assert sum(rows(after).values()) == sum(before.values()) + 1
    assert set(files_per_partition(after).values()) == {1}


def test_the_loader_committing_after_a_compaction_adds_its_sales_once(
    catalog: Catalog,
) -> None:
    """The loader's commit meets the compaction's (which rewrote every file): it checks its
    sales again on the compacted table, finds none of them there, and commits the files it
    wrote on it. Nothing is duplicated, nothing the compaction wrote is lost."""
    stale = small_writes(catalog)  # the loader checked for present sales against this
    new = sale_records("tenant-a", range(24, 28))
    compact(catalog.load_table(LAKE_TABLE))

    done = append_new(stale, new + sale_records("tenant-a", range(3)))
    assert (done.appended, done.present, done.commits) == (4, 3, 2)  # 0-2 stored before

    again = append_new(catalog.load_table(LAKE_TABLE), new)
    assert (again.appended, again.present, again.snapshot_id) == (0, 4, None)
    ids = Counter(
        r["sale_id"]
        for r in catalog.load_table(LAKE_TABLE).scan().to_arrow().select(["sale_id"]).to_pylist()
    )
    assert len(ids) == 28 and set(ids.values()) == {1}


def test_expiry_removes_snapshots_before_the_cutoff_and_the_files_only_they_held(
    catalog: Catalog,
) -> None:
    table = small_writes(catalog)
    compact(table)
    table = catalog.load_table(LAKE_TABLE)
    snapshots = sorted(table.metadata.snapshots, key=lambda s: s.timestamp_ms)
    data_before = rows(table)
    live = {t.file.file_path for t in table.scan().plan_files()}
    cutoff = snapshots[-1].timestamp_ms  # every snapshot before the compaction's last one

    result = expire_snapshots(table, datetime.fromtimestamp(cutoff / 1000, UTC))

    table = catalog.load_table(LAKE_TABLE)
    kept = {s.snapshot_id for s in table.metadata.snapshots}
    assert kept == {s.snapshot_id for s in snapshots if s.timestamp_ms >= cutoff}
    assert result.snapshots_expired == len(snapshots) - len(kept) > 0
    assert rows(table) == data_before
    on_disk = {str(p) for p in (local_root(table) / "data").rglob("*.parquet")}  # type: ignore[operator]
    assert on_disk == {p.removeprefix("file://") for p in live}
    assert result.files_deleted > 0
    assert expire_snapshots(table, datetime.now(UTC)).snapshots_expired == 0


def test_expiry_never_removes_the_current_snapshot_or_the_newest_kept(catalog: Catalog) -> None:
    table = small_writes(catalog, sales=12)
    newest = sorted(table.metadata.snapshots, key=lambda s: s.timestamp_ms)[-2:]

    expire_snapshots(table, datetime.now(UTC) + timedelta(days=1), retain_last=2)

    table = catalog.load_table(LAKE_TABLE)
    assert {s.snapshot_id for s in table.metadata.snapshots} == {s.snapshot_id for s in newest}
    assert sum(rows(table).values()) == 12


def test_orphan_removal_deletes_old_unreferenced_files_and_spares_young_ones(
    catalog: Catalog,
) -> None:
    table = small_writes(catalog, sales=12)
    root = local_root(table)
    assert root is not None
    old = root / "data" / "tenant_id=tenant-a" / "crashed-writer.parquet"
    young = root / "data" / "tenant_id=tenant-a" / "running-writer.parquet"
    stray_metadata = root / "metadata" / "00000-crashed.metadata.json"
    for path in (old, young, stray_metadata):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"not committed")
    four_days_ago = time.time() - 4 * DAY
    os.utime(old, (four_days_ago, four_days_ago))
    os.utime(stray_metadata, (four_days_ago, four_days_ago))
    referenced = {p.removeprefix("file://") for p in referenced_files(table)}
    before = rows(table)

    result = remove_orphan_files(table, datetime.now(UTC) - timedelta(days=3))

    assert not old.exists() and not stray_metadata.exists() and young.exists()
    assert result.orphans_removed >= 2 and result.orphans_too_young >= 1
    assert all(os.path.exists(p) for p in referenced)
    assert rows(catalog.load_table(LAKE_TABLE)) == before


def test_the_tasks_pass_the_state_on_with_their_section(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    small_writes(catalog)
    monkeypatch.setenv("LAKE_SNAPSHOT_MAX_AGE_SECONDS", "0")
    state: dict[str, Any] = {"request": {"table": LAKE_TABLE}}

    state = compact_files(state, catalog).model_dump(mode="json")
    state = expire_task(state, catalog).model_dump(mode="json")
    state = orphans_task(state, catalog).model_dump(mode="json")

    assert state["request"] == {
        "table": LAKE_TABLE,
        **dict.fromkeys(
            [
                "targetFileBytes",
                "snapshotMaxAgeSeconds",
                "orphanMinAgeSeconds",
                "retainLast",
                "compactRoundSeconds",
            ]
        ),
    }
    assert state["compaction"]["rounds"] == 1 and state["compaction"]["remaining"] == 0
    assert state["compaction"]["filesAfter"] < state["compaction"]["filesBefore"]
    assert state["expiry"]["snapshotsKept"] == 1 and state["expiry"]["snapshotsExpired"] > 0
    assert state["orphans"]["deletion"] == "done"


@pytest.mark.parametrize(
    ("request_", "named"),
    [
        ({"table": "pricing.nope"}, "pricing.nope"),
        ({"table": "no_namespace"}, "request.table"),
        ({"table": LAKE_TABLE, "orphanMinAgeSeconds": 5}, "request.orphanMinAgeSeconds"),
        ({"table": LAKE_TABLE, "vacuum": True}, "request.vacuum"),
    ],
)
def test_a_bad_request_is_refused_naming_what_is_wrong(
    catalog: Catalog, request_: dict[str, Any], named: str
) -> None:
    small_writes(catalog, sales=4)
    snapshots = len(catalog.load_table(LAKE_TABLE).metadata.snapshots)

    with pytest.raises(InvalidMaintenanceRequest, match=named.replace(".", r"\.")):
        compact_files({"request": request_}, catalog)

    assert len(catalog.load_table(LAKE_TABLE).metadata.snapshots) == snapshots


def test_a_sorted_table_with_month_partitions_is_compacted_in_its_sort_order(
    catalog: Catalog,
) -> None:
    table = seed_violations(catalog, 2_000, months=3, files_per_month=4)
    before = table.scan().to_arrow().sort_by("violation_id")
    # A writer appending out of order, as MERGE-free loads do.
    write_files(table, [before.slice(0, 50).sort_by([("violation_id", "descending")])])
    table = catalog.load_table(VIOLATIONS_TABLE)

    result = compact(table)

    table = catalog.load_table(VIOLATIONS_TABLE)
    assert result.partitions_compacted == 3
    assert set(files_per_partition(table).values()) == {1}
    for task in table.scan().plan_files():
        ids = pq.read_table(task.file.file_path.removeprefix("file://"))["violation_id"]
        assert ids.to_pylist() == sorted(ids.to_pylist())
    after = table.scan().to_arrow().sort_by("violation_id")
    assert after.num_rows == before.num_rows + 50
    expected = pa.concat_tables([before, before.slice(0, 50)]).sort_by("violation_id")
    assert after.equals(expected)
