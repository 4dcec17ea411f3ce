"""SQS queue operations are atomic, as on AWS.

moto's ReceiveMessage walks a queue's messages, tests each one's visibility and marks it
received, with no lock; DeleteMessage builds the queue's list of messages without the
deleted one and stores it back. The gateway answers on many threads and an SQS pipe polls
with several, so two receives could both take one visible message, and a delete racing a
send (or another delete) stored back a list without the other's change: a sent message
lost, a deleted one left in flight until its visibility timeout ended. On AWS a received
message is hidden from other consumers until its visibility timeout ends, and a message
that was sent is never lost.

Every change to a queue's messages (send, receive, delete, purge) runs under that queue's
reentrant lock. A long poll with no message to take waits outside it, so senders are not
held back.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from moto.sqs.models import SQSBackend

from sluice.object_locks import LocksByObject, PerObject

_LOCKS = LocksByObject()
lock_of = _LOCKS.of
# METHOD of a moto Queue (add_message, delete_message), run under the queue's lock.
queue_serialized = _LOCKS.serialized


def backend_serialized(method: Callable[..., Any]) -> Callable[..., Any]:
    """METHOD of the SQS backend taking a queue name first (purge_queue), under its lock."""

    @functools.wraps(method)
    def call(self: SQSBackend, queue_name: str, *args: Any, **kwargs: Any) -> Any:
        with lock_of(self.get_queue(queue_name)):
            return method(self, queue_name, *args, **kwargs)

    return call


def adding(add_message: Callable[..., Any]) -> Callable[..., Any]:
    """moto's Queue.add_message, under the queue's lock, then waking its long polls."""

    @functools.wraps(add_message)
    def call(queue: Any, *args: Any, **kwargs: Any) -> Any:
        with lock_of(queue):
            result = add_message(queue, *args, **kwargs)
        arrival = _ARRIVALS.of(queue)
        with arrival:
            arrival.notify_all()
        return result

    return call


def receive_serialized(receive: Callable[..., Any]) -> Callable[..., Any]:
    """moto's SQSBackend.receive_message: each attempt to take messages under the queue's
    lock (moto's own, asked not to wait); a long poll waits between attempts, unlocked,
    until a message arrives, WAIT_SECONDS_TIMEOUT ends or the long polls of its thread are
    ended (`ended_by`). Waits are at most a second long, so a message whose visibility
    timeout or delay ended (which no send announces) is taken within a second."""

    @functools.wraps(receive)
    def call(
        self: SQSBackend,
        queue_name: str,
        count: int,
        wait_seconds_timeout: int,
        visibility_timeout: int,
        message_attribute_names: list[str] | None = None,
    ) -> Any:
        queue = self.get_queue(queue_name)
        stop: threading.Event | None = getattr(_ended, "by", None)
        polling_end = time.monotonic() + wait_seconds_timeout
        arrival = _ARRIVALS.of(queue)
        while True:
            with lock_of(queue):
                result = receive(
                    self, queue_name, count, 0, visibility_timeout, message_attribute_names
                )
            remaining = polling_end - time.monotonic()
            if result or remaining <= 0 or (stop is not None and stop.is_set()):
                return result
            with arrival:
                arrival.wait_for(
                    lambda: bool(queue.messages) or (stop is not None and stop.is_set()),
                    timeout=min(1, remaining),
                )

    return call


# A consumer in this process (a pipe's poller) ends its long polls when it stops.
_ARRIVALS = PerObject(threading.Condition)
_ended = threading.local()


@contextlib.contextmanager
def ended_by(stop: threading.Event) -> Iterator[None]:
    """Long polls made on this thread inside the block return, empty, within a second of
    STOP being set, at once if `wake()` is called after."""
    _ended.by = stop
    try:
        yield
    finally:
        _ended.by = None


def wake() -> None:
    """Every waiting long poll looks again at its stop."""
    for arrival in _ARRIVALS.all():
        with arrival:
            arrival.notify_all()
