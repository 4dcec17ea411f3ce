"""S3 objects, durable: one row per key, the current version's bytes and metadata.

PutObject (and CopyObject and CompleteMultipartUpload, which moto makes through it) and
DeleteObject (DeleteObjects too) mark the key; the row is read when the journal flushes,
so metadata the response sets after storing the object is in it. Restoring stores each
object again without sending notifications (they were sent when it was first written).
Only the current version is kept: older versions of a versioned bucket do not survive a
restart.
"""

from __future__ import annotations

import json
import pickle
from typing import Any

from moto.s3.models import FakeKey, S3Backend, s3_backends

from sluice.durable.rows import Rows

KIND = "s3"


def _written(backend: S3Backend, _: Any, *args: Any, **kwargs: Any) -> None:
    """After PutObject or DeleteObject of a key."""
    bucket_name = args[0] if args else kwargs["bucket_name"]
    key_name = args[1] if len(args) > 1 else kwargs["key_name"]
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

    ROWS.mark(json.dumps(where), snapshot)


def _put(_: str, value: bytes) -> bool:
    """Store every saved object again (buckets come from the template; objects of a bucket
    that no longer exists are dropped)."""
    saved = pickle.loads(value)
    account_id, partition, bucket_name, key_name = saved["where"]
    backend = s3_backends[account_id][partition]
    if bucket_name not in backend.buckets:
        return False
    key = backend.put_object(bucket_name, key_name, saved["value"], disable_notification=True)
    key.set_metadata(saved["metadata"])
    key.last_modified = saved["last_modified"]
    return True


_S3 = "moto.s3.models:S3Backend"
ROWS = Rows(KIND, {f"{_S3}.put_object": _written, f"{_S3}.delete_object": _written}, put=_put)
