"""A Lambda worker process seen from the parent: spawn, wait for Init, send invokes."""

from __future__ import annotations

import json
import select
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sluice.lambda_zygote import ForkedWorker, Zygote

# The reply of a worker that exited (sys.exit or a crash) instead of answering.
EXITED: dict[str, Any] = {
    "error": {"errorType": "Runtime.ExitError", "errorMessage": "worker exited"},
    "logs": "",
}


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    arn: str
    handler: str
    code_dir: Path
    timeout: float
    memory: int
    environment: dict[str, str]
    reserved_concurrency: int | None = None  # ReservedConcurrentExecutions


class Sandbox:
    """One worker process as the runtime sees it: spawned with the function's environment,
    it imports the handler (Init), says ready, then answers one invoke per line."""

    def __init__(
        self,
        spec: FunctionSpec,
        log_dir: Path,
        base_env: dict[str, str],
        runtime_libs: Path | None = None,
        zygote: Zygote | None = None,
    ) -> None:
        self.spec = spec
        self.zygote = zygote
        stream = f"{time.strftime('%Y/%m/%d')}/[$LATEST]{uuid.uuid4().hex}"
        meta = {
            "name": spec.name,
            "arn": spec.arn,
            "handler": spec.handler,
            "code_dir": str(spec.code_dir),
            "timeout": spec.timeout,
            "memory": spec.memory,
            "log_stream": stream,
            "log_file": str(log_dir / f"{spec.name}.log"),
            "sys_path": [str(spec.code_dir), *([str(runtime_libs)] if runtime_libs else [])],
        }
        env = {
            **base_env,
            **spec.environment,
            "AWS_LAMBDA_FUNCTION_NAME": spec.name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory),
            "AWS_LAMBDA_FUNCTION_TIMEOUT": str(int(spec.timeout)),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": stream,
            "_HANDLER": spec.handler,
            "SLUICE_WORKER_META": json.dumps(meta),
        }
        self.proc: subprocess.Popen[str] | ForkedWorker
        # Init starts before the spawn returns: the worker may be importing by then, and a
        # loaded host can take a while to come back to this thread.
        self.spawned = time.time()
        if zygote is not None:
            self.proc = zygote.spawn(env, str(spec.code_dir))
            return
        if runtime_libs is None:
            command = [sys.executable, "-m", "sluice.lambda_worker"]
        else:  # -I -S: no site-packages, no PYTHONPATH, no user site; the worker is one file
            command = [
                sys.executable,
                "-I",
                "-S",
                str(Path(__file__).with_name("lambda_worker.py")),
            ]
        self.proc = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            cwd=str(spec.code_dir),
            text=True,
        )

    def _line(self, deadline: float) -> str | None:
        """The worker's next protocol line ("" if it exited), or None if none by DEADLINE."""
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], max(0.0, deadline - time.time()))
        return self.proc.stdout.readline() if ready else None

    def init(self, deadline: float) -> str:
        """Wait for the worker's import to finish: "ready", "timeout" or "exited"."""
        line = self._line(deadline)
        if line and self.zygote is not None:
            # The shared libraries this Init loaded: the zygote imports them for the next.
            self.zygote.wanted.update(json.loads(line).get("loaded", []))
        return "timeout" if line is None else "ready" if line else "exited"

    def invoke(self, event: Any, request_id: str, deadline: float) -> dict[str, Any] | None:
        """The worker's reply, or None if it did not answer by DEADLINE."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"event": event, "request_id": request_id}) + "\n")
        self.proc.stdin.flush()
        line = self._line(deadline)
        if line is None:
            return None
        if not line:
            return EXITED
        reply: dict[str, Any] = json.loads(line)
        return reply

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()
