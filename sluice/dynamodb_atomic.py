"""DynamoDB item operations are atomic, as on AWS.

moto's conditional write reads the current item, evaluates the ConditionExpression (parsing
it first) and then stores the new item, all in Python with no lock. The gateway answers
requests on many threads and the engine's service integrations run on many more, so two
conditional PutItems on one key could both read "no item", both pass
`attribute_not_exists(pk)` and both succeed: measured, 5 of 150 rounds of 20 concurrent
puts had two winners. On AWS a conditional write is atomic per item; an idempotency claim
depends on that.

Every data-plane call of a DynamoDB backend (reads, writes, transactions, PartiQL) is
serialized by one reentrant lock per backend (account and region). The calls are short and
hold the GIL anyway, so serializing them costs little; reads are inside too so that a
consistent read never sees an UpdateItem half applied (moto updates the stored item in
place).
"""

from __future__ import annotations

import functools
import threading
import weakref
from collections.abc import Callable
from typing import Any

from moto.dynamodb.models import DynamoDBBackend

# The backend methods the responses call for items (control-plane calls are left alone).
ITEM_OPERATIONS = (
    "put_item",
    "get_item",
    "update_item",
    "delete_item",
    "query",
    "scan",
    "transact_write_items",
    "execute_statement",
    "execute_transaction",
    "batch_execute_statement",
)

_locks_guard = threading.Lock()
_locks: weakref.WeakKeyDictionary[DynamoDBBackend, threading.RLock] = weakref.WeakKeyDictionary()


def _lock_of(backend: DynamoDBBackend) -> threading.RLock:
    with _locks_guard:
        lock = _locks.get(backend)
        if lock is None:
            lock = _locks[backend] = threading.RLock()
        return lock


def serialized(method: Callable[..., Any]) -> Callable[..., Any]:
    """METHOD of a DynamoDB backend, run under that backend's item lock (installed on
    moto's class, for each of ITEM_OPERATIONS, by sluice/engine/moto_seam.py)."""

    @functools.wraps(method)
    def call(self: DynamoDBBackend, *args: Any, **kwargs: Any) -> Any:
        with _lock_of(self):
            return method(self, *args, **kwargs)

    return call
