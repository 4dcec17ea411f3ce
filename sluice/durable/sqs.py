"""SQS messages, durable: one row per message, its queue and its whole state.

A row holds the message as moto keeps it (body, attributes, receive count, receipt
handles, `visible_at`, `delayed_until`), so a message that was in flight when the stack
stopped is in flight after the restart and becomes visible again when its visibility
timeout ends, as on AWS. Marks come from moto's models, whoever changed the message: a
send, a receive, a visibility change, S3's notification, the move to a dead-letter queue.
"""

from __future__ import annotations

import pickle
from typing import Any

from moto.sqs.models import Message, Queue, SQSBackend, sqs_backends

from sluice.durable.rows import Rows

KIND = "sqs"
# message id -> the queue holding it (a message is marked before and after it moves).
_queue_of: dict[str, Queue] = {}


def _changed(message: Message, *_: Any, **__: Any) -> None:
    """After a send, a receive or a visibility change of MESSAGE."""
    queue = _queue_of.get(message.id)
    if queue is not None:
        ROWS.mark(
            message.id,
            lambda: pickle.dumps((queue.account_id, queue.region, queue.name, message)),
        )


def _added(queue: Queue, _: Any, *args: Any, **kwargs: Any) -> None:
    message: Message = args[0] if args else kwargs["message"]
    _queue_of[message.id] = queue
    _changed(message)


def _removed_from(queue: Queue) -> None:
    """After a call that may have removed messages from QUEUE: the ones gone are deleted."""
    held = {m.id for m in queue._messages}
    gone = [mid for mid, q in list(_queue_of.items()) if q is queue and mid not in held]
    for message_id in gone:
        _queue_of.pop(message_id, None)
        ROWS.mark(message_id, lambda: None)


def _deleted(queue: Queue, *_: Any, **__: Any) -> None:
    _removed_from(queue)


def _purged(backend: SQSBackend, _: Any, *args: Any, **kwargs: Any) -> None:
    _removed_from(backend.get_queue(args[0] if args else kwargs["queue_name"]))


def _put(_: str, value: bytes) -> bool:
    """Put every stored message back in its queue (queues come from the template; a
    message whose queue no longer exists is dropped)."""
    account_id, region, queue_name, message = pickle.loads(value)
    queue = sqs_backends[account_id][region].queues.get(queue_name)
    if queue is None:
        return False
    queue._messages.append(message)
    _queue_of[message.id] = queue
    return True


_SQS = "moto.sqs.models"
ROWS = Rows(
    KIND,
    {
        f"{_SQS}:Message.mark_sent": _changed,
        f"{_SQS}:Message.mark_received": _changed,
        f"{_SQS}:Message.change_visibility": _changed,
        f"{_SQS}:Queue.add_message": _added,
        f"{_SQS}:Queue.delete_message": _deleted,
        f"{_SQS}:SQSBackend.purge_queue": _purged,
    },
    put=_put,
)
