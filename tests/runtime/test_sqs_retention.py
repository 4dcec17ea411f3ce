"""SQS keeps a message for the queue's MessageRetentionPeriod and no longer: a message older
than that is never received, however deep the queue (the check runs once per message a
receive takes, so it is made in constant time: sluice/engine/moto_services.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto.core import DEFAULT_ACCOUNT_ID
from moto.sqs.models import sqs_backends

from sluice.engine import moto_seam
from sluice.in_process import mocked_aws

RETENTION_S = 60  # SQS's smallest MessageRetentionPeriod


@pytest.fixture
def sqs() -> Iterator[Any]:
    moto_seam.install()
    with mocked_aws():
        yield boto3.client("sqs", region_name="us-east-1")


def _sent_earlier(queue_name: str, body: str, seconds: float) -> None:
    """Move BODY's send time SECONDS into the past, as if it had waited that long."""
    queue = sqs_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].queues[queue_name]
    (message,) = [m for m in queue._messages if m.body == body]
    assert message.sent_timestamp is not None
    message.sent_timestamp -= int(seconds * 1000)


def _receive_all(sqs: Any, url: str, attempts: int = 5) -> list[str]:
    bodies: list[str] = []
    for _ in range(attempts):
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=300)
        bodies += [m["Body"] for m in got.get("Messages", [])]
    return bodies


def test_a_message_older_than_the_retention_period_is_never_received(sqs: Any) -> None:
    url = sqs.create_queue(
        QueueName="kept", Attributes={"MessageRetentionPeriod": str(RETENTION_S)}
    )["QueueUrl"]
    for body in ("expired", "retained", "young"):
        sqs.send_message(QueueUrl=url, MessageBody=body)
    _sent_earlier("kept", "expired", RETENTION_S + 1)
    _sent_earlier("kept", "retained", RETENTION_S - 5)

    bodies = _receive_all(sqs, url)

    assert "expired" not in bodies
    assert sorted(bodies) == ["retained", "young"]


def test_a_deep_queue_gives_every_retained_message_once(sqs: Any) -> None:
    url = sqs.create_queue(QueueName="deep")["QueueUrl"]  # the default retention: 4 days
    bodies = [str(i) for i in range(1000)]
    for i in range(0, len(bodies), 10):
        sqs.send_message_batch(
            QueueUrl=url,
            Entries=[{"Id": b, "MessageBody": b} for b in bodies[i : i + 10]],
        )

    received = _receive_all(sqs, url, attempts=100)

    assert sorted(received, key=int) == bodies
