"""sale_dual_write through its real trigger: EventBridge bus -> rule -> Standard SM -> DynamoDB
+ lake queue -> Pipe -> Express loader -> Iceberg `pricing.sales_history`."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from devkit.sale_dual_write import lake_warehouse, put_sales, sale_envelope, sale_event
from schemas.sale_dual_write import (
    EMBEDDING_DIMENSION,
    LAKE_TABLE,
    SaleSoldDetail,
    claim_pk,
    sale_id,
    sales_pk,
    sales_sk,
)
from sluice.testing import Execution, StackProcess, wait_for
from tasks.common.lake import catalog_from_env, key_in
from tasks.common.lake_sql import duckdb_connection

FLOW = "sale_dual_write"
SEED_ATTRIBUTES = {
    "PK", "SK", "productId", "tenantId", "saleId", "category", "brand", "condition",
    "description", "listedPrice", "salePrice", "discountPercent", "saleDate", "season",
    "daysToSell", "imageS3Key", "embeddingId", "embedding", "embeddingDimension", "vendorId",
    "source", "GSI2PK", "GSI2SK", "recordCreatedAt", "eventTimestamp", "ttl",
}  # fmt: skip


@pytest.fixture(scope="module")
def sales_stack(stack: StackProcess) -> StackProcess:
    """The project stack (kept as its own name so the tests read as before)."""
    return stack


# -- helpers --------------------------------------------------------------------------------


def new_tenant() -> str:
    return f"tenant-{uuid.uuid4().hex[:8]}"


def bus(stack: StackProcess) -> str:
    return str(stack.resource("SalesEventBus")["name"])


def sales_table(stack: StackProcess) -> str:
    return str(stack.resource("SalesIntelligenceTable")["name"])


def claims_table(stack: StackProcess) -> str:
    return str(stack.resource("SaleIdempotencyTable")["name"])


def sale_of(detail: dict[str, Any]) -> str:
    return sale_id(SaleSoldDetail.model_validate(detail))


def records(stack: StackProcess, tenant: str) -> list[dict[str, Any]]:
    """Every sales item of TENANT (the test's own tenant, so other tests never interfere)."""
    ddb = stack.client("dynamodb")
    items: list[dict[str, Any]] = []
    for page in ddb.get_paginator("scan").paginate(TableName=sales_table(stack)):
        items += [i for i in page["Items"] if i["tenantId"]["S"] == tenant]
    return items


def claim(stack: StackProcess, detail: dict[str, Any]) -> dict[str, Any] | None:
    item: dict[str, Any] | None = (
        stack.client("dynamodb")
        .get_item(
            TableName=claims_table(stack),
            Key={
                "pk": {"S": claim_pk(detail["tenantId"], sale_of(detail))},
                "sk": {"S": "VERSION"},
            },
            ConsistentRead=True,
        )
        .get("Item")
    )
    return item


def lake_rows(stack: StackProcess, tenant: str) -> list[dict[str, Any]]:
    catalog = catalog_from_env({"LAKE_WAREHOUSE": str(lake_warehouse(stack.gateway))})
    try:
        con = duckdb_connection(catalog)
        result = con.sql(f"SELECT * FROM {LAKE_TABLE} WHERE tenant_id = '{tenant}'")
    except Exception:  # no batch loaded yet: the loader creates the table
        return []
    return [dict(zip(result.columns, row, strict=True)) for row in result.fetchall()]


def lake_files(stack: StackProcess, sale: str) -> list[str]:
    catalog = catalog_from_env({"LAKE_WAREHOUSE": str(lake_warehouse(stack.gateway))})
    table = catalog.load_table(LAKE_TABLE)
    return [t.file.file_path for t in table.scan(row_filter=key_in("sale_id", [sale])).plan_files()]


def executions_for(stack: StackProcess, tenant: str, count: int) -> list[Execution]:
    """The finished executions whose event is one of TENANT's sales, oldest first."""

    def mine() -> list[Execution] | None:
        sfn = stack.client("stepfunctions")
        found = []
        for e in stack.executions(FLOW):
            desc = sfn.describe_execution(executionArn=e["executionArn"])
            detail = json.loads(desc["input"]).get("detail") or {}
            if detail.get("tenantId") == tenant and desc["status"] != "RUNNING":
                found.append(e)
        return found if len(found) >= count else None

    found = wait_for(mine, timeout=40, what=f"{count} finished executions for {tenant}")
    found.sort(key=lambda e: e["startDate"])
    return [stack.execution(e["executionArn"]) for e in found]


def one_row(stack: StackProcess, tenant: str) -> list[dict[str, Any]]:
    return wait_for(lambda: lake_rows(stack, tenant), timeout=30, what=f"the lake row of {tenant}")


# -- tests ----------------------------------------------------------------------------------


@pytest.mark.built
def test_one_event_writes_the_seed_record_and_one_lake_row_in_its_partition(
    sales_stack: StackProcess,
) -> None:
    tenant = new_tenant()
    detail = sale_event(4, tenant, soldDate="2025-11-30", listedPrice=500.0, salePrice=450.0)
    put_sales(sales_stack.client("events"), bus(sales_stack), [detail])

    [run] = executions_for(sales_stack, tenant, 1)
    assert run.status == "SUCCEEDED", (run.error, run.cause)
    sale = sale_of(detail)
    assert run.output["result"] == "written" and run.output["saleId"] == sale

    [item] = records(sales_stack, tenant)
    assert set(item) == SEED_ATTRIBUTES
    assert item["PK"] == {"S": sales_pk(tenant, detail["productId"])}
    assert item["SK"] == {"S": f"SALE#2025-11-30#{sale}"}
    assert item["GSI2PK"]["S"] in {f"TENANT#{tenant}#EMBEDDING#{n}" for n in range(5)}
    assert item["GSI2SK"] == {"S": "DATE#2025-11-30"}
    assert item["discountPercent"] == {"N": "10"}
    assert item["season"] == {"S": "Q4"}
    assert item["ttl"] == {"N": "1827532800"}  # 2027-11-30T00:00:00Z, two years on
    assert item["embeddingDimension"] == {"N": str(EMBEDDING_DIMENSION)}
    assert json.loads(item["embedding"]["S"]) == detail["embedding"]
    assert claim(sales_stack, detail)["status"] == {"S": "COMPLETED"}  # type: ignore[index]

    [row] = one_row(sales_stack, tenant)
    assert (row["sale_id"], row["year"], row["month"]) == (sale, 2025, 11)
    assert row["sold_price"] == 450.0 and row["quarter"] == "Q4"
    # A 1024-float embedding round-trips exactly through DynamoDB and Parquet.
    assert list(row["embedding_vector"]) == detail["embedding"]
    [path] = lake_files(sales_stack, sale)
    assert f"/tenant_id={tenant}/year=2025/month=11/" in path and path.endswith(".parquet")
    assert row["ingestion_timestamp"] is not None

    # The seed's Athena query runs as written (on the Iceberg table) in DuckDB.
    con = duckdb_connection(
        catalog_from_env({"LAKE_WAREHOUSE": str(lake_warehouse(sales_stack.gateway))})
    )
    athena = con.sql(
        f"""SELECT category, brand, AVG(sold_price) as avg_price, COUNT(*) as sale_count
            FROM {LAKE_TABLE}
            WHERE tenant_id = '{tenant}' AND year = 2025 AND month = 11
            GROUP BY category, brand ORDER BY avg_price DESC"""
    ).fetchall()
    assert athena == [(detail["category"], detail["brand"], 450.0, 1)]


def test_the_same_event_twice_writes_once(sales_stack: StackProcess) -> None:
    tenant = new_tenant()
    detail = sale_event(1, tenant)
    events = sales_stack.client("events")
    put_sales(events, bus(sales_stack), [detail])
    executions_for(sales_stack, tenant, 1)
    one_row(sales_stack, tenant)
    # The producer re-publishes: a new EventBridge id, the same sale.
    put_sales(events, bus(sales_stack), [detail])

    first, second = executions_for(sales_stack, tenant, 2)
    assert first.output["result"] == "written"
    assert second.status == "SUCCEEDED"
    assert second.output == {
        "result": "duplicate",
        **{k: first.output[k] for k in ("saleId", "tenantId", "productId")},
    }
    assert second.state("PutSaleRecord").status == "not_reached"
    assert len(records(sales_stack, tenant)) == 1
    assert len(lake_rows(sales_stack, tenant)) == 1


def test_two_executions_at_once_for_one_sale_write_once(sales_stack: StackProcess) -> None:
    tenant = new_tenant()
    detail = sale_event(2, tenant)
    put_sales(sales_stack.client("events"), bus(sales_stack), [detail, detail])

    runs = executions_for(sales_stack, tenant, 2)
    assert [r.status for r in runs] == ["SUCCEEDED", "SUCCEEDED"]
    assert sorted(r.output["result"] for r in runs) == ["duplicate", "written"]
    assert len(records(sales_stack, tenant)) == 1
    one_row(sales_stack, tenant)
    assert len(lake_rows(sales_stack, tenant)) == 1


def test_a_sale_claimed_by_a_running_execution_waits_for_it_then_gives_up(
    sales_stack: StackProcess,
) -> None:
    """Another execution holds the claim: ClaimSale retries with backoff (1+2+4+8+8+8 s of
    virtual time, none of it slept), then fails with SaleInProgress and writes nothing; once
    that claim is gone, the same sale is written."""
    tenant = new_tenant()
    detail = sale_event(5, tenant)
    held_until = str(int(time.time()) + 86_400)
    sales_stack.client("dynamodb").put_item(
        TableName=claims_table(sales_stack),
        Item={
            "pk": {"S": claim_pk(tenant, sale_of(detail))},
            "sk": {"S": "VERSION"},
            "status": {"S": "IN_PROGRESS"},
            "executionId": {"S": "arn:aws:states:us-east-1:123456789012:execution:other:run"},
            "expiresAt": {"N": held_until},
            "inProgressUntil": {"N": held_until},
        },
    )
    with sales_stack.time_scale(0):
        held = sales_stack.run(FLOW, sale_envelope(detail))

    assert held.status == "FAILED" and held.error == "SaleInProgress"
    assert held.attempts("ClaimSale") == 7  # the first try and 6 retries
    assert held.state("HeldByAnotherExecution").status == "failed"
    entered = [e for e in held.events if e["type"] == "ParallelStateStarted"]
    assert (entered[-1]["timestamp"] - entered[0]["timestamp"]).total_seconds() >= 31
    assert records(sales_stack, tenant) == []

    sales_stack.client("dynamodb").delete_item(
        TableName=claims_table(sales_stack),
        Key={"pk": {"S": claim_pk(tenant, sale_of(detail))}, "sk": {"S": "VERSION"}},
    )
    written = sales_stack.run(FLOW, sale_envelope(detail))
    assert written.status == "SUCCEEDED" and written.output["result"] == "written"
    assert len(records(sales_stack, tenant)) == 1


@pytest.mark.parametrize(
    ("test_case", "failed_state", "error"),
    [
        ("LakeQueueDown", "QueueLakeRow", "SQS.QueueDoesNotExistException"),
        ("SalesTableDown", "PutSaleRecord", "DynamoDB.ResourceNotFoundException"),
    ],
)
def test_a_failed_write_releases_the_claim_and_a_retry_writes_both_once(
    sales_stack: StackProcess, test_case: str, failed_state: str, error: str
) -> None:
    tenant = new_tenant()
    detail = sale_event(3, tenant)
    failed = sales_stack.run(FLOW, sale_envelope(detail), test_case=test_case)

    assert failed.status == "FAILED"
    assert failed.error == error  # the write's own error, not a generic one
    assert failed.state(failed_state).attempts[-1].error == error
    assert failed.state("ReleaseClaim").status == "succeeded"
    assert claim(sales_stack, detail) is None  # released: the sale is not a "duplicate"

    put_sales(sales_stack.client("events"), bus(sales_stack), [detail])
    [retry] = executions_for(sales_stack, tenant, 2)[1:]
    assert retry.status == "SUCCEEDED" and retry.output["result"] == "written"
    [item] = records(sales_stack, tenant)
    assert item["SK"]["S"] == sales_sk(
        SaleSoldDetail.model_validate(detail).soldDate, sale_of(detail)
    )
    [row] = one_row(sales_stack, tenant)
    assert row["sale_id"] == sale_of(detail)


@pytest.mark.built
def test_an_invalid_event_fails_at_validation_and_writes_nothing(
    sales_stack: StackProcess,
) -> None:
    tenant = new_tenant()
    bad = sale_event(0, tenant, listedPrice=-10, soldDate="2025-02-30", embedding=[0.5] * 512)
    put_sales(sales_stack.client("events"), bus(sales_stack), [bad])

    [run] = executions_for(sales_stack, tenant, 1)
    assert run.status == "FAILED" and run.error == "InvalidSaleEventError"
    assert run.failed_state is not None and run.failed_state.name == "ValidateSale"
    for field in ("detail.listedPrice", "detail.soldDate", "detail.embedding"):
        assert field in (run.cause or ""), field
    assert records(sales_stack, tenant) == []
    claims = sales_stack.client("dynamodb").scan(TableName=claims_table(sales_stack))["Items"]
    assert not [c for c in claims if c["tenantId"]["S"] == tenant]
    assert lake_rows(sales_stack, tenant) == []


def sale_events_dlq(stack: StackProcess, tenant: str) -> list[dict[str, Any]]:
    """TENANT's messages in the rule target's DLQ, with their message attributes (received
    with no visibility timeout, so they stay there for the next look)."""
    sqs = stack.client("sqs")
    received = sqs.receive_message(
        QueueUrl=stack.resource("SaleEventsDLQ")["url"],
        MaxNumberOfMessages=10,
        VisibilityTimeout=0,
        MessageAttributeNames=["All"],
    ).get("Messages", [])
    return [m for m in received if tenant in m["Body"]]


def test_put_events_over_the_size_limit_is_refused_and_nothing_is_delivered(
    sales_stack: StackProcess,
) -> None:
    tenant = new_tenant()
    # EventBridge counts the Detail's UTF-8 bytes (eb-putevent-size): 360,000 "€" are
    # 1,080,000 bytes, over the 1 MiB PutEvents limit, in far fewer characters.
    detail = sale_event(0, tenant, description="€" * 360_000)
    entry = {
        "Source": "carousel.products",
        "DetailType": "carousel.product.sold",
        "Detail": json.dumps(detail, ensure_ascii=False),
        "EventBusName": bus(sales_stack),
    }
    events = sales_stack.client("events")
    with pytest.raises(ClientError) as refused:
        events.put_events(Entries=[entry])
    # What AWS answers: the whole request is refused, no entry gets an EventId.
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert "over the limit" in refused.value.response["Error"]["Message"]

    # A small event of the same tenant afterwards is the only one that reaches the flow.
    put_sales(events, bus(sales_stack), [sale_event(1, tenant)])
    [run] = executions_for(sales_stack, tenant, 1)
    assert run.status == "SUCCEEDED"
    assert run.input["detail"]["productId"] == sale_event(1, tenant)["productId"]
    assert sale_events_dlq(sales_stack, tenant) == []


def test_an_event_over_the_execution_input_limit_is_accepted_then_dead_lettered(
    sales_stack: StackProcess,
) -> None:
    tenant = new_tenant()
    # 310 KB is within PutEvents' limit (1 MB since January 2026), but the event envelope
    # is over StartExecution's 262,144-byte input: the rule's target cannot start, which
    # EventBridge does not retry, so the event goes to the target's DLQ.
    big = sale_event(0, tenant, description="x" * 310_000)
    put_sales(sales_stack.client("events"), bus(sales_stack), [big])
    [message] = wait_for(
        lambda: sale_events_dlq(sales_stack, tenant), timeout=30, what="the event in the DLQ"
    )
    assert json.loads(message["Body"])["detail"]["tenantId"] == tenant
    attributes = {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}
    assert attributes["RETRY_ATTEMPTS"] == "0"  # a client error: not retried
    assert records(sales_stack, tenant) == []
    sfn = sales_stack.client("stepfunctions")
    inputs = [
        sfn.describe_execution(executionArn=e["executionArn"])["input"]
        for e in sales_stack.executions(FLOW)
    ]
    assert not [i for i in inputs if tenant in i]
