"""S3 event notifications to SQS: the fields moto leaves out, and a hold for tests.

moto builds notification bodies without `s3.object.sequencer`, the field AWS documents
for ordering the events of one key (notification-content-structure: hexadecimal; to
compare two, right-pad the shorter with zeros, then compare as strings). `wrap()` (applied
to moto's notification functions by sluice/engine/moto_seam.py) adds one to every event:
a value that only grows (nanoseconds since the epoch, at least one more than the last, as
16 upper-case hex digits), so a later write of a key always has the larger sequencer. One
event has one sequencer, whichever destinations it goes to. It also adds the other fields
that structure documents and moto omits (`userIdentity`, `requestParameters`,
`responseElements`, the bucket's `ownerIdentity`), so a consumer parsing the documented
shape (e.g. Powertools' S3 models) reads a local event as an AWS one.

A notification reaches its queue while the PutObject request is still being answered, so
a test cannot deliver two events of one key in another order than they happened. A *hold*
keeps back the S3 -> SQS notifications of a bucket's keys under a prefix
(`POST /_sluice/s3-notifications/hold {"bucket", "prefix"}`); `GET /_sluice/s3-notifications`
lists the holds and the notifications held; `POST /_sluice/s3-notifications/release
{"ids": [...]}` sends held notifications to their queues in the order given (all, oldest
first, without `ids`); `DELETE /_sluice/s3-notifications` ends every hold and drops what
is still held. S3 itself delivers at least once and in no guaranteed order, which is what
a hold lets a test reproduce.

Not covered: the EventBridge destination (moto builds that event whole, with a constant
sequencer), SNS and Lambda destinations (no hold; they do get the sequencer).
"""

from __future__ import annotations

import base64
import json
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

StartResponse = Callable[..., Any]
ENDPOINT = "/_sluice/s3-notifications"

_lock = threading.Lock()
_last = 0
_current = threading.local()


def next_sequencer() -> str:
    """A sequencer larger than every one given before (in this process and, being time
    based, in earlier runs of the stack)."""
    global _last
    with _lock:
        _last = max(_last + 1, time.time_ns())
        return f"{_last:016X}"


@dataclass(frozen=True)
class Hold:
    bucket: str
    prefix: str

    def covers(self, body: dict[str, Any]) -> bool:
        for record in body.get("Records") or []:
            s3 = record.get("s3") or {}
            key = unquote_plus(str((s3.get("object") or {}).get("key", "")))
            if (s3.get("bucket") or {}).get("name") == self.bucket and key.startswith(self.prefix):
                return True
        return False


@dataclass(frozen=True)
class Held:
    id: str
    account_id: str
    queue_name: str
    region_name: str
    body: dict[str, Any]

    def view(self) -> dict[str, Any]:
        return {"id": self.id, "queue": self.queue_name, "body": self.body}


class Holds:
    def __init__(self, send: Callable[[str, Any, str, str], None]) -> None:
        self._send = send
        self._lock = threading.Lock()
        self._holds: list[Hold] = []
        self._held: list[Held] = []

    def keep(self, account_id: str, body: Any, queue_name: str, region_name: str) -> bool:
        """Hold the notification if a hold covers it; False sends it as usual."""
        with self._lock:
            if not isinstance(body, dict) or not any(h.covers(body) for h in self._holds):
                return False
            held = Held(str(uuid.uuid4()), account_id, queue_name, region_name, body)
            self._held.append(held)
            return True

    def hold(self, bucket: str, prefix: str) -> None:
        with self._lock:
            if Hold(bucket, prefix) not in self._holds:
                self._holds.append(Hold(bucket, prefix))

    def state(self) -> dict[str, Any]:
        with self._lock:
            return {
                "holds": [vars(h) for h in self._holds],
                "held": [h.view() for h in self._held],
            }

    def release(self, ids: list[str] | None) -> list[str]:
        """Send held notifications in the order of IDS (all when None); KeyError names an
        id that is not held, and then nothing is sent."""
        with self._lock:
            by_id = {h.id: h for h in self._held}
            order = [h.id for h in self._held] if ids is None else ids
            missing = [i for i in order if i not in by_id]
            if missing:
                raise KeyError(missing[0])
            chosen = [by_id[i] for i in order]
            self._held = [h for h in self._held if h.id not in set(order)]
        for held in chosen:
            self._send(held.account_id, held.body, held.queue_name, held.region_name)
        return [h.id for h in chosen]

    def clear(self) -> list[dict[str, Any]]:
        with self._lock:
            dropped = [h.view() for h in self._held]
            self._holds, self._held = [], []
            return dropped


HOLDS: Holds | None = None


def documented_fields(record: dict[str, Any], account_id: str) -> None:
    """Fill in RECORD's fields that notification-content-structure documents and moto omits."""
    record.setdefault("userIdentity", {"principalId": f"AWS:{account_id}"})
    record.setdefault("requestParameters", {"sourceIPAddress": "127.0.0.1"})
    record.setdefault(
        "responseElements",
        {
            "x-amz-request-id": os.urandom(8).hex().upper(),
            "x-amz-id-2": base64.b64encode(os.urandom(48)).decode(),
        },
    )
    record["s3"]["bucket"].setdefault("ownerIdentity", {"principalId": account_id})


def wrap(
    send_event: Callable[..., None],
    get_s3_event: Callable[..., dict[str, Any]],
    send_sqs_message: Callable[..., None],
) -> tuple[Callable[..., None], Callable[..., dict[str, Any]], Callable[..., None]]:
    """moto's notification functions with the sequencer and the hold (once per process)."""
    global HOLDS
    HOLDS = Holds(send_sqs_message)
    holds = HOLDS

    def send_event_with_sequencer(*args: Any, **kwargs: Any) -> None:
        _current.sequencer = next_sequencer()
        try:
            send_event(*args, **kwargs)
        finally:
            _current.sequencer = None

    def s3_event_with_sequencer(
        event_name: str, bucket: Any, key: Any, notification_id: str
    ) -> dict[str, Any]:
        event: dict[str, Any] = get_s3_event(event_name, bucket, key, notification_id)
        sequencer = getattr(_current, "sequencer", None) or next_sequencer()
        for record in event.get("Records", []):
            record["s3"]["object"]["sequencer"] = sequencer
            documented_fields(record, bucket.account_id)
        return event

    def send_sqs_message_unless_held(
        account_id: str, event_body: Any, queue_name: str, region_name: str
    ) -> None:
        if not holds.keep(account_id, event_body, queue_name, region_name):
            send_sqs_message(account_id, event_body, queue_name, region_name)

    return send_event_with_sequencer, s3_event_with_sequencer, send_sqs_message_unless_held


def endpoint(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    """The hold's HTTP API (see the module docstring)."""
    assert HOLDS is not None, "engine.install() was not called (it wraps moto's notifications)"
    path = environ["PATH_INFO"][len(ENDPOINT) :].strip("/")
    method = environ["REQUEST_METHOD"]
    length = int(environ.get("CONTENT_LENGTH") or 0)
    try:
        req = json.loads(environ["wsgi.input"].read(length) or b"{}") if length else {}
        if not isinstance(req, dict):
            raise ValueError("the body must be a JSON object")
        if path == "" and method == "GET":
            return _answer(start_response, 200, HOLDS.state())
        if path == "" and method == "DELETE":
            return _answer(start_response, 200, {"dropped": HOLDS.clear()})
        if path == "hold" and method == "POST":
            bucket, prefix = req.get("bucket"), req.get("prefix", "")
            if not isinstance(bucket, str) or not bucket or not isinstance(prefix, str):
                raise ValueError('body must be {"bucket": "name", "prefix": "key prefix"}')
            HOLDS.hold(bucket, prefix)
            return _answer(start_response, 200, HOLDS.state())
        if path == "release" and method == "POST":
            ids = req.get("ids")
            if ids is not None and not (
                isinstance(ids, list) and all(isinstance(i, str) for i in ids)
            ):
                raise ValueError('"ids" must be a list of held notification ids')
            try:
                return _answer(start_response, 200, {"released": HOLDS.release(ids)})
            except KeyError as exc:
                return _answer(start_response, 404, {"error": f"not held: {exc.args[0]}"})
    except (ValueError, json.JSONDecodeError) as exc:
        return _answer(start_response, 400, {"error": str(exc)})
    return _answer(start_response, 404, {"error": f"no such endpoint: {method} {path}"})


def _answer(start_response: StartResponse, status: int, body: Any) -> list[bytes]:
    data = json.dumps(body).encode()
    start_response(
        f"{status} {'OK' if status < 400 else 'Error'}",
        [("Content-Type", "application/json"), ("Content-Length", str(len(data)))],
    )
    return [data]
