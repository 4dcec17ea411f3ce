"""DynamoDB items, durable: one row per item, written after each successful write.

The backend's item writes (PutItem, UpdateItem, DeleteItem, and the writes of
BatchWriteItem and TransactWriteItems, which moto makes through them) mark the key they
wrote; the row is the item's attributes as DynamoDB JSON, read under the backend's item
lock when the journal flushes (a rolled-back transaction is read as it is after the
rollback), or nothing once the item is deleted. Restoring puts the items back without
adding stream records: what a stream had already delivered is not delivered again.
"""

from __future__ import annotations

import json
from typing import Any

from moto.dynamodb.models import DynamoDBBackend, dynamodb_backends
from moto.dynamodb.models.dynamo_type import DynamoType

from sluice.durable.rows import Rows
from sluice.dynamodb_atomic import _lock_of

KIND = "dynamodb"


def _mark(backend: DynamoDBBackend, table_name: str, attrs: dict[str, Any]) -> None:
    if ROWS.journal is None:
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

    ROWS.mark(row_key, snapshot)


def _written(backend: DynamoDBBackend, _: Any, *args: Any, **kwargs: Any) -> None:
    """After PutItem (its item), UpdateItem or DeleteItem (its key)."""
    table_name = args[0] if args else kwargs["table_name"]
    attrs = args[1] if len(args) > 1 else kwargs.get("item_attrs") or kwargs["key"]
    _mark(backend, table_name, attrs)


def _put(_: str, value: bytes) -> bool:
    """Put every stored item back in its table (tables come from the template; items of a
    table that no longer exists are dropped)."""
    account_id, region, table_name, attrs = json.loads(value)
    table = dynamodb_backends[account_id][region].tables.get(table_name)
    if table is None:
        return False
    # Without stream records: what a stream had already delivered is not delivered again.
    stream, table.stream_shard = table.stream_shard, None
    try:
        table.put_item(attrs)
    finally:
        table.stream_shard = stream
    return True


_DDB = "moto.dynamodb.models:DynamoDBBackend"
ROWS = Rows(
    KIND,
    {f"{_DDB}.{name}": _written for name in ("put_item", "update_item", "delete_item")},
    put=_put,
)
