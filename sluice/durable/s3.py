"""S3 objects, durable: one row per key, the current version's bytes and metadata.

PutObject (and CopyObject and CompleteMultipartUpload, which moto makes through it) and
DeleteObject (DeleteObjects too) mark the key; the row is read when the journal flushes,
so metadata the response sets after storing the object is in it. Restoring stores each
object again without sending notifications (they were sent when it was first written).
Only the current version is kept: older versions of a versioned bucket do not survive a
restart.
"""

from __future__ import annotations

import functools
import json
import pickle
from collections.abc import Callable
from typing import Any

from moto.s3.models import FakeKey, S3Backend, s3_backends

from sluice.durable.journal import Journal
from sluice.durable.store import Store

KIND = "s3"
_journal: Journal | None = None


def _mark(backend: S3Backend, bucket_name: str, key_name: str) -> None:
    if _journal is None:
        return
    where = (backend.account_id, backend.region_name, bucket_name, key_name)

    def snapshot() -> bytes | None:
        bucket = backend.buckets.get(bucket_name)
        key = bucket.keys.get(key_name) if bucket is not None else None
        if not isinstance(key, FakeKey):  # gone, or a delete marker
            return None
        return pickle.dumps(
            {
                "where": where,
                "value": key.value,
                "metadata": dict(key.metadata),
                "last_modified": key.last_modified,
            }
        )

    _journal.mark(KIND, json.dumps(where), snapshot)


def _marking(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def call(self: S3Backend, bucket_name: str, key_name: str, *args: Any, **kwargs: Any) -> Any:
        result = method(self, bucket_name, key_name, *args, **kwargs)
        _mark(self, bucket_name, key_name)
        return result

    return call


def install(journal: Journal) -> None:
    global _journal
    _journal = journal
    if getattr(S3Backend.put_object, "_sluice_durable", False):
        return
    S3Backend.put_object = _marking(S3Backend.put_object)  # type: ignore[method-assign]
    S3Backend.delete_object = _marking(S3Backend.delete_object)  # type: ignore[method-assign]
    S3Backend.put_object._sluice_durable = True  # type: ignore[attr-defined]


def restore(store: Store) -> int:
    """Store every saved object again (buckets come from the template; objects of a bucket
    that no longer exists are dropped)."""
    restored = 0
    for row_key, value in store.load(KIND):
        saved = pickle.loads(value)
        account_id, partition, bucket_name, key_name = saved["where"]
        backend = s3_backends[account_id][partition]
        if bucket_name not in backend.buckets:
            store.write([(KIND, row_key, None)])
            continue
        key = backend.put_object(bucket_name, key_name, saved["value"], disable_notification=True)
        key.set_metadata(saved["metadata"])
        key.last_modified = saved["last_modified"]
        restored += 1
    return restored
