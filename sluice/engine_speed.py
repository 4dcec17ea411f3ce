"""Overheads of the embedded engine that cost time without adding fidelity, removed.

- moto's server resolves every request's backend by listing moto's package directory
  (hundreds of `isdir` calls, under one lock shared by all requests), and finds each
  request's action by listing its response class's methods with `inspect`: neither
  changes once the gateway serves, so each is computed once.
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
- The engine copies a state's input, result and parameters with `copy.deepcopy` several
  times per state (its memo and dispatch dominate for JSON data). Those copies are of JSON
  values (dicts, lists, strings, numbers, booleans, null), which a plain recursive copy
  duplicates the same way; anything else still goes to `copy.deepcopy`.
- The engine's other service integrations (DynamoDB, SQS, ...) keep their boto3 clients
  (same request serialization, same response parsing and errors) but hand each request to
  the gateway's WSGI application in process instead of over a socket.
"""

from __future__ import annotations

import contextvars
import copy
import io
import json
import os
import queue
import sys
import threading
import weakref
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

from botocore.awsrequest import AWSPreparedRequest, AWSResponse, HTTPHeaders
from botocore.exceptions import ClientError
from werkzeug.test import EnvironBuilder, run_wsgi_app

# (function name or ARN, event) -> (payload bytes, FunctionError or None, request id);
# KeyError when there is no such function.
LambdaInvoker = Callable[[str, Any], tuple[bytes, str | None, str]]

_invoker: LambdaInvoker | None = None
_wsgi_app: Callable[..., Any] | None = None
_PROGRAMS_KEPT = 256


# `make bench` measures the engine with and without these adapters: SLUICE_ENGINE_SPEED=0
# leaves moto's engine as it is (nothing else reads this switch).
SWITCH = "SLUICE_ENGINE_SPEED"


def enabled() -> bool:
    return os.environ.get(SWITCH, "1") != "0"


def install() -> None:
    """Apply the caches (idempotent)."""
    if not enabled():
        return
    _list_moto_modules_once()
    _list_response_methods_once()
    _cache_programs()
    _copy_json_directly()
    _index_execution_names()
    _pool_engine_threads()


def use_in_process_lambda(invoker: LambdaInvoker | None) -> None:
    """Route the engine's Lambda invocations to `invoker` (None: back to HTTP)."""
    global _invoker
    _invoker = invoker if enabled() else None


def use_in_process_services(app: Callable[..., Any] | None) -> None:
    """Answer the engine's service clients with the WSGI `app` (None: back to HTTP)."""
    global _wsgi_app
    _wsgi_app = app if enabled() else None


def route_in_process(client: Any) -> Any:
    """Make a boto3 client built for the engine send through the in-process application."""
    client.meta.events.register("before-send", _send_in_process)
    if client.meta.service_model.service_name in _PLAIN_JSON_SERVICES:
        return PlainJsonClient(client)
    return client


# JSON-protocol services whose API JSON is exactly what the engine holds and gets back
# (botocore converts nothing for the calls the integrations make, except binary
# attributes, which come out of a state machine as base64 text anyway).
_PLAIN_JSON_SERVICES = {"dynamodb"}


class PlainJsonClient:
    """An engine client of a plain JSON-protocol service, answered in process.

    The parameters an integration passes are already the API's JSON body, so they are
    posted as they are, with the operation's X-Amz-Target, to the gateway application
    (moto's own request handling and errors), and the JSON answer is returned as
    botocore would return it; errors raise the (modeled) ClientError botocore would raise. This
    skips botocore's serializer, signer and parser, most of a DynamoDB task's cost.
    Anything that is not JSON, or an app not set, goes through the boto3 client.
    """

    def __init__(self, client: Any) -> None:
        self._client = client
        model = client.meta.service_model
        self._operations: dict[str, str] = client.meta.method_to_api_mapping
        self._target = model.metadata["targetPrefix"]
        self._content_type = f"application/x-amz-json-{model.metadata['jsonVersion']}"
        self._url = client.meta.endpoint_url
        # moto tells services apart by the credential scope of the Authorization header.
        self._authorization = (
            f"AWS4-HMAC-SHA256 Credential=sluice/20240101/{client.meta.region_name}/"
            f"{model.signing_name}/aws4_request, SignedHeaders=host, Signature=local"
        )

    def __getattr__(self, method: str) -> Any:
        operation = self._operations.get(method)
        if operation is None:
            return getattr(self._client, method)
        return lambda **params: self._call(method, operation, params)

    def _call(self, method: str, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        app = _wsgi_app
        try:
            body = json.dumps(params).encode()
        except TypeError:  # bytes or other non-JSON values: botocore knows how
            app = None
        if app is None:
            result: dict[str, Any] = getattr(self._client, method)(**params)
            return result
        environ = EnvironBuilder(
            method="POST",
            base_url=self._url,
            path="/",
            headers=[
                ("X-Amz-Target", f"{self._target}.{operation}"),
                ("Content-Type", self._content_type),
                ("Authorization", self._authorization),
            ],
            data=body,
        ).get_environ()
        status, headers, content = _run(app, environ)
        data: dict[str, Any] = json.loads(content) if content else {}
        metadata = {
            "HTTPStatusCode": status,
            "RequestId": headers.get("x-amzn-RequestId", ""),
            "HTTPHeaders": {k.lower(): v for k, v in headers.items()},
            "RetryAttempts": 0,
        }
        if status >= 300:
            code = str(data.get("__type") or headers.get("x-amzn-ErrorType", "")).rsplit("#")[-1]
            message = data.get("message") or data.get("Message") or ""
            error: Any = {"Error": {"Code": code, "Message": message}, "ResponseMetadata": metadata}
            # botocore raises the modeled class of the code (ResourceNotFoundException, ...),
            # and aws-sdk integrations name their errors after that class.
            raise self._client.exceptions.from_code(code)(error, operation)
        data["ResponseMetadata"] = metadata
        return data


def _run(app: Callable[..., Any], environ: dict[str, Any]) -> tuple[int, Any, bytes]:
    """Status, headers and body of one request answered by the WSGI `app`."""
    chunks, status, headers = run_wsgi_app(app, environ, buffered=True)
    try:
        content = b"".join(chunks)
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
    return int(status.split(" ", 1)[0]), headers, content


def _send_in_process(request: AWSPreparedRequest, **_: Any) -> AWSResponse | None:
    app = _wsgi_app
    if app is None:
        return None  # botocore sends over HTTP as usual
    url = urlsplit(request.url)
    body: Any = request.body
    if hasattr(body, "read"):
        body = body.read()
    if isinstance(body, bytearray):
        body = bytes(body)
    headers = [
        (k, v.decode() if isinstance(v, bytes) else str(v)) for k, v in request.headers.items()
    ]
    environ = EnvironBuilder(
        method=request.method,
        base_url=f"{url.scheme}://{url.netloc}",
        path=url.path or "/",
        query_string=url.query,
        headers=headers,
        data=body or b"",
    ).get_environ()
    code, response_headers, content = _run(app, environ)
    headers_out = HTTPHeaders.from_pairs(list(response_headers.items()))
    return AWSResponse(request.url, code, headers_out, _Body(content))


class _Body(io.BytesIO):
    """The raw response botocore reads: a body it can also stream."""

    def stream(self, amt: int = 64 * 1024, **_: Any) -> Iterator[bytes]:
        while chunk := self.read(amt):
            yield chunk


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


def _list_response_methods_once() -> None:
    import functools

    from moto.core import responses

    if hasattr(responses.method_names_from_class, "cache_info"):
        return
    responses.method_names_from_class = functools.lru_cache(maxsize=None)(
        responses.method_names_from_class
    )


_JSON_ATOMS = (str, int, float, bool, type(None))
# The engine modules whose `copy.deepcopy` calls copy JSON values (inputs, results, parameters).
_JSON_COPYING_MODULES = (
    "moto.stepfunctions.parser.asl.eval.states",
    "moto.stepfunctions.parser.asl.component.state.exec.execute_state",
    "moto.stepfunctions.parser.asl.component.common.path.result_path",
    "moto.stepfunctions.parser.asl.component.common.string.string_expression",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service",
)


def json_copy(value: Any, memo: Any = None) -> Any:
    """A deep copy of a JSON value; other objects are handed to `copy.deepcopy`."""
    kind = type(value)
    if kind is dict:
        return {key: json_copy(item) for key, item in value.items()}
    if kind is list:
        return [json_copy(item) for item in value]
    if kind in _JSON_ATOMS:
        return value
    return copy.deepcopy(value, memo)


def _copy_json_directly() -> None:
    import importlib
    import types

    fast_copy = types.SimpleNamespace(deepcopy=json_copy, copy=copy.copy)
    for name in _JSON_COPYING_MODULES:
        importlib.import_module(name).copy = fast_copy  # type: ignore[attr-defined]


_IDLE_SECONDS = 60.0
# Modules whose per-execution and per-task threads are taken from the pool.
_THREADED_MODULES = (
    "moto.stepfunctions.parser.backend.execution_worker",
    "moto.stepfunctions.parser.asl.component.program.program",
    "moto.stepfunctions.parser.asl.component.state.exec.execute_state",
    "moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.inline_iteration_component",
    "moto.stepfunctions.parser.asl.component.state.exec.state_parallel.branch_worker",
)


class _ThreadPool:
    """Idle threads waiting for work; grows when none is idle, shrinks when idle a while."""

    def __init__(self) -> None:
        self._idle: list[queue.SimpleQueue[Callable[[], None]]] = []
        self._lock = threading.Lock()

    def run(self, job: Callable[[], None]) -> None:
        with self._lock:
            inbox = self._idle.pop() if self._idle else None
        if inbox is None:
            inbox = queue.SimpleQueue()
            threading.Thread(target=self._serve, args=(inbox,), daemon=True).start()
        inbox.put(job)

    def _serve(self, inbox: queue.SimpleQueue[Callable[[], None]]) -> None:
        while True:
            try:
                job = inbox.get(timeout=_IDLE_SECONDS)
            except queue.Empty:
                with self._lock:
                    if inbox in self._idle:
                        self._idle.remove(inbox)
                        return
                continue  # taken from the idle list just now: its job is on the way
            contextvars.Context().run(job)  # a fresh context, as a new thread has
            with self._lock:
                self._idle.append(inbox)


_POOL = _ThreadPool()


class PooledThread:
    """What moto's engine uses of `threading.Thread`, run on a pooled thread."""

    def __init__(
        self,
        group: None = None,
        target: Callable[..., Any] | None = None,
        name: str | None = None,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
        *,
        daemon: bool | None = None,
    ) -> None:
        self._job: tuple[Callable[..., Any] | None, tuple[Any, ...], dict[str, Any]] | None = (
            target,
            args,
            kwargs or {},
        )
        self._started = False
        self._done = threading.Event()
        self.native_id: int | None = None  # the pooled thread's, once running (moto logs it)
        self.name = name or "sluice-pooled"
        self.daemon = True

    def start(self) -> None:
        if self._started:
            raise RuntimeError("threads can only be started once")
        self._started = True
        _POOL.run(self._run)

    def _run(self) -> None:
        self.native_id = threading.get_native_id()
        target, args, kwargs = self._job or (None, (), {})
        self._job = None  # like Thread: the finished thread holds no references
        try:
            if target is not None:
                target(*args, **kwargs)
        except BaseException:
            threading.excepthook(threading.ExceptHookArgs((*sys.exc_info(), None)))
        finally:
            self._done.set()

    def join(self, timeout: float | None = None) -> None:
        self._done.wait(timeout)

    def is_alive(self) -> bool:
        return self._started and not self._done.is_set()


def _pool_engine_threads() -> None:
    import importlib
    import types

    from moto.stepfunctions.parser import utils

    if isinstance(utils.TMP_THREADS, deque):
        return

    threading_with_pool = types.SimpleNamespace(**vars(threading))
    threading_with_pool.Thread = PooledThread
    for name in _THREADED_MODULES:
        module = importlib.import_module(name)
        if getattr(module, "Thread", None) is threading.Thread:
            module.Thread = PooledThread  # type: ignore[attr-defined]
        if getattr(module, "threading", None) is threading:
            module.threading = threading_with_pool  # type: ignore[attr-defined]
    # moto appends every thread it starts to one module-level list that nothing reads.
    utils.TMP_THREADS.clear()
    kept: deque[Any] = deque(maxlen=256)
    for name, module in list(sys.modules.items()):
        if name.startswith("moto.stepfunctions.parser") and (
            getattr(module, "TMP_THREADS", None) is utils.TMP_THREADS
        ):
            module.TMP_THREADS = kept  # type: ignore[attr-defined]
    utils.TMP_THREADS = kept  # type: ignore[assignment]


def _index_execution_names() -> None:
    from moto.stepfunctions.models import StateMachine

    if getattr(StateMachine, "_sluice_indexed", False):
        return
    original: Any = StateMachine._handle_name_input_idempotency
    lock = threading.Lock()
    # Kept beside the machines, not on them: moto deep-copies a machine for each execution.
    indexes: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()

    def handle_name_input_idempotency(self: Any, name: str, execution_input: str) -> Any:
        with lock:
            index = indexes.setdefault(self, {})
            for execution in self.executions[len(index) :]:
                index[execution.name] = execution
            if len(index) != len(self.executions):  # not append-only after all: moto's scan
                del indexes[self]
                return original(self, name, execution_input)
            known = index.get(name)
        if known is None:
            return None
        # The earlier execution answers with moto's own rules (idempotent or already exists).
        return original(_OneExecution(known), name, execution_input)

    StateMachine._handle_name_input_idempotency = handle_name_input_idempotency  # type: ignore[method-assign]
    StateMachine._sluice_indexed = True  # type: ignore[attr-defined]


class _OneExecution:
    """What moto's name check reads of a machine, holding only the execution of that name."""

    def __init__(self, execution: Any) -> None:
        self.executions = [execution]


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
