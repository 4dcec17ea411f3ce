"""Overheads of the embedded engine that cost time without adding fidelity, removed.

- moto's server resolves every request's backend by listing moto's package directory
  (hundreds of `isdir` calls, under one lock shared by all requests): the listing never
  changes while the process runs, so it is read once.
- The engine lexes and parses the whole ASL definition with ANTLR and builds its
  evaluation components again for every execution (about half of a short execution's
  CPU). The components are declarations: everything an execution changes lives in its
  own Environment (variables, heap, frames, history), so one program per definition text
  is built and shared. The one lazily written attribute, the heap key, is made
  thread-safe. Editing a machine changes its definition text and so builds anew.
- Lambda tasks reached the runtime over HTTP to the gateway, through botocore's request
  signing and the socket, although the engine runs in the gateway's own process. With an
  in-process invoker registered, the engine's Lambda client calls the runtime directly and
  answers exactly as Lambda's Invoke API does (same status, payload, FunctionError and
  errors for unknown functions).
"""

from __future__ import annotations

import io
import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

# (function name or ARN, event) -> (payload bytes, FunctionError or None, request id);
# KeyError when there is no such function.
LambdaInvoker = Callable[[str, Any], tuple[bytes, str | None, str]]

_invoker: LambdaInvoker | None = None
_PROGRAMS_KEPT = 256


def install() -> None:
    """Apply the caches (idempotent)."""
    _list_moto_modules_once()
    _cache_programs()


def use_in_process_lambda(invoker: LambdaInvoker | None) -> None:
    """Route the engine's Lambda invocations to `invoker` (None: back to HTTP)."""
    global _invoker
    _invoker = invoker


def in_process_lambda_client() -> InProcessLambda | None:
    return InProcessLambda(_invoker) if _invoker is not None else None


class InProcessLambda:
    """The part of boto3's Lambda client the engine uses: `invoke`."""

    def __init__(self, invoker: LambdaInvoker) -> None:
        self._invoke = invoker

    def invoke(
        self,
        FunctionName: str,
        Payload: str | bytes | None = None,
        InvocationType: str = "RequestResponse",
        Qualifier: str | None = None,
        **_: Any,
    ) -> dict[str, Any]:
        raw = Payload.encode() if isinstance(Payload, str) else (Payload or b"{}")
        try:
            event = json.loads(raw) if raw else {}
        except json.JSONDecodeError as exc:
            raise _client_error(400, "InvalidRequestContentException", str(exc)) from exc
        if InvocationType == "Event":
            threading.Thread(target=self._call, args=(FunctionName, event), daemon=True).start()
            return {"StatusCode": 202, "Payload": io.BytesIO(b"")}
        payload, function_error, request_id = self._call(FunctionName, event)
        response: dict[str, Any] = {
            "StatusCode": 200,
            "ExecutedVersion": "$LATEST",
            "Payload": io.BytesIO(payload),
            "ResponseMetadata": {"RequestId": request_id, "HTTPStatusCode": 200},
        }
        if function_error:
            response["FunctionError"] = function_error
        return response

    def _call(self, function: str, event: Any) -> tuple[bytes, str | None, str]:
        try:
            return self._invoke(function, event)
        except KeyError:
            raise _client_error(
                404, "ResourceNotFoundException", f"Function not found: {function}"
            ) from None


def _client_error(status: int, code: str, message: str) -> ClientError:
    response: Any = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(response, "Invoke")


def _list_moto_modules_once() -> None:
    from moto import backends

    if getattr(backends.list_of_moto_modules, "_sluice_cached", False):
        return
    modules = tuple(backends.list_of_moto_modules())

    def list_of_moto_modules() -> tuple[str, ...]:
        return modules

    list_of_moto_modules._sluice_cached = True  # type: ignore[attr-defined]
    backends.list_of_moto_modules = list_of_moto_modules


def _cache_programs() -> None:
    from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent
    from moto.stepfunctions.parser.asl.parse import asl_parser

    parser_cls = asl_parser.AmazonStateLanguageParser
    if getattr(parser_cls, "_sluice_cached", False):
        return
    original = parser_cls.parse
    programs: OrderedDict[str, tuple[Any, Any]] = OrderedDict()
    lock = threading.Lock()

    def parse(definition: str) -> tuple[Any, Any]:
        with lock:
            parsed = programs.get(definition)
            if parsed is not None:
                programs.move_to_end(definition)
                return parsed
        # Syntax errors raise here, exactly as before, and nothing is cached.
        parsed = original(definition)
        with lock:
            programs[definition] = parsed
            while len(programs) > _PROGRAMS_KEPT:
                programs.popitem(last=False)
        return parsed

    # A component's heap key names its per-execution data (retry attempts) in each
    # execution's own heap; it is created lazily, so a shared component must create it
    # once even when two executions ask at the same moment.
    keys_lock = threading.Lock()
    original_key = EvalComponent.heap_key.fget  # type: ignore[attr-defined]

    def heap_key(self: Any) -> str:
        with keys_lock:
            key: str = original_key(self)
            return key

    EvalComponent.heap_key = property(heap_key)  # type: ignore[method-assign,assignment]
    parser_cls.parse = staticmethod(parse)  # type: ignore[method-assign]
    parser_cls._sluice_cached = True  # type: ignore[attr-defined]
