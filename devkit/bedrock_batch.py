"""bedrock_batch's devkit: drive the flow through its admin API, as an operator would.

    status, body = admin(g, "POST", "/admin/bedrock/batch/estimate", {"config": {...}})
    status, body = admin(g, "POST", "/admin/bedrock/batch", {"config": {...}})

`demo` is the `sluice demo` section: it expects `silver.violations` to be
seeded (the violations_sync section does that) and the local Bedrock emulator to answer.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import TYPE_CHECKING, Any

from sluice.devkit import DemoContext, DemoResult, DevkitError, Flow

if TYPE_CHECKING:
    from sluice.client import Gateway

NAME = "bedrock_batch"
MIN_BATCH_RECORDS = 100  # Bedrock batch inference's minimum input size
EMULATOR_SETTINGS = "/_sluice/bedrock"


def admin(
    g: Gateway, method: str, path: str, body: Any = None, *, raw: bytes | None = None
) -> tuple[int, Any]:
    """One admin API call (unsigned locally; IAM-signed for execute-api on AWS): BODY as
    JSON, or RAW bytes as they are."""
    data = raw if raw is not None else None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(g.url + path, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=120) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def emulator_settings(g: Gateway, settings: dict[str, Any]) -> dict[str, Any]:
    """Set the local Bedrock emulator's knobs (delays, injected malformed outputs, ...)."""
    return dict(admin(g, "POST", EMULATOR_SETTINGS, settings)[1])


def wait_execution(g: Gateway, arn: str, timeout: float = 120) -> dict[str, Any]:
    sfn = g.client("stepfunctions")
    deadline = time.time() + timeout
    while True:
        desc: dict[str, Any] = sfn.describe_execution(executionArn=arn)
        if desc["status"] != "RUNNING" or time.time() > deadline:
            return desc
        time.sleep(0.5)


def produce(g: Gateway, count: int) -> str:
    """Start a job over (at most) COUNT violations of the lake (`sluice seed violations_sync`
    fills it), as an operator does from the admin API. Bedrock refuses a batch job of fewer
    than 100 records, so a smaller COUNT is raised to that."""
    count = max(count, MIN_BATCH_RECORDS)
    config = {"limits": {"maxViolations": count, "priority": "low"}, "pollIntervalSeconds": 1}
    status, body = admin(g, "POST", "/admin/bedrock/batch", {"config": config})
    if status >= 400:
        raise DevkitError(
            f"POST /admin/bedrock/batch → {status}: {(body or {}).get('message', body)}"
        )
    return f"job {body['jobId']} started for up to {count} violation(s): {body['executionArn']}"


def demo(ctx: DemoContext) -> DemoResult:
    """Estimate, run a job with three malformed model outputs, and one job Bedrock refuses."""
    g, console, data_dir = ctx.gateway, ctx.console, ctx.data_dir
    console.rule("bedrock_batch: admin API → Standard SM → S3 JSONL → Bedrock batch → DynamoDB")
    config: dict[str, Any] = {
        "filters": {"agencies": ["OSHA"], "minFineAmount": 5000},
        "limits": {"maxViolations": 120, "maxSpendUSD": 0.5, "priority": "medium"},
        "pollIntervalSeconds": 1,
    }
    api: dict[str, int] = {}
    status, estimate = admin(g, "POST", "/admin/bedrock/batch/estimate", {"config": config})
    api["estimate"] = status
    e = estimate["estimate"]
    console.print(
        f"  estimate: {e['violationCount']} violations, {e['totalTokens']:,} tokens, "
        f"${e['costUSD']:.4f} batch (${e['onDemandCostUSD']:.4f} on demand)"
    )
    status, bad = admin(g, "POST", "/admin/bedrock/batch", {"config": {"limits": {"priority": 9}}})
    api["bad config"] = status
    console.print(f"  POST with a bad config → {status}: {bad['message']}")

    emulator_settings(g, {"malformedEvery": 40})  # the model answers prose for every 40th record
    try:
        status, started = admin(g, "POST", "/admin/bedrock/batch", {"config": config})
        api["start"] = status
        console.print(f"  job [bold]{started['jobId']}[/] started: {started['executionArn']}")
        with console.status("waiting for the batch job (Submitted → InProgress → Completed)"):
            desc = wait_execution(g, started["executionArn"])
    finally:
        emulator_settings(g, {"malformedEvery": 0})
    out = json.loads(desc.get("output") or "{}")
    stats = out.get("stats", {})
    console.print(
        f"  {desc['status'].lower()}: {stats.get('processed')} BEDROCK_CONTENT items written, "
        f"{stats.get('errors')} malformed outputs counted: {out.get('errorRecordIds')}"
    )
    status, job = admin(g, "GET", f"/admin/bedrock/batch/{started['jobId']}")
    api["job"] = status
    console.print(f"  GET /admin/bedrock/batch/{started['jobId']} → {status}: {job.get('status')}")
    api["unknown job"] = admin(g, "GET", "/admin/bedrock/batch/batch-000000-unknown")[0]

    small = {"filters": {"agencies": ["EPA"]}, "limits": {"maxViolations": 5}}
    status, refused = admin(
        g, "POST", "/admin/bedrock/batch", {"config": {**small, "pollIntervalSeconds": 1}}
    )
    failed = wait_execution(g, refused["executionArn"])
    console.print(f"  a 5-violation job: {failed['status'].lower()}: {failed.get('cause')}")
    console.print(
        f'  try: sluice sql --data-dir {data_dir} "SELECT violation_id, bedrock_title FROM '
        'silver.violations WHERE generated_at > now() - INTERVAL 1 HOUR LIMIT 5"'
    )
    return DemoResult(
        written=f"{stats.get('processed')} content items, {stats.get('errors')} malformed",
        api=api,
        failed_run=refused["executionArn"],
    )


FLOW = Flow(
    name=NAME,
    produce=produce,
    demo=demo,
    demo_order=40,
    execution_input="schemas.bedrock_batch:ExecutionInput",
)
