"""Answers written with `json.dumps` where moto's serializer would walk them by shape.

moto's response serializer visits a result value by value, guided by the API's shapes, to
pick each member's name and format. Results that are already in the wire's shape (plain
dicts with the API's member names) come out the same from `json.dumps`, given the two
values JSON has no type for, written as moto's JSON serializer writes them: timestamps in
epoch seconds (its own conversion) and binaries in base64. For a page of stream records or
an execution's history that is tens of milliseconds of CPU saved per call.
"""

from __future__ import annotations

import base64
import datetime
import functools
import json
from collections.abc import Callable
from typing import Any

from moto.core.common_types import TYPE_RESPONSE
from moto.core.responses import ActionResult
from moto.core.serialize import TimestampSerializer
from moto.core.utils import get_service_model

# The JSON protocol's content type, as moto answers Step Functions, DynamoDB and its Streams.
CONTENT_TYPE = "application/x-amz-json-1.0"

Serialized = Callable[[Any, ActionResult], TYPE_RESPONSE]


def _wire_value(value: object) -> object:
    if isinstance(value, datetime.datetime):
        return TimestampSerializer._timestamp_unixtimestamp(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    raise TypeError(f"{type(value).__name__} has no JSON protocol form here")


def dumps(result: object) -> str:
    return json.dumps(result, default=_wire_value)


def _output_members(service: str, action: str) -> frozenset[str]:
    """The top-level members of ACTION's output shape in SERVICE's model (botocore's)."""
    shape = get_service_model(service).operation_model(action).output_shape
    return frozenset(shape.members) if shape is not None else frozenset()


_members = functools.cache(_output_members)


def serialized_directly(actions: frozenset[str], moto_serialized: Serialized) -> Serialized:
    """A response class's `serialized` that writes the results of ACTIONS with `dumps`, and
    errors and every other action as moto does. As moto's serializer does, it leaves out
    the members a result carries outside the output shape (moto keeps some of its own
    there) and the ones set to None."""

    def serialized(self: Any, action_result: ActionResult) -> TYPE_RESPONSE:
        result = action_result.result
        action = self._get_action()
        if action in actions and isinstance(result, dict):
            members = _members(self.boto3_service_name, action)
            body = {k: v for k, v in result.items() if k in members and v is not None}
            return 200, {"content-type": CONTENT_TYPE}, dumps(body)
        return moto_serialized(self, action_result)

    return serialized
