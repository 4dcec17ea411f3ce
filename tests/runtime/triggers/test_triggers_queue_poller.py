"""SQS poller against moto: record shape, batching, filters, deletes, redrive to the DLQ."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sluice import sqs_atomic
from sluice.engine import moto_seam
from sluice.in_process import mocked_aws
from sluice.triggers.clients import ClientFactory, boto3_client_factory
from sluice.triggers.failure_log import FailureLog
from sluice.triggers.poller_group import PollerGroup
from sluice.triggers.queue_poller import QueuePoller
from sluice.triggers.specs import PipeSpec
from sluice.triggers.targets import Outcome
from sluice.triggers.testing import ScriptedTarget
from sluice.waiting import wait_for

SM = "arn:aws:states:us-east-1:123456789012:stateMachine:flow"


@dataclass
class Queue:
    factory: ClientFactory
    url: str
    arn: str

    def send(self, body: str, **kw: Any) -> str:
        mid: str = self.factory("sqs").send_message(QueueUrl=self.url, MessageBody=body, **kw)[
            "MessageId"
        ]
        return mid

    def counts(self) -> tuple[int, int]:
        """(visible, in flight)."""
        attrs = self.factory("sqs").get_queue_attributes(
            QueueUrl=self.url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return (
            int(attrs["ApproximateNumberOfMessages"]),
            int(attrs["ApproximateNumberOfMessagesNotVisible"]),
        )

    def bodies(self, wait_s: int = 0) -> list[str]:
        """Receive (long-polling up to ``wait_s``) and return the sorted bodies."""
        got = self.factory("sqs").receive_message(
            QueueUrl=self.url, MaxNumberOfMessages=10, WaitTimeSeconds=wait_s
        )
        return sorted(m["Body"] for m in got.get("Messages", []))


def make_queue(factory: ClientFactory, name: str, **attributes: str) -> Queue:
    sqs = factory("sqs")
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    return Queue(factory, url, arn)


@pytest.fixture
def factory() -> Iterator[ClientFactory]:
    moto_seam.install()  # moto's SQS as the runtime serves it: atomic per queue
    with mocked_aws():
        yield boto3_client_factory(region_name="us-east-1")


def poller(q: Queue, target: Any, log: FailureLog | None = None, **spec: Any) -> QueuePoller:
    pipe = PipeSpec(name="q-pipe", source_arn=q.arn, target_arn=SM, **spec)
    return QueuePoller(pipe, target, q.factory, failure_log=log, receive_wait_s=0)


def bodies(batch: list[dict[str, Any]]) -> list[str]:
    return [r["body"] for r in batch]


def test_records_arrive_in_lambda_sqs_shape(factory: ClientFactory) -> None:
    q = make_queue(factory, "work")
    mid = q.send("hi", MessageAttributes={"kind": {"DataType": "String", "StringValue": "x"}})
    target = ScriptedTarget()
    assert poller(q, target).poll_once() == 1
    (rec,) = target.batches[0]
    assert rec["messageId"] == mid
    assert rec["body"] == "hi"
    assert rec["receiptHandle"]
    assert rec["md5OfBody"] == "49f68a5c8493ec2c0bf489821c21fc3b"  # md5("hi")
    assert rec["eventSource"] == "aws:sqs"
    assert rec["eventSourceARN"] == q.arn
    assert rec["awsRegion"] == "us-east-1"
    assert rec["attributes"]["ApproximateReceiveCount"] == "1"
    assert "SentTimestamp" in rec["attributes"]
    assert rec["messageAttributes"]["kind"] == {
        "stringValue": "x",
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": "String",
    }


def test_success_deletes_every_message(factory: ClientFactory) -> None:
    q = make_queue(factory, "work")
    for i in range(3):
        q.send(f"m{i}")
    p = poller(q, ScriptedTarget())
    assert p.poll_once() == 3
    assert q.counts() == (0, 0)
    assert p.counters["records_delivered"] == 3


def test_batch_fills_past_ten_messages_per_receive(factory: ClientFactory) -> None:
    q = make_queue(factory, "work")
    for i in range(25):
        q.send(f"m{i}")
    target = ScriptedTarget()
    p = poller(q, target, batch_size=20, batching_window_s=0.2)
    p.poll_once()
    p.poll_once()
    assert [len(b) for b in target.batches] == [20, 5]
    assert sorted(bodies(target.records)) == sorted(f"m{i}" for i in range(25))


def test_without_window_only_what_is_available_is_delivered(factory: ClientFactory) -> None:
    q = make_queue(factory, "work")
    for i in range(15):
        q.send(f"m{i}")
    target = ScriptedTarget()
    p = poller(q, target, batch_size=20)
    receive = p._receive
    waits: list[int] = []

    def counted(max_n: int, wait_s: int) -> list[dict[str, Any]]:
        waits.append(wait_s)
        return receive(max_n, wait_s)

    p._receive = counted  # type: ignore[method-assign]
    p.poll_once()
    # Two receives (10, then 5) drain what is there; none waits for the other five.
    assert waits == [0, 0]
    assert len(target.batches) == 1 and len(target.batches[0]) == 15


def test_window_waits_for_more_messages(factory: ClientFactory) -> None:
    q = make_queue(factory, "work")
    q.send("a")
    target = ScriptedTarget()
    p = poller(q, target, batch_size=10, batching_window_s=0.3)
    start = time.monotonic()
    p.poll_once()
    assert time.monotonic() - start >= 0.3
    assert len(target.batches) == 1


def test_unmatched_messages_are_deleted_and_counted(factory: ClientFactory) -> None:
    q = make_queue(factory, "work")
    q.send(json.dumps({"type": "order", "n": 1}))
    q.send(json.dumps({"type": "refund"}))
    q.send("plain text")
    target = ScriptedTarget()
    p = poller(q, target, filters=[{"body": {"type": ["order"]}}])
    p.poll_once()
    assert [json.loads(b)["n"] for b in bodies(target.records)] == [1]
    assert p.counters["records_discarded"] == 2
    assert q.counts() == (0, 0)


def test_partial_failure_deletes_only_the_successes(factory: ClientFactory) -> None:
    q = make_queue(factory, "work", VisibilityTimeout="1")
    for i in range(5):
        q.send(f"m{i}")
    log = FailureLog()

    def respond(batch: list[dict[str, Any]]) -> Outcome:
        bad = [r["messageId"] for r in batch if r["body"] in ("m1", "m3")]
        return Outcome(
            ok=False,
            failed_item_ids=bad,
            error="ItemFailed",
            cause="m1/m3 bad",
            execution_arn="arn:exec",
        )

    target = ScriptedTarget(respond)
    p = poller(q, target, log)
    p.poll_once()
    assert q.counts() == (0, 2)  # three deleted, two waiting out their visibility timeout
    failed = {r["messageId"]: r["body"] for r in target.records if r["body"] in ("m1", "m3")}
    for mid in failed:
        rec = log.get(mid)
        assert rec is not None and rec.error == "ItemFailed" and rec.cause == "m1/m3 bad"
        assert rec.execution_arn == "arn:exec"
    ok = [r["messageId"] for r in target.records if r["messageId"] not in failed]
    assert all(log.get(m) is None for m in ok)
    assert p.counters["records_delivered"] == 3

    assert q.bodies() == []  # nothing visible until the visibility timeout lapses
    assert q.bodies(wait_s=3) == ["m1", "m3"]


def test_whole_failure_deletes_nothing(factory: ClientFactory) -> None:
    q = make_queue(factory, "work", VisibilityTimeout="1")
    for i in range(3):
        q.send(f"m{i}")
    p = poller(q, ScriptedTarget(lambda b: Outcome(ok=False, error="Boom", cause="down")))
    p.poll_once()
    assert q.counts() == (0, 3)
    assert p.counters["failures"] == 1 and p.counters["records_delivered"] == 0
    assert q.bodies() == []
    assert q.bodies(wait_s=3) == ["m0", "m1", "m2"]


def test_invalid_partial_failure_keeps_the_whole_batch(factory: ClientFactory) -> None:
    q = make_queue(factory, "work")
    for i in range(2):
        q.send(f"m{i}")
    p = poller(q, ScriptedTarget(lambda b: Outcome(ok=False, failed_item_ids=["not-a-message"])))
    p.poll_once()
    assert q.counts() == (0, 2)


def test_redrive_moves_the_bad_message_to_the_dlq_after_max_receives(
    factory: ClientFactory,
) -> None:
    dlq = make_queue(factory, "work-dlq")
    q = make_queue(
        factory,
        "work",
        VisibilityTimeout="1",
        RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq.arn, "maxReceiveCount": 2}),
    )
    bad_id = q.send("bad")
    q.send("good")
    log = FailureLog()

    def respond(batch: list[dict[str, Any]]) -> Outcome | None:
        bad = [r["messageId"] for r in batch if r["body"] == "bad"]
        return Outcome(ok=False, failed_item_ids=bad, error="Poison", cause="x") if bad else None

    target = ScriptedTarget(respond)
    p = poller(q, target, log)
    deadline = time.monotonic() + 10
    while dlq.counts()[0] == 0:
        assert time.monotonic() < deadline, "message never reached the DLQ"
        p.poll_once()
        time.sleep(0.05)
    assert dlq.bodies() == ["bad"]
    assert q.counts() == (0, 0)
    deliveries = [r["body"] for r in target.records]
    assert deliveries.count("good") == 1
    assert deliveries.count("bad") == 2  # maxReceiveCount
    rec = log.get(bad_id)
    assert rec is not None and rec.failures == 2 and rec.error == "Poison"


def test_failure_log_persists_as_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "failures.jsonl"
    log = FailureLog(path)
    log.record("m1", "Boom", "first", None)
    log.record("m1", "Bang", "second", "arn:exec")
    reloaded = FailureLog(path)
    rec = reloaded.get("m1")
    assert rec is not None
    assert (rec.error, rec.cause, rec.execution_arn, rec.failures) == (
        "Bang",
        "second",
        "arn:exec",
        2,
    )
    assert reloaded.get("m2") is None


def test_several_pollers_have_batches_in_flight_at_once_and_deliver_each_message_once(
    factory: ClientFactory,
) -> None:
    q = make_queue(factory, "busy", VisibilityTimeout="300")  # no redelivery on a slow host
    sent = {q.send(json.dumps({"n": n})) for n in range(40)}
    # The first three batches each wait until all three are in flight: one poller alone
    # would break the barrier, fail its batch and leave it for redelivery.
    together = threading.Barrier(3, timeout=60)
    calls = iter(range(1_000))
    lock = threading.Lock()

    def first_three_together(batch: list[dict[str, Any]]) -> None:
        with lock:
            n = next(calls)
        if n < 3:
            together.wait()

    target = ScriptedTarget(first_three_together)
    pipe = PipeSpec(name="q-pipe", source_arn=q.arn, target_arn=SM, batch_size=2)
    p = QueuePoller(pipe, target, q.factory, receive_wait_s=0, concurrency=5)
    with PollerGroup([p], idle_wait_s=0.01):
        assert target.wait_for_records(40, timeout=120)
        wait_for(lambda: q.counts() == (0, 0), timeout=60, what="every message deleted")
    delivered = [r["messageId"] for r in target.records]
    assert sorted(delivered) == sorted(sent)  # each message once: no redelivery
    assert p.counters["failures"] == 0


class LongPollsSeen:
    """sqs_atomic's long polls, noting when the poller has begun one."""

    def __init__(self) -> None:
        self.begun = threading.Event()

    @contextlib.contextmanager
    def ended_by(self, stop: threading.Event) -> Iterator[None]:
        with sqs_atomic.ended_by(stop):
            self.begun.set()
            yield

    def wake(self) -> None:
        sqs_atomic.wake()


def test_a_stopping_poller_ends_its_own_20_s_long_polls_and_no_one_elses(
    factory: ClientFactory,
) -> None:
    q = make_queue(factory, "quiet")
    long_polls = LongPollsSeen()
    pipe = PipeSpec(name="q-pipe", source_arn=q.arn, target_arn=SM)
    p = QueuePoller(pipe, ScriptedTarget(), q.factory, concurrency=3, long_polls=long_polls)
    other: list[str] = []
    # Another consumer of the queue, long polling as the poller stops.
    outsider = threading.Thread(target=lambda: other.extend(q.bodies(wait_s=20)))
    group = PollerGroup([p])
    group.start()
    outsider.start()
    assert long_polls.begun.wait(timeout=30)
    # A long poll that went on would hold its thread for 20 s, past this stop's 10.
    group.stop(timeout=10)
    assert not [t for t in threading.enumerate() if t.name.startswith("sluice-poller-q-pipe")]
    q.send("after the stop")
    outsider.join(timeout=30)
    assert other == ["after the stop"]
