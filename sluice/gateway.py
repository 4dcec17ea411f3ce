"""The gateway: one HTTP endpoint that behaves like AWS for everything the flows use.

Requests are answered, in order, by: Sluice's own endpoints (`/_sluice/*`, `/console`),
the Lambda Invoke API (run by `LambdaRuntime`), StartSyncExecution (moto has none),
the template's HTTP API routes (unsigned requests only, so S3 path-style calls are never
mistaken for them), and otherwise moto's backends. PutEvents is passed to moto and then
delivered to state-machine targets by the runtime, since moto cannot.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from botocore.exceptions import ClientError

from sluice import (
    engine,
    execution_faults,
    http_server,
    request_count,
    s3_notifications,
    wsgi_client,
)
from sluice.bedrock_emulator import BedrockEmulator
from sluice.durable import DurableState, reads_only
from sluice.engine import speed as engine_speed
from sluice.engine import test_state, virtual_time
from sluice.engine.moto_dispatch import DirectDispatch
from sluice.httpapi import Route, build_event, find_route, to_http_response
from sluice.lambda_runtime import LambdaRuntime, TooManyRequests, default_base_env
from sluice.put_events import PUT_EVENTS_MAX_BYTES, entries_size, envelope

StartResponse = Callable[..., Any]
INVOKE_PREFIX = "/2015-03-31/functions/"
# Per-function totals of what Lambda bills (invocations, billed ms, GB-seconds), read-only.
LAMBDA_USAGE = "/_sluice/lambda/usage"
LAMBDA_WORKERS = "/_sluice/lambda/workers"
# Targets of JSON APIs that __call__ only counts and hands to moto (nothing of the gateway's
# own: no fault, no sync start, no event bus), so Gateway.answer can go straight to moto.
_MOTO_ONLY_TARGETS = ("DynamoDB_20120810.", "DynamoDBStreams_20120810.", "AmazonSQS.")


def _json(start_response: StartResponse, status: int, body: Any) -> list[bytes]:
    data = json.dumps(body, default=str).encode()
    start_response(
        f"{status} {'OK' if status < 400 else 'Error'}",
        [("Content-Type", "application/json"), ("Content-Length", str(len(data)))],
    )
    return [data]


def _aws_error(
    start_response: StartResponse, status: int, code: str, msg: str, **extra: str
) -> list[bytes]:
    data = json.dumps({"__type": code, "message": msg, **extra}).encode()
    start_response(
        f"{status} Error",
        [
            ("Content-Type", "application/x-amz-json-1.0"),
            ("x-amzn-ErrorType", code),
            ("x-amzn-RequestId", str(uuid.uuid4())),
        ],
    )
    return [data]


class Gateway:
    def __init__(self, host: str, port: int, data_dir: Path) -> None:
        self.host, self.port = host, port
        self.endpoint = f"http://{host}:{port}"
        self.data_dir = data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        # moto's ASL engine reaches Lambda and the integrations at localhost:MOTO_PORT.
        os.environ["MOTO_PORT"] = str(port)
        engine.install()  # also DynamoDB's atomic item writes and S3's notification sequencers
        from moto.server import DomainDispatcherApplication, create_backend_app

        def create_app(service: Any) -> Any:
            app = create_backend_app(service)
            # moto turns Flask's debug mode on, whose request wrapper defines a new class
            # for every request with a body (~18% of the gateway's CPU under load). Errors
            # still propagate as they did in debug mode.
            app.debug = False
            app.config["PROPAGATE_EXCEPTIONS"] = True
            if service == "stepfunctions":
                engine.serve_step_functions(app)
            return app

        self.moto_app = DirectDispatch(DomainDispatcherApplication(create_app))
        self.lambdas = LambdaRuntime(data_dir / "logs", default_base_env(self.endpoint))
        self.requests = request_count.RequestCounter()
        engine_speed.use_in_process_lambda(self._invoke_in_process)
        # The engine's task calls are answered in process. Their changes are written with
        # the execution's progress (the journal's background flush), not before the task
        # goes on: the client waiting is the execution, whose own history would be lost
        # with them (docs/RUNTIME.md, "Durable state").
        engine_speed.use_in_process_services(self)
        self.routes: list[Route] = []
        self.stack: dict[str, Any] = {}
        self.on_put_events: Callable[[list[dict[str, Any]]], None] | None = None
        self.on_deploy: Callable[[], dict[str, Any]] | None = None
        self.extra: dict[str, Callable[[dict[str, Any], StartResponse], Iterable[bytes]]] = {}
        self.extra[virtual_time.ENDPOINT] = virtual_time.time_scale_endpoint
        # S3 -> SQS notifications carry a sequencer; tests can hold them back.
        self.extra[s3_notifications.ENDPOINT] = s3_notifications.endpoint
        # A state machine's starts refused, as when Step Functions is unavailable.
        self.execution_faults = execution_faults.ExecutionFaults()
        self.extra[execution_faults.ENDPOINT] = self.execution_faults.endpoint
        # moto has no Bedrock batch inference: its control plane is emulated.
        self.bedrock = BedrockEmulator(self.endpoint)
        self._server: http_server.Server | None = None
        self.started = time.time()
        # Set by the stack when its state is durable: changes are on disk before the
        # response that reports them is sent.
        self.durable: DurableState | None = None

    # -- serving -----------------------------------------------------------------------

    def start(self) -> None:
        self._server = http_server.serve(self.host, self.port, self)

    def stop(self) -> None:
        if self._server is not None:
            http_server.close(self._server)
        self.lambdas.shutdown()

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path: str = environ.get("PATH_INFO", "/")
        method: str = environ["REQUEST_METHOD"]
        if self.bedrock.handles(environ):
            return self._durably(self.bedrock, environ, start_response)
        if path.startswith("/_sluice/") or path == "/console" or path.startswith("/console/"):
            return self._own(path, method, environ, start_response)
        if path.startswith(INVOKE_PREFIX) and path.endswith("/invocations"):
            return self._invoke(
                unquote(path[len(INVOKE_PREFIX) : -len("/invocations")]), environ, start_response
            )
        self.requests.count(environ)
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        refused = self.execution_faults.refusal(environ)
        if refused is not None:
            return _aws_error(start_response, *refused)
        if target == "AWSStepFunctions.StartSyncExecution":
            return self._start_sync(environ, start_response)
        if target == test_state.TARGET:  # moto has no TestState
            return _json(start_response, *test_state.handle(self._body(environ)))
        if self._for_api_gateway(environ):
            # API Gateway routes and hands over the path still percent-encoded.
            raw_path = environ.get("RAW_URI") or environ.get("REQUEST_URI") or path
            raw_path = raw_path.split("?", 1)[0]
            environ["sluice.raw_path"] = raw_path
            found = find_route(self.routes, method, raw_path)
            if found is not None:
                return self._http_api(*found, environ, start_response)
        if target == "AWSEvents.PutEvents":
            return self._put_events(environ, start_response)
        return self._durably(self.moto_app, environ, start_response)

    def _durably(
        self,
        app: Callable[..., Iterable[bytes]],
        environ: dict[str, Any],
        start_response: StartResponse,
    ) -> Iterable[bytes]:
        """APP's answer, sent once the changes it made are on disk (a durable stack)."""
        if self.durable is None or environ.get(wsgi_client.UNFLUSHED) or reads_only(environ):
            return app(environ, start_response)
        out = list(app(environ, start_response))
        self.durable.flush()
        return out

    def answer(self, environ: dict[str, Any]) -> tuple[int, Any, bytes]:
        """__call__'s answer as (status, headers, body), for a client in this process
        (wsgi_client.run). A DynamoDB, DynamoDB Streams or SQS call that waits for no commit,
        which __call__ would only count and hand to moto, is handed to moto's handler
        without WSGI's framing: the engine's tasks and the triggers' pollers make most of
        the stack's requests."""
        target: str = environ.get("HTTP_X_AMZ_TARGET", "")
        if (
            target.startswith(_MOTO_ONLY_TARGETS)
            and environ.get("PATH_INFO") == "/"
            and not self._for_api_gateway(environ)
            and (self.durable is None or environ.get(wsgi_client.UNFLUSHED))
        ):
            self.requests.count(environ)
            answered = self.moto_app.answer(environ)
            return answered or wsgi_client.run_wsgi(self.moto_app, environ)
        return wsgi_client.run_wsgi(self, environ)

    @staticmethod
    def _for_api_gateway(environ: dict[str, Any]) -> bool:
        """Unsigned requests, and requests signed for execute-api (IAM-authorized routes).

        Other signed requests are AWS API calls (e.g. S3 path-style on a bucket that
        happens to share a route's first segment) and go to the services.
        """
        query = environ.get("QUERY_STRING", "")
        auth = environ.get("HTTP_AUTHORIZATION", "")
        if auth:
            return "/execute-api/aws4_request" in auth
        return "X-Amz-Signature" not in query

    @staticmethod
    def _body(environ: dict[str, Any]) -> bytes:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        data: bytes = environ["wsgi.input"].read(length) if length else b""
        return data

    # -- AWS APIs the runtime answers itself ---------------------------------------------

    def _invoke(
        self, function: str, environ: dict[str, Any], start_response: StartResponse
    ) -> Iterable[bytes]:
        if self.lambdas.resolve(function) is None:
            return _aws_error(
                start_response, 404, "ResourceNotFoundException", f"Function not found: {function}"
            )
        body = self._body(environ)
        try:
            event = json.loads(body) if body else {}
        except json.JSONDecodeError:
            return _aws_error(
                start_response, 400, "InvalidRequestContentException", "payload is not JSON"
            )
        if environ.get("HTTP_X_AMZ_INVOCATION_TYPE") == "Event":
            threading.Thread(target=self._invoke_async, args=(function, event), daemon=True).start()
            start_response("202 Accepted", [("Content-Type", "application/json")])
            return [b""]
        try:
            result = self.lambdas.invoke(function, event)
        except TooManyRequests as exc:
            return _aws_error(start_response, exc.status, exc.code, str(exc), Reason=exc.reason)
        headers = [
            ("Content-Type", "application/json"),
            ("X-Amz-Executed-Version", "$LATEST"),
            ("X-Amzn-RequestId", result.request_id),
        ]
        if result.function_error:
            headers.append(("X-Amz-Function-Error", result.function_error))
        start_response("200 OK", headers)
        return [result.payload]

    def _invoke_async(self, function: str, event: Any) -> None:
        # A throttled event invoke, which Lambda's own queue would retry, is dropped locally.
        with contextlib.suppress(TooManyRequests):
            self.lambdas.invoke(function, event)

    def _invoke_in_process(self, function: str, event: Any) -> tuple[bytes, str | None, str]:
        """The engine's Lambda tasks, without the HTTP round trip (see engine_speed); an
        unknown function raises KeyError, a throttle the Invoke API's ClientError."""
        try:
            result = self.lambdas.invoke(function, event)
        except TooManyRequests as exc:
            response: Any = {
                "Error": {"Code": exc.code, "Message": str(exc)},
                "Reason": exc.reason,
                "ResponseMetadata": {"HTTPStatusCode": exc.status, "RequestId": str(uuid.uuid4())},
            }
            raise ClientError(response, "Invoke") from None
        return result.payload, result.function_error, result.request_id

    def _start_sync(
        self, environ: dict[str, Any], start_response: StartResponse
    ) -> Iterable[bytes]:
        req = json.loads(self._body(environ) or b"{}")
        arn = req.get("stateMachineArn", "")
        try:
            out = engine.start_sync_execution(arn, req.get("name"), req.get("input"))
        except engine.NotExpress:
            return _aws_error(
                start_response,
                400,
                "StateMachineTypeNotSupported",
                "This operation is not supported by this type of state machine",
            )
        except engine.MockConfigError as exc:
            return _aws_error(start_response, 400, "InvalidArn", str(exc))
        except Exception as exc:  # moto's own errors (unknown ARN, bad input)
            code = getattr(exc, "error_type", None) or type(exc).__name__
            return _aws_error(start_response, 400, str(code), str(exc))
        return _json(start_response, 200, out)

    def _put_events(
        self, environ: dict[str, Any], start_response: StartResponse
    ) -> Iterable[bytes]:
        body = self._body(environ)
        try:
            entries = json.loads(body or b"{}").get("Entries") or []
        except (json.JSONDecodeError, AttributeError):
            entries = []  # moto answers the malformed request
        if isinstance(entries, list) and entries_size(entries) > PUT_EVENTS_MAX_BYTES:
            return _aws_error(
                start_response,
                400,
                "ValidationException",
                "Total size of the entries in the request is over the limit.",
            )
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], *args: Any) -> Any:
            captured["status"] = status
            return start_response(status, headers, *args)

        environ["wsgi.input"] = _Replay(body)
        out = list(self.moto_app(environ, capture))
        if captured.get("status", "").startswith("200") and self.on_put_events is not None:
            request = json.loads(body or b"{}")
            response = json.loads(b"".join(out) or b"{}")
            events: list[dict[str, Any]] = []
            for entry, result in zip(
                request.get("Entries", []), response.get("Entries", []), strict=False
            ):
                if "EventId" in result:
                    events.append(envelope(entry, result["EventId"]))
            self.on_put_events(events)
        return out

    def _http_api(
        self,
        route: Route,
        params: dict[str, str],
        environ: dict[str, Any],
        start_response: StartResponse,
    ) -> Iterable[bytes]:
        event = build_event(route, params, environ, self._body(environ))
        try:
            result = self.lambdas.invoke(route.function, event)
        except TooManyRequests:
            # The integration failed: the generic 500, as for a function error.
            return _json(start_response, 500, {"message": "Internal Server Error"})
        if result.function_error:
            return _json(start_response, 500, {"message": "Internal Server Error"})
        status, headers, body = to_http_response(result.payload)
        start_response(f"{status} {'OK' if status < 400 else 'Error'}", list(headers.items()))
        return [body]

    # -- Sluice's own endpoints ------------------------------------------------------

    def _own(
        self, path: str, method: str, environ: dict[str, Any], start_response: StartResponse
    ) -> Iterable[bytes]:
        if path == "/_sluice/health":
            return _json(start_response, 200, {"ok": True, "uptime_s": time.time() - self.started})
        if path == "/_sluice/stack":
            return _json(start_response, 200, self.stack)
        if path == "/_sluice/deploy" and method == "POST" and self.on_deploy is not None:
            try:
                return _json(start_response, 200, self.on_deploy())
            except Exception as exc:
                return _json(start_response, 400, {"error": f"{type(exc).__name__}: {exc}"})
        if path == "/_sluice/faults":
            return self._faults(method, environ, start_response)
        if path == "/_sluice/invocations":
            return _json(
                start_response,
                200,
                [r.__dict__ for r in list(self.lambdas.records)[-200:]],
            )
        if path == LAMBDA_USAGE:
            return _json(start_response, 200, [u.as_dict() for u in self.lambdas.usage()])
        if path == LAMBDA_WORKERS:
            return _json(start_response, 200, self.lambdas.workers())
        if path == request_count.ENDPOINT:
            return _json(start_response, 200, self.requests.snapshot())
        for prefix, handler in self.extra.items():
            if path.startswith(prefix):
                return handler(environ, start_response)
        return _json(start_response, 404, {"error": f"no such endpoint: {path}"})

    def _faults(
        self, method: str, environ: dict[str, Any], start_response: StartResponse
    ) -> Iterable[bytes]:
        """Fault injection, like AWS FIS's Lambda actions. GET lists the pending faults;
        POST {"function", "errorType", "errorMessage", "count"} makes the function's next
        `count` (default 1; 0 removes its fault) invokes fail with that error; DELETE
        removes every fault."""
        if method == "GET":
            return _json(start_response, 200, [f.as_dict() for f in self.lambdas.faults()])
        if method == "DELETE":
            self.lambdas.clear_faults()
            return _json(start_response, 200, [])
        if method != "POST":
            return _json(start_response, 405, {"error": "/_sluice/faults takes GET, POST, DELETE"})
        usage = (
            'body must be JSON like {"function": "MyFunction", "errorType": "States.Timeout", '
            '"errorMessage": "...", "count": 1, "afterHandler": false}'
        )
        try:
            req = json.loads(self._body(environ) or b"{}")
            function, error_type = str(req["function"]), str(req["errorType"])
            message = str(req["errorMessage"]) if req.get("errorMessage") else None
            count = int(req.get("count", 1))
            after_handler = req.get("afterHandler", False)
            if not isinstance(after_handler, bool):
                raise TypeError("afterHandler")
        except (json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
            return _json(start_response, 400, {"error": usage})
        try:
            fault = self.lambdas.inject_fault(function, error_type, message, count, after_handler)
        except KeyError:
            return _json(start_response, 404, {"error": f"Function not found: {function}"})
        except ValueError as exc:
            return _json(start_response, 400, {"error": f"{exc}; {usage}"})
        return _json(start_response, 200, fault.as_dict())


class _Replay:
    """A wsgi.input that serves an already-read body again."""

    def __init__(self, data: bytes) -> None:
        self._data, self._pos = data, 0

    def read(self, n: int = -1) -> bytes:
        end = len(self._data) if n < 0 else self._pos + n
        chunk, self._pos = self._data[self._pos : end], min(end, len(self._data))
        return chunk
