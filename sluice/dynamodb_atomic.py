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
consistent read never sees an UpdateItem half applied.

moto's UpdateItem changes the stored item in place, while the answers to earlier reads
and writes, which hold that same item, are being serialised outside the lock: a reader's
GetItem failed ("dictionary changed size during iteration", an AmazonDynamoDBException in
a state machine) when an update added an attribute meanwhile. So an update first stores a
copy of the item and changes that (copy on write): an item a request was answered with
never changes afterwards, as an answer on AWS does not.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable
from typing import Any

from moto.dynamodb.exceptions import MockValidationException
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.table import Table

from sluice.object_locks import LocksByObject

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

_LOCKS = LocksByObject()
_lock_of = _LOCKS.of  # a backend's item lock (durable/dynamodb.py reads items under it)
# METHOD of a DynamoDB backend, run under that backend's item lock (installed on moto's
# class, for each of ITEM_OPERATIONS, by sluice/engine/moto_services.py).
serialized = _LOCKS.serialized


def copied_on_write(update_item: Callable[..., Any]) -> Callable[..., Any]:
    """moto's DynamoDBBackend.update_item (serialized by `serialized`), changing a copy of
    the stored item that replaces it rather than the item earlier answers hold."""

    @functools.wraps(update_item)
    def call(
        self: DynamoDBBackend, table_name: str, key: dict[str, Any], *args: Any, **kw: Any
    ) -> Any:
        with _lock_of(self):
            table = self.tables.get(table_name)
            if table is not None:
                _store_a_copy(self, table, key)
            return update_item(self, table_name, key, *args, **kw)

    return call


def _store_a_copy(backend: DynamoDBBackend, table: Table, key: dict[str, Any]) -> None:
    """Replace the item stored under KEY (if any) by a deep copy of it."""
    try:
        hash_value, range_value = backend.get_keys_value(table, key)
    except MockValidationException:
        return  # update_item answers the same error
    item = table.get_item(hash_value, range_value)
    if item is None:
        return
    items: Any = table.items  # [hash] or [hash][range], as the table has a range key or not
    if range_value is None:
        items[hash_value] = copy.deepcopy(item)
    else:
        items[hash_value][range_value] = copy.deepcopy(item)
