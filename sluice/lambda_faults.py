"""Faults injected into the local Lambda service, like AWS FIS's Lambda actions.

A fault makes a function's next N invokes fail without running the handler, or, with
`after_handler`, after running it: its side effects happen and the caller still sees the
error (a crash after the work, before the answer). Most error types come back as a function
error (`FunctionError: Unhandled`), exactly as if the handler had raised that error. Two are
answered the way Lambda itself produces them:

- `Sandbox.Timedout`: the payload of a Lambda timeout ("Task timed out after N seconds"),
  as if the handler had run past the function's Timeout, without waiting for it.
- `Lambda.TooManyRequestsException` (or `TooManyRequestsException`): a throttle. Lambda
  refuses the Invoke call itself with HTTP 429 `TooManyRequestsException`; it is not a
  function error, and Step Functions names it `Lambda.TooManyRequestsException`.
"""

from __future__ import annotations

from dataclasses import dataclass

from sluice.fault_registry import FaultRegistry

TIMEOUT_ERROR = "Sandbox.Timedout"
THROTTLE_ERRORS = ("Lambda.TooManyRequestsException", "TooManyRequestsException")


class TooManyRequests(Exception):
    """Lambda's Invoke API answers HTTP 429 TooManyRequestsException (a throttle)."""

    status = 429
    code = "TooManyRequestsException"

    def __init__(self, function: str, reason: str, message: str | None = None) -> None:
        self.function, self.reason = function, reason
        super().__init__(message or f"Rate Exceeded. (function {function}, {reason})")


def timeout_message(request_id: str, timeout_s: float) -> str:
    """What Lambda answers for an invoke that ran past the function's Timeout."""
    return f"RequestId: {request_id} Error: Task timed out after {timeout_s:.2f} seconds"


@dataclass
class Fault:
    """The next `remaining` invokes of `function` fail with this error, the handler unrun.
    `error_message` None: the message Lambda would give (see the module docstring)."""

    function: str
    error_type: str
    error_message: str | None
    remaining: int
    after_handler: bool = False

    def as_dict(self) -> dict[str, object]:
        shown = dict(vars(self))
        if not self.after_handler:
            del shown["after_handler"]
        return shown

    @property
    def throttles(self) -> bool:
        return self.error_type in THROTTLE_ERRORS

    def message(self, request_id: str, timeout_s: float) -> str:
        if self.error_message is not None:
            return self.error_message
        if self.error_type == TIMEOUT_ERROR:
            return timeout_message(request_id, timeout_s)
        return f"Injected fault: {self.error_type}"


class Faults(FaultRegistry[Fault]):
    """The pending faults, one per function; thread-safe."""

    def inject(
        self,
        function: str,
        error_type: str,
        error_message: str | None,
        count: int,
        after_handler: bool = False,
    ) -> Fault:
        """Replace FUNCTION's fault; COUNT 0 removes it."""
        if not error_type or count < 0:
            raise ValueError("a fault needs an errorType and a count of 0 or more")
        fault = Fault(function, error_type, error_message, count, after_handler)
        if fault.throttles and after_handler:
            raise ValueError("a throttle refuses the invoke: it cannot come after the handler")
        return self.put(function, fault)
