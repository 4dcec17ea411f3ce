"""Cost on AWS per million events, per flow, priced from what a local run measured.

One fresh stack with the template's production batching (see OVERRIDES), then each flow in
turn through its real trigger, alone on the stack, until its work is done:

- transcript_persistence: BDA output trees written to the bucket (S3 notification -> SQS ->
  Pipe -> Express);
- artist_search_sync: artist items written to `TattooDirectory` (stream -> Pipe -> Express);
- sale_dual_write: `carousel.product.sold` events put on the bus (rule -> Standard, then the
  lake queue -> Pipe -> the Express loader);
- bedrock_batch: jobs started through the admin API (Standard); the content items they
  write are violations_sync's events (stream -> Pipe -> Express MERGE).

What is measured, between two readings taken before and after each flow's run:
Lambda invocations and billed milliseconds per function (`/_sluice/lambda/usage`), AWS
requests per service, operation and resource (`/_sluice/requests`), records each Pipe
delivered (`/_sluice/stats`), and every execution of the flow's state machines (histories
for Standard transitions, start/stop and input for Express). Item sizes come from the
tables themselves at the end. What cannot be measured locally is estimated and says so in
the report (SQS receives, S3's notification to SQS, the Bedrock job's poll loop on AWS).
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from bench.stack import on_fresh_stack
from devkit.artist_search_sync import numbered_artist_item
from devkit.bedrock_batch import admin
from devkit.sale_dual_write import put_sales, sale_event
from devkit.transcript_persistence import write_job_output
from devkit.violations_sync import seed_violations
from schemas.bedrock_batch import DEFAULT_MODEL_ID, DEFAULT_POLL_SECONDS, estimate
from sluice.client import TERMINAL
from sluice.testing import StackProcess, wait_for
from tasks.common.lake import catalog_from_env

EVENTS = 200  # per flow: transcripts, artist changes, sales
JOBS = ({"agencies": ["OSHA"]}, {"agencies": ["EPA"]})  # bedrock_batch jobs, disjoint
JOB_SIZE = 100  # violations per job: Bedrock's minimum batch
LAKE_ROWS = 3_000
WRITERS = 4
# The template's own batching (what `sam deploy` gets), not samconfig's short local values:
# Express requests per event follow the batch size. Violations' 300 s window is cut to 30 s
# so a partial last batch does not hold the run; full batches go at once either way.
OVERRIDES = {
    # Longer than any local execution, so no message is received twice while its batch
    # runs (production: 900); short enough that a failed one comes back within the run.
    "TranscriptQueueVisibilityTimeout": "60",
    "ArtistSearchPipeBatchingWindow": "5",
    "ViolationsPipeBatchingWindow": "30",
    "SaleLakeBatchingWindow": "60",
    "SaleLakeQueueVisibilityTimeout": "120",  # the 60 s window plus the loader's run
    "BedrockOutputChunkBytes": "4194304",
}
WARM_WORKERS = 4  # workers started per function before a flow is measured
HOURS_PER_BEDROCK_JOB = 24  # assumed on AWS for the poll loop (Bedrock's target turnaround)
POLL_STATES = 3  # WaitForJob, PollJob, JobStatus: entered once per poll


# -- prices -------------------------------------------------------------------------------
# US East (N. Virginia), on demand, x86_64, first volume tier, free tiers excluded.
# Read 2026-12-02 through the search tool's stored copies of these pages.


@dataclass(frozen=True)
class Price:
    usd: float
    per: float  # units the price is for
    unit: str
    source: str

    def cost(self, units: float) -> float:
        return units * self.usd / self.per


PRICES: dict[str, Price] = {
    # https://aws.amazon.com/lambda/pricing/ (example: "$0.00001667 per GB-s", "$0.20 per 1
    # million requests"); x86 first tier $0.0000166667 per GB-second, duration rounded up to
    # 1 ms (https://docs.aws.amazon.com/whitepapers/latest/how-aws-pricing-works/lambda.html)
    "lambda_requests": Price(0.20, 1e6, "requests", "aws.amazon.com/lambda/pricing"),
    "lambda_gb_s": Price(0.0000166667, 1, "GB-second", "aws.amazon.com/lambda/pricing"),
    # https://aws.amazon.com/step-functions/pricing/ : Standard "$0.025 per 1,000 state
    # transitions", counted "each time a step of your workflow is executed ... including
    # retries"; Express "$1.00 per million requests", duration "rounded up to the nearest
    # 100ms" and memory "billed in 64-MB chunks", $0.06 per GB-hour for the first 1,000
    # GB-hours (pricing example 3) = $0.0000166667 per GB-second.
    "sfn_transitions": Price(
        0.025, 1000, "state transitions", "aws.amazon.com/step-functions/pricing"
    ),
    "sfn_express_requests": Price(1.00, 1e6, "requests", "aws.amazon.com/step-functions/pricing"),
    "sfn_express_gb_s": Price(0.06 / 3600, 1, "GB-second", "aws.amazon.com/step-functions/pricing"),
    # https://aws.amazon.com/sqs/pricing/ : standard queues $0.40 per million requests
    # (first 100 billion a month), each 64 KB chunk of a payload a request. The stored copy
    # of AWS's page showed no figures; $0.40 as summarised for us-east-1 in 2026 by
    # cloudburn.io/blog/amazon-sqs-pricing and factualminds.com (June 2026).
    "sqs_requests": Price(0.40, 1e6, "requests", "aws.amazon.com/sqs/pricing"),
    # https://aws.amazon.com/eventbridge/pricing/ : custom events $1.00 per million, "each
    # 64 KB chunk of a payload is billed as one event"; Pipes $0.40 per million requests
    # entering a pipe after filtering, 64 KB chunks (figures as summarised by
    # cloudburn.io/blog/amazon-eventbridge-pricing, March 2026; AWS's stored page showed the
    # chunk rule, not the table).
    "eventbridge_events": Price(1.00, 1e6, "custom events", "aws.amazon.com/eventbridge/pricing"),
    "pipes_requests": Price(0.40, 1e6, "requests", "aws.amazon.com/eventbridge/pricing"),
    # https://aws.amazon.com/dynamodb/pricing/on-demand/ : a write request unit writes up to
    # 1 KB, a strongly consistent read up to 4 KB is one read request unit; $0.625 per
    # million WRU and $0.125 per million RRU since the November 2024 cut (figures as given
    # by airbyte.com/data-engineering-resources/dynamodb-pricing, July 2025).
    "dynamodb_wru": Price(
        0.625, 1e6, "write request units", "aws.amazon.com/dynamodb/pricing/on-demand"
    ),
    "dynamodb_rru": Price(
        0.125, 1e6, "read request units", "aws.amazon.com/dynamodb/pricing/on-demand"
    ),
    # https://aws.amazon.com/s3/pricing/ : S3 Standard PUT, COPY, POST, LIST $0.005 per 1,000;
    # GET, SELECT and all other requests $0.0004 per 1,000 (figures as given by
    # c3x.dev/blog/s3-request-fees-explained; DELETE is free).
    "s3_put": Price(0.005, 1000, "PUT/COPY/POST/LIST requests", "aws.amazon.com/s3/pricing"),
    "s3_get": Price(0.0004, 1000, "GET/HEAD requests", "aws.amazon.com/s3/pricing"),
}
PRICES_READ = "2026-12-02"
LAMBDA_VCPU_MB = 1769  # Lambda gives a function one vCPU at 1,769 MB, a share below it
EXPRESS_BASE_MB = 50  # Express memory: 50 MB + definition + execution data (pricing ex. 4)
S3_PUT_CLASS = {"PutObject", "CopyObject", "PostObject", "ListObjects", "UploadPart",
                "CreateMultipartUpload", "CompleteMultipartUpload"}  # fmt: skip
S3_GET_CLASS = {"GetObject", "HeadObject"}
DDB_WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}
DDB_READS = {"GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems"}


# -- what one flow's run measured -----------------------------------------------------------


@dataclass
class Express:
    seconds: float
    records: int
    memory_mb: int


@dataclass
class FlowRun:
    flow: str
    event: str  # what one event is
    events: int
    lambdas: dict[str, dict[str, float]] = field(default_factory=dict)
    requests: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    items: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    pipe_records: int = 0
    pipe_batches: int = 0
    pipe_failures: int = 0  # failed deliveries (their records were delivered again)
    transitions: int = 0  # billed Standard transitions
    retries: int = 0  # of which Task retries
    standard_executions: int = 0
    express: list[Express] = field(default_factory=list)
    put_events_bytes: int = 0  # per event, for the 64 KB chunk rule
    notes: list[str] = field(default_factory=list)
    # per-event additions estimated from the design, by price key
    estimated: dict[str, float] = field(default_factory=dict)


class Readings:
    """Totals from the stack's usage endpoints; the difference of two is one flow's run."""

    def __init__(self, stack: StackProcess) -> None:
        g = stack.gateway
        self.lambdas = {u["function"]: u for u in g.get("/_sluice/lambda/usage")}
        self.requests = {
            (r["service"], r["operation"], r["resource"]): (r["requests"], r["items"])
            for r in g.get("/_sluice/requests")
        }
        self.pipes = g.get("/_sluice/stats")["pipes"]

    def pipe(self, name: str, counter: str) -> int:
        return int(self.pipes.get(name, {}).get(counter, 0))


def _diff(run: FlowRun, before: Readings, after: Readings, pipes: Iterable[str]) -> None:
    for name, usage in after.lambdas.items():
        old = before.lambdas.get(name, {})
        delta = {
            k: usage[k] - old.get(k, 0) for k in ("invocations", "errors", "billed_ms", "cpu_ms")
        }
        if delta["invocations"]:
            kinds = Counter(usage.get("error_types", {})) - Counter(old.get("error_types", {}))
            run.lambdas[name] = {**delta, "memory_mb": usage["memory_mb"], "error_types": kinds}
    for key, (n, items) in after.requests.items():
        old_n, old_items = before.requests.get(key, (0, 0))
        if n - old_n:
            run.requests[key] += n - old_n
            run.items[key] += items - old_items
    for pipe in pipes:
        run.pipe_records += after.pipe(pipe, "records_delivered") - before.pipe(
            pipe, "records_delivered"
        )
        run.pipe_batches += after.pipe(pipe, "batches_delivered") - before.pipe(
            pipe, "batches_delivered"
        )
        run.pipe_failures += after.pipe(pipe, "failures") - before.pipe(pipe, "failures")


def _executions(stack: StackProcess, flow: str) -> list[dict[str, Any]]:
    return stack.executions(flow)


def _settled(stack: StackProcess, flows: Iterable[str]) -> bool:
    return all(e["status"] in TERMINAL for f in flows for e in _executions(stack, f))


def billed_transitions(events: list[dict[str, Any]]) -> tuple[int, int]:
    """State transitions Step Functions bills for one Standard execution's history, and how
    many of them are retries.

    The rule (aws.amazon.com/step-functions/pricing): a transition each time a step is
    executed, retries included. So: every `*StateEntered` event (states inside Parallel
    branches and Map iterations are entered too), plus every retry: a task scheduled again
    straight after its own failed attempt (`previousEventId` names the failure; branches
    interleave, so order alone cannot tell). A retried Parallel or Map enters its children
    again, which the first count already has.
    """
    kinds = {e["id"]: e["type"] for e in events}
    entered = sum(1 for e in events if e["type"].endswith("StateEntered"))
    retries = sum(
        1
        for e in events
        if e["type"] in _SCHEDULED
        and kinds.get(e.get("previousEventId", 0), "").endswith(_FAILED_ATTEMPT)
    )
    return entered + retries, retries


_SCHEDULED = ("TaskScheduled", "LambdaFunctionScheduled", "ActivityScheduled")
_FAILED_ATTEMPT = ("Failed", "TimedOut", "StartFailed", "ScheduleFailed", "SubmitFailed")


def _history(sfn: Any, arn: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for page in sfn.get_paginator("get_execution_history").paginate(executionArn=arn):
        events += page["events"]
    return events


def _warm(stack: StackProcess, functions: Iterable[str]) -> None:
    """Start each function's workers before measuring: a worker's first invoke waits for
    its imports, which on a loaded laptop can outlast a short Timeout (Lambda gives INIT
    its own limit). Handlers answer an empty event with an error; the worker stays warm."""
    client = stack.client("lambda")

    def invoke(function: str) -> None:
        for _ in range(3):
            response = client.invoke(FunctionName=function, Payload=b"{}")
            body = json.loads(response["Payload"].read() or b"null")
            if not (isinstance(body, dict) and body.get("errorType") == "Sandbox.Timedout"):
                return

    jobs = [f for f in sorted(functions) for _ in range(WARM_WORKERS)]
    with ThreadPoolExecutor(min(len(jobs), 8) or 1) as pool:
        list(pool.map(invoke, jobs))


def _collect_executions(stack: StackProcess, run: FlowRun, flows: Iterable[str]) -> None:
    sfn = stack.client("stepfunctions")
    machines = stack.gateway.flows()
    for flow in flows:
        machine = sfn.describe_state_machine(stateMachineArn=machines[flow]["arn"])
        express = machine["type"] == "EXPRESS"
        definition_bytes = len(machine["definition"].encode())
        states = json.loads(machine["definition"])["States"].values()
        has_map = any(state["Type"] in ("Map", "Parallel") for state in states)
        for e in _executions(stack, flow):
            arn = e["executionArn"]
            if not express:
                run.standard_executions += 1
                transitions, retries = billed_transitions(_history(sfn, arn))
                run.transitions += transitions
                run.retries += retries
                continue
            desc = sfn.describe_execution(executionArn=arn)
            data = (desc.get("input") or "").encode()
            records = json.loads(data or b"[]")
            fanout = max(1, len(records)) if has_map else 1
            used_mb = EXPRESS_BASE_MB + (definition_bytes + len(data) * fanout) / 2**20
            run.express.append(
                Express(
                    seconds=(desc["stopDate"] - desc["startDate"]).total_seconds(),
                    records=len(records) if isinstance(records, list) else 1,
                    memory_mb=64 * math.ceil(used_mb / 64),
                )
            )


def _phase(
    stack: StackProcess,
    run: FlowRun,
    *,
    produce: Callable[[], None],
    done: Callable[[Readings], bool],
    flows: list[str],
    pipes: list[str],
    timeout: float = 600,
) -> FlowRun:
    print(f"  cost: {run.flow}: {run.events} {run.event}s", flush=True)
    _warm(stack, {f for flow in flows for f in _functions_of(stack, flow)})
    before = Readings(stack)
    started = time.perf_counter()
    produce()
    wait_for(
        lambda: done(Readings(stack)) and _settled(stack, flows),
        timeout=timeout,
        interval=0.5,
        what=f"{run.flow} to finish",
    )
    time.sleep(1.0)  # the last batch's deletes follow its delivery
    _diff(run, before, Readings(stack), pipes)
    _collect_executions(stack, run, flows)
    failed = [
        f"{name} {n} x {kind}"
        for name, u in sorted(run.lambdas.items())
        for kind, n in sorted(u["error_types"].items())
    ]
    if run.pipe_failures or failed or run.retries:
        run.notes.append(
            f"failures in the measured run, retried as designed and included in the figures: "
            f"{run.pipe_failures} failed Pipe deliveries, {run.retries} Task retries, "
            f"failed invocations: {', '.join(failed) or 'none'}"
        )
    print(f"  cost: {run.flow}: done in {time.perf_counter() - started:.0f} s", flush=True)
    return run


# -- the five flows -----------------------------------------------------------------------


def _writer(stack: StackProcess, service: str, resource_id: str) -> tuple[Any, str]:
    """A client for WRITERS threads at once (botocore's pool holds 10 connections) and the
    physical name of the resource RESOURCE_ID (a logical id) they write to."""
    client = stack.client(service, max_pool_connections=WRITERS * 2)
    return client, stack.resource(resource_id)["name"]


def _through_pipe[T](
    stack: StackProcess,
    run: FlowRun,
    pipe_id: str,
    write: Callable[[T], object],
    items: Iterable[T],
    *,
    own_write: tuple[str, str, str] | None = None,
    note: str | None = None,
    flows: list[str] | None = None,
    timeout: float = 600,
) -> FlowRun:
    """A phase whose events reach the flow through the Pipe PIPE_ID (its logical id): ITEMS
    written by WRITERS threads, done when the Pipe has delivered one record per event.
    OWN_WRITE is the writes' own request (service, operation, resource): the event, not the
    flow's work. NOTE says what the local run cannot show."""
    pipe = stack.resource(pipe_id)["name"]

    def produce() -> None:
        with ThreadPoolExecutor(WRITERS) as pool:
            list(pool.map(write, items))

    _phase(
        stack,
        run,
        produce=produce,
        done=lambda r: r.pipe(pipe, "records_delivered") >= run.events,
        flows=flows or [run.flow],
        pipes=[pipe],
        timeout=timeout,
    )
    if own_write is not None:
        run.requests.pop(own_write, None)
    if note is not None:
        run.notes.append(note)
    return run


def _transcripts(stack: StackProcess) -> FlowRun:
    s3, bucket = _writer(stack, "s3", "TranscriptBucket")
    run = _through_pipe(
        stack,
        FlowRun("transcript_persistence", "transcript", EVENTS),
        "TranscriptPipe",
        lambda i: write_job_output(s3, bucket, f"cost-{i:05d}"),
        range(EVENTS),
        own_write=("s3", "PutObject", bucket),  # BDA writes the results
        note=(
            "SQS: S3's notification sends 1 message per result.json (inside moto locally, so "
            "estimated: 1 request per event)"
        ),
    )
    run.estimated["sqs_requests"] = 1.0
    return run


def _artists(stack: StackProcess) -> FlowRun:
    ddb, table = _writer(stack, "dynamodb", "TattooDirectoryTable")
    return _through_pipe(
        stack,
        FlowRun("artist_search_sync", "artist change", EVENTS),
        "ArtistSearchPipe",
        lambda i: ddb.put_item(TableName=table, Item=numbered_artist_item(i, "cost")),
        range(EVENTS),
        own_write=("dynamodb", "PutItem", table),  # the application's own write
        note=(
            "ApplyToIndex writes to the embedded index locally (SearchBackend=embedded); on AWS "
            "it waits for one OpenSearch bulk request per batch, which is not measured here"
        ),
    )


def _sales(stack: StackProcess) -> FlowRun:
    events, bus = _writer(stack, "events", "SalesEventBus")
    details = [sale_event(i, "cost-tenant") for i in range(EVENTS)]
    run = _through_pipe(
        stack,
        FlowRun("sale_dual_write", "sale", EVENTS),
        "SaleLakePipe",
        lambda chunk: put_sales(events, bus, chunk),
        [details[i : i + 10] for i in range(0, EVENTS, 10)],
        flows=["sale_dual_write", "sale_dual_write_lake_loader"],
        timeout=900,
    )
    run.put_events_bytes = max(len(json.dumps(d)) for d in details)
    return run


def _bedrock_and_violations(stack: StackProcess) -> tuple[FlowRun, FlowRun]:
    catalog = catalog_from_env(
        {"LAKE_WAREHOUSE": str(stack.data_dir / "lake"), "LAKE_CATALOG_URI": ""}
    )
    seed_violations(catalog, LAKE_ROWS)
    pipe = stack.resource("ViolationsPipe")["name"]
    total = len(JOBS) * JOB_SIZE
    bedrock = FlowRun("bedrock_batch", "violation", total)
    violations = FlowRun("violations_sync", "content record", total)
    started: list[str] = []

    def produce() -> None:
        for filters in JOBS:
            config = {
                "filters": filters,
                "limits": {"maxViolations": JOB_SIZE},
                "pollIntervalSeconds": 1,
            }
            status, body = admin(stack.gateway, "POST", "/admin/bedrock/batch", {"config": config})
            assert status in (200, 202), (status, body)
            started.append(body["executionArn"])

    before = Readings(stack)
    _phase(
        stack,
        bedrock,
        produce=produce,
        done=lambda r: (
            r.pipe(pipe, "records_delivered") - before.pipe(pipe, "records_delivered") >= total
        ),
        flows=["bedrock_batch", "violations_sync"],
        pipes=[],
    )
    sfn = stack.client("stepfunctions")
    outputs = [json.loads(sfn.describe_execution(executionArn=a).get("output") or "{}")
               for a in started]  # fmt: skip
    processed = sum(o.get("stats", {}).get("processed", 0) for o in outputs)
    assert processed == total, outputs

    # One stack ran both: split by what each flow's machine invokes and touches.
    mine = _functions_of(stack, "violations_sync")
    violations.lambdas = {f: u for f, u in bedrock.lambdas.items() if f in mine}
    bedrock.lambdas = {f: u for f, u in bedrock.lambdas.items() if f not in mine}
    violations.express, bedrock.express = bedrock.express, []
    after = Readings(stack)
    violations.pipe_records = after.pipe(pipe, "records_delivered") - before.pipe(
        pipe, "records_delivered"
    )
    violations.pipe_batches = after.pipe(pipe, "batches_delivered") - before.pipe(
        pipe, "batches_delivered"
    )
    # The poll loop on AWS: Wait, PollJob and JobStatus every pollIntervalSeconds while the
    # job runs, which the emulator's seconds-long jobs cannot show.
    polls = HOURS_PER_BEDROCK_JOB * 3600 // DEFAULT_POLL_SECONDS
    bedrock.estimated["sfn_transitions"] = len(JOBS) * polls * POLL_STATES / total
    per_job = PRICES["sfn_transitions"].cost(polls * POLL_STATES)
    bedrock.notes.append(
        f"{len(JOBS)} jobs of {JOB_SIZE} violations, polled every 1 s locally. On AWS the "
        f"default {DEFAULT_POLL_SECONDS} s poll over an assumed {HOURS_PER_BEDROCK_JOB} h job "
        f"adds {polls * POLL_STATES} transitions (Wait, PollJob, JobStatus) per job: "
        f"${per_job:.4f} a job, ${per_job * 1e6 / JOB_SIZE:,.2f} per million violations in "
        f"jobs of {JOB_SIZE}, ${per_job * 1e6 / 10_000:,.2f} in jobs of 10,000 (the default "
        "cap); estimated, and included in the row"
    )
    return bedrock, violations


def _functions_of(stack: StackProcess, flow: str) -> set[str]:
    sfn = stack.client("stepfunctions")
    definition = sfn.describe_state_machine(stateMachineArn=stack.flow_arn(flow))["definition"]
    return {part.split(":", 1)[0].split('"', 1)[0] for part in definition.split(":function:")[1:]}


# -- from measurements to dollars -----------------------------------------------------------


def dynamodb_item_size(item: dict[str, Any]) -> int:
    """Bytes DynamoDB bills an item for: attribute names plus values (its documented rule;
    numbers are about one byte per two significant digits plus one)."""

    def value(v: dict[str, Any]) -> int:
        kind, data = next(iter(v.items()))
        if kind == "S":
            return len(str(data).encode())
        if kind == "N":
            digits = len(str(data).lstrip("-").replace(".", "").strip("0")) or 1
            return (digits + 1) // 2 + 1
        if kind == "B":
            return len(data)
        if kind in ("BOOL", "NULL"):
            return 1
        if kind == "L":
            return 3 + sum(value(x) + 1 for x in data)
        if kind == "M":
            return 3 + sum(len(k.encode()) + value(x) + 1 for k, x in data.items())
        if kind in ("SS", "NS", "BS"):
            return sum(value({kind[0]: x}) for x in data)
        return 0

    return sum(len(k.encode()) + value(v) for k, v in item.items())


@dataclass
class TableShape:
    write_units: float  # WRU per write of an average item, GSIs included
    read_units: float  # RRU per strongly consistent read of an average item
    size: float


def table_shapes(stack: StackProcess, names: Iterable[str]) -> dict[str, TableShape]:
    ddb = stack.client("dynamodb")
    shapes = {}
    for name in names:
        items: list[dict[str, Any]] = []
        for page in ddb.get_paginator("scan").paginate(TableName=name):
            items += page["Items"]
        if not items:
            continue
        sizes = [dynamodb_item_size(i) for i in items]
        write = sum(math.ceil(s / 1024) for s in sizes) / len(items)
        read = sum(math.ceil(s / 4096) for s in sizes) / len(items)
        desc = ddb.describe_table(TableName=name)["Table"]
        for gsi in desc.get("GlobalSecondaryIndexes", []):
            keys = [k["AttributeName"] for k in gsi["KeySchema"]]
            # A projection of ALL copies the item; each indexed item is written again.
            indexed = [s for s, i in zip(sizes, items, strict=True) if all(k in i for k in keys)]
            write += sum(math.ceil(s / 1024) for s in indexed) / len(items)
        shapes[name] = TableShape(write, read, sum(sizes) / len(sizes))
    return shapes


@dataclass
class Costed:
    run: FlowRun
    per_event: dict[str, float]  # billed units per event, by price key
    lambda_invocations: float
    gb_s_local: float
    gb_s_bound: float
    other: dict[str, float]  # requests per event, for the table
    cost: dict[str, float]  # USD per million events, by service
    total_local: float
    total_bound: float


def cost_of(run: FlowRun, shapes: dict[str, TableShape]) -> Costed:
    n = run.events
    units: Counter[str] = Counter()
    other: Counter[str] = Counter()
    # Step Functions
    units["sfn_transitions"] += run.transitions
    units["sfn_express_requests"] += len(run.express)
    units["sfn_express_gb_s"] += sum(
        math.ceil(x.seconds * 10) / 10 * x.memory_mb / 1024 for x in run.express
    )
    # Lambda
    invocations = sum(u["invocations"] for u in run.lambdas.values())
    gb_s_local = sum(u["memory_mb"] / 1024 * u["billed_ms"] / 1000 for u in run.lambdas.values())
    gb_s_bound = 0.0
    for u in run.lambdas.values():
        cpu, billed, mb = u["cpu_ms"], u["billed_ms"], u["memory_mb"]
        slower = max(1.0, LAMBDA_VCPU_MB / mb)
        gb_s_bound += mb / 1024 * (max(0.0, billed - cpu) + cpu * slower) / 1000
    units["lambda_requests"] += invocations
    # Other requests, from the gateway's counts
    for (service, op, resource), requests in run.requests.items():
        items = run.items[service, op, resource]
        if service == "sqs":
            if op in ("SendMessage", "SendMessageBatch", "DeleteMessage", "DeleteMessageBatch"):
                units["sqs_requests"] += requests
                other[f"SQS {op}"] += requests
        elif service == "events" and op == "PutEvents":
            chunks = max(1, math.ceil(run.put_events_bytes / 65536))
            units["eventbridge_events"] += items * chunks
            other["EventBridge events"] += items
        elif service == "s3":
            if op in S3_PUT_CLASS:
                units["s3_put"] += requests
                other[f"S3 {op}"] += requests
            elif op in S3_GET_CLASS:
                units["s3_get"] += requests
                other[f"S3 {op}"] += requests
        elif service == "dynamodb" and (op in DDB_WRITES or op in DDB_READS):
            tables = resource.split("+")
            shape = [shapes[t] for t in tables if t in shapes]
            if not shape:
                continue
            if op in DDB_WRITES:
                units["dynamodb_wru"] += items * sum(s.write_units for s in shape) / len(shape)
            else:
                units["dynamodb_rru"] += items * sum(s.read_units for s in shape) / len(shape)
            other[f"DynamoDB {op}"] += items
    # SQS receives: a Pipe receives up to 10 messages a call (estimated; idle long polls are
    # per queue and hour, not per event)
    if run.flow in ("transcript_persistence", "sale_dual_write") and run.pipe_batches:
        per_batch = run.pipe_records / run.pipe_batches
        receives = run.pipe_batches * math.ceil(per_batch / 10)
        units["sqs_requests"] += receives
        other["SQS ReceiveMessage (est.)"] += receives
    units["pipes_requests"] += run.pipe_records
    if run.pipe_records:
        other["Pipes requests"] += run.pipe_records
    per_event = {k: v / n for k, v in units.items()}
    for key, value in run.estimated.items():
        per_event[key] = per_event.get(key, 0.0) + value
        if key == "sqs_requests":
            other["SQS SendMessage (S3 notification, est.)"] += value * n

    def usd(key: str, per: float) -> float:
        return PRICES[key].cost(per * 1e6)

    cost = {
        "Step Functions": usd("sfn_transitions", per_event.get("sfn_transitions", 0))
        + usd("sfn_express_requests", per_event.get("sfn_express_requests", 0))
        + usd("sfn_express_gb_s", per_event.get("sfn_express_gb_s", 0)),
        "Lambda requests": usd("lambda_requests", per_event.get("lambda_requests", 0)),
        "SQS": usd("sqs_requests", per_event.get("sqs_requests", 0)),
        "DynamoDB": usd("dynamodb_wru", per_event.get("dynamodb_wru", 0))
        + usd("dynamodb_rru", per_event.get("dynamodb_rru", 0)),
        "S3": usd("s3_put", per_event.get("s3_put", 0)) + usd("s3_get", per_event.get("s3_get", 0)),
        "EventBridge + Pipes": usd("eventbridge_events", per_event.get("eventbridge_events", 0))
        + usd("pipes_requests", per_event.get("pipes_requests", 0)),
    }
    lambda_local = usd("lambda_gb_s", gb_s_local / n)
    lambda_bound = usd("lambda_gb_s", gb_s_bound / n)
    fixed = sum(cost.values())
    cost["Lambda GB-s (local)"] = lambda_local
    cost["Lambda GB-s (bound)"] = lambda_bound
    return Costed(
        run=run,
        per_event=per_event,
        lambda_invocations=invocations / n,
        gb_s_local=gb_s_local / n,
        gb_s_bound=gb_s_bound / n,
        other={k: v / n for k, v in sorted(other.items())},
        cost=cost,
        total_local=fixed + lambda_local,
        total_bound=fixed + lambda_bound,
    )


# -- the report ---------------------------------------------------------------------------


def run() -> str:
    return on_fresh_stack(_measure, overrides=OVERRIDES)


def _measure(stack: StackProcess) -> str:
    runs = [_transcripts(stack), _artists(stack), _sales(stack), *_bedrock_and_violations(stack)]
    tables = {r["name"] for r in stack.gateway.stack()["resources"].values()
              if r["type"] == "AWS::DynamoDB::Table"}  # fmt: skip
    shapes = table_shapes(stack, tables)
    costed = [cost_of(r, shapes) for r in runs]
    order = ["transcript_persistence", "violations_sync", "artist_search_sync",
             "bedrock_batch", "sale_dual_write"]  # fmt: skip
    costed.sort(key=lambda c: order.index(c.run.flow))
    for c in costed:
        print(f"  cost: {c.run.flow}: ${c.total_bound:.2f} per million {c.run.event}s (bound)")
    return report(costed, shapes)


def _money(x: float) -> str:
    return f"{x:,.2f}" if x >= 0.01 or x == 0 else f"{x:.3f}"


def report(costed: list[Costed], shapes: dict[str, TableShape]) -> str:
    measured = [
        "| flow | events measured | Standard transitions / event | Express executions "
        "(events / execution, billed s each) | Lambda invocations / event | Lambda GB-s / event, "
        "local / bound | other billed requests / event |",
        "|---|---:|---:|---|---:|---|---|",
    ]
    for c in costed:
        r = c.run
        if r.express:
            per = sum(x.records for x in r.express) / len(r.express)
            billed = sum(math.ceil(x.seconds * 10) / 10 for x in r.express) / len(r.express)
            mem = max(x.memory_mb for x in r.express)
            express = f"{len(r.express)} ({per:.1f}, {billed:.1f} s at {mem} MB)"
        else:
            express = "-"
        others = "; ".join(f"{k} {v:.2f}" for k, v in c.other.items()) or "-"
        transitions = f"{r.transitions / r.events:.2f}" if r.transitions else "-"
        if "sfn_transitions" in r.estimated:
            transitions += f" (+{r.estimated['sfn_transitions']:.2f} est.)"
        measured.append(
            f"| {r.flow} | {r.events} {r.event}s | {transitions} | {express} | "
            f"{c.lambda_invocations:.2f} | {c.gb_s_local:.4f} / {c.gb_s_bound:.4f} | {others} |"
        )
    functions = [
        "| flow | function | MemorySize | invocations / event | failed | billed ms / invoke, "
        "mean | CPU ms / invoke, mean |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for c in costed:
        for name, u in sorted(c.run.lambdas.items()):
            n = u["invocations"]
            functions.append(
                f"| {c.run.flow} | {name} | {u['memory_mb']:.0f} MB | {n / c.run.events:.3f} | "
                f"{u.get('errors', 0):.0f} | {u['billed_ms'] / n:,.0f} | {u['cpu_ms'] / n:,.0f} |"
            )
    services = ["Step Functions", "Lambda requests", "Lambda GB-s (bound)", "SQS", "DynamoDB",
                "S3", "EventBridge + Pipes"]  # fmt: skip
    costs = [
        "| flow (per million) | " + " | ".join(services) + " | total | total with local "
        "Lambda durations |",
        "|---|" + "---:|" * (len(services) + 2),
    ]
    for c in costed:
        cells = " | ".join(_money(c.cost[s]) for s in services)
        costs.append(
            f"| {c.run.flow} ({c.run.event}s) | {cells} | **{_money(c.total_bound)}** | "
            f"{_money(c.total_local)} |"
        )
    bedrock = estimate(1_000_000, DEFAULT_MODEL_ID)
    prices = "\n".join(
        f"| {k} | ${p.usd:g} per {p.per:,.0f} {p.unit} | {p.source} |" for k, p in PRICES.items()
    )
    notes = "\n".join(f"- {c.run.flow}: {n}" for c in costed for n in c.run.notes)
    sizes = ", ".join(
        f"{name.split('-', 1)[-1]} {s.size / 1024:.1f} KB ({s.write_units:.0f} WRU per write)"
        for name, s in sorted(shapes.items())
    )
    return (
        "\n## Cost on AWS per million events\n\n"
        "Each flow driven alone through its real trigger on one fresh stack with the "
        "template's production batch sizes and windows (violations_sync's 300 s window cut "
        "to 30 s), then priced at us-east-1 on-demand prices read "
        f"{PRICES_READ} (x86_64, first volume tier, free tiers excluded). Counted: Lambda "
        "invocations and billed ms (`/_sluice/lambda/usage`), AWS requests per API and "
        "resource (`/_sluice/requests`), Pipe deliveries, and every execution's history "
        "(Standard) or start, stop and input (Express).\n\n"
        "Durations are this laptop's, not Lambda's. *Local* GB-s bill the handler's measured "
        "run at the function's MemorySize; the *bound* assumes every CPU millisecond used "
        "here takes MemorySize/1,769 times longer on Lambda (one vCPU at 1,769 MB, a share "
        "below) and waiting does not, so it is the figure to budget with; network waits are "
        "shorter on loopback than on AWS, and the lake functions read and write Iceberg on "
        "local disk where AWS has S3 Tables round trips. Express durations are the local "
        "ones.\n\n"
        + "\n".join(measured)
        + "\n\nLambda per function (failed: errors and timeouts; a timeout bills its whole "
        "Timeout):\n\n"
        + "\n".join(functions)
        + "\n\nUSD per million events:\n\n"
        + "\n".join(costs)
        + "\n\nRules applied: a Standard transition is every state entered (inside Parallel "
        "branches and Map iterations too) plus every retry; Express bills each execution's "
        "request and its duration rounded up to 100 ms at its memory in 64 MB steps (50 MB + "
        "definition + input times the Map fan-out, so 64 MB here); DynamoDB units come from the "
        "counted calls and the tables' average item sizes (writes per 1 KB, GSIs that project "
        "the item written again; reads per 4 KB, strongly consistent as the flows read); "
        f"item sizes: {sizes}. SQS receives are estimated at one per 10 messages a Pipe "
        "delivered (empty long polls cost per queue and hour, not per event); Pipes bill "
        "each delivered record. The application's own write that is the event (BDA's S3 "
        "objects, the TattooDirectory put) is not the flow's cost; the sale's PutEvents is "
        "counted (custom events).\n\n"
        + (notes + "\n\n" if notes else "")
        + "Left out: data transfer, CloudWatch Logs ingestion, X-Ray, S3/S3 Tables storage, "
        "requests and compaction of the Iceberg lake, OpenSearch, DynamoDB storage and "
        "stream reads by Pipes (charged per GetRecords call, mostly per hour of polling), "
        "API Gateway for the admin call, Lambda INIT time. Bedrock tokens for bedrock_batch: "
        f"${bedrock.costPerViolation:.4f} per violation with {DEFAULT_MODEL_ID} at the batch "
        f"price, ${bedrock.costUSD:,.0f} per million violations (the flow's own estimate, "
        "schemas/bedrock_batch.py), not in the totals above.\n\n"
        "| price key | price | source |\n|---|---|---|\n" + prices + "\n"
    )


if __name__ == "__main__":
    print(run())
