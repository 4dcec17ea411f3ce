"""DynamoDB items, durable: one row per item, written after each successful write.

The backend's item writes (PutItem, UpdateItem, DeleteItem, and the writes of
BatchWriteItem and TransactWriteItems, which moto makes through them) mark the key they
wrote; the row is the item's attributes as DynamoDB JSON, read under the backend's item
lock when the journal flushes (a rolled-back transaction is read as it is after the
rollback), or nothing once the item is deleted. Restoring puts the items back without
adding stream records: what a stream had already delivered is not delivered again.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable
from typing import Any

from moto.dynamodb.models import DynamoDBBackend, dynamodb_backends
from moto.dynamodb.models.dynamo_type import DynamoType

from sluice.durable.journal import Journal
from sluice.durable.store import Store
from sluice.dynamodb_atomic import _lock_of

KIND = "dynamodb"
_journal: Journal | None = None


def _mark(backend: DynamoDBBackend, table_name: str, attrs: dict[str, Any]) -> None:
    if _journal is None:
        return
    try:
        table = backend.get_table(table_name)  # a name or an ARN
    except Exception:
        return
    table_name = table.name
    if table.hash_key_attr not in attrs:
        return
    hash_key = attrs[table.hash_key_attr]
    range_key = attrs.get(table.range_key_attr) if table.range_key_attr else None
    where = [backend.account_id, backend.region_name, table_name]
    row_key = json.dumps([*where, hash_key, range_key], sort_keys=True)

    def snapshot() -> bytes | None:
        with _lock_of(backend):
            current = backend.tables.get(table_name)
            if current is None:
                return None
            item = current.get_item(
                DynamoType(hash_key), DynamoType(range_key) if range_key else None
            )
            if item is None:
                return None
            return json.dumps([*where, item.to_json()["Attributes"]]).encode()

    _journal.mark(KIND, row_key, snapshot)


def _marking(
    method: Callable[..., Any],
    written: Callable[..., Iterable[tuple[str, dict[str, Any]]]],
) -> Callable[..., Any]:
    """The write, then a mark of every key it wrote (nothing when it raised)."""

    @functools.wraps(method)
    def call(self: DynamoDBBackend, *args: Any, **kwargs: Any) -> Any:
        result = method(self, *args, **kwargs)
        for table_name, attrs in written(*args, **kwargs):
            _mark(self, table_name, attrs)
        return result

    return call


def _one(table_name: str, attrs: dict[str, Any], *_: Any, **__: Any) -> Iterable[Any]:
    return [(table_name, attrs)]


def install(journal: Journal) -> None:
    global _journal
    _journal = journal
    if getattr(DynamoDBBackend.put_item, "_sluice_durable", False):
        return
    for name in ("put_item", "update_item", "delete_item"):
        setattr(DynamoDBBackend, name, _marking(getattr(DynamoDBBackend, name), _one))
    DynamoDBBackend.put_item._sluice_durable = True  # type: ignore[attr-defined]


def restore(store: Store) -> int:
    """Put every stored item back in its table (tables come from the template; items of a
    table that no longer exists are dropped)."""
    restored = 0
    for row_key, value in store.load(KIND):
        account_id, region, table_name, attrs = json.loads(value)
        table = dynamodb_backends[account_id][region].tables.get(table_name)
        if table is None:
            store.write([(KIND, row_key, None)])
            continue
        stream, table.stream_shard = table.stream_shard, None
        try:
            table.put_item(attrs)
        finally:
            table.stream_shard = stream
        restored += 1
    return restored
