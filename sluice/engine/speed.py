"""Overheads of the embedded engine that cost time without adding fidelity, removed.

- moto's server lists its package directory and a response class's methods for every
  request, the engine parses every JSONPath again, copies JSON with `copy.deepcopy` and
  starts a thread per program, task and branch: the patches of moto_seam.py, built on the
  pieces here (`json_copy`, `PooledThread`, `engine_client`).
- The engine's programs are built once per definition text (programs.py) and an
  execution's name is looked up in an index (backend.py).
- Lambda tasks reached the runtime over HTTP to the gateway, through botocore's request
  signing and the socket, although the engine runs in the gateway's own process. With an
  in-process invoker registered, the engine's Lambda client calls the runtime directly and
  answers exactly as Lambda's Invoke API does (same status, payload, FunctionError and
  errors for unknown functions).
- The engine's other service integrations (DynamoDB, SQS, ...) keep their boto3 clients
  (same request serialization, same response parsing and errors) but hand each request to
  the gateway's WSGI application in process instead of over a socket.
"""

from __future__ import annotations

import contextlib
import contextvars
import copy
import io
import json
import os
import queue
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

from botocore.exceptions import ClientError

from sluice import wsgi_client
from sluice.engine import sdk_metadata

# (function name or ARN, event) -> (payload bytes, FunctionError or None, request id);
# KeyError when there is no such function.
LambdaInvoker = Callable[[str, Any], tuple[bytes, str | None, str]]

_invoker: LambdaInvoker | None = None
_wsgi_app: Callable[..., Any] | None = None


# `make bench` measures the engine with and without these adapters: SLUICE_ENGINE_SPEED=0
# leaves moto's engine as it is (nothing else reads this switch).
SWITCH = "SLUICE_ENGINE_SPEED"


def enabled() -> bool:
    return os.environ.get(SWITCH, "1") != "0"


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
    wsgi_client.answered_by(client, lambda: _wsgi_app, unflushed=True)
    client.meta.events.register("after-call", sdk_metadata.remember_after_call)
    if client.meta.service_model.service_name in _PLAIN_JSON_SERVICES:
        unflushed = {wsgi_client.UNFLUSHED: True}
        return PlainJsonClient(client, lambda: _wsgi_app, unflushed, remember=True)
    return client


# JSON-protocol services whose API JSON is exactly what the engine holds and gets back
# (botocore converts nothing for the calls the integrations make, except binary
# attributes, which come out of a state machine as base64 text anyway, and SQS's query
# error codes, which PlainJsonClient reads as botocore does).
_PLAIN_JSON_SERVICES = frozenset({"dynamodb", "sqs"})


class PlainJsonClient:
    """A client of a plain JSON-protocol service, answered in process (the engine's
    DynamoDB and SQS tasks, the triggers' SQS pollers).

    The parameters a caller passes are already the API's JSON body, so they are
    posted as they are, with the operation's X-Amz-Target, to the gateway application
    (moto's own request handling and errors), and the JSON answer is returned as
    botocore would return it; errors raise the (modeled) ClientError botocore would raise. This
    skips botocore's serializer, signer and parser, most of a DynamoDB task's cost.
    Anything that is not JSON, or an app not set, goes through the boto3 client.
    APP answers the application (None: over the client); EXTRA is added to each request's
    environ; REMEMBER keeps each answer's metadata for the task's SDK metadata.
    """

    def __init__(
        self,
        client: Any,
        app: Callable[[], Callable[..., Any] | None],
        extra: dict[str, Any] | None = None,
        *,
        remember: bool = False,
    ) -> None:
        self._client = client
        self._app = app
        self._remember = remember
        model = client.meta.service_model
        self._operations: dict[str, str] = client.meta.method_to_api_mapping
        self._target = model.metadata["targetPrefix"]
        # The WSGI environ of every request but its body and target, built once (werkzeug's
        # EnvironBuilder costs more than the DynamoDB request it would describe). moto tells
        # services apart by the credential scope of the Authorization header.
        url = urlsplit(client.meta.endpoint_url)
        self._environ = {
            "REQUEST_METHOD": "POST",
            "SCRIPT_NAME": "",
            "PATH_INFO": "/",
            "QUERY_STRING": "",
            "SERVER_NAME": url.hostname or "localhost",
            "SERVER_PORT": str(url.port or 80),
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "127.0.0.1",
            "HTTP_HOST": url.netloc,
            "CONTENT_TYPE": f"application/x-amz-json-{model.metadata['jsonVersion']}",
            "HTTP_AUTHORIZATION": (
                f"AWS4-HMAC-SHA256 Credential=sluice/20240101/{client.meta.region_name}/"
                f"{model.signing_name}/aws4_request, SignedHeaders=host, Signature=local"
            ),
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": url.scheme or "http",
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
            **(extra or {}),
        }

    def __getattr__(self, method: str) -> Any:
        operation = self._operations.get(method)
        if operation is None:
            return getattr(self._client, method)
        return lambda **params: self._call(method, operation, params)

    def _call(self, method: str, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        app = self._app()
        try:
            body = json.dumps(params).encode()
        except TypeError:  # bytes or other non-JSON values: botocore knows how
            app = None
        if app is None:
            result: dict[str, Any] = getattr(self._client, method)(**params)
            return result
        environ = {
            **self._environ,
            "wsgi.input": io.BytesIO(body),
            "CONTENT_LENGTH": str(len(body)),
            "HTTP_X_AMZ_TARGET": f"{self._target}.{operation}",
        }
        status, headers, content = wsgi_client.run(app, environ)
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
            # A service once on the query protocol (SQS) names the error as it did there
            # too; botocore reports that name, keeps the JSON one as QueryErrorCode, and
            # raises the class the JSON one names.
            query_code, _, kind = str(headers.get("x-amzn-query-error", "")).partition(";")
            if query_code and kind:
                error["Error"].update(Code=query_code, QueryErrorCode=code, Type=kind)
            # botocore raises the modeled class of the code (ResourceNotFoundException, ...),
            # and aws-sdk integrations name their errors after that class.
            raise self._client.exceptions.from_code(code)(error, operation)
        data["ResponseMetadata"] = metadata
        if self._remember:
            sdk_metadata.remember(metadata)
        return data


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


JSON_ATOMS = frozenset((str, int, float, bool, type(None)))


def json_copy(value: Any, memo: Any = None) -> Any:
    """A deep copy of a JSON value; other objects are handed to `copy.deepcopy`.

    Atoms are kept without a call each: a sale's 1,024-float embedding, copied at every
    state, costs a third of the time it took with a call per float."""
    kind = type(value)
    if kind is dict:
        return {k: v if type(v) in JSON_ATOMS else json_copy(v) for k, v in value.items()}
    if kind is list:
        return [v if type(v) in JSON_ATOMS else json_copy(v) for v in value]
    if kind in JSON_ATOMS:
        return value
    return copy.deepcopy(value, memo)


_IDLE_SECONDS = 60.0


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
_inline = threading.local()


@contextlib.contextmanager
def next_thread_inline() -> Iterator[None]:
    """The next PooledThread started on this thread runs its target right there, in
    `start`: for work the starting thread would only wait for (see components.py)."""
    _inline.next = True
    try:
        yield
    finally:
        _inline.next = False


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
        if getattr(_inline, "next", False):
            _inline.next = False
            self._run()
        else:
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


def thread(target: Callable[[], Any]) -> Any:
    """A thread to run TARGET on: a pooled one, or a new daemon thread without the caches."""
    if enabled():
        return PooledThread(target=target)
    return threading.Thread(target=target, daemon=True)


_clients: dict[tuple[str, str], Any] = {}
_clients_lock = threading.Lock()


def engine_client(region: str, service: str, build: Callable[[str, str], Any]) -> Any:
    """The engine's client of SERVICE: Lambda in process when the runtime is; any other one
    built (by BUILD) once, not once per task (~7 ms of CPU each), and answered in process.

    boto3 clients are thread-safe once built; building them from the shared default session
    in many execution threads at once is not, so building happens under a lock. Per-state
    credentials are ignored, as moto does (IAM is not enforced locally)."""
    if service == "lambda" and (in_process := in_process_lambda_client()):
        return in_process
    with _clients_lock:
        if (region, service) not in _clients:
            _clients[(region, service)] = route_in_process(build(region, service))
        return _clients[(region, service)]
