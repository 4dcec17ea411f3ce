"""PollerGroup: background threads, prompt stop, error resilience, counters; build_poller."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from sluice.in_process import mocked_aws
from sluice.triggers import PipeSpec, PollerGroup, QueuePoller, StreamPoller, build_poller
from sluice.triggers.clients import ClientFactory, boto3_client_factory
from sluice.triggers.counters import Counters
from sluice.triggers.testing import ScriptedTarget
from sluice.waiting import wait_for

SM = "arn:aws:states:us-east-1:123456789012:stateMachine:flow"


@pytest.fixture
def factory() -> Iterator[ClientFactory]:
    with mocked_aws():
        yield boto3_client_factory(region_name="us-east-1")


def make_sources(factory: ClientFactory) -> tuple[str, str, str]:
    table = factory("dynamodb").create_table(
        TableName="t",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
    )
    sqs = factory("sqs")
    url = sqs.create_queue(QueueName="q")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    return table["TableDescription"]["LatestStreamArn"], url, arn


def test_group_runs_pollers_in_the_background_and_stops_promptly(factory: ClientFactory) -> None:
    stream_arn, url, queue_arn = make_sources(factory)
    stream_target, queue_target = ScriptedTarget(), ScriptedTarget()
    stream = StreamPoller(PipeSpec("s", stream_arn, SM), stream_target, factory)
    queue = QueuePoller(PipeSpec("q", queue_arn, SM), queue_target, factory, receive_wait_s=1)
    group = PollerGroup([stream, queue], idle_wait_s=0.05)
    group.start()
    try:
        assert group.running
        factory("dynamodb").put_item(TableName="t", Item={"pk": {"S": "a"}})
        factory("sqs").send_message(QueueUrl=url, MessageBody=json.dumps({"n": 1}))
        assert stream_target.wait_for_records(1, timeout=5)
        assert queue_target.wait_for_records(1, timeout=5)
    finally:
        group.stop()
    # The queue poller is long-polling when asked to stop: stop() still returns with every
    # poller thread ended, none left behind waiting on its source.
    assert not group.running
    assert not any(t.name.startswith("sluice-poller-") for t in threading.enumerate())
    stats = group.stats()
    assert stats["s"]["records_delivered"] == 1
    assert stats["q"]["records_delivered"] == 1

    # A stopped group can be started again; pollers keep their positions.
    with group:
        factory("dynamodb").put_item(TableName="t", Item={"pk": {"S": "b"}})
        assert stream_target.wait_for_records(2, timeout=5)
    keys = [r["dynamodb"]["Keys"]["pk"]["S"] for r in stream_target.records]
    assert keys == ["a", "b"]


class FlakyPoller:
    def __init__(self) -> None:
        self.name = "flaky"
        self.counters = Counters()
        self.calls = 0
        self.recovered = threading.Event()

    def poll_once(self) -> int:
        self.calls += 1
        if self.calls == 1:
            raise RuntimeError("source unavailable")
        self.recovered.set()
        return 0

    def request_stop(self) -> None:
        pass

    def resume(self) -> None:
        pass


def test_a_paused_stream_poller_ends_its_batch_delivers_nothing_more_then_resumes_in_order(
    factory: ClientFactory,
) -> None:
    stream_arn, _, _ = make_sources(factory)
    in_batch, release = threading.Event(), threading.Event()

    def slow_first(batch: list[dict[str, Any]]) -> None:
        if not in_batch.is_set():
            in_batch.set()
            release.wait(5)

    target = ScriptedTarget(slow_first)
    ddb = factory("dynamodb")
    poller = StreamPoller(PipeSpec("s", stream_arn, SM, batch_size=2), target, factory)
    group = PollerGroup([poller], idle_wait_s=0.01)
    group.start()
    try:
        ddb.put_item(TableName="t", Item={"pk": {"S": "k0"}})
        assert in_batch.wait(5)
        group.pause("s")
        assert group.stopped == set()  # still delivering its batch
        release.set()
        wait_for(lambda: group.stopped == {"s"}, timeout=5, what="the poller stopped")
        for i in range(1, 6):
            ddb.put_item(TableName="t", Item={"pk": {"S": f"k{i}"}})
        # Stopped: its thread has ended, so whatever was written stays in the stream.
        assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in target.records] == ["k0"]
        group.unpause("s")
        assert target.wait_for_records(6, timeout=5)
        keys = [r["dynamodb"]["Keys"]["pk"]["S"] for r in target.records]
        assert keys == [f"k{i}" for i in range(6)]  # from where it stopped, in order
        assert group.stopped == set()
    finally:
        release.set()
        group.stop()


def test_a_poller_paused_before_the_group_starts_stays_stopped_until_unpaused(
    factory: ClientFactory,
) -> None:
    _, url, queue_arn = make_sources(factory)
    target = ScriptedTarget()
    poller = QueuePoller(PipeSpec("q", queue_arn, SM), target, factory, receive_wait_s=1)
    group = PollerGroup([poller], idle_wait_s=0.01)
    group.pause("q")
    group.start()
    try:
        factory("sqs").send_message(QueueUrl=url, MessageBody="{}")
        assert group.stopped == {"q"} and target.records == []
        group.unpause("q")
        assert target.wait_for_records(1, timeout=5)
    finally:
        group.stop()


def test_a_failing_poll_is_counted_and_retried() -> None:
    p = FlakyPoller()
    with PollerGroup([p], idle_wait_s=0.01, error_backoff_s=0.01):
        assert p.recovered.wait(2)
    assert p.counters["errors"] == 1


def test_added_poller_starts_when_group_is_running() -> None:
    group = PollerGroup(idle_wait_s=0.01)
    group.start()
    p = FlakyPoller()
    group.add(p)
    try:
        assert p.recovered.wait(2)
        with pytest.raises(ValueError):
            group.add(FlakyPoller())  # same name
    finally:
        group.stop()


def test_build_poller_picks_the_source_kind(factory: ClientFactory) -> None:
    stream_arn, _, queue_arn = make_sources(factory)
    assert isinstance(build_poller(PipeSpec("s", stream_arn, SM), factory), StreamPoller)
    assert isinstance(build_poller(PipeSpec("q", queue_arn, SM), factory), QueuePoller)
    with pytest.raises(ValueError):
        build_poller(PipeSpec("x", "arn:aws:kinesis:us-east-1:1:stream/s", SM), factory)


def test_pipe_spec_validation() -> None:
    with pytest.raises(ValueError):
        PipeSpec("p", "arn:aws:sqs:us-east-1:1:q", SM, batch_size=0)
    with pytest.raises(ValueError):
        PipeSpec("p", "arn:aws:sqs:us-east-1:1:q", SM, starting_position="AT_TIMESTAMP")
    spec = PipeSpec("p", "arn:aws:sqs:us-east-1:1:q", SM, max_record_age_s=5, dlq_arn="arn:x")
    warnings: Any = spec.aws_range_warnings()
    assert any("MaximumRecordAge" in w for w in warnings)
    assert any("redrive" in w for w in warnings)
