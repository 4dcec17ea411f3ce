"""sale_dual_write's devkit: publish `carousel.product.sold` events, as the Carousel
marketplace does, and the flow's demo.

The sale_dual_write flow starts from the EventBridge rule on the stack's bus, so putting
events there is all a run needs::

    details = [sale_event(i) for i in range(3)]
    put_sales(g.client("events"), "sluice-carousel", details)   # -> the EventBridge ids

Everything is derived from `i` and the tenant, so the same call always yields the same
sale (and, in the flow, the same saleId).
"""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from devkit.lake import lake_connection
from schemas.sale_dual_write import (
    DETAIL_TYPE,
    EMBEDDING_DIMENSION,
    EVENT_SOURCE,
    LAKE_TABLE,
    SaleSoldDetail,
    sale_id,
    sales_pk,
)
from schemas.sale_dual_write_lake import LAKE_SCHEMA
from sluice.devkit import DemoContext, DemoResult, Flow, failed_execution
from sluice.testing import wait_for

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient

    from sluice.client import Gateway

NAME = "sale_dual_write"
PUT_EVENTS_LIMIT = 10
_FIRST_SALE_DAY = date(2025, 1, 6)

_PRODUCTS: list[dict[str, Any]] = [
    {
        "brand": "Louis Vuitton",
        "category": "handbags",
        "description": "Louis Vuitton Speedy 30 in monogram canvas",
        "listedPrice": 500.0,
    },
    {
        "brand": "Gucci",
        "category": "shoes",
        "description": "Gucci Princetown leather slippers, size 38",
        "listedPrice": 320.0,
    },
    {
        "brand": "Hermès",
        "category": "accessories",
        "description": "Hermès silk twill scarf, 90 cm, Brides de Gala",
        "listedPrice": 280.0,
    },
    {
        "brand": "Prada",
        "category": "handbags",
        "description": "Prada Re-Edition 2005 nylon shoulder bag, black",
        "listedPrice": 890.0,
    },
    {
        "brand": "Rolex",
        "category": "watches",
        "description": "Rolex Oyster Perpetual 36, steel, 2019, box and papers",
        "listedPrice": 5600.0,
    },
]
_CONDITIONS = ["new_with_tags", "like_new", "excellent", "very_good", "good"]
_DISCOUNTS = [0.0, 0.05, 0.1, 0.15, 0.2, 0.3]


def embedding(seed: str) -> list[float]:
    """A deterministic unit-length 1024-float vector (6 decimals, so JSON round-trips)."""
    rng = random.Random(seed)
    raw = [rng.gauss(0.0, 1.0) for _ in range(EMBEDDING_DIMENSION)]
    norm = sum(x * x for x in raw) ** 0.5
    return [round(x / norm, 6) for x in raw]


def sale_event(i: int, tenant: str = "tenant-a", **overrides: Any) -> dict[str, Any]:
    """The detail of the i-th sale of TENANT; keyword arguments replace fields (no validation)."""
    product = _PRODUCTS[i % len(_PRODUCTS)]
    listed = float(product["listedPrice"])
    discount = _DISCOUNTS[i % len(_DISCOUNTS)]
    product_id = f"PROD-{product['brand'][:2].upper()}-{10000 + i}"
    detail: dict[str, Any] = {
        "productId": product_id,
        "tenantId": tenant,
        "category": product["category"],
        "brand": product["brand"],
        "condition": _CONDITIONS[i % len(_CONDITIONS)],
        "listedPrice": listed,
        "salePrice": round(listed * (1 - discount), 2),
        "soldDate": (_FIRST_SALE_DAY + timedelta(days=(i * 11) % 330)).isoformat(),
        "imageS3Key": f"s3://carousel-images/products/{product_id}.jpg",
        "embeddingId": f"emb-{product_id.lower()}",
        "embedding": embedding(f"{tenant}/{i}"),
        "description": product["description"],
        "vendorId": f"VENDOR-{700 + i % 9}",
        "daysToSell": 3 + (i * 7) % 60,
    }
    detail.update(overrides)
    return detail


def sale_envelope(detail: dict[str, Any], event_id: str | None = None) -> dict[str, Any]:
    """The EventBridge event the rule hands the state machine (for `sluice exec` and tests)."""
    return {
        "version": "0",
        "id": event_id or str(uuid.uuid4()),
        "detail-type": DETAIL_TYPE,
        "source": EVENT_SOURCE,
        "account": "123456789012",
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": "us-east-1",
        "resources": [],
        "detail": detail,
    }


def put_sales(
    events_client: EventBridgeClient, bus_name: str, details: Sequence[dict[str, Any]]
) -> list[str]:
    """PutEvents for each detail (10 per call, as the API allows); the EventBridge event ids."""
    ids: list[str] = []
    for start in range(0, len(details), PUT_EVENTS_LIMIT):
        chunk = details[start : start + PUT_EVENTS_LIMIT]
        response = events_client.put_events(
            Entries=[
                {
                    "Source": EVENT_SOURCE,
                    "DetailType": DETAIL_TYPE,
                    "Detail": json.dumps(d),
                    "EventBusName": bus_name,
                }
                for d in chunk
            ]
        )
        if response.get("FailedEntryCount"):
            failed = [e for e in response["Entries"] if e.get("ErrorCode")]
            raise RuntimeError(f"PutEvents rejected {len(failed)} entries: {failed[:3]}")
        ids += [str(e["EventId"]) for e in response["Entries"]]
    return ids


def lake_warehouse(g: Gateway) -> Path:
    """The running stack's local lake: `<data dir>/lake`, where the template points the lake
    functions' LAKE_WAREHOUSE when the `LakeWarehouse` parameter is empty (as locally)."""
    return Path(g.stack()["data_dir"]) / "lake"


def produce(g: Gateway, count: int) -> str:
    """COUNT sales of one new tenant on the stack's bus."""
    bus = g.resource_name("SalesEventBus")
    tenant = f"tenant-{uuid.uuid4().hex[:6]}"
    put_sales(g.client("events"), bus, [sale_event(i, tenant) for i in range(count)])
    return f"published {count} {DETAIL_TYPE} event(s) for {tenant} on {bus}"


def demo(ctx: DemoContext) -> DemoResult:
    """Four sales through EventBridge: one re-published (a duplicate), one invalid."""
    g, console = ctx.gateway, ctx.console
    console.rule("sale_dual_write: EventBridge → Standard state machine → DynamoDB + SQS → lake")
    bus, table = g.resource_name("SalesEventBus"), g.resource_name("SalesIntelligenceTable")
    events, ddb = g.client("events"), g.client("dynamodb")
    tenant = "carousel-labs"
    good = [sale_event(i, tenant) for i in (0, 7, 14)]  # January, March and June sales
    started = time.time()
    put_sales(events, bus, good)
    console.print(f"  published {len(good)} carousel.product.sold events on [bold]{bus}[/]")
    put_sales(events, bus, good[:1])
    console.print(f"  re-published the sale of [bold]{good[0]['productId']}[/] (a duplicate)")
    put_sales(events, bus, [sale_event(3, tenant, listedPrice=-5, embedding=[0.1, 0.2])])
    console.print("  published an invalid sale (negative price, 2-float embedding)")

    keys = [
        {
            "PK": {"S": sales_pk(tenant, d["productId"])},
            "SK": {"S": f"SALE#{d['soldDate']}#{sale_id(SaleSoldDetail.model_validate(d))}"},
        }
        for d in good
    ]

    def stored() -> bool:
        return all(ddb.get_item(TableName=table, Key=k).get("Item") for k in keys)

    with console.status("waiting for the sales records"):
        wait_for(stored, timeout=60, what="the three sales records")
    console.print(f"  3 records in {table} after {time.time() - started:.1f} s")

    warehouse = lake_warehouse(g)
    ids = [str(k["SK"]["S"]).rsplit("#", 1)[-1] for k in keys]
    in_list = ", ".join(f"'{s}'" for s in ids)

    def lake_rows() -> list[tuple[Any, ...]] | None:
        try:
            rows = (
                lake_connection(warehouse)
                .sql(
                    f"SELECT sale_id, tenant_id, year, month FROM {LAKE_TABLE} "
                    f"WHERE sale_id IN ({in_list})"
                )
                .fetchall()
            )
        except Exception:  # the loader creates the table on its first batch
            return None
        return rows if len(rows) == len(ids) else None

    with console.status("waiting for the lake loader to flush"):
        rows = wait_for(lake_rows, timeout=60, what="three rows in the lake")
    console.print(
        f"  {len(rows)} rows in {LAKE_TABLE} after {time.time() - started:.1f} s: "
        + ", ".join(f"tenant_id={t}/year={y}/month={m}" for _, t, y, m in rows)
    )
    sfn = g.client("stepfunctions")

    def finished() -> list[dict[str, Any]] | None:
        runs = sfn.list_executions(stateMachineArn=g.flow_arn(NAME))["executions"]
        done = [r for r in runs if r["status"] != "RUNNING"]
        return done if len(done) >= 5 else None

    runs = wait_for(finished, timeout=60, what="five sale_dual_write executions")
    outcomes: dict[str, int] = {}
    for run in runs:
        desc = sfn.describe_execution(executionArn=run["executionArn"])
        key = json.loads(desc.get("output") or "{}").get("result") or desc.get("error", "?")
        outcomes[key] = outcomes.get(key, 0) + 1
    console.print("  executions: " + ", ".join(f"{n} {k}" for k, n in sorted(outcomes.items())))
    return DemoResult(
        written=f"{len(good)} sales records, {len(rows)} lake rows",
        failed_run=failed_execution(g, NAME),
    )


def lake_tables() -> dict[str, pa.Schema]:
    return {LAKE_TABLE: LAKE_SCHEMA.as_arrow()}


FLOW = Flow(
    name=NAME,
    produce=produce,
    demo=demo,
    demo_order=50,
    lake_tables=lake_tables,
    execution_input="schemas.sale_dual_write:ExecutionInput",
)
