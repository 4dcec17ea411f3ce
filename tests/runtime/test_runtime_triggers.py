"""Triggers declared in the template start the right state machine with the right batches."""

from __future__ import annotations

import itertools
import json
import uuid
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import unquote_plus

import pytest

from sluice.testing import StackProcess, wait_for


def inputs_mentioning(stack: StackProcess, flow: str, marker: str) -> list[Any]:
    """Inputs of FLOW's executions that contain MARKER, in the order they started."""
    sfn = stack.client("stepfunctions")
    out = []
    for e in sorted(stack.executions(flow), key=lambda e: e["startDate"]):
        text = sfn.describe_execution(executionArn=e["executionArn"])["input"]
        if marker in text:
            out.append(json.loads(text))
    return out


def test_dynamodb_stream_change_starts_the_pipe_target_with_filtered_batches(
    fixture_stack: StackProcess,
) -> None:
    run = uuid.uuid4().hex[:8]
    ddb = fixture_stack.client("dynamodb")
    table = fixture_stack.resource("ItemsTable")["name"]
    for i in range(4):
        ddb.put_item(TableName=table, Item={"PK": {"S": f"ITEM#{run}-{i}"}, "n": {"N": str(i)}})
    ddb.put_item(TableName=table, Item={"PK": {"S": f"OTHER#{run}"}})  # filtered out
    ddb.update_item(
        TableName=table,
        Key={"PK": {"S": f"ITEM#{run}-0"}},
        UpdateExpression="SET n = :n",
        ExpressionAttributeValues={":n": {"N": "100"}},
    )

    def delivered() -> list[dict[str, Any]] | None:
        batches = inputs_mentioning(fixture_stack, "stream_target", run)
        records = [r for b in batches for r in b]
        return records if len(records) >= 5 else None

    records = wait_for(delivered, what="5 stream records delivered")
    batches = inputs_mentioning(fixture_stack, "stream_target", run)
    assert all(isinstance(b, list) and 1 <= len(b) <= 3 for b in batches)  # BatchSize 3
    keys = [r["dynamodb"]["Keys"]["PK"]["S"] for r in records]
    assert not any(k.startswith("OTHER#") for k in keys)
    assert [r["eventName"] for r in records].count("MODIFY") == 1
    # Per-key order: the INSERT of item 0 comes before its MODIFY.
    item0 = [r["eventName"] for r in records if r["dynamodb"]["Keys"]["PK"]["S"].endswith("-0")]
    assert item0 == ["INSERT", "MODIFY"]
    modify = next(r for r in records if r["eventName"] == "MODIFY")
    assert modify["dynamodb"]["OldImage"]["n"] == {"N": "0"}
    assert modify["dynamodb"]["NewImage"]["n"] == {"N": "100"}
    assert modify["eventSource"] == "aws:dynamodb"


def test_stop_pipe_holds_stream_records_until_start_pipe_then_delivers_them_in_order(
    fixture_stack: StackProcess,
) -> None:
    run = uuid.uuid4().hex[:8]
    pipes = fixture_stack.client("pipes")
    name = fixture_stack.resource("StreamPipe")["name"]
    ddb = fixture_stack.client("dynamodb")
    table = fixture_stack.resource("ItemsTable")["name"]
    assert pipes.describe_pipe(Name=name)["DesiredState"] == "RUNNING"
    assert pipes.stop_pipe(Name=name)["DesiredState"] == "STOPPED"
    try:
        wait_for(
            lambda: name in fixture_stack.gateway.get("/_sluice/stats")["stopped_pipes"],
            what=f"{name} stopped",
        )
        for i in range(5):
            ddb.put_item(TableName=table, Item={"PK": {"S": f"ITEM#{run}-{i}"}})
        # Its poller has ended: the records wait in the stream.
        assert inputs_mentioning(fixture_stack, "stream_target", run) == []
        assert pipes.describe_pipe(Name=name)["DesiredState"] == "STOPPED"
    finally:
        assert pipes.start_pipe(Name=name)["DesiredState"] == "RUNNING"

    def delivered() -> list[str] | None:
        batches = inputs_mentioning(fixture_stack, "stream_target", run)
        keys = [r["dynamodb"]["Keys"]["PK"]["S"] for b in batches for r in b]
        return keys if len(keys) >= 5 else None

    keys = wait_for(delivered, what="the records written while the pipe was stopped")
    assert keys == [f"ITEM#{run}-{i}" for i in range(5)]
    assert name not in fixture_stack.gateway.get("/_sluice/stats")["stopped_pipes"]


def test_sqs_messages_start_the_pipe_target_batched_by_size_and_window(
    fixture_stack: StackProcess,
) -> None:
    run = uuid.uuid4().hex[:8]
    sqs = fixture_stack.client("sqs")
    url = fixture_stack.resource("InboxQueue")["url"]
    sqs.send_message_batch(
        QueueUrl=url,
        Entries=[{"Id": str(i), "MessageBody": json.dumps({"run": run, "i": i})} for i in range(7)],
    )

    def delivered() -> list[dict[str, Any]] | None:
        records = [r for b in inputs_mentioning(fixture_stack, "queue_target", run) for r in b]
        return records if len(records) >= 7 else None

    records = wait_for(delivered, what="7 messages delivered")
    batches = inputs_mentioning(fixture_stack, "queue_target", run)
    assert sorted(json.loads(r["body"])["i"] for r in records) == list(range(7))
    assert all(len(b) <= 5 for b in batches)  # BatchSize 5
    assert len(batches) <= 3  # the 1 s window gathers messages rather than one per run
    assert records[0]["eventSource"] == "aws:sqs"
    # Succeeded batches are deleted from the queue.
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attrs["ApproximateNumberOfMessages"] == "0"


def test_eventbridge_event_matching_a_rule_starts_its_state_machine(
    fixture_stack: StackProcess,
) -> None:
    run = uuid.uuid4().hex[:8]
    before = fixture_stack.gateway.get("/_sluice/stats")["rules"].get("invocations", 0)
    events = fixture_stack.client("events")
    bus = fixture_stack.resource("Bus")["name"]
    resp = events.put_events(
        Entries=[
            {
                "EventBusName": bus,
                "Source": "fixture.orders",
                "DetailType": "order.placed",
                "Detail": json.dumps({"run": run, "match": True}),
            },
            {
                "EventBusName": bus,
                "Source": "fixture.orders",
                "DetailType": "order.cancelled",
                "Detail": json.dumps({"run": run, "match": False}),
            },
            {
                "EventBusName": "default",
                "Source": "fixture.orders",
                "DetailType": "order.placed",
                "Detail": json.dumps({"run": run, "match": False}),
            },
        ]
    )
    assert resp["FailedEntryCount"] == 0
    [delivered] = wait_for(
        lambda: inputs_mentioning(fixture_stack, "event_target", run),
        what="the matching event's execution",
    )
    assert delivered["detail"] == {"run": run, "match": True}
    assert delivered["source"] == "fixture.orders"
    assert delivered["detail-type"] == "order.placed"
    # Rules are matched during PutEvents; once delivery is idle, only one target was started.
    stats = wait_for(
        lambda: (s := fixture_stack.gateway.get("/_sluice/stats")["rules"])["pending"] == 0 and s,
        what="rule delivery to go idle",
    )
    assert stats["invocations"] - before == 1
    assert len(inputs_mentioning(fixture_stack, "event_target", run)) == 1


def test_disable_rule_and_enable_rule_are_followed_while_the_stack_runs(
    fixture_stack: StackProcess,
) -> None:
    events = fixture_stack.client("events")
    bus = fixture_stack.resource("Bus")["name"]
    on, paused = "sluice-event_target-OrderPlaced", "sluice-event_target-OrderPlacedPaused"
    assert events.describe_rule(Name=paused, EventBusName=bus)["State"] == "DISABLED"

    def executions_for(run: str) -> int:
        placed = {"Source": "fixture.orders", "DetailType": "order.placed"}
        fixture_stack.put_events(
            [{"EventBusName": bus, **placed, "Detail": json.dumps({"r": run})}]
        )
        return len(inputs_mentioning(fixture_stack, "event_target", run))

    events.disable_rule(Name=on, EventBusName=bus)
    try:
        assert executions_for(uuid.uuid4().hex[:8]) == 0  # both rules disabled
        events.enable_rule(Name=paused, EventBusName=bus)
        assert executions_for(uuid.uuid4().hex[:8]) == 1  # the rule enabled by the API
        events.enable_rule(Name=on, EventBusName=bus)
        assert executions_for(uuid.uuid4().hex[:8]) == 2  # both match, each starts its target
    finally:
        events.enable_rule(Name=on, EventBusName=bus)
        events.disable_rule(Name=paused, EventBusName=bus)
    with pytest.raises(events.exceptions.ResourceNotFoundException):
        events.disable_rule(Name="no-such-rule", EventBusName=bus)


def test_sqs_event_source_mapping_invokes_the_function_and_honours_item_failures(
    fixture_stack: StackProcess,
) -> None:
    run = uuid.uuid4().hex[:8]
    sqs = fixture_stack.client("sqs")
    url = fixture_stack.resource("MappedQueue")["url"]
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"id": f"{run}-ok"}))
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"id": f"{run}-bad", "fail": True}))
    ddb = fixture_stack.client("dynamodb")
    table = fixture_stack.resource("ItemsTable")["name"]
    wait_for(
        lambda: ddb.get_item(TableName=table, Key={"PK": {"S": f"ESM#{run}-ok"}}).get("Item"),
        what="the mapped function to store the good message",
    )

    # The reported failure stays on the queue and is delivered again; the success is deleted.
    # Both are awaited: under load the good message's first invoke can outlast the queue's
    # 1 s visibility timeout and fail whole, so it may be delivered more than once.
    def pipe() -> dict[str, int]:
        pipes = fixture_stack.gateway.get("/_sluice/stats")["pipes"]
        got: dict[str, int] = pipes.get("RecordMessagesFunction-FromQueue", {})
        return got

    wait_for(
        lambda: (p := pipe()).get("failures", 0) >= 2 and p.get("records_delivered", 0) >= 1,
        what="the good message to be deleted and the failing one to be redelivered",
    )
    left = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert (
        int(left["ApproximateNumberOfMessages"])
        + int(left["ApproximateNumberOfMessagesNotVisible"])
        == 1
    )
    assert not ddb.get_item(TableName=table, Key={"PK": {"S": f"ESM#{run}-bad"}}).get("Item")


def s3_sequencer_key(sequencer: str, width: int) -> str:
    """AWS's rule for comparing two sequencers of one key: right-pad with zeros, then
    compare as strings (notification-content-structure)."""
    return sequencer.ljust(width, "0")


def test_s3_notifications_carry_a_growing_sequencer_and_a_hold_delivers_them_reordered(
    fixture_stack: StackProcess,
) -> None:
    run = uuid.uuid4().hex[:8]
    s3, sqs = fixture_stack.client("s3"), fixture_stack.client("sqs")
    bucket = f"notify-{run}"
    url = sqs.create_queue(QueueName=f"notify-{run}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={
            "QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*"]}]
        },
    )

    def received(count: int) -> list[dict[str, Any]]:
        bodies: list[dict[str, Any]] = []

        def more() -> list[dict[str, Any]] | None:
            for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
                body = json.loads(m["Body"])
                if "Records" in body:  # not the s3:TestEvent
                    bodies.append(body["Records"][0])
            return bodies if len(bodies) >= count else None

        return wait_for(more, what=f"{count} S3 notifications")

    fixture_stack.hold_s3_notifications(bucket, "held/")
    try:
        s3.put_object(Bucket=bucket, Key="held/a.json", Body=b"1")
        s3.put_object(Bucket=bucket, Key="held/a.json", Body=b"22")  # the newer write
        s3.put_object(Bucket=bucket, Key="free/b.json", Body=b"333")  # not held
        [free] = received(1)
        assert unquote_plus(free["s3"]["object"]["key"]) == "free/b.json"
        # Every field of the structure AWS documents (notification-content-structure).
        assert isinstance(free["userIdentity"]["principalId"], str)
        assert isinstance(free["requestParameters"]["sourceIPAddress"], str)
        assert set(free["responseElements"]) == {"x-amz-request-id", "x-amz-id-2"}
        assert isinstance(free["s3"]["bucket"]["ownerIdentity"]["principalId"], str)
        assert free["s3"]["bucket"]["arn"] == f"arn:aws:s3:::{bucket}"
        held = fixture_stack.held_s3_notifications()
        assert [h["body"]["Records"][0]["s3"]["object"]["size"] for h in held] == [1, 2]
        fixture_stack.release_s3_notifications([held[1]["id"], held[0]["id"]])
    finally:
        fixture_stack.clear_s3_notifications()
    assert fixture_stack.held_s3_notifications() == []
    # The newer write arrives first; its sequencer is still the larger one.
    newer, older = (r["s3"]["object"] for r in received(2))
    assert (newer["size"], older["size"]) == (2, 1)
    width = max(len(newer["sequencer"]), len(older["sequencer"]))
    assert s3_sequencer_key(newer["sequencer"], width) > s3_sequencer_key(older["sequencer"], width)
    assert all(c in "0123456789ABCDEF" for c in newer["sequencer"] + older["sequencer"])


def test_schedules_start_their_targets_with_the_scheduled_event(
    fixture_stack: StackProcess,
) -> None:
    """A SAM Schedule event (rate(1 hour)) and a rule's ScheduleExpression
    (cron(0/30 * * * ? *)) start scheduled_target with EventBridge's Scheduled Event, its
    `time` the scheduled time; at a time scale of 1/2000 an hour passes in 1.8 s. The same
    schedules disabled (a rule's `State: DISABLED`, a Schedule event's `Enabled: false`)
    start nothing."""
    sfn = fixture_stack.client("stepfunctions")
    half_hourly = fixture_stack.resource("HalfHourlyRule")["arn"]

    def scheduled() -> dict[str, list[dict[str, Any]]] | None:
        by_rule: dict[str, list[dict[str, Any]]] = {}
        for e in fixture_stack.executions("scheduled_target"):
            event = json.loads(sfn.describe_execution(executionArn=e["executionArn"])["input"])
            by_rule.setdefault(event["resources"][0], []).append(event)
        enough = len(by_rule) >= 2 and all(len(events) >= 3 for events in by_rule.values())
        return by_rule if enough else None

    with fixture_stack.time_scale(1 / 2000):
        by_rule = wait_for(scheduled, timeout=120, what="three runs of each schedule")
    hourly_rule = next(arn for arn in by_rule if arn != half_hourly)
    assert sorted(by_rule) == sorted([half_hourly, hourly_rule])  # the disabled: none
    assert hourly_rule.endswith("-Hourly")
    for events in by_rule.values():
        for event in events:
            assert event["source"] == "aws.events"
            assert event["detail-type"] == "Scheduled Event"
            assert event["detail"] == {}
    times = {arn: sorted(_when(e) for e in events) for arn, events in by_rule.items()}
    # cron(0/30 ...): on the hour and the half hour, every 30 minutes.
    assert all(t.minute in (0, 30) and t.second == 0 for t in times[half_hourly])
    assert {b - a for a, b in itertools.pairwise(times[half_hourly])} == {timedelta(minutes=30)}
    # rate(1 hour): an hour apart, counted from the deploy.
    hourly = times[hourly_rule]
    assert {b - a for a, b in itertools.pairwise(hourly)} == {timedelta(hours=1)}


def _when(event: dict[str, Any]) -> datetime:
    return datetime.strptime(event["time"], "%Y-%m-%dT%H:%M:%SZ")
