"""DynamoDB stream records and stream consumers' positions, durable.

Each record a table's stream gets is saved as it is added (one row per record, under its
table and sequence number) and put back in order on restore, with its sequence number,
event id and images unchanged. A pipe reading the stream saves its position (the last
sequence number of each batch it delivered or sent to its dead-letter queue) right after
the batch, so after a restart it resumes after the last finished batch: a batch that was
in flight is delivered again (at least once, as on AWS).
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Callable
from typing import Any, cast

from moto.dynamodb.models import dynamodb_backends
from moto.dynamodb.models.table import StreamRecord, StreamShard

from sluice.durable.rows import Rows
from sluice.durable.store import Store

KIND = "streams"
POSITIONS = "stream-positions"


def _added(shard: StreamShard, *_: Any, **__: Any) -> None:
    """After a record was added to a table's stream."""
    if ROWS.journal is None or not shard.items:
        return
    table = shard.table
    record: dict[str, Any] = shard.items[-1].record
    seq = int(record["dynamodb"]["SequenceNumber"])
    where = [table.account_id, table.region_name, table.name]
    value = pickle.dumps([*where, record])
    ROWS.mark(json.dumps([*where, f"{seq:040d}"]), lambda: value)


def _put(_: str, value: bytes) -> bool:
    """Put every saved record back on its table's stream, in sequence order (keys sort by
    table, then sequence number; a table without a stream now loses them)."""
    account_id, region, table_name, record = pickle.loads(value)
    table = dynamodb_backends[account_id][region].tables.get(table_name)
    if table is None or table.stream_shard is None:
        return False
    item = cast(StreamRecord, StreamRecord.__new__(StreamRecord))
    item.record = record
    table.stream_shard.items.append(item)
    return True


ROWS = Rows(KIND, {"moto.dynamodb.models.table:StreamShard.add": _added}, put=_put)


class Positions:
    """Where each pipe is in each stream shard: the last sequence number it finished."""

    def __init__(self, store: Store, before_write: Callable[[], None] = lambda: None) -> None:
        self._store = store
        self._before_write = before_write
        self.resumed = False
        self._saved = {key: value.decode() for key, value in store.load(POSITIONS)}

    @staticmethod
    def _key(pipe: str, shard_id: str) -> str:
        return json.dumps([pipe, shard_id])

    def get(self, pipe: str, shard_id: str) -> str | None:
        return self._saved.get(self._key(pipe, shard_id))

    def put(self, pipe: str, shard_id: str, sequence_number: str) -> None:
        key = self._key(pipe, shard_id)
        self._saved[key] = sequence_number
        self._before_write()
        self._store.write([(POSITIONS, key, sequence_number.encode())])
