"""One warm Lambda "container": a child process that imports a handler and serves invokes.

The parent (`sluice.lambda_runtime`) starts it with the function's environment already
set. Once the handler's module is imported (Lambda's Init phase, successful or not) the
worker writes one "ready" line; then the parent sends one JSON line per invoke on stdin
and reads one JSON line back on the protocol fd. Handler prints and logging go to a
per-invoke buffer (returned as the invoke's log) and to the function's log file, never
into the protocol stream.
"""

from __future__ import annotations

import gc
import importlib
import io
import json
import os
import sys
import time
import traceback
from typing import Any, TextIO

# Libraries many handlers import: the worker reports which of these its Init loaded, and
# workers forked by `sluice.lambda_zygote` find them imported already.
SHARED_LIBRARIES = (
    "boto3",
    "botocore.client",
    "pydantic",
    "duckdb",
    "pyiceberg.catalog",
    "pyiceberg.catalog.sql",
    "opensearchpy",
    "aws_xray_sdk.core",
    "aws_lambda_powertools",
    "aws_lambda_powertools.event_handler",
    "aws_lambda_powertools.utilities.typing",
)


class LambdaContext:
    """The attributes and method of AWS's Python Lambda context object."""

    def __init__(self, meta: dict[str, Any], request_id: str, deadline: float) -> None:
        self.function_name: str = meta["name"]
        self.function_version = "$LATEST"
        self.invoked_function_arn: str = meta["arn"]
        self.memory_limit_in_mb: int = int(meta["memory"])
        self.aws_request_id = request_id
        self.log_group_name = f"/aws/lambda/{meta['name']}"
        self.log_stream_name = meta["log_stream"]
        self.identity = None
        self.client_context = None
        self._deadline = deadline

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.time()) * 1000))


class _LogSink(io.TextIOBase):
    """Replaces sys.stdout/sys.stderr: keeps the current invoke's output and appends to a file."""

    def __init__(self, path: str) -> None:
        self.buffer_text: list[str] = []
        self._file: TextIO = open(path, "a", buffering=1)  # noqa: SIM115 - lives as long as the worker

    def write(self, s: str) -> int:
        self.buffer_text.append(s)
        self._file.write(s)
        return len(s)

    def take(self) -> str:
        out, self.buffer_text = "".join(self.buffer_text), []
        return out


def _error(exc: BaseException, error_type: str | None = None) -> dict[str, Any]:
    return {
        "errorType": error_type or type(exc).__name__,
        "errorMessage": str(exc),
        "stackTrace": traceback.format_tb(exc.__traceback__),
    }


def main() -> None:
    meta = json.loads(os.environ.pop("SLUICE_WORKER_META"))
    # Keep a private copy of fd 1 for replies; anything else written to fd 1 goes to stderr.
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sink = _LogSink(meta["log_file"])
    sys.stdout = sys.stderr = sink
    sys.path[:0] = meta["sys_path"]

    handler = None
    import_error: dict[str, Any] | None = None
    module_name, _, func_name = meta["handler"].rpartition(".")
    try:
        handler = getattr(importlib.import_module(module_name.replace("/", ".")), func_name)
    except Exception as exc:
        import_error = _error(exc, "Runtime.ImportModuleError")
        import_error["errorMessage"] = (
            f"Unable to import module '{module_name}': {exc}"
            if not isinstance(exc, AttributeError)
            else f"Handler '{func_name}' missing on module '{module_name}'"
        )
    # What Init imported lives as long as the worker: no full collection walks it again.
    gc.freeze()
    # Init is over: the invoke's timeout starts when the parent sends the event.
    loaded = [name for name in SHARED_LIBRARIES if name in sys.modules]
    proto.write(json.dumps({"ready": True, "loaded": loaded}) + "\n")

    for line in sys.stdin:
        request = json.loads(line)
        began = time.monotonic()
        deadline = time.time() + float(meta["timeout"])
        reply: dict[str, Any]
        if import_error is not None:
            reply = {"error": import_error}
        else:
            assert handler is not None
            context = LambdaContext(meta, request["request_id"], deadline)
            cpu = time.process_time()
            try:
                result = handler(request["event"], context)
                reply = {"payload": json.dumps(result, default=str)}
            except Exception as exc:
                print(
                    json.dumps({"level": "ERROR", "message": "unhandled", **_error(exc)}),
                    file=sink,
                )
                reply = {"error": _error(exc)}
            reply["cpu_ms"] = (time.process_time() - cpu) * 1000
        reply["logs"] = sink.take()
        # The handler's run by the worker's own clock: what Lambda bills (not the worker's
        # start or the pipe), and what the parent holds against the Timeout (a busy parent
        # may read the reply late).
        reply["duration_ms"] = (time.monotonic() - began) * 1000
        proto.write(json.dumps(reply) + "\n")


if __name__ == "__main__":
    main()
