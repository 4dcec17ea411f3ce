"""boto3 client factory, ARN helpers and JSON shaping shared by the trigger engine.

Everything in this package talks to AWS only through a ``ClientFactory`` so the same code
runs against real AWS, the local gateway, or moto's in-process mock.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import boto3
from botocore.config import Config


class ClientFactory(Protocol):
    """``client(service_name, **config_kwargs)``; config kwargs go to ``botocore.config.Config``."""

    def __call__(self, service_name: str, /, **config_kwargs: Any) -> Any: ...


def boto3_client_factory(
    *,
    endpoint_url: str | None = None,
    region_name: str | None = None,
    prepare: Callable[[Any], Any] | None = None,
    **client_kwargs: Any,
) -> ClientFactory:
    """A caching factory: one client per (service, config); boto3 clients are thread-safe.
    PREPARE, when given, is applied to each client once made and answers the client to use
    (the same one on another transport, or one in its place)."""
    cache: dict[tuple[str, str], Any] = {}
    lock = threading.Lock()

    def client(service_name: str, /, **config_kwargs: Any) -> Any:
        key = (service_name, repr(sorted(config_kwargs.items())))  # values may be dicts
        with lock:
            if key not in cache:
                cache[key] = boto3.client(
                    service_name,  # type: ignore[call-overload]
                    endpoint_url=endpoint_url,
                    region_name=region_name,
                    config=Config(**config_kwargs) if config_kwargs else None,
                    **client_kwargs,
                )
                if prepare is not None:
                    cache[key] = prepare(cache[key])
            return cache[key]

    return client


@dataclass(frozen=True)
class Arn:
    partition: str
    service: str
    region: str
    account: str
    resource: str

    @classmethod
    def parse(cls, arn: str) -> Arn:
        parts = arn.split(":", 5)
        if len(parts) != 6 or parts[0] != "arn":
            raise ValueError(f"not an ARN: {arn!r}")
        return cls(parts[1], parts[2], parts[3], parts[4], parts[5])


class QueueUrls:
    """Resolves SQS queue ARNs to URLs once; the gateway and moto both answer GetQueueUrl."""

    def __init__(self, client_factory: ClientFactory) -> None:
        self._client_factory = client_factory
        self._urls: dict[str, str] = {}
        self._lock = threading.Lock()

    def url(self, queue_arn: str) -> str:
        with self._lock:
            cached = self._urls.get(queue_arn)
        if cached is not None:
            return cached
        name = Arn.parse(queue_arn).resource
        url: str = self._client_factory("sqs").get_queue_url(QueueName=name)["QueueUrl"]
        with self._lock:
            self._urls[queue_arn] = url
        return url


def jsonable(value: Any) -> Any:
    """Make a boto3 response value JSON-serialisable the way AWS event payloads encode it:
    binary as base64 text and timestamps as epoch seconds."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [jsonable(v) for v in value]
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, datetime):
        return int(value.timestamp())
    return value
