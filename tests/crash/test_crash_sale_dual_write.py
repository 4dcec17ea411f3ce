"""sale_dual_write survives SIGKILL: EventBridge -> rule -> Standard SM (claim, dual write)
-> DynamoDB + lake queue -> Pipe -> Express loader -> Iceberg.

Events accepted before the kill are delivered after the restart if they had not been; an
execution the kill interrupted comes back FAILED (States.Runtime) and is redriven, as an
operator would. Every sale must then have exactly one sales record and one lake row: the
claim makes the dual write idempotent even when an event is delivered twice.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
from crash_support import Crash

from devkit.sale_dual_write import lake_warehouse, put_sales, sale_event
from schemas.sale_dual_write import LAKE_TABLE
from sluice.testing import StackProcess, wait_for
from tasks.common.lake import catalog_from_env
from tasks.common.lake_sql import duckdb_connection

FLOW = "sale_dual_write"


def _details(seed: int, burst: int) -> dict[str, dict[str, Any]]:
    return {str(i): sale_event(i, f"crash-{seed}") for i in range(burst)}


def _executions(stack: StackProcess, tenant: str) -> list[dict[str, Any]]:
    sfn = stack.client("stepfunctions")
    found = []
    for e in stack.executions(FLOW):
        desc = sfn.describe_execution(executionArn=e["executionArn"])
        if (json.loads(desc["input"]).get("detail") or {}).get("tenantId") == tenant:
            found.append(desc)
    return found


def _record_sales(stack: StackProcess, tenant: str) -> Counter[str]:
    table = stack.resource("SalesIntelligenceTable")["name"]
    pages = stack.client("dynamodb").get_paginator("scan").paginate(TableName=table)
    return Counter(
        i["saleId"]["S"] for p in pages for i in p["Items"] if i["tenantId"]["S"] == tenant
    )


def _lake_sales(stack: StackProcess, tenant: str) -> Counter[str]:
    catalog = catalog_from_env({"LAKE_WAREHOUSE": str(lake_warehouse(stack.gateway))})
    try:
        rows = duckdb_connection(catalog).sql(
            f"SELECT sale_id FROM {LAKE_TABLE} WHERE tenant_id = '{tenant}'"
        )
    except Exception:  # no batch loaded yet: the loader creates the table
        return Counter()
    return Counter(str(r[0]) for r in rows.fetchall())


def _check(crash: Crash, seed: int, burst: int) -> None:
    details, tenant = _details(seed, burst), f"crash-{seed}"

    def write(stack: StackProcess, keys: list[str]) -> None:
        bus = stack.resource("SalesEventBus")["name"]
        for key in keys:
            put_sales(stack.client("events"), bus, [details[key]])

    stack = crash.burst(list(details), write, seed)

    def settled() -> list[dict[str, Any]] | None:
        runs = _executions(stack, tenant)
        return runs if len(runs) >= burst and all(r["status"] != "RUNNING" for r in runs) else None

    for run in wait_for(settled, timeout=90, what="every sale's execution to end"):
        if run["status"] == "FAILED" and run.get("error") == "States.Runtime":
            stack.client("stepfunctions").redrive_execution(executionArn=run["executionArn"])
    runs = wait_for(settled, timeout=90, what="the redriven executions to end")
    assert all(r["status"] == "SUCCEEDED" for r in runs), [
        (r["name"], r["status"], r.get("error"), r.get("cause"))
        for r in runs
        if r["status"] != "SUCCEEDED"
    ]
    records = _record_sales(stack, tenant)
    assert len(records) == burst and set(records.values()) == {1}, records
    lake = wait_for(
        lambda: len(c := _lake_sales(stack, tenant)) == burst and c,
        timeout=90,
        what=f"a lake row for each of {burst} sales (killed after {crash.kill_after})",
    )
    assert set(lake.values()) == {1}, lake


@pytest.mark.parametrize("seed", [21])
def test_a_crash_mid_burst_writes_each_sale_once(crash: Crash, seed: int) -> None:
    _check(crash, seed, burst=8)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [22, 23, 24])
def test_a_crash_mid_large_burst_writes_each_sale_once(crash: Crash, seed: int) -> None:
    _check(crash, seed, burst=100)
