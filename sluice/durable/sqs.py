"""SQS messages, durable: one row per message, its queue and its whole state.

A row holds the message as moto keeps it (body, attributes, receive count, receipt
handles, `visible_at`, `delayed_until`), so a message that was in flight when the stack
stopped is in flight after the restart and becomes visible again when its visibility
timeout ends, as on AWS. Marks come from moto's models, whoever changed the message: a
send, a receive, a visibility change, S3's notification, the move to a dead-letter queue.
"""

from __future__ import annotations

import functools
import pickle
from collections.abc import Callable
from typing import Any

from moto.sqs.models import Message, Queue, SQSBackend, sqs_backends

from sluice.durable.journal import Journal
from sluice.durable.store import Store

KIND = "sqs"
_journal: Journal | None = None
# message id -> the queue holding it (a message is marked before and after it moves).
_queue_of: dict[str, Queue] = {}


def _mark(message: Message) -> None:
    queue = _queue_of.get(message.id)
    if _journal is None or queue is None:
        return
    _journal.mark(
        KIND,
        message.id,
        lambda: pickle.dumps((queue.account_id, queue.region, queue.name, message)),
    )


def _mark_gone(message_id: str) -> None:
    _queue_of.pop(message_id, None)
    if _journal is not None:
        _journal.mark(KIND, message_id, lambda: None)


def _after(method: Callable[..., Any]) -> Callable[..., Any]:
    """The message method, then a mark of the message it changed."""

    @functools.wraps(method)
    def call(self: Message, *args: Any, **kwargs: Any) -> Any:
        result = method(self, *args, **kwargs)
        _mark(self)
        return result

    return call


def _add_message(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def call(self: Queue, message: Message) -> Any:
        result = method(self, message)
        _queue_of[message.id] = self
        _mark(message)
        return result

    return call


def _removing(method: Callable[..., Any], queue_of: Callable[..., Queue]) -> Callable[..., Any]:
    """A call that may remove messages from a queue: the ones gone are marked deleted."""

    @functools.wraps(method)
    def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        queue = queue_of(self, *args, **kwargs)
        before = {m.id for m in queue._messages}
        result = method(self, *args, **kwargs)
        after = {m.id for m in queue._messages}
        for message_id in before - after:
            if _queue_of.get(message_id) is queue:
                _mark_gone(message_id)
        return result

    return call


def install(journal: Journal) -> None:
    global _journal
    _journal = journal
    if getattr(Queue.add_message, "_sluice_durable", False):
        return
    for name in ("mark_sent", "mark_received", "change_visibility"):
        setattr(Message, name, _after(getattr(Message, name)))
    Queue.add_message = _add_message(Queue.add_message)  # type: ignore[method-assign]
    Queue.delete_message = _removing(  # type: ignore[method-assign]
        Queue.delete_message, lambda queue, *_: queue
    )
    SQSBackend.purge_queue = _removing(  # type: ignore[method-assign]
        SQSBackend.purge_queue, lambda backend, queue_name: backend.get_queue(queue_name)
    )
    Queue.add_message._sluice_durable = True  # type: ignore[attr-defined]


def restore(store: Store) -> int:
    """Put every stored message back in its queue (queues come from the template; a
    message whose queue no longer exists is dropped)."""
    restored = 0
    for message_id, value in store.load(KIND):
        account_id, region, queue_name, message = pickle.loads(value)
        queue = sqs_backends[account_id][region].queues.get(queue_name)
        if queue is None:
            _mark_gone(message_id)
            continue
        queue._messages.append(message)
        _queue_of[message.id] = queue
        restored += 1
    return restored
