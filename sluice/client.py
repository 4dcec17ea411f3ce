"""Talking to a running gateway: boto3 clients, the deployed catalogue, flows by name."""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from sluice.aws_client import client as boto_client

DEFAULT_ENDPOINT = "http://127.0.0.1:4566"
TERMINAL = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")
# A running stack's catalogue, rewritten on each deploy, in its data directory.
STACK_FILE = "stack.json"


class SluiceError(Exception):
    """A user-facing error: the CLI prints its message on one line and exits 1."""


class UsageError(SluiceError):
    """A command line the CLI cannot act on (bad JSON input, KEY=VALUE, ...): exit 2."""


ENDPOINT_ENV = ("SLUICE_ENDPOINT", "AWS_ENDPOINT_URL")  # the first one set wins


def endpoint() -> str:
    for name in ENDPOINT_ENV:
        if os.environ.get(name):
            return os.environ[name]
    return DEFAULT_ENDPOINT


def catalogue_flows(stack: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A deployed catalogue's state machines by flow name (the name without the stack prefix)."""
    prefix = f"{stack['stack_name']}-"
    return {
        res["name"].removeprefix(prefix): res
        for res in stack["resources"].values()
        if res["type"] == "AWS::Serverless::StateMachine"
    }


@dataclass
class Gateway:
    url: str
    # One boto3 client per service and config, kept: a client costs milliseconds of CPU to
    # make and opens its own connections, and a test polling the stack would otherwise make
    # one per probe. Low-level boto3 clients are thread safe; making one is not.
    _clients: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)
    _clients_lock: threading.Lock = field(
        default_factory=threading.Lock, init=False, repr=False, compare=False
    )

    def get(self, path: str) -> Any:
        return self._call(urllib.request.Request(self.url + path))

    def post(self, path: str, body: Any = None) -> Any:
        data = json.dumps(body or {}).encode()
        return self._call(urllib.request.Request(self.url + path, data=data, method="POST"))

    def delete(self, path: str) -> Any:
        return self._call(urllib.request.Request(self.url + path, method="DELETE"))

    def _call(self, request: urllib.request.Request) -> Any:
        try:
            with urllib.request.urlopen(request, timeout=120) as resp:
                return json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")
            with contextlib.suppress(json.JSONDecodeError, AttributeError):
                detail = json.loads(detail).get("error", detail)
            raise SluiceError(f"{request.full_url}: {detail}") from None
        except (urllib.error.URLError, ConnectionError) as exc:
            raise SluiceError(
                f"no Sluice gateway at {self.url} ({getattr(exc, 'reason', exc)}); "
                "start one with `sluice up`"
            ) from None

    def client(self, service: str, **config: Any) -> Any:
        key = f"{service} {sorted(config.items())!r}"
        with self._clients_lock:
            if key not in self._clients:
                self._clients[key] = boto_client(self.url, service, **config)
            return self._clients[key]

    def stack(self) -> dict[str, Any]:
        stack: dict[str, Any] = self.get("/_sluice/stack")
        if not stack:
            raise SluiceError(f"the gateway at {self.url} has no stack deployed yet")
        return stack

    def resource_name(self, logical_id: str) -> str:
        """The deployed name of the template's resource LOGICAL_ID (a table, bucket, bus...)."""
        return str(self.stack()["resources"][logical_id]["name"])

    def flows(self) -> dict[str, dict[str, Any]]:
        """Deployed state machines by flow name (the name without the stack prefix)."""
        return catalogue_flows(self.stack())

    def flow_arn(self, flow: str) -> str:
        flows = self.flows()
        if flow in flows:
            return str(flows[flow]["arn"])
        known = ", ".join(sorted(flows)) or "none"
        raise SluiceError(f"unknown flow {flow!r} (deployed flows: {known})")

    def wait_execution(self, arn: str, timeout: float = 120) -> dict[str, Any]:
        sfn = self.client("stepfunctions")
        deadline = time.time() + timeout
        delay = 0.02
        while True:
            desc: dict[str, Any] = sfn.describe_execution(executionArn=arn)
            if desc["status"] in TERMINAL:
                return desc
            if time.time() > deadline:
                raise SluiceError(f"{arn} still {desc['status']} after {timeout:.0f} s")
            time.sleep(delay)
            delay = min(delay * 1.5, 0.5)

    def resolve_execution(self, ref: str) -> str:
        """An execution ARN from an ARN or a (unique prefix of an) execution name."""
        if ref.startswith("arn:"):
            return ref
        sfn = self.client("stepfunctions")
        matches = []
        for flow in self.flows().values():
            for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=flow["arn"]):
                matches += [
                    e["executionArn"] for e in page["executions"] if e["name"].startswith(ref)
                ]
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise SluiceError(f"no execution named {ref!r}")
        raise SluiceError(f"{len(matches)} executions match {ref!r}; give more of the name")
