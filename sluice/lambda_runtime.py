"""Runs the template's functions like Lambda does: warm worker processes, one invoke each.

Each function gets a pool of worker processes (`sluice.lambda_worker`) started with the
function's own environment, so per-function env vars and module state never leak between
functions. For packages built by `sam build` (`sluice up --built`) a worker is isolated as
on Lambda: it sees the standard library, its own package and the libraries the python3.12
runtime provides (boto3, botocore, ...), never the laptop's site-packages, so a handler
that imports something its package lacks fails with `Runtime.ImportModuleError` as it would
on AWS. A worker that outlives the function's Timeout is killed, and the invoke answers
with the payload AWS Lambda returns for a timeout (errorType `Sandbox.Timedout`), which
Step Functions surfaces as the task's error.

Faults can be injected per function, like AWS FIS's Lambda invocation-error action: the
next N invokes fail with a given errorType without running the handler (`inject_fault`,
`POST /_sluice/faults`; timeouts and throttles as Lambda answers them: `sluice.lambda_faults`).
A function's `ReservedConcurrentExecutions` is honoured: an invoke beyond it is throttled
(`TooManyRequests`, HTTP 429 on the Invoke API), as on AWS.

Start-up is Lambda's Init phase, not part of the invoke: a new worker says "ready" once its
handler module is imported, and only then is the event sent and the function's Timeout
started. Init has its own limit (`INIT_TIMEOUT_S`, 10 s on AWS); an init that runs past it
goes on under the function's Timeout, as AWS re-runs a too-slow init inside the first
invoke. At most `max_cold_starts` workers import at once (the host's CPUs; AWS gives each
sandbox its own): an invoke that finds no idle worker waits for one to come free or for a
start slot. That wait only adds latency, never counts against a timeout, and keeps a burst
of a thousand executions from starting a thousand processes on a laptop.

With `prewarm` (as `sluice up` runs), workers are started ahead of need, like provisioned
concurrency: one per function when it is deployed, in the background, and one more whenever
an invoke takes a function's last idle worker while other invokes of it are in flight (a
burst grows the pool before the next invoke has to wait for an import). A prewarmed
worker's first invoke has no Init Duration, and its Init has the longer limit of a
provisioned environment. Invokes that need a start slot go before starts ahead of need.

One module on purpose: the pools, the cold-start slots, the pending faults and the usage
counters share one lock and one invoke path, so a part on its own would need the others'
state.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sluice import lambda_zygote
from sluice.lambda_faults import TIMEOUT_ERROR, Fault, Faults, TooManyRequests, timeout_message
from sluice.lambda_sandbox import EXITED, Sandbox
from sluice.lambda_sandbox import FunctionSpec as FunctionSpec  # where callers look
from sluice.lambda_usage import FunctionUsage, InvokeRecord, UsageTally

# A synchronous invocation's response: at most 6 MB (Lambda quotas), 6,291,556 bytes as
# Lambda counts it; a bigger one fails the invoke with this function error.
MAX_RESPONSE_BYTES = 6_291_556
RESPONSE_TOO_LARGE = {
    "errorType": "Function.ResponseSizeTooLarge",
    "errorMessage": "Response payload size exceeded maximum allowed payload size (6291556 bytes).",
}
# Lambda's limit on the Init phase (extensions, runtime, the handler module's import).
INIT_TIMEOUT_S = 10.0
# ... which does not apply to provisioned environments, as a worker started ahead of need
# is: their Init may run 130 s or the function's Timeout, whichever is higher (Lambda
# developer guide, "Understanding the Lambda execution environment lifecycle").
PROVISIONED_INIT_TIMEOUT_S = 130.0
LATE_INIT_S = 600.0  # how long a slower import started ahead of need is still waited for


@dataclass
class InvokeResult:
    payload: bytes
    function_error: str | None  # "Unhandled" when the handler raised or timed out
    logs: str
    request_id: str
    duration_ms: float


@dataclass
class _Pool:
    spec: FunctionSpec
    idle: list[Sandbox] = field(default_factory=list)  # guarded by LambdaRuntime._cond
    running: int = 0  # invokes in flight, guarded by LambdaRuntime._cond
    ahead: int = 0  # workers being started ahead of need (queued or importing)
    starting: int = 0  # of those, the ones importing now
    waiting: int = 0  # invokes waiting for a worker


class LambdaRuntime:
    """The gateway's Lambda service: deploy functions, invoke them, keep recent invoke logs."""

    def __init__(
        self,
        log_dir: Path,
        base_env: dict[str, str],
        history: int = 2000,
        runtime_libs: Path | None = None,
        max_cold_starts: int | None = None,
        prewarm: bool = False,
    ) -> None:
        self.log_dir = log_dir
        self.base_env = base_env
        # Set for built packages: the directory standing in for the Lambda runtime's libraries.
        self.runtime_libs = runtime_libs
        log_dir.mkdir(parents=True, exist_ok=True)
        self._pools: dict[str, _Pool] = {}
        self._lock = threading.Lock()
        self._zygote: lambda_zygote.Zygote | None = None  # started with the first worker
        # Guards every pool's idle list and the count of workers still importing.
        self._cond = threading.Condition()
        self._starting = 0
        self._slot_waiters = 0  # invokes waiting for a start slot: they go first
        self.prewarm = prewarm
        self.max_cold_starts = max_cold_starts or max(2, os.cpu_count() or 2)
        self.records: deque[InvokeRecord] = deque(maxlen=history)
        self._faults = Faults()
        # Totals per function, never trimmed (the records above are only the recent ones).
        self._usage = UsageTally()

    def deploy(self, specs: list[FunctionSpec]) -> None:
        """(Re)register functions; warm workers are dropped so edited handlers load fresh."""
        with self._lock:
            old, self._pools = self._pools, {s.name: _Pool(s) for s in specs}
        with self._cond:
            stale = [w for pool in old.values() for w in pool.idle]
            for pool in old.values():
                pool.idle.clear()
        for worker in stale:
            worker.kill()
        if self.prewarm:
            self.start_workers()

    def start_workers(self) -> None:
        """Start one worker per deployed function in the background (the stack calls this
        once it is ready, so the imports do not compete with the rest of its deploy)."""
        with self._cond:
            for pool in self._pools.values():
                self._start_ahead(pool)

    def warm(self, name: str) -> int:
        """How many idle workers a function has (imported, waiting for an invoke)."""
        with self._cond:
            pool = self._pools.get(name)
            return len(pool.idle) if pool else 0

    def workers(self) -> dict[str, dict[str, int]]:
        """Per function: workers idle (imported), importing ahead of need, and invokes in
        flight (`GET /_sluice/lambda/workers`)."""
        with self._cond:
            return {
                name: {"idle": len(p.idle), "starting": p.starting, "running": p.running}
                for name, p in self._pools.items()
            }

    def _start_ahead(self, pool: _Pool, spare: bool = False) -> None:
        """Start a worker for POOL in the background (caller holds _cond), unless one is
        already on its way or the reserved concurrency leaves no room for it. A SPARE is
        for a burst in progress; otherwise the pool gets a first worker if it has none."""
        limit = pool.spec.reserved_concurrency
        size = pool.running + len(pool.idle) + pool.ahead
        if pool.ahead or (limit is not None and size >= limit):
            return
        pool.ahead += 1
        threading.Thread(
            target=self._prestart,
            args=(pool, spare),
            name=f"sluice-prewarm-{pool.spec.name}",
            daemon=True,
        ).start()

    def _prestart(self, pool: _Pool, spare: bool) -> None:
        with self._cond:
            while self._starting >= self.max_cold_starts or self._slot_waiters:
                self._cond.wait()
            needed = not pool.idle and (spare or not pool.running)
            if not needed or self._pools.get(pool.spec.name) is not pool:
                pool.ahead -= 1
                return
            self._starting += 1
            pool.starting += 1
        holding, state, worker = True, "exited", None
        try:
            worker = self._sandbox(pool.spec)
            state = worker.init(worker.spawned + max(PROVISIONED_INIT_TIMEOUT_S, pool.spec.timeout))
            if state == "timeout":
                # A loaded laptop, most likely: give the start slot back (an invoke now
                # starts its own worker, under Lambda's limits) and keep this worker if its
                # import still finishes within LATE_INIT_S.
                with self._cond:
                    self._starting -= 1
                    pool.starting -= 1
                    holding = False
                    self._cond.notify_all()
                state = worker.init(worker.spawned + LATE_INIT_S)
        finally:
            with self._cond:
                pool.ahead -= 1
                if holding:
                    self._starting -= 1
                    pool.starting -= 1
                kept = state == "ready" and self._pools.get(pool.spec.name) is pool
                if kept and worker is not None:
                    pool.idle.append(worker)
                self._cond.notify_all()
            # A failed Init is dropped: the invoke then starts its own worker and answers
            # with what went wrong, as without prewarming.
            if worker is not None and not kept:
                worker.kill()

    def functions(self) -> list[FunctionSpec]:
        return [p.spec for p in self._pools.values()]

    def resolve(self, name_or_arn: str) -> FunctionSpec | None:
        name = name_or_arn.split(":function:", 1)[-1].split(":", 1)[0]
        pool = self._pools.get(name)
        return pool.spec if pool else None

    def inject_fault(
        self,
        name_or_arn: str,
        error_type: str,
        error_message: str | None,
        count: int = 1,
        after_handler: bool = False,
    ) -> Fault:
        """Make the next COUNT invokes of a function fail with ERROR_TYPE (the error name a
        state's Retry and Catch match) and ERROR_MESSAGE (None: Lambda's own), before the
        handler runs or AFTER_HANDLER; replaces the function's previous fault, and COUNT 0
        removes it. Raises KeyError for an unknown function."""
        spec = self.resolve(name_or_arn)
        if spec is None:
            raise KeyError(name_or_arn)
        return self._faults.inject(spec.name, error_type, error_message, count, after_handler)

    def faults(self) -> list[Fault]:
        return self._faults.pending()

    def clear_faults(self) -> None:
        self._faults.clear()

    def _faulted(self, spec: FunctionSpec, fault: Fault) -> InvokeResult:
        request_id = str(uuid.uuid4())
        message = fault.message(request_id, spec.timeout)
        logs = (
            f"sluice: injected fault {fault.error_type}: {message} "
            f"({fault.remaining} more to fail)\n"
        )
        self.records.append(
            InvokeRecord(spec.name, request_id, time.time(), 0.0, fault.error_type, logs)
        )
        if fault.throttles:
            raise TooManyRequests(spec.name, "injected fault", fault.error_message)
        body = {"errorType": fault.error_type, "errorMessage": message}
        return InvokeResult(json.dumps(body).encode(), "Unhandled", logs, request_id, 0.0)

    def invoke(self, name_or_arn: str, event: Any) -> InvokeResult:
        spec = self.resolve(name_or_arn)
        if spec is None:
            raise KeyError(name_or_arn)
        fault = self._faults.take(spec.name)
        if fault is not None and not fault.after_handler:
            return self._faulted(spec, fault)
        pool = self._pools[spec.name]
        self._reserve(pool)
        try:
            result = self._run(spec, pool, event)
        finally:
            with self._cond:
                pool.running -= 1
        # An after-handler fault: the handler's work is done, its answer lost.
        return result if fault is None else self._faulted(spec, fault)

    def _reserve(self, pool: _Pool) -> None:
        """Count one invoke in flight, or throttle it past the reserved concurrency."""
        limit = pool.spec.reserved_concurrency
        with self._cond:
            if limit is not None and pool.running >= limit:
                raise TooManyRequests(
                    pool.spec.name, "ReservedFunctionConcurrentInvocationLimitExceeded"
                )
            pool.running += 1

    def _run(self, spec: FunctionSpec, pool: _Pool, event: Any) -> InvokeResult:
        asked = time.time()
        worker = self._warm_worker(pool)
        wait_ms = (time.time() - asked) * 1000
        fresh = worker is None
        if worker is None:
            try:
                worker = self._sandbox(spec)
            except BaseException:
                self._started_one()
                raise
        request_id = str(uuid.uuid4())
        started = time.time()
        invoked = started  # the invoke's duration runs from here: after Init, if any
        init_ms: float | None = None
        deadline: float | None = None
        state = "ready"
        if fresh:
            try:
                state = worker.init(worker.spawned + INIT_TIMEOUT_S)
                invoked = time.time()
                if state == "timeout":
                    # AWS runs a too-slow init again inside the invoke, under its Timeout.
                    deadline = invoked + spec.timeout
                    state = worker.init(deadline)
            finally:
                self._started_one()
            init_ms = (time.time() - worker.spawned) * 1000
        reply: dict[str, Any] | None = None  # None: timed out
        if state == "exited":
            reply = EXITED
        elif state == "ready":
            sent = time.time()  # the function's Timeout runs from here
            reply = worker.invoke(event, request_id, deadline or sent + spec.timeout)
        duration_ms = (time.time() - invoked) * 1000
        if reply is not None and reply.get("duration_ms", 0.0) > spec.timeout * 1000:
            reply = None  # it answered, but after its Timeout by its own clock: timed out
        if reply is None or reply is EXITED:
            worker.kill()  # the next invoke starts a fresh worker
        elif self._pools.get(spec.name) is pool:
            with self._cond:
                pool.idle.append(worker)
                self._cond.notify_all()
        else:  # redeployed while this invoke ran: retire the stale worker
            worker.kill()
        if reply is None:
            reply = {
                "error": {
                    "errorType": TIMEOUT_ERROR,
                    "errorMessage": timeout_message(request_id, spec.timeout),
                },
                "logs": "",
            }
        if not reply.get("error") and len(reply.get("payload", "").encode()) > MAX_RESPONSE_BYTES:
            reply = {**reply, "error": RESPONSE_TOO_LARGE}
        error = reply.get("error")
        handler_ms = reply.get("duration_ms")
        if handler_ms is None:  # timed out or died: billed for all the time it ran
            handler_ms = duration_ms
        record = InvokeRecord(
            spec.name,
            request_id,
            started,
            duration_ms,
            error["errorType"] if error else None,
            reply.get("logs", ""),
            billed_ms=max(1, math.ceil(handler_ms)),
            memory_mb=spec.memory,
            cpu_ms=float(reply.get("cpu_ms", 0.0)),
            init_ms=init_ms,
            wait_ms=wait_ms,
        )
        self.records.append(record)
        self._usage.count(record)
        if error:
            body = {"errorType": error["errorType"], "errorMessage": error["errorMessage"]}
            if error.get("stackTrace"):
                body["stackTrace"] = error["stackTrace"]
            return InvokeResult(
                json.dumps(body).encode(), "Unhandled", reply["logs"], request_id, duration_ms
            )
        return InvokeResult(reply["payload"].encode(), None, reply["logs"], request_id, duration_ms)

    def usage(self) -> list[FunctionUsage]:
        """Per-function totals since the runtime started (copies), by function name."""
        return self._usage.totals()

    def _warm_worker(self, pool: _Pool) -> Sandbox | None:
        """An idle worker of POOL, or None once this caller may start a new one (a cold
        start slot is then held until `_started_one`). Waits while neither is available."""
        queued = False
        with self._cond:
            pool.waiting += 1
            try:
                while True:
                    if pool.idle:
                        worker = pool.idle.pop()
                        if self.prewarm and not pool.idle and pool.running > 1:
                            self._start_ahead(pool, spare=True)  # the next invoke needs one too
                        return worker
                    # Workers importing ahead of need serve the first waiters.
                    if pool.waiting > pool.starting:
                        if self._starting < self.max_cold_starts:
                            self._starting += 1
                            return None
                        if not queued:
                            queued = True
                            self._slot_waiters += 1
                    self._cond.wait()
            finally:
                pool.waiting -= 1
                if queued:
                    self._slot_waiters -= 1
                    self._cond.notify_all()  # starts ahead of need may go now

    def _sandbox(self, spec: FunctionSpec) -> Sandbox:
        """A new worker: forked from the zygote when it may be (not for built packages,
        whose workers must not see the laptop's libraries), else a fresh interpreter."""
        zygote = None
        if (
            self.runtime_libs is None
            and lambda_zygote.enabled()
            and lambda_zygote.fits(spec.environment)
        ):
            with self._lock:
                if self._zygote is None:
                    self._zygote = lambda_zygote.Zygote(self.base_env)
                zygote = self._zygote
        return Sandbox(spec, self.log_dir, self.base_env, self.runtime_libs, zygote)

    def _started_one(self) -> None:
        with self._cond:
            self._starting -= 1
            self._cond.notify_all()

    def shutdown(self) -> None:
        self.deploy([])
        with self._lock:
            zygote, self._zygote = self._zygote, None
        if zygote is not None:
            zygote.stop()


def default_base_env(endpoint: str) -> dict[str, str]:
    """What every function sees locally: credentials, region and the gateway as endpoint."""
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TZ")}
    return {
        **keep,
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
        "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
        "PYTHONDONTWRITEBYTECODE": "1",
    }


# What the python3.12 Lambda runtime provides besides the standard library.
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six")


def provide_runtime_libs(target: Path) -> Path:
    """A directory holding only what the Lambda runtime provides, linked from this Python's
    own installs (the versions differ from the runtime's; the set of names does not)."""
    import importlib.util

    target.mkdir(parents=True, exist_ok=True)
    for name in RUNTIME_PROVIDED:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            raise RuntimeError(f"{name} is not installed; the built packages need it at run time")
        origin = Path(spec.origin)
        source = origin.parent if origin.name == "__init__.py" else origin
        link = target / source.name
        if not link.is_symlink():
            link.unlink(missing_ok=True)
            link.symlink_to(source)
    return target
