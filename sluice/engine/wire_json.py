"""Answers written with `json.dumps` where moto's serializer would walk them by shape.

moto's response serializer visits a result value by value, guided by the API's shapes, to
pick each member's name and format. Results that are already in the wire's shape (plain
dicts with the API's member names) come out the same from `json.dumps`, given the two
values JSON has no type for, written as moto's JSON serializer writes them: timestamps in
epoch seconds (milliseconds kept) and binaries in base64. For a page of stream records or
an execution's history that is tens of milliseconds of CPU saved per call.
"""

from __future__ import annotations

import base64
import calendar
import datetime
import json

# The JSON protocol's content type, as moto answers Step Functions and DynamoDB Streams.
CONTENT_TYPE = "application/x-amz-json-1.0"


def _wire_value(value: object) -> object:
    if isinstance(value, datetime.datetime):
        seconds = calendar.timegm(value.timetuple())
        return seconds + (value.microsecond // 1000) / 1000 if value.microsecond else seconds
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    raise TypeError(f"{type(value).__name__} has no JSON protocol form here")


def dumps(result: object) -> str:
    return json.dumps(result, default=_wire_value)
