"""The lake loader: one commit per batch, exactly one row per sale, only stored sales."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pyiceberg.catalog import Catalog

from devkit.sale_dual_write import sale_envelope, sale_event
from schemas.sale_dual_write import LAKE_TABLE, LakeMessage, SaleRecord, SaleSoldEvent
from sluice.testing import in_process_aws
from tasks.common.lake import LakeCommitConflict, catalog_from_env
from tasks.sale_dual_write import load_lake_batch
from tasks.sale_dual_write.errors import InvalidLakeBatchError

TABLE = "sluice-SalesIntelligence"
NOW = datetime(2025, 12, 30, 12, 0, tzinfo=UTC)


@pytest.fixture
def ddb(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv(load_lake_batch.TABLE_ENV, TABLE)
    with in_process_aws({}) as moto:
        moto.create_table(TABLE, "PK", "SK")
        client = moto.client("dynamodb")
        yield client


@pytest.fixture
def catalog(tmp_path: Path) -> Catalog:
    return catalog_from_env({"LAKE_WAREHOUSE": str(tmp_path / "lake")})


def record(i: int, tenant: str = "tenant-a", **overrides: Any) -> SaleRecord:
    event = SaleSoldEvent.model_validate(sale_envelope(sale_event(i, tenant, **overrides)))
    return SaleRecord.from_event(event, NOW)


def store(ddb: Any, *records: SaleRecord) -> None:
    for r in records:
        ddb.put_item(TableName=TABLE, Item=r.to_dynamodb_item())


def sqs_record(r: SaleRecord, message_id: str | None = None) -> dict[str, Any]:
    body = LakeMessage(
        saleId=r.saleId, tenantId=r.tenantId, productId=r.productId, PK=r.PK, SK=r.SK
    ).model_dump_json()
    return {
        "messageId": message_id or str(uuid.uuid4()),
        "receiptHandle": "rh",
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": "1767096000000",
            "SenderId": "AIDA",
            "ApproximateFirstReceiveTimestamp": "1767096000000",
        },
        "messageAttributes": {},
        "md5OfBody": "0" * 32,
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:sluice-sale-lake",
        "awsRegion": "us-east-1",
    }


def snapshots(catalog: Catalog) -> int:
    return len(catalog.load_table(LAKE_TABLE).metadata.snapshots)


def sale_ids(catalog: Catalog) -> list[str]:
    rows = catalog.load_table(LAKE_TABLE).scan(selected_fields=("sale_id",)).to_arrow()
    return sorted(rows.column("sale_id").to_pylist())


def test_a_batch_is_one_commit_partitioned_and_redelivery_adds_nothing(
    ddb: Any, catalog: Catalog
) -> None:
    records = [record(i) for i in range(6)] + [record(0, "tenant-b")]
    store(ddb, *records)
    batch = [sqs_record(r) for r in records]

    summary = load_lake_batch.load_batch(batch, catalog, ddb)

    assert summary.batchItemFailures == []
    assert (summary.appended, summary.alreadyInLake, summary.commits) == (7, 0, 1)
    assert snapshots(catalog) == 1
    assert sale_ids(catalog) == sorted(r.saleId for r in records)
    table = catalog.load_table(LAKE_TABLE)
    paths = [t.file.file_path for t in table.scan().plan_files()]
    assert all("/tenant_id=" in p and "/year=2025/month=" in p for p in paths)
    assert any("/tenant_id=tenant-b/" in p for p in paths)
    [row] = table.scan(row_filter=f"sale_id == '{records[0].saleId}'").to_arrow().to_pylist()
    assert row["embedding_vector"] == json.loads(records[0].embedding)

    again = load_lake_batch.load_batch(batch, catalog, ddb)
    assert (again.appended, again.alreadyInLake, again.snapshotId) == (0, 7, None)
    assert snapshots(catalog) == 1


def test_only_new_sales_are_appended_and_duplicates_in_a_batch_collapse(
    ddb: Any, catalog: Catalog
) -> None:
    old, new = record(1), record(2)
    store(ddb, old, new)
    load_lake_batch.load_batch([sqs_record(old)], catalog, ddb)

    summary = load_lake_batch.load_batch(
        [sqs_record(old), sqs_record(new), sqs_record(new)], catalog, ddb
    )

    assert (summary.messages, summary.sales) == (3, 2)
    assert (summary.appended, summary.alreadyInLake) == (1, 1)
    assert snapshots(catalog) == 2
    assert sale_ids(catalog) == sorted([old.saleId, new.saleId])


def test_unstored_sales_and_malformed_messages_fail_alone(ddb: Any, catalog: Catalog) -> None:
    stored, unstored = record(1), record(2)
    store(ddb, stored)
    bad = {**sqs_record(stored, "m-bad"), "body": json.dumps({"saleId": "x"})}
    batch = [sqs_record(stored, "m-ok"), sqs_record(unstored, "m-later"), bad]

    summary = load_lake_batch.load_batch(batch, catalog, ddb)

    failed = sorted(f["itemIdentifier"] for f in summary.batchItemFailures)
    assert failed == ["m-bad", "m-later"]
    assert summary.notYetStored == [unstored.saleId]
    assert sale_ids(catalog) == [stored.saleId]


def files_on_disk_are_the_tables(catalog: Catalog) -> bool:
    table = catalog.load_table(LAKE_TABLE)
    live = {t.file.file_path.removeprefix("file://") for t in table.scan().plan_files()}
    location = table.location().removeprefix("file://")
    return {str(p) for p in Path(location).rglob("*.parquet")} == live


def test_a_commit_meeting_another_writers_lands_when_none_of_its_sales_arrived(
    ddb: Any, catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two loaders check at once; the other commits first. This one's commit conflicts,
    it checks its sales again at the new head, finds none, and commits the files it wrote
    there: one snapshot each, every sale once, no file left over."""
    first, second, other = record(1), record(2), record(3)
    load_lake_batch.append_new(load_lake_batch.lake_table(catalog), [record(0)])
    checked = load_lake_batch.lake_table(catalog)  # this loader checks against it
    load_lake_batch.append_new(load_lake_batch.lake_table(catalog), [other])
    commits: list[LakeCommitConflict | None] = []
    commit = load_lake_batch.commit_appended

    def counted(*args: Any) -> int:
        try:
            snapshot_id = commit(*args)
        except LakeCommitConflict as conflict:
            commits.append(conflict)
            raise
        commits.append(None)
        return snapshot_id

    monkeypatch.setattr(load_lake_batch, "commit_appended", counted)
    done = load_lake_batch.append_new(checked, [first, second])

    assert (done.appended, done.present, done.commits) == (2, 0, 2)
    assert [c is None for c in commits] == [False, True]  # a conflict, then on the new head
    assert done.snapshot_id == catalog.load_table(LAKE_TABLE).current_snapshot().snapshot_id  # type: ignore[union-attr]
    assert snapshots(catalog) == 3
    assert sale_ids(catalog) == sorted(r.saleId for r in (record(0), first, second, other))
    assert files_on_disk_are_the_tables(catalog)


def test_commits_that_keep_meeting_others_give_up_to_the_state_machine(
    ddb: Any, catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After COMMIT_ATTEMPTS conflicts the batch fails with LakeCommitConflict (the state
    machine's Retry takes it from there), and the files written for it are deleted."""
    load_lake_batch.append_new(load_lake_batch.lake_table(catalog), [record(0)])
    attempts = []

    def always_conflicts(*args: Any) -> int:
        attempts.append(args)
        raise LakeCommitConflict("another writer committed first")

    monkeypatch.setattr(load_lake_batch, "commit_appended", always_conflicts)
    with pytest.raises(LakeCommitConflict):
        load_lake_batch.append_new(load_lake_batch.lake_table(catalog), [record(1)])
    assert len(attempts) == load_lake_batch.COMMIT_ATTEMPTS
    assert sale_ids(catalog) == [record(0).saleId]
    assert files_on_disk_are_the_tables(catalog)


def test_a_concurrent_commit_of_the_same_sale_is_a_conflict_not_a_duplicate(
    ddb: Any, catalog: Catalog
) -> None:
    first, second = record(1), record(2)
    stale = load_lake_batch.lake_table(catalog)
    load_lake_batch.append_new(load_lake_batch.lake_table(catalog), [first])

    with pytest.raises(LakeCommitConflict):
        load_lake_batch.append_new(stale, [first, second])
    assert files_on_disk_are_the_tables(catalog)
    # The retry (ASL Retry on LakeCommitConflict) re-reads and appends only what is new.
    done = load_lake_batch.append_new(load_lake_batch.lake_table(catalog), [first, second])
    assert (done.appended, done.present, done.commits) == (1, 1, 1)
    assert sale_ids(catalog) == sorted([first.saleId, second.saleId])


def test_an_input_that_is_not_a_batch_is_rejected(catalog: Catalog) -> None:
    with pytest.raises(InvalidLakeBatchError, match=r"0\.messageId"):
        load_lake_batch.load_batch([{"body": "{}"}], catalog)
