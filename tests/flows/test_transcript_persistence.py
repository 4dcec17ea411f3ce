"""transcript_persistence through its real trigger: S3 -> SQS -> Pipe -> Express SM -> DynamoDB."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devkit.transcript_persistence import (
    RESULT_KEY_PREFIX,
    default_job_id,
    sample_result,
    write_job_output,
)
from sluice.testing import StackProcess, project_stack, wait_for
from sluice.triggers.build import POLLERS_ENV

FLOW = "transcript_persistence"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def batching_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackProcess]:
    """The project stack with a 5 s batching window and one SQS poller per pipe, so that
    messages queued together are one batch even on a loaded machine (five concurrent
    pollers, the default, split a burst between them), and a 15 s visibility timeout,
    longer than the window and a run. A full batch is delivered without waiting for the
    window, so a batch that keeps failing comes back every 15 s."""
    stack = project_stack(
        ROOT,
        tmp_path_factory.mktemp("transcripts-batching"),
        overrides={"TranscriptPipeBatchingWindow": "5", "TranscriptQueueVisibilityTimeout": "15"},
        env={POLLERS_ENV: "1"},
    )
    yield stack
    stack.stop()


def bucket(stack: StackProcess) -> str:
    return str(stack.resource("TranscriptBucket")["name"])


def table(stack: StackProcess) -> str:
    return str(stack.resource("CallRecordingsTable")["name"])


def record(stack: StackProcess, call_id: str) -> dict[str, Any] | None:
    ddb = stack.client("dynamodb")
    item: dict[str, Any] | None = ddb.get_item(
        TableName=table(stack), Key={"hash": {"S": call_id}}, ConsistentRead=True
    ).get("Item")
    return item


def executions_for(stack: StackProcess, call_id: str) -> list[dict[str, Any]]:
    sfn = stack.client("stepfunctions")
    out = []
    for e in stack.executions(FLOW):
        desc = sfn.describe_execution(executionArn=e["executionArn"])
        # The Pipe hands over SQS records; the S3 event (with the encoded key) is in the body.
        keys = [
            urllib.parse.unquote_plus(r["s3"]["object"]["key"])
            for m in json.loads(desc["input"])
            for r in json.loads(m["body"]).get("Records", [])
        ]
        if any(f"/{call_id}/" in k for k in keys):
            out.append(desc)
    return out


def new_call_id(label: str = "call") -> str:
    return f"{label}-{uuid.uuid4().hex[:8]}"


def api(stack: StackProcess, path: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(stack.gateway.url + path, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


@pytest.mark.built
def test_one_job_output_tree_gives_one_notification_and_one_record(stack: StackProcess) -> None:
    call_id = new_call_id()
    s3 = stack.client("s3")
    keys = write_job_output(s3, bucket(stack), call_id)
    assert len(keys) == 4  # access check, standard output, custom output, job metadata

    item = wait_for(lambda: record(stack, call_id), what=f"record for {call_id}")
    expected = sample_result(call_id)["inference_result"]
    assert item["callId"] == {"S": call_id}
    assert [t["S"] for t in item["topics"]["L"]] == expected["topics"]
    assert item["callSummary"]["S"] == expected["call_summary"]
    assert item["s3Key"]["S"].endswith("/custom_output/0/result.json")
    runs = wait_for(
        lambda: (r := executions_for(stack, call_id)) and r[0]["status"] != "RUNNING" and r,
        what="the execution to finish",
    )
    # One notification: the tree's other three objects do not match the filter. A run that
    # outlasts the local 5 s visibility timeout on a busy machine gets the same message
    # again (at least once, as SQS delivers), never a second notification.
    messages = {m["messageId"] for run in runs for m in json.loads(run["input"])}
    assert len(messages) == 1
    assert runs[0]["status"] == "SUCCEEDED"
    assert json.loads(runs[0]["output"]) == {"batchItemFailures": []}


@pytest.mark.parametrize("label", ["call with spaces", "appel+é (west)"])
def test_keys_with_spaces_and_special_characters(stack: StackProcess, label: str) -> None:
    call_id = new_call_id(label)
    write_job_output(stack.client("s3"), bucket(stack), call_id)
    item = wait_for(lambda: record(stack, call_id), what=f"record for {call_id!r}")
    assert item["callId"] == {"S": call_id}
    status, body = api(stack, "/analytics/" + urllib.parse.quote(call_id))
    assert status == 200 and body["callId"] == call_id


def test_the_same_event_delivered_twice_leaves_one_record(stack: StackProcess) -> None:
    call_id = new_call_id()
    write_job_output(stack.client("s3"), bucket(stack), call_id)
    first = wait_for(lambda: record(stack, call_id), what="the first record")
    wait_for(lambda: executions_for(stack, call_id), what="the first execution")
    # Redeliver the very same S3 notification, as S3's at-least-once delivery may.
    original = json.loads(executions_for(stack, call_id)[0]["input"])[0]["body"]
    sqs = stack.client("sqs")
    sqs.send_message(QueueUrl=stack.resource("TranscriptQueue")["url"], MessageBody=original)
    runs = wait_for(
        lambda: (
            len(r := executions_for(stack, call_id)) == 2
            and all(e["status"] != "RUNNING" for e in r)
            and r
        ),
        what="the redelivered execution to finish",
    )
    assert all(r["status"] == "SUCCEEDED" for r in runs)
    items = stack.client("dynamodb").scan(TableName=table(stack))["Items"]
    assert [i for i in items if i["callId"]["S"] == call_id] == [first]


@pytest.mark.built
def test_malformed_result_reaches_the_dlq_after_three_receives_then_redrive_persists_it(
    stack: StackProcess,
) -> None:
    call_id = new_call_id("bad")
    s3 = stack.client("s3")
    keys = write_job_output(s3, bucket(stack), call_id, malformed=True)
    dlq = stack.resource("TranscriptDLQ")["name"]

    def in_dlq() -> list[dict[str, Any]]:
        messages = stack.gateway.get(f"/_sluice/dlq/{dlq}")
        return [m for m in messages if call_id in json.dumps(m["body"])]

    [message] = wait_for(in_dlq, timeout=60, what="the malformed message in the DLQ")
    assert record(stack, call_id) is None
    assert message["reason"]["error"] == "MalformedResultError"
    assert "call_summary" in message["reason"]["cause"]  # names the missing field
    assert message["reason"]["failedDeliveries"] == 3
    assert len(executions_for(stack, call_id)) == 3

    # Fixing the object notifies again, and that fresh event persists the record.
    custom_key = next(k for k in keys if "/custom_output/" in k)
    s3.put_object(
        Bucket=bucket(stack), Key=custom_key, Body=json.dumps(sample_result(call_id)).encode()
    )
    wait_for(lambda: record(stack, call_id), what="the record after fixing (new S3 event)")
    # `sluice dlq list` shows the message and why it failed.
    listing = stack.cli("dlq", "list", dlq)
    assert listing.returncode == 0, listing.stderr
    assert message["messageId"] in listing.stdout
    assert "MalformedResultError" in listing.stdout and "call_summary" in listing.stdout

    # Remove the record again so that only the redriven DLQ message can bring it back.
    stack.client("dynamodb").delete_item(TableName=table(stack), Key={"hash": {"S": call_id}})
    redrive = stack.cli("dlq", "redrive", dlq)
    assert redrive.returncode == 0, redrive.stderr
    assert "redriven" in redrive.stdout
    wait_for(lambda: not in_dlq(), what="the DLQ to drain")
    item = wait_for(lambda: record(stack, call_id), what="the record after redrive")
    assert item["s3Key"]["S"] == custom_key


@pytest.mark.built
def test_api_returns_the_record_404_and_400(stack: StackProcess) -> None:
    call_id = new_call_id()
    write_job_output(stack.client("s3"), bucket(stack), call_id)
    wait_for(lambda: record(stack, call_id), what="the record")
    status, body = api(stack, f"/analytics/{call_id}")
    assert status == 200
    assert body["callId"] == call_id and body["topics"]
    assert api(stack, "/analytics/never-seen-call")[0] == 404
    assert api(stack, "/analytics/" + "x" * 200)[0] == 400
    assert api(stack, "/analytics/%20leading-space")[0] == 400


MOCK_BATCH = [{"messageId": "mock-message-1", "body": "{}"}]


def test_mock_config_case_drives_the_real_put_with_a_mocked_load(stack: StackProcess) -> None:
    execution = stack.run(FLOW, MOCK_BATCH, test_case="MockedLoad")
    assert execution.status == "SUCCEEDED"
    assert execution.output == {"batchItemFailures": []}
    item = record(stack, "call-mocked")
    assert item is not None and item["topics"] == {"L": [{"S": "mocked"}]}


def test_throttled_put_is_retried_with_backoff_then_stored(stack: StackProcess) -> None:
    execution = stack.run(FLOW, MOCK_BATCH, test_case="ThrottledPut")
    assert execution.status == "SUCCEEDED"
    assert execution.output == {"batchItemFailures": []}
    put = execution.state("PutRecording")
    assert len(put.attempts) == 3
    assert [a.error for a in put.attempts[:2]] == [
        "DynamoDB.ProvisionedThroughputExceededException"
    ] * 2
    assert put.status == "retried"


def test_two_results_for_one_key_delivered_out_of_order_leave_the_newer_record(
    stack: StackProcess,
) -> None:
    call_id = new_call_id("order")
    s3 = stack.client("s3")
    stack.hold_s3_notifications(bucket(stack), f"transcription-outputs/{call_id}/")
    try:
        keys = write_job_output(s3, bucket(stack), call_id)
        custom_key = next(k for k in keys if "/custom_output/" in k)
        newer = sample_result(call_id)
        newer["inference_result"]["call_summary"] = "Re-run summary."
        s3.put_object(Bucket=bucket(stack), Key=custom_key, Body=json.dumps(newer).encode())
        older_event, newer_event = wait_for(
            lambda: len(h := stack.held_s3_notifications()) >= 2 and h,
            what="both notifications of the result key held",
        )
        objects = [e["body"]["Records"][0]["s3"]["object"] for e in (older_event, newer_event)]
        assert objects[0]["sequencer"] < objects[1]["sequencer"]  # same length here

        # S3 delivers in no guaranteed order: the newer result's event arrives first.
        stack.release_s3_notifications([newer_event["id"]])
        wait_for(
            lambda: (r := record(stack, call_id)) and r["callSummary"]["S"] == "Re-run summary.",
            what="the newer record",
        )
        # Then the stale one. S3 stamps eventTime to the millisecond when it finishes a
        # request, and documents only the sequencer as the order of one key's events: two
        # writes within one millisecond carry the same eventTime, as this one now does.
        stale = older_event["body"]
        stale["Records"][0]["eventTime"] = newer_event["body"]["Records"][0]["eventTime"]
        stack.client("sqs").send_message(
            QueueUrl=stack.resource("TranscriptQueue")["url"], MessageBody=json.dumps(stale)
        )
    finally:
        stack.clear_s3_notifications()

    runs = wait_for(
        lambda: (
            len(r := executions_for(stack, call_id)) == 2
            and all(e["status"] != "RUNNING" for e in r)
            and r
        ),
        what="both executions to finish",
    )
    late = stack.execution(max(runs, key=lambda e: e["startDate"])["executionArn"])
    assert late.status == "SUCCEEDED" and late.output == {"batchItemFailures": []}
    assert late.state("MarkSuperseded").status == "succeeded"
    item = record(stack, call_id)
    assert item is not None and item["callSummary"]["S"] == "Re-run summary."


def dead_letters(stack: StackProcess, call_id: str) -> list[dict[str, Any]]:
    dlq = stack.resource("TranscriptDLQ")["name"]
    messages: list[dict[str, Any]] = stack.gateway.get(f"/_sluice/dlq/{dlq}")
    return [m for m in messages if call_id in json.dumps(m["body"])]


def finished_runs(stack: StackProcess, call_id: str, count: int) -> list[dict[str, Any]]:
    return wait_for(
        lambda: (
            len(r := executions_for(stack, call_id)) == count
            and all(e["status"] != "RUNNING" for e in r)
            and r
        ),
        timeout=60,
        what=f"{count} finished executions for {call_id}",
    )


def wait_until_idle(stack: StackProcess) -> None:
    """No message queued or in flight, so a fault injected next meets only this test's."""
    sqs, url = stack.client("sqs"), stack.resource("TranscriptQueue")["url"]
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]

    def idle() -> bool:
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
        return all(attributes[n] == "0" for n in names)

    wait_for(idle, timeout=60, what="the transcript queue to be empty")


def put_result(stack: StackProcess, call_id: str) -> str:
    """Only the custom output of a job: exactly one notification, so one message to follow."""
    key = f"{RESULT_KEY_PREFIX}{call_id}/{default_job_id(call_id)}/0/custom_output/0/result.json"
    body = json.dumps(sample_result(call_id)).encode()
    stack.client("s3").put_object(Bucket=bucket(stack), Key=key, Body=body)
    return key


def test_a_load_result_timeout_fails_its_message_until_the_dlq(stack: StackProcess) -> None:
    """LoadResult runs past its Lambda timeout on every receive: the Catch turns the timeout
    into that message's failure (the batch succeeds), the message comes back after its
    visibility timeout, and after maxReceiveCount (3) receives it is in the DLQ with why."""
    call_id = new_call_id("timeout")
    wait_until_idle(stack)
    stack.inject_fault("TranscriptLoadResultFunction", "Sandbox.Timedout", count=3)
    put_result(stack, call_id)

    [message] = wait_for(
        lambda: dead_letters(stack, call_id), timeout=60, what="the message in the DLQ"
    )
    assert message["reason"]["error"] == "Sandbox.Timedout"
    assert "Task timed out" in message["reason"]["cause"]
    assert message["reason"]["failedDeliveries"] == 3
    runs = finished_runs(stack, call_id, 3)
    for desc in runs:
        run = stack.execution(desc["executionArn"])
        [sqs_message] = run.input
        assert run.status == "SUCCEEDED"
        assert run.output == {"batchItemFailures": [{"itemIdentifier": sqs_message["messageId"]}]}
        assert run.state("LoadResult").status == "caught"
    assert record(stack, call_id) is None
    assert stack.faults() == []


def test_a_throttled_load_result_is_retried_then_stored(stack: StackProcess) -> None:
    call_id = new_call_id("throttled")
    wait_until_idle(stack)
    stack.inject_fault("TranscriptLoadResultFunction", "Lambda.TooManyRequestsException", count=2)
    with stack.time_scale(0):
        put_result(stack, call_id)
        wait_for(lambda: record(stack, call_id), what="the record after the throttles")
        [desc] = finished_runs(stack, call_id, 1)
    run = stack.execution(desc["executionArn"])
    assert run.status == "SUCCEEDED" and run.output == {"batchItemFailures": []}
    load = run.state("LoadResult")
    assert [a.error for a in load.attempts] == ["Lambda.TooManyRequestsException"] * 2 + [None]
    assert stack.faults() == []


def test_the_s3_test_event_is_acknowledged_as_skipped(stack: StackProcess) -> None:
    """S3 sends an s3:TestEvent to the queue when the bucket's notification is configured
    (at deploy): the flow acknowledges it and stores nothing."""

    def test_event_run() -> Any:
        for e in stack.executions(FLOW):
            desc = stack.client("stepfunctions").describe_execution(executionArn=e["executionArn"])
            bodies = [json.loads(m["body"]) for m in json.loads(desc["input"])]
            if any(b.get("Event") == "s3:TestEvent" for b in bodies) and e["status"] != "RUNNING":
                return stack.execution(e["executionArn"])
        return None

    run = wait_for(test_event_run, timeout=60, what="the run of the s3:TestEvent")
    assert run.status == "SUCCEEDED" and run.output == {"batchItemFailures": []}
    assert run.state("MarkSkipped").status == "succeeded"
    assert run.state("PutRecording").status == "not_reached"


# Last of the tests on `stack`: its message keeps failing until the DLQ (15 s at the local
# 5 s visibility timeout), and the tests that inject faults wait for an idle queue first.
def test_a_record_over_the_payload_limit_in_utf8_bytes_fails_its_message_not_the_batch(
    stack: StackProcess,
) -> None:
    # 80,000 characters of Japanese are 240,000 bytes of UTF-8: under LoadResult's 200 KiB
    # cap if characters were counted, but the record would not fit a 256 KiB state payload,
    # which Step Functions measures in UTF-8 bytes (States.DataLimitExceeded, which no
    # States.ALL catches, would fail the whole batch).
    call_id = new_call_id("long")
    result = sample_result(call_id)
    result["inference_result"]["call_summary"] = "通話の要約" * 16_000
    write_job_output(stack.client("s3"), bucket(stack), call_id, result=result)

    first = wait_for(
        lambda: (r := executions_for(stack, call_id)) and r[0]["status"] != "RUNNING" and r[0],
        what="the first execution to finish",
    )
    run = stack.execution(first["executionArn"])
    assert run.status == "SUCCEEDED"
    [message] = run.input
    assert run.output == {"batchItemFailures": [{"itemIdentifier": message["messageId"]}]}
    load = run.state("LoadResult")
    assert load.attempts[-1].error == "MalformedResultError"
    assert "bytes of UTF-8" in (load.attempts[-1].cause or "")
    assert record(stack, call_id) is None


def test_a_run_that_fails_whole_returns_every_message_until_the_dlq_then_redrive_stores_them(
    batching_stack: StackProcess,
) -> None:
    """Every LoadResult fails with a long error (a 28 KB cause each, within Step Functions'
    32,768-character cause). Each failure is caught, but a batch of nine or ten such
    outcomes is over the 256 KiB payload quota: the Map fails with States.DataLimitExceeded,
    which no Catch takes, and the run fails. The Pipe then returns the whole batch. (With
    concurrent pollers, as on AWS, the ten could also come in smaller batches, whose runs
    succeed and report each message failed, row 6; this stack has one poller.) Every
    message returns until maxReceiveCount (3), then it is in the DLQ with the reason;
    once the fault is gone `sluice dlq redrive` stores all ten."""
    stack = batching_stack
    batch = uuid.uuid4().hex[:8]
    call_ids = [f"whole-{batch}-{i}" for i in range(10)]
    wait_until_idle(stack)
    stack.inject_fault("TranscriptLoadResultFunction", "ResultUnreadable", "x" * 28_000, count=30)
    # Queue the ten notifications together, so that the Pipe can take them as one batch.
    stack.hold_s3_notifications(bucket(stack), f"{RESULT_KEY_PREFIX}whole-{batch}-")
    try:
        for call_id in call_ids:
            put_result(stack, call_id)
        wait_for(lambda: len(stack.held_s3_notifications()) == 10, what="ten held notifications")
        stack.release_s3_notifications()
    finally:
        stack.clear_s3_notifications()

    def all_dead() -> list[dict[str, Any]] | None:
        letters = [m for c in call_ids for m in dead_letters(stack, c)]
        return letters if len(letters) == 10 else None

    letters = wait_for(all_dead, timeout=180, what="the ten messages in the DLQ")
    for message in letters:
        assert message["reason"]["failedDeliveries"] == 3
        assert message["reason"]["error"] in ("States.DataLimitExceeded", "ResultUnreadable")
    assert all(record(stack, c) is None for c in call_ids)
    runs = {
        d["executionArn"]: stack.execution(d["executionArn"])
        for c in call_ids
        for d in finished_runs(stack, c, 3)  # each message: 3 receives, 3 runs
    }.values()
    whole = [run for run in runs if run.status == "FAILED"]
    assert whole, "no batch of nine or more came together"
    for run in whole:
        assert run.error == "States.DataLimitExceeded"
        assert run.cause is not None and "PersistEachMessage" in run.cause
        assert len(run.input) >= 9
        assert run.state("ReportFailures").status == "not_reached"
    for run in runs:
        if run.status == "SUCCEEDED":  # a smaller batch: each message reported failed
            failed = [f["itemIdentifier"] for f in run.output["batchItemFailures"]]
            assert failed == [m["messageId"] for m in run.input]
    assert stack.faults() == []  # 10 messages x 3 runs: the fault is spent

    dlq = stack.resource("TranscriptDLQ")["name"]
    redrive = stack.cli("dlq", "redrive", dlq)
    assert redrive.returncode == 0, redrive.stderr
    for call_id in call_ids:
        wait_for(lambda c=call_id: record(stack, c), timeout=60, what=f"the record of {call_id}")
    assert not any(dead_letters(stack, c) for c in call_ids)
