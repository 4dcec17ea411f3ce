"""LoadLakeBatch: a Pipe batch of lake messages -> ONE commit to `pricing.sales_history`.

Input: the Pipe's batch of SQS records; each body is a `LakeMessage` (the sale's DynamoDB
key). Output (`LoadSummary`)::

    {"batchItemFailures": [{"itemIdentifier": "<messageId>"}], "messages": 100, "sales": 99,
     "appended": 97, "alreadyInLake": 2, "notYetStored": ["SALE-..."], "snapshotId": 4983...}

- Rows are built from the stored SalesIntelligence records (one BatchGetItem per 100 keys,
  strongly consistent). A sale whose record is not stored yet (the DynamoDB branch still
  running, or failed) is reported as a batch item failure: SQS redelivers it later, and
  after maxReceiveCount it lands in the lake DLQ, so the lake never holds a sale DynamoDB
  lacks.
- Exactly one row per sale: sales already in the table are dropped, and the append commits
  against the snapshot that check read. When another writer committed data first, the
  sales are checked again at the new head and, if none of them arrived meanwhile, the same
  files are committed on it (Iceberg's optimistic commit: validate, then retry), up to
  COMMIT_ATTEMPTS times. A sale that did arrive, or attempts that run out, fail the batch
  with `LakeCommitConflict`, which the state machine retries with backoff; that retry
  reads the records again and sees the other rows.
- A malformed message fails only itself (and reaches the lake DLQ after maxReceiveCount).

Environment: ``SALES_TABLE``, ``LAKE_WAREHOUSE`` and, in AWS, ``LAKE_CATALOG_URI``.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NamedTuple

import boto3
import pyarrow as pa
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser.models import SqsRecordModel
from pydantic import TypeAdapter, ValidationError
from pyiceberg.catalog import Catalog
from pyiceberg.expressions import And
from pyiceberg.table import Table

from schemas.sale_dual_write import (
    FLOW,
    LAKE_KEY,
    LAKE_TABLE,
    LakeMessage,
    LoadSummary,
    SaleRecord,
    lake_row,
)
from schemas.sale_dual_write_lake import (
    LAKE_PARTITION_SPEC,
    LAKE_SCHEMA,
)
from schemas.validation import describe_validation_error
from tasks.common.lake import (
    LakeCommitConflict,
    catalog_from_env,
    commit_appended,
    delete_files,
    ensure_once,
    ensure_table,
    key_in,
    write_data_files,
)
from tasks.common.powertools import model_handler, powertools
from tasks.common.validation import parsed
from tasks.sale_dual_write.errors import InvalidLakeBatchError, SalesTableUnavailableError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

TABLE_ENV = "SALES_TABLE"
BATCH_GET_LIMIT = 100
UNPROCESSED_ATTEMPTS = 5
# Commits of one batch's files, each after checking the sales at the head it commits on:
# a burst's pollers hand several batches to loaders at once, and most of their commits
# meet another's. Retried in process, a conflict costs a check; through the state
# machine's Retry, a backoff and the whole batch again.
COMMIT_ATTEMPTS = 4

logger, tracer, metrics = powertools(FLOW)
_BATCH = TypeAdapter(list[SqsRecordModel])


@functools.cache
def dynamodb_client() -> DynamoDBClient:
    return boto3.client("dynamodb")


def load_batch(
    event: Any, catalog: Catalog | None = None, ddb: DynamoDBClient | None = None
) -> LoadSummary:
    records = parsed(_BATCH, event, InvalidLakeBatchError)

    failed: list[str] = []
    by_sale: dict[str, tuple[LakeMessage, list[str]]] = {}
    for record in records:
        try:
            message = LakeMessage.model_validate_json(str(record.body))
        except ValidationError as exc:
            logger.warning(
                "malformed lake message",
                extra={"messageId": record.messageId, "cause": describe_validation_error(exc)},
            )
            failed.append(record.messageId)
            continue
        # Redelivered or duplicate sends of one sale collapse into one row.
        by_sale.setdefault(message.saleId, (message, []))[1].append(record.messageId)

    stored = _read_records(ddb or dynamodb_client(), [m for m, _ in by_sale.values()])
    missing = sorted(s for s in by_sale if s not in stored)
    for sale in missing:
        failed.extend(by_sale[sale][1])
    if missing:
        logger.warning(
            "sales not stored in DynamoDB yet; SQS will redeliver them",
            extra={"saleIds": missing[:50]},
        )

    done = Appended(0, 0, None, 0)
    if stored:
        done = append_new(lake_table(catalog or catalog_from_env()), stored.values())
    summary = LoadSummary(
        batchItemFailures=[{"itemIdentifier": m} for m in dict.fromkeys(failed)],
        messages=len(records),
        sales=len(by_sale),
        appended=done.appended,
        alreadyInLake=done.present,
        notYetStored=missing,
        snapshotId=done.snapshot_id,
        commits=done.commits,
    )
    logger.info("lake batch loaded", extra=summary.model_dump(exclude={"batchItemFailures"}))
    metrics.add_metric(name="RowsAppended", unit=MetricUnit.Count, value=done.appended)
    metrics.add_metric(name="RowsAlreadyInLake", unit=MetricUnit.Count, value=done.present)
    metrics.add_metric(name="SalesNotYetStored", unit=MetricUnit.Count, value=len(missing))
    return summary


def lake_table(catalog: Catalog) -> Table:
    """`pricing.sales_history`, created on first use in this process, loaded fresh each batch."""
    ensure_once(
        catalog, LAKE_TABLE, lambda c: ensure_table(c, LAKE_TABLE, LAKE_SCHEMA, LAKE_PARTITION_SPEC)
    )
    return catalog.load_table(LAKE_TABLE)


class Appended(NamedTuple):
    appended: int
    present: int  # already in the table
    snapshot_id: int | None  # None: nothing to commit
    commits: int  # attempts: more than one when other writers' commits came first


def append_new(table: Table, records: Iterable[SaleRecord]) -> Appended:
    """Append the sales the table lacks in one commit.

    Each commit is valid only on the snapshot its check read, so a concurrent writer never
    lets a duplicate in: its commit is a conflict, after which the sales are checked at the
    new head; when none of them is there, the files already written are committed on it.
    """
    records = list(records)
    present = _present_sales(table, records)
    new = [r for r in records if r.saleId not in present]
    if not new:
        return Appended(0, len(records), None, 0)
    now = datetime.now(UTC)
    rows = pa.Table.from_pylist([lake_row(r, now) for r in new], schema=LAKE_SCHEMA.as_arrow())
    files = write_data_files(table, [rows])
    for attempt in range(1, COMMIT_ATTEMPTS + 1):
        try:
            snapshot_id = commit_appended(table, files, {"sluice.flow": FLOW})
        except LakeCommitConflict:
            table = table.refresh()
            if attempt == COMMIT_ATTEMPTS or _present_sales(table, new):
                delete_files(table, files)
                raise
            continue
        return Appended(len(new), len(records) - len(new), snapshot_id, attempt)
    raise AssertionError("unreachable: the last attempt returns or raises")


def _present_sales(table: Table, records: Sequence[SaleRecord]) -> set[str]:
    if table.current_snapshot() is None or not records:
        return set()
    # Partition and date bounds prune files before the key column is read.
    row_filter = And(
        key_in("tenant_id", {r.tenantId for r in records}),
        And(
            key_in("sold_date", {r.saleDate.isoformat() for r in records}),
            key_in(LAKE_KEY, {r.saleId for r in records}),
        ),
    )
    found = table.scan(row_filter=row_filter, selected_fields=(LAKE_KEY,)).to_arrow()
    return set(found.column(LAKE_KEY).to_pylist())


def _read_records(ddb: DynamoDBClient, messages: Sequence[LakeMessage]) -> dict[str, SaleRecord]:
    """The stored records of these sales, by saleId (absent when not stored)."""
    table = os.environ[TABLE_ENV]
    out: dict[str, SaleRecord] = {}
    for start in range(0, len(messages), BATCH_GET_LIMIT):
        keys: list[dict[str, Any]] = [
            {"PK": {"S": m.PK}, "SK": {"S": m.SK}}
            for m in messages[start : start + BATCH_GET_LIMIT]
        ]
        for attempt in range(UNPROCESSED_ATTEMPTS):
            response = ddb.batch_get_item(
                RequestItems={table: {"Keys": keys, "ConsistentRead": True}}
            )
            for item in response.get("Responses", {}).get(table, []):
                record = SaleRecord.from_dynamodb_item(item)
                out[record.saleId] = record
            unprocessed = response.get("UnprocessedKeys") or {}
            keys = list(unprocessed[table]["Keys"]) if table in unprocessed else []
            if not keys:
                break
            time.sleep(min(0.05 * 2**attempt, 1.0))
        if keys:
            raise SalesTableUnavailableError(
                f"{table}: {len(keys)} keys still unprocessed after {UNPROCESSED_ATTEMPTS} tries"
            )
    return out


handler = model_handler(load_batch, logger, tracer, metrics)
