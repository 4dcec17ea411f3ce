"""sale_dual_write through its real trigger: EventBridge bus -> rule -> Standard SM -> DynamoDB
+ lake queue -> Pipe -> Express loader -> Iceberg `pricing.sales_history`."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
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
from sluice.testing import Execution, StackProcess, project_stack, wait_for
from tasks.common.lake import catalog_from_env, key_in
from tasks.common.lake_sql import duckdb_connection

FLOW = "sale_dual_write"
ROOT = Path(__file__).resolve().parents[2]
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


@pytest.fixture(scope="module")
def timing_out_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackProcess]:
    """The project stack with ValidateSale's Timeout at 1 ms: every invoke of it times out,
    as one did under load. Retry intervals are not slept (time scale 0)."""
    stack = project_stack(
        ROOT,
        tmp_path_factory.mktemp("sales-timing-out"),
        overrides={"SaleValidateTimeout": "0.001"},
        time_scale=0,
    )
    yield stack
    stack.stop()


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


def plant_claim(
    stack: StackProcess, detail: dict[str, Any], holder: str, status: str, lease: str, expiry: str
) -> None:
    """Put DETAIL's claim item as an execution HOLDER left it (epoch seconds as text)."""
    stack.client("dynamodb").put_item(
        TableName=claims_table(stack),
        Item={
            "pk": {"S": claim_pk(detail["tenantId"], sale_of(detail))},
            "sk": {"S": "VERSION"},
            "status": {"S": status},
            "executionId": {"S": holder},
            "expiresAt": {"N": expiry},
            "inProgressUntil": {"N": lease},
        },
    )


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

    found = wait_for(mine, timeout=120, what=f"{count} finished executions for {tenant}")
    found.sort(key=lambda e: e["startDate"])
    return [stack.execution(e["executionArn"]) for e in found]


def one_row(stack: StackProcess, tenant: str) -> list[dict[str, Any]]:
    return wait_for(lambda: lake_rows(stack, tenant), timeout=120, what=f"the lake row of {tenant}")


def dead_letters(stack: StackProcess, tenant: str, count: int = 1) -> list[dict[str, Any]]:
    """Wait for COUNT messages about TENANT's sales in the sale events DLQ and take them off
    it (other tests' messages are shown again at once). Each is `{"event", "attributes"}`."""
    sqs = stack.client("sqs")
    url = str(stack.resource("SaleEventsDLQ")["url"])
    taken: list[dict[str, Any]] = []

    def poll() -> list[dict[str, Any]] | None:
        others: list[dict[str, Any]] = []
        while True:
            got = sqs.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=10,
                VisibilityTimeout=30,
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if not got:
                break
            for m in got:
                event = json.loads(m["Body"])
                if (event.get("detail") or {}).get("tenantId") != tenant:
                    others.append(m)
                    continue
                attributes = {k: v["StringValue"] for k, v in m["MessageAttributes"].items()}
                taken.append({"event": event, "attributes": attributes})
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        for m in others:
            sqs.change_message_visibility(
                QueueUrl=url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0
            )
        return taken if len(taken) >= count else None

    return wait_for(poll, timeout=120, what=f"{count} dead letters of {tenant}")


def republish(stack: StackProcess, event: dict[str, Any]) -> None:
    """What a person does with a dead-lettered sale once the cause is fixed: publish the
    event it holds to the bus again."""
    put_sales(stack.client("events"), bus(stack), [event["detail"]])


def republish_and_see_it_written(stack: StackProcess, event: dict[str, Any], tenant: str) -> None:
    """Publish a dead-lettered sale again: one execution writes it, one record, one lake row."""
    republish(stack, event)
    [written] = executions_for(stack, tenant, 1)
    assert written.status == "SUCCEEDED" and written.output["result"] == "written"
    assert len(records(stack, tenant)) == 1
    [row] = one_row(stack, tenant)
    assert row["sale_id"] == sale_of(event["detail"])


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
    virtual time, none of it slept), then fails with SaleInProgress, leaves the other's claim
    alone, writes nothing and dead-letters the event; once that claim is gone, re-publishing
    the dead letter writes the sale."""
    tenant = new_tenant()
    detail = sale_event(5, tenant)
    held_until = str(int(time.time()) + 86_400)
    plant_claim(
        sales_stack,
        detail,
        "arn:aws:states:us-east-1:123456789012:execution:other:run",
        "IN_PROGRESS",
        held_until,
        held_until,
    )
    with sales_stack.time_scale(0):
        held = sales_stack.run(FLOW, sale_envelope(detail))

    assert held.status == "FAILED" and held.error == "SaleInProgress"
    assert held.attempts("ClaimSale") == 7  # the first try and 6 retries
    assert held.state("HeldByAnotherExecution").status == "failed"
    entered = [e for e in held.events if e["type"] == "ParallelStateStarted"]
    assert (entered[-1]["timestamp"] - entered[0]["timestamp"]).total_seconds() >= 31
    assert records(sales_stack, tenant) == []
    # The release only deletes a claim of its own: the other execution still holds it.
    assert claim(sales_stack, detail)["executionId"]["S"].endswith(":other:run")  # type: ignore[index]
    [letter] = dead_letters(sales_stack, tenant)
    assert letter["attributes"]["ERROR_CODE"] == "SaleInProgress"
    assert letter["attributes"]["EXECUTION_ARN"] == held.arn

    sales_stack.client("dynamodb").delete_item(
        TableName=claims_table(sales_stack),
        Key={"pk": {"S": claim_pk(tenant, sale_of(detail))}, "sk": {"S": "VERSION"}},
    )
    republish(sales_stack, letter["event"])
    [written] = executions_for(sales_stack, tenant, 2)[1:]
    assert written.status == "SUCCEEDED" and written.output["result"] == "written"
    assert len(records(sales_stack, tenant)) == 1


@pytest.mark.parametrize(
    ("test_case", "failed_state", "error", "other_write"),
    [
        ("LakeQueueDown", "QueueLakeRow", "SQS.QueueDoesNotExistException", "succeeded"),
        # No lake message for a record not written: the loader would find no record.
        ("SalesTableDown", "PutSaleRecord", "DynamoDB.ResourceNotFoundException", "not_reached"),
    ],
)
def test_a_failed_write_releases_the_claim_and_a_retry_writes_both_once(
    sales_stack: StackProcess, test_case: str, failed_state: str, error: str, other_write: str
) -> None:
    tenant = new_tenant()
    detail = sale_event(3, tenant)
    failed = sales_stack.run(FLOW, sale_envelope(detail), test_case=test_case)

    assert failed.status == "FAILED"
    assert failed.error == error  # the write's own error, not a generic one
    assert failed.state(failed_state).attempts[-1].error == error
    other = ({"PutSaleRecord", "QueueLakeRow"} - {failed_state}).pop()
    assert failed.state(other).status == other_write
    assert failed.state("ReleaseClaim").status == "succeeded"
    assert claim(sales_stack, detail) is None  # released: the sale is not a "duplicate"
    # The sale is where a person looks for failed sales: the event as it came, and why.
    [letter] = dead_letters(sales_stack, tenant)
    assert letter["event"] == failed.input
    assert letter["attributes"]["ERROR_CODE"] == error
    assert json.loads(letter["attributes"]["ERROR_MESSAGE"])["Error"] == error
    assert letter["attributes"]["EXECUTION_ARN"] == failed.arn

    republish(sales_stack, letter["event"])
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
    validate = run.state("ValidateSale")
    assert validate.status == "caught" and len(validate.attempts) == 1  # not retried
    # `sluice history` and the demo point at the caught step with its error, not at the
    # SaleNotWritten Fail state the Catch led to.
    assert run.failed_state is validate and validate.error == "InvalidSaleEventError"
    for field in ("detail.listedPrice", "detail.soldDate", "detail.embedding"):
        assert field in (run.cause or ""), field
    # Dead-lettered like every failed sale, so the producer's bug is seen with its fields.
    [letter] = dead_letters(sales_stack, tenant)
    assert letter["attributes"]["ERROR_CODE"] == "InvalidSaleEventError"
    assert "detail.listedPrice" in letter["attributes"]["ERROR_MESSAGE"]
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
        lambda: sale_events_dlq(sales_stack, tenant), timeout=120, what="the event in the DLQ"
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
    # The event can never start the flow: take it out of the shared stack's DLQ, whose
    # redrive other tests check.
    sales_stack.client("sqs").delete_message(
        QueueUrl=sales_stack.resource("SaleEventsDLQ")["url"],
        ReceiptHandle=message["ReceiptHandle"],
    )


def test_a_sale_whose_validation_times_out_is_retried_then_dead_lettered_for_redrive(
    timing_out_stack: StackProcess, sales_stack: StackProcess
) -> None:
    """A Lambda timeout is retried with backoff; when the retries run out the sale is not
    lost: the execution fails and the event is in the sale events DLQ with why, from where
    it is published again once the cause is fixed (here: on a stack with the usual 10 s)."""
    tenant = new_tenant()
    detail = sale_event(6, tenant)
    put_sales(timing_out_stack.client("events"), bus(timing_out_stack), [detail])

    [run] = executions_for(timing_out_stack, tenant, 1)
    assert run.status == "FAILED" and run.error == "Sandbox.Timedout"
    validate = run.state("ValidateSale")
    assert [a.error for a in validate.attempts] == ["Sandbox.Timedout"] * 4  # 1 + 3 retries
    assert validate.status == "caught"
    assert records(timing_out_stack, tenant) == []
    assert claim(timing_out_stack, detail) is None

    [letter] = dead_letters(timing_out_stack, tenant)
    assert letter["event"] == run.input
    assert letter["attributes"]["ERROR_CODE"] == "Sandbox.Timedout"
    assert "Task timed out" in letter["attributes"]["ERROR_MESSAGE"]
    assert letter["attributes"]["EXECUTION_ARN"] == run.arn

    republish_and_see_it_written(sales_stack, letter["event"], tenant)


def test_a_dead_holders_claim_is_taken_over_once_its_lease_runs_out(
    sales_stack: StackProcess,
) -> None:
    """Powertools' rule: an IN_PROGRESS claim whose in-progress expiry has passed may be taken
    over. A dead execution's lease runs out 20 s after the sale is published again; the new
    delivery finds it held, retries (1+2+4+8+8 s of virtual time) and, because every attempt
    takes the time afresh, takes it over and writes the sale once."""
    tenant = new_tenant()
    detail = sale_event(8, tenant)
    dead = "arn:aws:states:us-east-1:123456789012:execution:sluice-sale_dual_write:dead"
    lease_end = int(time.time()) + 20
    plant_claim(sales_stack, detail, dead, "IN_PROGRESS", str(lease_end), str(lease_end + 86_400))
    with sales_stack.time_scale(0):
        put_sales(sales_stack.client("events"), bus(sales_stack), [detail])
        [run] = executions_for(sales_stack, tenant, 1)

    assert run.status == "SUCCEEDED" and run.output["result"] == "written", (run.error, run.cause)
    attempts = run.state("ClaimSale").attempts
    assert attempts[0].error == "SaleInProgress" and len(attempts) >= 2
    taken = claim(sales_stack, detail)
    assert taken is not None and taken["executionId"]["S"] == run.arn
    assert taken["status"]["S"] == "COMPLETED"
    assert int(taken["inProgressUntil"]["N"]) > lease_end  # a lease of its own, from now
    assert len(records(sales_stack, tenant)) == 1
    [row] = one_row(sales_stack, tenant)
    assert row["sale_id"] == sale_of(detail)


@pytest.mark.parametrize("held", ["COMPLETED", "IN_PROGRESS"])
def test_an_execution_that_lost_its_claim_cannot_complete_it(
    sales_stack: StackProcess, held: str
) -> None:
    """The claim's holder is the execution named in it. An execution whose claim was taken
    over while it wrote (its lease ran out, e.g. because it was redriven long after) must not
    mark the sale COMPLETED nor end `written`. Its conditional MarkCompleted fails; if the
    other execution completed the sale this one is a duplicate, if the other still holds it
    this one dead-letters the event (re-publishing it is safe).

    Test case ClaimTakenOver answers this execution's PutClaim as if it had claimed, while
    the stored claim belongs to another execution."""
    tenant = new_tenant()
    detail = sale_event(9, tenant)
    other = "arn:aws:states:us-east-1:123456789012:execution:sluice-sale_dual_write:other"
    now = int(time.time())
    plant_claim(sales_stack, detail, other, held, str(now + 600), str(now + 86_400))
    run = sales_stack.run(FLOW, sale_envelope(detail), test_case="ClaimTakenOver")

    completed = run.state("MarkCompleted").attempts
    assert [a.error for a in completed] == ["DynamoDB.ConditionalCheckFailedException"]
    assert run.state("Written").status == "not_reached"
    kept = claim(sales_stack, detail)
    assert kept is not None and kept["executionId"]["S"] == other
    assert kept["status"]["S"] == held
    if held == "COMPLETED":
        assert run.status == "SUCCEEDED", (run.error, run.cause)
        assert run.output["result"] == "duplicate"
    else:
        assert run.status == "FAILED" and run.error == "SaleClaimLost"
        [letter] = dead_letters(sales_stack, tenant)
        assert letter["attributes"]["ERROR_CODE"] == "SaleClaimLost"


def test_an_execution_that_finds_its_own_claim_goes_on_as_its_holder(
    sales_stack: StackProcess,
) -> None:
    """The re-entry branch: the claim names this very execution (its put landed but the
    answer was lost and the retry's put is refused, or it is redriven). The claim is keyed
    by execution, so it goes on as the holder and writes the sale once; any other execution
    of the same event (EventBridge may start two for one event id) is someone else."""
    tenant = new_tenant()
    detail = sale_event(10, tenant)
    name = f"reentry-{uuid.uuid4().hex[:8]}"
    me = sales_stack.flow_arn(FLOW).replace(":stateMachine:", ":execution:") + f":{name}"
    now = int(time.time())
    plant_claim(sales_stack, detail, me, "IN_PROGRESS", str(now + 600), str(now + 86_400))
    run = sales_stack.execution(sales_stack.start(FLOW, sale_envelope(detail), name=name))

    assert run.arn == me
    assert run.status == "SUCCEEDED" and run.output["result"] == "written", (run.error, run.cause)
    assert run.state("ReadClaim").status == "succeeded"  # its put was refused: it read
    assert run.state("Claimed").status == "succeeded"
    done = claim(sales_stack, detail)
    assert done is not None and done["status"]["S"] == "COMPLETED"
    assert len(records(sales_stack, tenant)) == 1


def test_a_dead_lettered_sale_is_listed_with_why_and_redriven_by_sluice_dlq(
    sales_stack: StackProcess,
) -> None:
    """`sluice dlq` knows the rule's DLQ: it lists the failed sale with its error and the
    execution, and redriving starts the flow with the event again, as the rule would."""
    tenant = new_tenant()
    detail = sale_event(11, tenant)
    failed = sales_stack.run(FLOW, sale_envelope(detail), test_case="SalesTableDown")
    assert failed.status == "FAILED"
    queue = str(sales_stack.resource("SaleEventsDLQ")["name"])

    [listed] = [q for q in sales_stack.gateway.get("/_sluice/dlq") if q["name"] == queue]
    assert listed["fed_by"] == "rule" and listed["source"] == sales_stack.flow_arn(FLOW)
    listing = sales_stack.cli("dlq", "list", queue)
    assert listing.returncode == 0, listing.stderr
    assert "DynamoDB.ResourceNotFoundException" in listing.stdout
    assert failed.arn in listing.stdout

    redrive = sales_stack.cli("dlq", "redrive", queue)
    assert redrive.returncode == 0, redrive.stdout + redrive.stderr
    [written] = executions_for(sales_stack, tenant, 2)[1:]
    assert written.status == "SUCCEEDED" and written.output["result"] == "written"
    assert written.input == failed.input
    assert len(records(sales_stack, tenant)) == 1
    assert not [
        m
        for m in sales_stack.gateway.get(f"/_sluice/dlq/{queue}")
        if (m["body"].get("detail") or {}).get("tenantId") == tenant
    ]


def wait_until_idle(stack: StackProcess) -> None:
    """No sale execution running and nothing in the lake queue, so a fault injected next
    meets only this test's sale."""
    sqs, url = stack.client("sqs"), stack.resource("SaleLakeQueue")["url"]
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]

    def idle() -> bool:
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
        running = [e for e in stack.executions(FLOW) if e["status"] == "RUNNING"]
        return not running and all(attributes[n] == "0" for n in names)

    wait_for(idle, timeout=60, what="no sale in flight")


def test_a_throttled_validation_is_retried_then_the_sale_is_written(
    sales_stack: StackProcess,
) -> None:
    wait_until_idle(sales_stack)
    sales_stack.inject_fault("SaleValidateFunction", "Lambda.TooManyRequestsException", count=2)
    tenant = new_tenant()
    with sales_stack.time_scale(0):
        put_sales(sales_stack.client("events"), bus(sales_stack), [sale_event(12, tenant)])
        [run] = executions_for(sales_stack, tenant, 1)
    assert run.status == "SUCCEEDED" and run.output["result"] == "written"
    errors = [a.error for a in run.state("ValidateSale").attempts]
    assert errors == ["Lambda.TooManyRequestsException"] * 2 + [None]
    assert len(records(sales_stack, tenant)) == 1
    assert sales_stack.faults() == []


def test_a_lake_batch_that_keeps_failing_reaches_the_lake_dlq_and_sluice_dlq_redrives_it(
    sales_stack: StackProcess,
) -> None:
    """The loader's run fails on every receive (its Lambda times out): the Pipe returns the
    whole batch each time and SQS moves the message to the lake DLQ after maxReceiveCount
    (5); the sale's record stays written, and redriving the DLQ loads its row."""
    wait_until_idle(sales_stack)
    sales_stack.inject_fault("SaleLakeLoaderFunction", "Sandbox.Timedout", count=5)
    tenant = new_tenant()
    detail = sale_event(13, tenant)
    put_sales(sales_stack.client("events"), bus(sales_stack), [detail])
    [run] = executions_for(sales_stack, tenant, 1)
    assert run.status == "SUCCEEDED" and run.output["result"] == "written"
    queue = str(sales_stack.resource("SaleLakeDLQ")["name"])

    def dead() -> list[dict[str, Any]]:
        messages = sales_stack.gateway.get(f"/_sluice/dlq/{queue}")
        return [m for m in messages if tenant in json.dumps(m["body"])]

    [message] = wait_for(dead, timeout=90, what="the lake message in the lake DLQ")
    assert message["reason"]["error"] == "Sandbox.Timedout"
    assert message["reason"]["failedDeliveries"] == 5
    assert lake_rows(sales_stack, tenant) == []
    assert len(records(sales_stack, tenant)) == 1
    assert sales_stack.faults() == []

    redrive = sales_stack.cli("dlq", "redrive", queue)
    assert redrive.returncode == 0, redrive.stdout + redrive.stderr
    [row] = one_row(sales_stack, tenant)
    assert row["sale_id"] == sale_of(detail)
    wait_for(lambda: not dead(), what="the lake DLQ to drain")


# EventBridge's documented DLQ ERROR_CODE values (eb-rule-dlq, "Using dead-letter queues").
EVENTBRIDGE_DLQ_ERROR_CODES = {
    "CONNECTION_FAILURE", "CROSS_ACCOUNT_INGESTION_FAILED", "CROSS_REGION_INGESTION_FAILED",
    "ERROR_FROM_TARGET", "EVENTS_IN_BATCH_REQUEST_REJECTED", "FAILED_TO_ASSUME_ROLE",
    "INTERNAL_ERROR", "INVALID_JSON", "INVALID_PARAMETER", "NO_PERMISSIONS", "NO_RESOURCE",
    "RESOURCE_ALREADY_EXISTS", "RESOURCE_LIMIT_EXCEEDED", "RESOURCE_MODIFICATION_COLLISION",
    "SDK_CLIENT_ERROR", "THIRD_ACCOUNT_HOP_DETECTED", "THIRD_REGION_HOP_DETECTED", "THROTTLING",
    "TIMEOUT", "TRANSIENT_ASSUME_ROLE", "UNKNOWN",
}  # fmt: skip


# The rule target's RetryPolicy: the template's SaleEventMaxRetries and
# SaleEventMaxAgeSeconds (samconfig's local parameters keep them).
SALE_EVENT_MAX_RETRIES = 20
SALE_EVENT_MAX_AGE_S = 3600


def test_a_target_outage_longer_than_the_event_age_dead_letters_the_event_for_redrive(
    sales_stack: StackProcess,
) -> None:
    """Step Functions answers every StartExecution of the flow with ServiceUnavailable (503)
    for longer than the rule's retry window: EventBridge retries by the target's RetryPolicy
    (from the template: 20 retries within 3,600 s; virtual time, so the backoff is not
    slept), then sends the event to the target's DLQ with why. Nothing starts, nothing is
    written; once the outage is over the event is published again and the sale is written."""
    tenant = new_tenant()
    detail = sale_event(10, tenant)
    outage = 1000  # more starts than the policy can make
    sales_stack.refuse_starts(FLOW, "ServiceUnavailable", count=outage)
    try:
        with sales_stack.time_scale(0):
            put_sales(sales_stack.client("events"), bus(sales_stack), [detail])
            [letter] = dead_letters(sales_stack, tenant)
        [fault] = sales_stack.gateway.get("/_sluice/execution-faults")
    finally:
        sales_stack.clear_execution_faults()

    attributes = letter["attributes"]
    assert letter["event"]["detail"] == detail
    rules_of_the_bus = f"arn:aws:events:us-east-1:123456789012:rule/{bus(sales_stack)}/"
    assert attributes["RULE_ARN"].startswith(rules_of_the_bus)
    assert attributes["TARGET_ARN"] == sales_stack.flow_arn(FLOW)
    assert attributes["ERROR_CODE"] in EVENTBRIDGE_DLQ_ERROR_CODES
    assert "ServiceUnavailable" in attributes["ERROR_MESSAGE"]
    retries = int(attributes["RETRY_ATTEMPTS"])
    # Whichever limit is reached first ends the retries (eb-rule-retry-policy).
    if attributes["EXHAUSTED_RETRY_CONDITION"] == "MaximumRetryAttempts":
        assert retries == SALE_EVENT_MAX_RETRIES
    else:
        assert attributes["EXHAUSTED_RETRY_CONDITION"] == "MaximumEventAgeInSeconds"
        assert 0 < retries <= SALE_EVENT_MAX_RETRIES
    # Each retry was one StartExecution: the first attempt and the retries, no more.
    assert outage - fault["remaining"] == retries + 1
    sfn = sales_stack.client("stepfunctions")
    inputs = [
        sfn.describe_execution(executionArn=e["executionArn"])["input"]
        for e in sales_stack.executions(FLOW)
    ]
    assert not [i for i in inputs if tenant in i]
    assert records(sales_stack, tenant) == []

    republish_and_see_it_written(sales_stack, letter["event"], tenant)
