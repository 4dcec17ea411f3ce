"""sale_dual_write's claim under load: many copies of each sale, published at once through
the bus, and each sale written by exactly one execution.

EventBridge delivers at least once and producers re-publish, so copies of one sale run
concurrently. The claim (a conditional PutItem, an execution as holder, a conditional
MarkCompleted) must let exactly one of them write and complete the sale, and every other
copy must see it as a duplicate.

The suite runs 20 sales x 10 copies (200 deliveries, about 10 s here). The full size,
100 x 10 = 1,000 deliveries (40-60 s here), is marked `slow`:
`pytest -m slow tests/flows/test_sale_dual_write_stress.py`.

The stack's time scale stays 1: a copy waiting for the holder must really wait. At scale 0
its 31 s of backoff would pass in milliseconds while the holder is still writing, and it
would give up (SaleInProgress, dead-lettered), which measures the laptop, not the claim.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor

import pytest

from devkit.sale_dual_write import PUT_EVENTS_LIMIT, lake_warehouse, put_sales, sale_event
from schemas.sale_dual_write import LAKE_TABLE, SaleSoldDetail, claim_pk, sale_id
from sluice.client import TERMINAL
from sluice.testing import StackProcess, wait_for
from tasks.common.lake import catalog_from_env
from tasks.common.lake_sql import duckdb_connection

FLOW = "sale_dual_write"
PUBLISHERS = 8


def lake_sale_ids(stack: StackProcess, tenant: str) -> list[str]:
    catalog = catalog_from_env({"LAKE_WAREHOUSE": str(lake_warehouse(stack.gateway))})
    try:
        con = duckdb_connection(catalog)
        result = con.sql(f"SELECT sale_id FROM {LAKE_TABLE} WHERE tenant_id = '{tenant}'")
    except Exception:  # no batch loaded yet: the loader creates the table
        return []
    return [row[0] for row in result.fetchall()]


def flow_arns(stack: StackProcess) -> dict[str, str]:
    """Every execution of the flow: ARN -> status."""
    return {e["executionArn"]: e["status"] for e in stack.executions(FLOW)}


@pytest.mark.parametrize(
    ("sales", "copies"),
    [
        pytest.param(20, 10, id="200-deliveries"),
        pytest.param(100, 10, id="1000-deliveries", marks=pytest.mark.slow),
    ],
)
def test_concurrent_duplicate_deliveries_write_each_sale_exactly_once(
    stack: StackProcess, sales: int, copies: int
) -> None:
    tenant = f"stress-{uuid.uuid4().hex[:8]}"
    details = [sale_event(i, tenant) for i in range(sales)]
    sale_ids = {d["productId"]: sale_id(SaleSoldDetail.model_validate(d)) for d in details}
    # Each PutEvents call carries copies of one sale, so its copies start back to back and
    # race for the claim; PUBLISHERS threads publish the calls in a random order at once.
    calls = [
        [d] * min(PUT_EVENTS_LIMIT, copies - start)
        for d in details
        for start in range(0, copies, PUT_EVENTS_LIMIT)
    ]
    random.shuffle(calls)
    before = set(flow_arns(stack))
    bus = str(stack.resource("SalesEventBus")["name"])
    clients = [stack.client("events") for _ in range(PUBLISHERS)]
    total = sales * copies

    started = time.monotonic()
    with ThreadPoolExecutor(PUBLISHERS) as pool:
        list(
            pool.map(lambda i: put_sales(clients[i % PUBLISHERS], bus, calls[i]), range(len(calls)))
        )

    def all_finished() -> dict[str, str] | None:
        mine = {a: s for a, s in flow_arns(stack).items() if a not in before}
        done = len(mine) == total and all(s in TERMINAL for s in mine.values())
        return mine if done else None

    mine = wait_for(all_finished, timeout=600, interval=1, what=f"{total} executions")
    elapsed = time.monotonic() - started

    sfn = stack.client("stepfunctions")
    outcomes: dict[str, Counter[str]] = defaultdict(Counter)
    writers: dict[str, str] = {}
    for arn, status in mine.items():
        desc = sfn.describe_execution(executionArn=arn)
        product = json.loads(desc["input"])["detail"]["productId"]
        if status != "SUCCEEDED":
            outcomes[product][f"{status}:{desc.get('error')}"] += 1
            continue
        result = json.loads(desc["output"])["result"]
        outcomes[product][result] += 1
        if result == "written":
            writers[product] = arn
    print(f"\n{total} deliveries ({sales} sales x {copies}) finished in {elapsed:.1f} s")

    expected = Counter({"written": 1, "duplicate": copies - 1})
    wrong = {p: dict(c) for p, c in outcomes.items() if c != expected}
    assert len(outcomes) == sales
    assert wrong == {}

    # Each sale's claim is COMPLETED by the execution that wrote it.
    ddb = stack.client("dynamodb")
    claims_table = str(stack.resource("SaleIdempotencyTable")["name"])
    for d in details:
        item = ddb.get_item(
            TableName=claims_table,
            Key={"pk": {"S": claim_pk(tenant, sale_ids[d["productId"]])}, "sk": {"S": "VERSION"}},
            ConsistentRead=True,
        )["Item"]
        assert item["status"]["S"] == "COMPLETED"
        assert item["executionId"]["S"] == writers[d["productId"]]

    # One record and one lake row per sale.
    sales_table = str(stack.resource("SalesIntelligenceTable")["name"])
    stored: list[str] = []
    for page in ddb.get_paginator("scan").paginate(TableName=sales_table):
        stored += [i["saleId"]["S"] for i in page["Items"] if i["tenantId"]["S"] == tenant]
    assert sorted(stored) == sorted(sale_ids.values())

    def all_rows() -> list[str] | None:
        rows = lake_sale_ids(stack, tenant)
        return rows if len(rows) >= sales else None

    rows = wait_for(all_rows, timeout=120, what=f"{sales} lake rows of {tenant}")
    assert sorted(rows) == sorted(sale_ids.values())
