"""A queue's message counts, as GetQueueAttributes documents them: ApproximateNumberOfMessages
(available for retrieval), ...NotVisible (in flight: received, neither deleted nor past
its visibility timeout) and ...Delayed (not available yet). Every send and receive reads
them or the visible messages, so they are counted with one clock read
(sluice/engine/moto_services.py); a receive takes exactly the messages counted visible."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto.core import DEFAULT_ACCOUNT_ID
from moto.sqs.models import sqs_backends

from sluice.engine import moto_seam
from sluice.in_process import mocked_aws

COUNTS = [
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
]


@pytest.fixture
def sqs() -> Iterator[Any]:
    moto_seam.install()
    with mocked_aws():
        yield boto3.client("sqs", region_name="us-east-1")


def counts(sqs: Any, url: str) -> list[int]:
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=COUNTS)["Attributes"]
    return [int(attributes[name]) for name in COUNTS]


def _time_passes(queue_name: str, seconds: int) -> None:
    """Every delay and visibility timeout of the queue's messages SECONDS nearer its end."""
    for message in sqs_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].queues[queue_name]._messages:
        message.delayed_until -= seconds * 1000
        message.visible_at -= seconds * 1000


def test_visible_in_flight_and_delayed_messages_are_counted_apart(sqs: Any) -> None:
    url = sqs.create_queue(QueueName="counted")["QueueUrl"]
    for body in ("first", "second"):
        sqs.send_message(QueueUrl=url, MessageBody=body)
    sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=60)
    [taken] = sqs.receive_message(QueueUrl=url, VisibilityTimeout=300)["Messages"]

    assert counts(sqs, url) == [1, 1, 1]

    _time_passes("counted", 61)  # the delay is over; the receive's timeout is not
    assert counts(sqs, url) == [2, 1, 0]
    _time_passes("counted", 240)  # and now the visibility timeout too
    assert counts(sqs, url) == [3, 0, 0]
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=300)
    assert sorted(m["Body"] for m in got["Messages"]) == ["first", "later", "second"]
    assert taken["Body"] in ("first", "second")
    assert counts(sqs, url) == [0, 3, 0]
