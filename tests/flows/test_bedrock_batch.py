"""bedrock_batch on a live stack: config -> Standard SM -> S3 JSONL -> emulated Bedrock batch
job (wait/poll) -> BEDROCK_CONTENT in Violations -> (violations_sync) -> the lake."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devkit.bedrock_batch import admin
from devkit.violations_sync import seed_violations
from schemas.bedrock_batch import BatchConfig
from sluice.history import iter_runs
from sluice.testing import StackProcess, project_stack, wait_for
from tasks.bedrock_batch.select_violations import select
from tasks.common.lake import catalog_from_env
from tasks.common.lake_sql import duckdb_connection

FLOW = "bedrock_batch"
ROOT = Path(__file__).resolve().parents[2]
SEEDED_ROWS = 3000
# A large job: its records (~0.2-1 KB each) are far more than one state's 256 KB payload.
# The suite runs 5,000 with 512 KiB output chunks (~60 s at the suite's load); the full
# size, 20,000 with the production 4 MiB chunks (60 s alone, over 240 s at load 20), is
# marked `slow`: `pytest -m slow tests/flows/test_bedrock_batch.py`.
LARGE_JOBS = [
    pytest.param((5_000, 512 * 1024), id="5000"),
    pytest.param((20_000, 4 * 1024 * 1024), id="20000", marks=pytest.mark.slow),
]
STATE_PAYLOAD_LIMIT = 256 * 1024
# Small chunks locally, so a job of ~100 records runs through several Map iterations.
CHUNK_BYTES = "65536"


@pytest.fixture(scope="module")
def batch_stack(stack: StackProcess) -> Iterator[StackProcess]:
    """The session's stack, seeded with violations; the emulator's defaults restored after."""
    seed_violations(catalog_from_env(lake_env(stack)), SEEDED_ROWS)
    try:
        yield stack
    finally:
        emulator(stack, DEFAULTS)


@pytest.fixture(scope="module", params=LARGE_JOBS)
def large_stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[StackProcess, int]]:
    """A stack of its own, and the job size: thousands of content items stream on into
    violations_sync, and that backlog must not reach the shared stack the other modules use."""
    job, chunk_bytes = request.param
    # The lake is not what this test checks: the Pipe gathers for longer than the test runs,
    # so hundreds of MERGE batches do not compete with the job for the CPU.
    # Output chunks of hundreds of KB or more: with the small local chunks the Map's list of
    # chunk descriptors alone would grow with the job toward the payload limit.
    overrides = {
        "ViolationsPipeBatchSize": "10000",
        "ViolationsPipeBatchingWindow": "300",
        "BedrockOutputChunkBytes": str(chunk_bytes),
    }
    stack = project_stack(ROOT, tmp_path_factory.mktemp("bedrock-large"), overrides=overrides)
    try:
        # ~10% of the rows already have content, so the job selects JOB of them.
        seed_violations(catalog_from_env(lake_env(stack)), job * 115 // 100)
        yield stack, job
    finally:
        stack.stop()


DEFAULTS: dict[str, Any] = {"malformedRecordIds": [], "errorRecordIds": [], "runDelay": 2.0}


# -- helpers --------------------------------------------------------------------------------


def lake_env(stack: StackProcess) -> dict[str, str]:
    return {"LAKE_WAREHOUSE": str(stack.data_dir / "lake"), "LAKE_CATALOG_URI": ""}


def emulator(stack: StackProcess, settings: dict[str, Any]) -> dict[str, Any]:
    return request(stack, "POST", "/_sluice/bedrock", settings)[1]


def polls_ended(stack: StackProcess, arn: str) -> int:
    """How many PollJob states the execution ARN has left so far."""
    history = stack.client("stepfunctions").get_execution_history(executionArn=arn)
    return sum(
        1
        for e in history["events"]
        if e.get("stateExitedEventDetails", {}).get("name") == "PollJob"
    )


def request(stack: StackProcess, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    return admin(stack.gateway, method, path, body)


def post_bytes(stack: StackProcess, path: str, data: bytes) -> tuple[int, Any]:
    """POST DATA as it is (e.g. bytes that are not UTF-8)."""
    return admin(stack.gateway, "POST", path, raw=data)


def executions_named(stack: StackProcess, name: str) -> list[dict[str, Any]]:
    return [e for e in stack.executions(FLOW) if e["name"] == name]


def selected(stack: StackProcess, **config: Any) -> list[str]:
    """What the job will pick, computed here from the same lake (filters keep tests apart)."""
    cfg = BatchConfig.model_validate(config)
    return [v.violation_id for v in select(cfg, catalog_from_env(lake_env(stack)))]


def job_record(stack: StackProcess, job_id: str) -> dict[str, Any] | None:
    item: dict[str, Any] | None = (
        stack.client("dynamodb")
        .get_item(
            TableName=stack.resource("BedrockBatchJobsTable")["name"],
            Key={"PK": {"S": f"JOB#{job_id}"}, "SK": {"S": "METADATA"}},
            ConsistentRead=True,
        )
        .get("Item")
    )
    return item


def content(stack: StackProcess, ids: list[str]) -> dict[str, dict[str, Any]]:
    ddb, table = stack.client("dynamodb"), stack.resource("ViolationsTable")["name"]
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(ids), 100):
        keys = [
            {"PK": {"S": f"VIOLATION#{i}"}, "SK": {"S": "BEDROCK_CONTENT"}}
            for i in ids[start : start + 100]
        ]
        response = ddb.batch_get_item(RequestItems={table: {"Keys": keys}})
        for item in response["Responses"][table]:
            found[item["PK"]["S"].removeprefix("VIOLATION#")] = item
    return found


def batch_objects(stack: StackProcess, job_id: str) -> list[str]:
    s3, bucket = stack.client("s3"), stack.resource("BedrockBatchBucket")["name"]
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys += [o["Key"] for o in page.get("Contents", []) if job_id in o["Key"]]
    return keys


# -- tests ----------------------------------------------------------------------------------


def test_dry_run_returns_the_estimate_and_writes_nothing(batch_stack: StackProcess) -> None:
    config = {"dryRun": True, "filters": {"agencies": ["EPA"]}, "pollIntervalSeconds": 1}
    expected = selected(batch_stack, **config)
    run = batch_stack.run(FLOW, {"config": config})
    assert run.status == "SUCCEEDED", (run.error, run.cause)
    out = run.output
    assert out["result"] == "estimate" and out["violationCount"] == len(expected) > 0
    assert out["estimate"]["costUSD"] == pytest.approx(len(expected) * 0.0003)
    assert out["estimate"]["totalTokens"] == len(expected) * 300
    assert batch_objects(batch_stack, out["jobId"]) == []
    assert job_record(batch_stack, out["jobId"]) is None


def test_invalid_config_fails_the_first_state_naming_the_field(batch_stack: StackProcess) -> None:
    run = batch_stack.run(FLOW, {"config": {"limits": {"priority": "urgent"}}})
    assert run.status == "FAILED" and run.error == "InvalidBatchConfigError"
    assert run.failed_state is not None and run.failed_state.name == "ValidateConfig"
    assert "config.limits.priority" in (run.cause or "")


@pytest.mark.built
def test_a_job_completes_and_its_content_reaches_violations_and_the_lake(
    batch_stack: StackProcess,
) -> None:
    # The job stays in progress until the machine has polled it once, then finishes: the
    # machine must poll an unfinished job, wait, and poll again.
    emulator(batch_stack, {**DEFAULTS, "runDelay": 600})
    config = {"filters": {"agencies": ["WHD"]}, "limits": {"maxViolations": 120}}
    ids = selected(batch_stack, **config)
    assert len(ids) == 120
    arn = batch_stack.start(FLOW, {"config": {**config, "pollIntervalSeconds": 1}})
    try:
        wait_for(lambda: polls_ended(batch_stack, arn), timeout=90, what="the first PollJob")
    finally:
        emulator(batch_stack, DEFAULTS)
    run = batch_stack.execution(arn, timeout=90)
    assert run.status == "SUCCEEDED", (run.error, run.cause)
    assert run.output["status"] == "Completed"
    assert run.output["stats"] == {"processed": 120, "errors": 0, "total": 120}
    polls = [r for r in iter_runs(run.story.states) if r.name == "PollJob"]
    assert len(polls) >= 2
    chunks = [r for r in iter_runs(run.story.states) if r.name == "ProcessChunk"]
    assert len(chunks) >= 2

    items = content(batch_stack, ids)
    assert set(items) == set(ids)
    item = items[ids[0]]
    assert item["attribution"] == {"S": "Generated by AWS Bedrock (Batch)"}
    assert item["title_bedrock"]["S"].startswith("WHD ") and item["tags"]["L"]

    record = job_record(batch_stack, run.output["jobId"])
    assert record is not None
    assert record["status"] == {"S": "Completed"}
    assert record["stats"]["M"]["processed"] == {"N": "120"}
    assert {"createdAt", "processedAt", "config", "estimate", "jobArn", "ttl"} <= set(record)
    assert int(record["ttl"]["N"]) > 0
    assert any(k.endswith("/input.jsonl") for k in batch_objects(batch_stack, run.output["jobId"]))

    quoted = ", ".join(f"'{i}'" for i in ids)

    def in_lake() -> bool:
        con = duckdb_connection(catalog_from_env(lake_env(batch_stack)))
        sql = (
            "SELECT count(*) FROM silver.violations "
            f"WHERE violation_id IN ({quoted}) AND bedrock_title IS NOT NULL"
        )
        return con.sql(sql).fetchall() == [(120,)]

    wait_for(in_lake, timeout=45, what="the lake rows of the job's violations")


def test_malformed_outputs_are_counted_with_record_ids_and_never_written(
    batch_stack: StackProcess,
) -> None:
    config = {"filters": {"agencies": ["FMCSA"]}, "limits": {"maxViolations": 100}}
    ids = selected(batch_stack, **config)
    assert len(ids) == 100
    bad = sorted([ids[3], ids[50], ids[70]])
    emulator(batch_stack, {"malformedRecordIds": [ids[3], ids[50]], "errorRecordIds": [ids[70]]})
    try:
        run = batch_stack.run(FLOW, {"config": {**config, "pollIntervalSeconds": 1}})
    finally:
        emulator(batch_stack, DEFAULTS)
    assert run.status == "SUCCEEDED", (run.error, run.cause)
    assert run.output["stats"] == {"processed": 97, "errors": 3, "total": 100}
    assert sorted(run.output["errorRecordIds"]) == bad
    written = content(batch_stack, ids)
    assert len(written) == 97 and not set(bad) & set(written)
    record = job_record(batch_stack, run.output["jobId"])
    assert record is not None
    assert sorted(v["S"] for v in record["errorRecordIds"]["L"]) == bad


@pytest.mark.built
def test_a_failed_job_fails_the_execution_and_its_record(batch_stack: StackProcess) -> None:
    # Bedrock refuses jobs below its minimum record count (100): five violations fail.
    config = {"filters": {"agencies": ["MSHA"]}, "limits": {"maxViolations": 5}}
    run = batch_stack.run(FLOW, {"config": {**config, "pollIntervalSeconds": 1}})
    assert run.status == "FAILED" and run.error == "BedrockJobFailed"
    assert "fewer than the minimum of 100 records" in (run.cause or "")
    job_id = json.loads(run.state("ValidateConfig").output or "{}")["jobId"]
    record = job_record(batch_stack, job_id)
    assert record is not None and record["status"] == {"S": "Failed"}
    assert "fewer than the minimum" in record["message"]["S"]
    assert "processedAt" in record


@pytest.mark.built
def test_admin_api(batch_stack: StackProcess) -> None:
    status, body = request(
        batch_stack,
        "POST",
        "/admin/bedrock/batch/estimate",
        {"config": {"filters": {"agencies": ["osha"]}, "limits": {"maxSpendUSD": 0.03}}},
    )
    assert status == 200 and body["violationCount"] == 100 and body["dryRun"] is True
    assert body["estimate"]["costUSD"] == pytest.approx(0.03)

    status, body = request(
        batch_stack, "POST", "/admin/bedrock/batch", {"config": {"limits": {"maxViolations": 0}}}
    )
    assert status == 400 and body["errors"][0]["field"] == "config.limits.maxViolations"
    status, body = request(batch_stack, "POST", "/admin/bedrock/batch/estimate", {"confg": {}})
    assert status == 400 and body["errors"][0]["field"] == "confg"
    assert request(batch_stack, "GET", "/admin/bedrock/batch/batch-000000-unknown")[0] == 404
    assert request(batch_stack, "GET", "/admin/bedrock/batch/not%20a%20job")[0] == 400

    config = {"filters": {"agencies": ["OSHA"]}, "limits": {"maxViolations": 100}}
    status, started = request(
        batch_stack,
        "POST",
        "/admin/bedrock/batch",
        {"config": {**config, "pollIntervalSeconds": 1}},
    )
    assert status == 200, started
    job_id = started["jobId"]
    assert started["estimate"]["violationCount"] == 100 and started["executionArn"].endswith(job_id)
    assert request(batch_stack, "GET", f"/admin/bedrock/batch/{job_id}")[0] == 200
    run = batch_stack.execution(started["executionArn"], timeout=60)
    assert run.status == "SUCCEEDED", (run.error, run.cause)
    status, job = request(batch_stack, "GET", f"/admin/bedrock/batch/{job_id}")
    assert status == 200 and job["status"] == "Completed" and job["stats"]["processed"] == 100
    status, listed = request(batch_stack, "GET", "/admin/bedrock/batch/jobs")
    assert status == 200 and job_id in [j["jobId"] for j in listed["jobs"]]


def test_admin_api_starts_a_job_only_from_an_explicit_config(batch_stack: StackProcess) -> None:
    started_before = len(batch_stack.executions(FLOW))
    job_id = f"batch-noconfig-{uuid.uuid4().hex[:12]}"
    # An empty body, {} and a body with only a jobId: no config, so no job (the defaults
    # would select up to the default limits and spend real money on AWS).
    for body in (None, {}, {"jobId": job_id}):
        status, answer = request(batch_stack, "POST", "/admin/bedrock/batch", body)
        assert status == 400, (body, answer)
        assert [e["field"] for e in answer["errors"]] == ["config"]
        assert "explicit config" in answer["message"]
    # Bytes that are not UTF-8 are a bad request too, for the dry run as for a job.
    latin1 = '{"config": {"filters": {"agencies": ["ÉPA"]}}}'.encode("latin-1")
    for path in ("/admin/bedrock/batch", "/admin/bedrock/batch/estimate"):
        status, answer = post_bytes(batch_stack, path, latin1)
        assert status == 400, answer
        assert answer["errors"] == [{"field": "<body>", "message": "not UTF-8 text"}]
    # Nothing started, nothing recorded.
    assert len(batch_stack.executions(FLOW)) == started_before
    assert job_record(batch_stack, job_id) is None
    # An explicit config, even an empty one ({} = the defaults), is what a dry run accepts.
    status, answer = request(batch_stack, "POST", "/admin/bedrock/batch/estimate", {"config": {}})
    assert status == 200 and answer["dryRun"] is True


def test_admin_api_answers_a_used_job_id_with_409_unless_it_is_the_same_running_job(
    batch_stack: StackProcess,
) -> None:
    job_id = f"batch-twice-{uuid.uuid4().hex[:12]}"
    config = {"filters": {"agencies": ["MSHA"]}, "limits": {"maxViolations": 1}}
    emulator(batch_stack, {**DEFAULTS, "runDelay": 120})  # the job runs until it is stopped
    try:
        status, first = request(
            batch_stack, "POST", "/admin/bedrock/batch", {"config": config, "jobId": job_id}
        )
        assert status == 200, first
        # The identical request again (a client retrying) while the job runs: the same job.
        status, again = request(
            batch_stack, "POST", "/admin/bedrock/batch", {"config": config, "jobId": job_id}
        )
        assert status == 200, again
        assert (again["jobId"], again["executionArn"]) == (job_id, first["executionArn"])

        # The same jobId with another config: 409 naming the job; the job keeps its config.
        other = {**config, "limits": {"maxViolations": 2}}
        status, conflict = request(
            batch_stack, "POST", "/admin/bedrock/batch", {"config": other, "jobId": job_id}
        )
        assert status == 409, conflict
        assert conflict["jobId"] == job_id and job_id in conflict["message"]
        assert conflict["executionArn"] == first["executionArn"]
        [execution] = executions_named(batch_stack, job_id)
        sfn = batch_stack.client("stepfunctions")
        running = sfn.describe_execution(executionArn=execution["executionArn"])
        assert json.loads(running["input"])["config"]["limits"]["maxViolations"] == 1

        # Once the job has ended, even the identical request is a 409: a jobId names one job.
        sfn.stop_execution(executionArn=first["executionArn"])
        assert batch_stack.execution(first["executionArn"]).status == "ABORTED"
        status, ended = request(
            batch_stack, "POST", "/admin/bedrock/batch", {"config": config, "jobId": job_id}
        )
        assert status == 409 and ended["jobId"] == job_id
        assert len(executions_named(batch_stack, job_id)) == 1
    finally:
        emulator(batch_stack, DEFAULTS)


def test_a_large_job_completes_within_the_payload_limit(
    large_stack: tuple[StackProcess, int],
) -> None:
    stack, job = large_stack
    config = {"limits": {"maxViolations": job}, "pollIntervalSeconds": 1}
    run = stack.run(FLOW, {"config": config}, timeout=240)
    assert run.status == "SUCCEEDED", (run.error, run.cause)
    assert run.output["stats"] == {"processed": job, "errors": 0, "total": job}
    # No state ever carried the records: every input and output stayed far under 256 KB.
    largest = max(
        len(json.dumps(details))
        for event in run.events
        for name, details in event.items()
        if name.endswith("EventDetails")
    )
    assert largest < STATE_PAYLOAD_LIMIT // 4
    chunks = [r for r in iter_runs(run.story.states) if r.name == "ProcessChunk"]
    assert len(chunks) >= 2
    ddb = stack.client("dynamodb")
    table = stack.resource("ViolationsTable")["name"]
    count = sum(
        page["Count"]
        for page in ddb.get_paginator("scan").paginate(TableName=table, Select="COUNT")
    )
    assert count == job


def test_a_task_timeout_fails_the_run_and_sluice_redrive_finishes_the_job(
    batch_stack: StackProcess,
) -> None:
    """PollJob's Lambda times out (no retry for that, no Catch): the Standard execution
    fails at PollJob, in the failed-execution list; redriving it resumes at PollJob (the job
    is not submitted again) and the job completes."""
    emulator(batch_stack, DEFAULTS)
    batch_stack.inject_fault("BedrockPollJobFunction", "Sandbox.Timedout")
    config = {"filters": {"agencies": ["OSHA"]}, "limits": {"maxViolations": 100}}
    failed = batch_stack.run(FLOW, {"config": {**config, "pollIntervalSeconds": 1}})
    assert failed.status == "FAILED" and failed.error == "Sandbox.Timedout"
    assert failed.failed_state is not None and failed.failed_state.name == "PollJob"
    job_id = json.loads(failed.state("ValidateConfig").output or "{}")["jobId"]
    listing = batch_stack.cli("executions", FLOW, "--status", "FAILED", "--json")
    assert failed.arn in listing.stdout

    redrive = batch_stack.cli("redrive", failed.arn, "--wait", "--json")
    assert redrive.returncode == 0, redrive.stdout + redrive.stderr
    run = batch_stack.execution(failed.arn)
    assert run.status == "SUCCEEDED" and run.output["status"] == "Completed"
    assert run.output["jobId"] == job_id
    # The redrive resumed at PollJob: ValidateConfig and SubmitJob ran once, one Bedrock job.
    assert [r.name for r in iter_runs(run.story.states)].count("SubmitJob") == 1
    assert [r.name for r in iter_runs(run.story.states)].count("ValidateConfig") == 1
    jobs = batch_stack.client("bedrock").list_model_invocation_jobs(nameContains=job_id)
    assert len(jobs["invocationJobSummaries"]) == 1
    record = job_record(batch_stack, job_id)
    assert record is not None and record["status"] == {"S": "Completed"}


def test_throttled_tasks_are_retried_and_the_job_completes(batch_stack: StackProcess) -> None:
    emulator(batch_stack, DEFAULTS)
    batch_stack.inject_fault("BedrockSubmitJobFunction", "Lambda.TooManyRequestsException", count=2)
    config = {"filters": {"agencies": ["OSHA"]}, "limits": {"maxViolations": 100}}
    with batch_stack.time_scale(0):
        run = batch_stack.run(FLOW, {"config": {**config, "pollIntervalSeconds": 1}})
    assert run.status == "SUCCEEDED", (run.error, run.cause)
    errors = [a.error for a in run.state("SubmitJob").attempts]
    assert errors == ["Lambda.TooManyRequestsException"] * 2 + [None]
    assert batch_stack.faults() == []


def test_a_submit_that_dies_after_creating_the_job_is_redriven_into_the_same_job(
    batch_stack: StackProcess,
) -> None:
    """SubmitJob creates the Bedrock job, then its Lambda times out before answering: the
    run fails at SubmitJob. Redriving runs SubmitJob again with the same client token (the
    jobId), so Bedrock answers with the job it already has: one job, completed."""
    emulator(batch_stack, DEFAULTS)
    batch_stack.inject_fault("BedrockSubmitJobFunction", "Sandbox.Timedout", after_handler=True)
    config = {"filters": {"agencies": ["OSHA"]}, "limits": {"maxViolations": 100}}
    failed = batch_stack.run(FLOW, {"config": {**config, "pollIntervalSeconds": 1}})
    assert failed.status == "FAILED" and failed.error == "Sandbox.Timedout"
    assert failed.failed_state is not None and failed.failed_state.name == "SubmitJob"
    job_id = json.loads(failed.state("ValidateConfig").output or "{}")["jobId"]
    bedrock = batch_stack.client("bedrock")
    [created] = bedrock.list_model_invocation_jobs(nameContains=job_id)["invocationJobSummaries"]

    redrive = batch_stack.cli("redrive", failed.arn, "--wait", "--json")
    assert redrive.returncode == 0, redrive.stdout + redrive.stderr
    run = batch_stack.execution(failed.arn)
    assert run.status == "SUCCEEDED" and run.output["status"] == "Completed"
    jobs = bedrock.list_model_invocation_jobs(nameContains=job_id)["invocationJobSummaries"]
    assert [j["jobArn"] for j in jobs] == [created["jobArn"]]
    record = job_record(batch_stack, job_id)
    assert record is not None and record["status"] == {"S": "Completed"}
    assert record["jobArn"] == {"S": created["jobArn"]}
