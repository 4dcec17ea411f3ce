"""Faults injected into Step Functions' StartExecution and StartSyncExecution, per machine.

A fault makes the next N starts of one state machine fail with one of Step Functions'
documented common errors (API Reference, "Common Errors"), as the service answers when it
is unavailable or throttles: no execution starts. It shows what a trigger does when its
target cannot be started: an EventBridge rule retries by its RetryPolicy, then sends the
event to the target's DLQ; a Pipe returns the whole batch to its queue.

`POST /_sluice/execution-faults {"stateMachine", "errorType", "count"}` (a name or an ARN;
count 0 removes it), `GET` lists the pending faults, `DELETE` removes them all.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any

from sluice.fault_registry import FaultRegistry

ENDPOINT = "/_sluice/execution-faults"
STARTS = ("AWSStepFunctions.StartExecution", "AWSStepFunctions.StartSyncExecution")
# errorType -> (HTTP status, message), as Step Functions' Common Errors document them.
ERRORS: dict[str, tuple[int, str]] = {
    "ServiceUnavailable": (503, "The request has failed due to a temporary failure of the server."),
    "InternalFailure": (
        500,
        "The request processing has failed because of an unknown error, exception or failure.",
    ),
    "ThrottlingException": (400, "The request was denied due to request throttling."),
}
USAGE = (
    'body must be JSON like {"stateMachine": "NAME or ARN", "errorType": "ServiceUnavailable", '
    f'"count": 1}}; errorType one of {", ".join(ERRORS)}'
)

StartResponse = Callable[..., Any]


def machine_name(name_or_arn: str) -> str:
    """`arn:aws:states:r:a:stateMachine:NAME[:alias]` or `NAME` -> NAME."""
    if name_or_arn.startswith("arn:") and ":stateMachine:" in name_or_arn:
        return name_or_arn.split(":stateMachine:", 1)[1].split(":", 1)[0]
    return name_or_arn


@dataclass
class StartFault:
    stateMachine: str
    errorType: str
    remaining: int


class ExecutionFaults(FaultRegistry[StartFault]):
    """The pending faults, one per state machine name; thread-safe."""

    def inject(self, state_machine: str, error_type: str, count: int) -> StartFault:
        if error_type not in ERRORS or count < 0 or not state_machine:
            raise ValueError(USAGE)
        fault = StartFault(machine_name(state_machine), error_type, count)
        return self.put(fault.stateMachine, fault)

    def refusal(self, environ: dict[str, Any]) -> tuple[int, str, str] | None:
        """For a start of a machine with a pending fault: (status, errorType, message), and
        one use of the fault spent. The body read is put back for whoever answers."""
        if environ.get("HTTP_X_AMZ_TARGET") not in STARTS or not self.any_pending():
            return None
        length = int(environ.get("CONTENT_LENGTH") or 0)
        if not length:
            return None  # no body to name a machine: the service answers the request
        body = environ["wsgi.input"].read(length)
        environ["wsgi.input"] = io.BytesIO(body)
        try:
            arn = str(json.loads(body or b"{}").get("stateMachineArn", ""))
        except (json.JSONDecodeError, AttributeError):
            return None  # the service answers the malformed request
        fault = self.take(machine_name(arn.split("#", 1)[0]))  # ARN#TestCase: a mock case
        if fault is None:
            return None
        status, message = ERRORS[fault.errorType]
        return status, fault.errorType, message

    def endpoint(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = environ["REQUEST_METHOD"]
        status, body = 200, None  # type: tuple[int, Any]
        if method == "GET":
            body = [asdict(f) for f in self.pending()]
        elif method == "DELETE":
            self.clear()
            body = []
        elif method == "POST":
            try:
                length = int(environ.get("CONTENT_LENGTH") or 0)
                req = json.loads(environ["wsgi.input"].read(length) or b"{}")
                fault = self.inject(
                    str(req["stateMachine"]), str(req["errorType"]), int(req.get("count", 1))
                )
                body = asdict(fault)
            except (json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
                status, body = 400, {"error": USAGE}
        else:
            status, body = 405, {"error": f"{ENDPOINT} takes GET, POST, DELETE"}
        data = json.dumps(body).encode()
        start_response(
            f"{status} {'OK' if status < 400 else 'Error'}",
            [("Content-Type", "application/json"), ("Content-Length", str(len(data)))],
        )
        return [data]
