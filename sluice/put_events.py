"""EventBridge's PutEvents as the gateway answers it: the request size limit, measured as
EventBridge measures it, and the envelope in which a put entry reaches rule targets."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from sluice import engine
from sluice.triggers.rule_events import Envelope

# PutEvents: the entries of one request, measured as EventBridge documents it
# (`entries_size`), may not exceed this. The limit was 256 KB until 29 January 2026, when
# EventBridge event buses (with SQS and asynchronous Lambda) went to 1 MB:
# https://aws.amazon.com/blogs/compute/more-room-to-build-serverless-services-now-support-payloads-up-to-1-mb
PUT_EVENTS_MAX_BYTES = 1024 * 1024


def entries_size(entries: list[Any]) -> int:
    """The size of PutEvents entries as EventBridge calculates it (eb-putevent-size): 14
    bytes for a `Time`, plus the UTF-8 bytes of `Source`, `DetailType`, `Detail` and each
    of `Resources`. Other fields (`EventBusName`, `TraceHeader`) do not count."""
    size = 0
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        if entry.get("Time") is not None:
            size += 14
        for name in ("Source", "DetailType", "Detail"):
            if isinstance(entry.get(name), str):
                size += len(entry[name].encode("utf-8"))
        for resource in entry.get("Resources") or []:
            if isinstance(resource, str):
                size += len(resource.encode("utf-8"))
    return size


def envelope(entry: dict[str, Any], event_id: str) -> Envelope:
    """The event as EventBridge hands it to targets, its Detail's text kept (Envelope)."""
    detail = entry.get("Detail") or "{}"
    event = Envelope(
        {
            "version": "0",
            "id": event_id or str(uuid.uuid4()),
            "detail-type": entry.get("DetailType", ""),
            "source": entry.get("Source", ""),
            "account": engine.ACCOUNT_ID,
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "region": engine.REGION,
            "resources": entry.get("Resources", []),
            "detail": json.loads(detail),
            "_bus": (entry.get("EventBusName") or "default").rsplit("/", 1)[-1],
        }
    )
    event.detail_text = detail
    return event
