"""lake_maintenance's devkit: requesting a table's maintenance through its rule, and a
`pricing.sales_history` written the way the lake loader writes it (many small commits),
for the tests and the bench.

    sluice exec lake_maintenance -i '{"table": "pricing.sales_history"}' --wait
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pyiceberg.catalog import Catalog

from devkit.sale_dual_write import sale_envelope, sale_event
from schemas.lake_maintenance import DETAIL_TYPE, EVENT_SOURCE, FLOW
from schemas.sale_dual_write import SaleRecord, SaleSoldEvent
from sluice.waiting import wait_for
from tasks.common.lake import LakeCommitConflict
from tasks.sale_dual_write.load_lake_batch import append_new, lake_table

if TYPE_CHECKING:
    from sluice.client import Gateway

COMMIT_ATTEMPTS = 20


def request_entry(table: str) -> dict[str, Any]:
    """The PutEvents entry that runs TABLE's maintenance rule now (default bus)."""
    return {
        "Source": EVENT_SOURCE,
        "DetailType": DETAIL_TYPE,
        "Detail": json.dumps({"table": table}),
    }


def request_maintenance(events: Any, table: str) -> None:
    """Publish TABLE's maintenance request; raises if EventBridge refused it."""
    response = events.put_events(Entries=[request_entry(table)])
    if response.get("FailedEntryCount"):
        raise RuntimeError(f"PutEvents refused the request: {response['Entries']}")


def start_through_the_rule(g: Gateway, table: str, timeout: float = 30) -> str:
    """Request TABLE's maintenance; the ARN of the execution its rule starts."""
    sfn, machine = g.client("stepfunctions"), g.flow_arn(FLOW)

    def executions() -> set[str]:
        pages = sfn.get_paginator("list_executions").paginate(stateMachineArn=machine)
        return {e["executionArn"] for page in pages for e in page["executions"]}

    seen = executions()
    request_maintenance(g.client("events"), table)
    return wait_for(
        lambda: next(iter(executions() - seen), None),
        timeout=timeout,
        what=f"the execution {table}'s maintenance rule starts",
    )


def sale_records(tenant: str, indices: Iterable[int]) -> list[SaleRecord]:
    """The stored records of TENANT's sales number INDICES (devkit.sale_dual_write's sales)."""
    now = datetime.now(UTC)
    return [
        SaleRecord.from_event(
            SaleSoldEvent.model_validate(sale_envelope(sale_event(i, tenant))), now
        )
        for i in indices
    ]


def load_like_the_loader(catalog: Catalog, records: Sequence[SaleRecord], batch: int) -> int:
    """Append RECORDS to `pricing.sales_history` BATCH at a time with the loader's own
    commit (`append_new`), retrying a conflicting commit as its state machine does.
    Returns the number of commits that conflicted."""
    conflicts = 0
    for start in range(0, len(records), batch):
        chunk = records[start : start + batch]
        for _ in range(COMMIT_ATTEMPTS):
            try:
                append_new(lake_table(catalog), chunk)
                break
            except LakeCommitConflict:
                conflicts += 1
        else:
            raise LakeCommitConflict(f"batch at {start} conflicted {COMMIT_ATTEMPTS} times")
    return conflicts
