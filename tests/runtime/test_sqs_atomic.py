"""SQS operations are atomic per queue, as on AWS: a received message is hidden from every
other consumer until its visibility timeout ends, a sent message is never lost, and a
deleted one is gone. moto alone, with consumers on several threads (the gateway's, an SQS
pipe's pollers), let two receives take one message and let a delete store back a queue
that missed a concurrent send or delete."""

from __future__ import annotations

import sys
import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from sluice.engine import moto_seam
from sluice.in_process import mocked_aws

CONSUMERS = 6
PRODUCERS = 3
PER_PRODUCER = 150


@pytest.fixture
def sqs() -> Iterator[Any]:
    moto_seam.install()
    # Thread switches every 10 µs instead of every 5 ms: the races moto has show up within
    # a few hundred operations instead of a few hundred thousand.
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    try:
        with mocked_aws():
            yield boto3.client("sqs", region_name="us-east-1")
    finally:
        sys.setswitchinterval(interval)


def test_concurrent_consumers_each_get_every_message_once_while_producers_send(sqs: Any) -> None:
    url = sqs.create_queue(QueueName="busy", Attributes={"VisibilityTimeout": "300"})["QueueUrl"]
    received: Counter[str] = Counter()
    sent: list[str] = []
    lock = threading.Lock()
    producing = threading.Event()
    producing.set()

    def produce(p: int) -> None:
        for n in range(PER_PRODUCER):
            mid = sqs.send_message(QueueUrl=url, MessageBody=f"{p}-{n}")["MessageId"]
            with lock:
                sent.append(mid)

    def consume() -> None:
        while True:
            got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
            if not got and not producing.is_set():
                return
            with lock:
                received.update(m["MessageId"] for m in got)
            for m in got:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])

    producers = [threading.Thread(target=produce, args=(p,)) for p in range(PRODUCERS)]
    consumers = [threading.Thread(target=consume) for _ in range(CONSUMERS)]
    for t in producers + consumers:
        t.start()
    for t in producers:
        t.join()
    producing.clear()
    for t in consumers:
        t.join()

    attributes = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    assert len(sent) == PRODUCERS * PER_PRODUCER
    assert {mid for mid, n in received.items() if n > 1} == set()  # none received twice
    assert set(received) == set(sent)  # none lost
    assert attributes == {  # every delete held: nothing left in flight
        "ApproximateNumberOfMessages": "0",
        "ApproximateNumberOfMessagesNotVisible": "0",
    }


def test_a_long_poll_gets_a_message_sent_while_it_waits(sqs: Any) -> None:
    url = sqs.create_queue(QueueName="quiet")["QueueUrl"]
    got: list[dict[str, Any]] = []
    waiting = threading.Thread(
        target=lambda: got.extend(
            sqs.receive_message(QueueUrl=url, WaitTimeSeconds=20).get("Messages", [])
        )
    )
    waiting.start()
    sqs.send_message(QueueUrl=url, MessageBody="late")
    waiting.join(timeout=20)
    assert not waiting.is_alive()
    assert [m["Body"] for m in got] == ["late"]


def test_a_long_poll_gets_a_message_whose_visibility_timeout_ended_while_it_waits(
    sqs: Any,
) -> None:
    url = sqs.create_queue(QueueName="redelivered", Attributes={"VisibilityTimeout": "1"})[
        "QueueUrl"
    ]
    sqs.send_message(QueueUrl=url, MessageBody="again")
    assert sqs.receive_message(QueueUrl=url)["Messages"][0]["Body"] == "again"
    # Hidden now; nothing is sent again, yet the message is visible once a second has passed.
    got = sqs.receive_message(
        QueueUrl=url, WaitTimeSeconds=20, AttributeNames=["ApproximateReceiveCount"]
    ).get("Messages", [])
    assert [m["Body"] for m in got] == ["again"]
    assert got[0]["Attributes"]["ApproximateReceiveCount"] == "2"


def test_a_delete_removes_only_its_message_and_names_a_handle_never_issued(sqs: Any) -> None:
    """DeleteMessage removes the message the handle was issued for; deleting it again
    succeeds; a receipt handle never issued is ReceiptHandleIsInvalid (SQS API reference,
    DeleteMessage)."""
    url = sqs.create_queue(QueueName="deletes")["QueueUrl"]
    for body in ("first", "second", "third"):
        sqs.send_message(QueueUrl=url, MessageBody=body)
    received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=3, VisibilityTimeout=0)
    handles = {m["Body"]: m["ReceiptHandle"] for m in received["Messages"]}
    assert set(handles) == {"first", "second", "third"}

    sqs.delete_message(QueueUrl=url, ReceiptHandle=handles["second"])
    sqs.delete_message(QueueUrl=url, ReceiptHandle=handles["second"])  # again: accepted
    with pytest.raises(sqs.exceptions.ReceiptHandleIsInvalid):
        sqs.delete_message(QueueUrl=url, ReceiptHandle="never-issued")

    left = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=3, VisibilityTimeout=0)
    assert sorted(m["Body"] for m in left["Messages"]) == ["first", "third"]
