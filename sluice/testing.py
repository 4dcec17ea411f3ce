"""Test harness: a stack in a child process, `run(flow, input)`, and waits that never sleep blind.

Tests use only public AWS APIs against the gateway. Setting SLUICE_SFN_ENDPOINT points the
Step Functions calls at another engine (e.g. Step Functions Local, whose LAMBDA_ENDPOINT
is this gateway) without changing a test.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sluice import stack_zygote
from sluice.client import TERMINAL, Gateway
from sluice.history import ExecutionStory, StateRun, failed_state, iter_runs, summarize
from sluice.waiting import wait_for

# Called with each running stack just before `StackProcess.stop` ends it (the pytest plugin
# in sluice/pytest_plugin.py collects state coverage here). A hook must not raise.
BEFORE_STOP: list[Callable[[StackProcess], None]] = []
PORT_ATTEMPTS = 3
# Generous: parallel test workers share the cores, and a stack must not fail a test by
# starting slowly on a busy machine (a healthy one is up in seconds).
START_TIMEOUT = 180


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Execution:
    arn: str
    status: str
    output: Any
    error: str | None
    cause: str | None
    input: Any
    story: ExecutionStory
    events: list[dict[str, Any]] = field(repr=False)

    @property
    def failed_state(self) -> StateRun | None:
        return failed_state(self.story)

    def state(self, name: str) -> StateRun:
        """The (last) run of a state, searching Parallel branches and Map iterations too."""
        found = [run for run in iter_runs(self.story.states) if run.name == name]
        if not found:
            raise AssertionError(f"state {name!r} never ran in {self.arn}")
        return found[-1]

    def attempts(self, name: str) -> int:
        return len(self.state(name).attempts)


# `SLUICE_BUILT=1 pytest …`: the same tests against `make package`'s output.
BUILT_ENV = "SLUICE_BUILT"


def project_stack(root: Path, data_dir: Path, **kwargs: Any) -> StackProcess:
    """A stack of the project's template with its samconfig `local` parameters. With
    SLUICE_BUILT=1 it is sam build's template, each function running from its built
    package alone (`sluice up --built`), so the tests prove what would be deployed."""
    if os.environ.get(BUILT_ENV) == "1":
        built = root / ".aws-sam" / "build" / "template.yaml"
        return StackProcess(built, data_dir, built=True, **kwargs)
    return StackProcess(root / "infra" / "template.yaml", data_dir, **kwargs)


class StackProcess:
    """`sluice up` in a child process on a free port, torn down with the test session."""

    cwd: Path | None = None  # the child's working directory (None: this process's)

    def __init__(
        self,
        template: Path,
        data_dir: Path,
        *,
        env: dict[str, str] | None = None,
        config_env: str = "local",
        overrides: dict[str, str] | None = None,
        time_scale: float | None = None,
        built: bool = False,
        fresh: bool = False,
    ) -> None:
        self.data_dir = data_dir
        self.log_path = data_dir / "gateway.log"
        data_dir.mkdir(parents=True, exist_ok=True)
        # Appended to: a stack restarted on the same data directory keeps the earlier log.
        self._log = self.log_path.open("a")
        options = {
            "config_env": config_env,
            "overrides": overrides,
            "time_scale": time_scale,
            "built": built,
            "fresh": fresh,
        }
        # A free port can be taken by another process (a parallel test worker) before the
        # child binds it: then start again on another.
        for attempt in range(PORT_ATTEMPTS):
            if self._launch(template, env, options, last=attempt == PORT_ATTEMPTS - 1):
                return

    def _launch(
        self, template: Path, env: dict[str, str] | None, options: dict[str, Any], last: bool
    ) -> bool:
        """Start the child on a free port and wait until it serves; False when the port was
        taken meanwhile (and not LAST)."""
        self.port = free_port()
        self.gateway = Gateway(f"http://127.0.0.1:{self.port}")
        self._log.flush()
        log_start = self.log_path.stat().st_size
        command = self.server_command(template, self.data_dir, **options)
        full_env = {**os.environ, **(env or {}), "SLUICE_ENDPOINT": self.gateway.url}
        zygote = stack_zygote.zygote()
        self.proc: subprocess.Popen[bytes] | stack_zygote.ForkedStack
        if zygote is not None and zygote.fits(command, full_env):
            cwd = str(self.cwd or Path.cwd())
            self.proc = zygote.spawn(command, full_env, cwd, str(self.log_path))
        else:
            self.proc = subprocess.Popen(
                command, cwd=self.cwd, stdout=self._log, stderr=subprocess.STDOUT, env=full_env
            )
        try:
            wait_for(self._ready, timeout=START_TIMEOUT, what=f"the stack on port {self.port}")
            return True
        except AssertionError:
            with self.log_path.open() as log:
                log.seek(log_start)
                taken = "Address already in use" in log.read()
            if taken and not last and self.proc.wait(timeout=15) is not None:
                return False
            self.stop()
            raise AssertionError(
                f"stack did not start:\n{self.log_path.read_text()[-4000:]}"
            ) from None

    def server_command(
        self,
        template: Path,
        data_dir: Path,
        *,
        config_env: str,
        overrides: dict[str, str] | None,
        time_scale: float | None,
        built: bool,
        fresh: bool,
    ) -> list[str]:
        """The child process: `sluice up` on this stack's port (a subclass may serve the
        template otherwise, e.g. with more mounted on the gateway)."""
        return [
            sys.executable,
            "-m",
            "sluice",
            "up",
            "--template",
            str(template),
            "--port",
            str(self.port),
            "--data-dir",
            str(data_dir),
            "--config-env",
            config_env,
            *(f"--parameter-overrides={k}={v}" for k, v in (overrides or {}).items()),
            *([f"--time-scale={time_scale}"] if time_scale is not None else []),
            *(["--built"] if built else []),
            *(["--fresh"] if fresh else []),
        ]

    def _ready(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"stack exited:\n{self.log_path.read_text()[-4000:]}")
        try:
            return bool(self.gateway.get("/_sluice/stack"))
        except Exception:
            return False

    def kill(self) -> None:
        """SIGKILL the stack, as a crash would: no shutdown code runs."""
        self.proc.kill()
        self.proc.wait(timeout=15)
        self._log.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            for hook in list(BEFORE_STOP):
                hook(self)
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self._log.close()

    # -- conveniences for tests ----------------------------------------------------------

    @contextlib.contextmanager
    def time_scale(self, scale: float) -> Iterator[float]:
        """Run Wait states and Retry intervals at SCALE (0 = no sleeping) inside the block,
        then restore the stack's previous scale. History timestamps stay virtual-consistent."""
        previous: float = self.gateway.post("/_sluice/time-scale", {"scale": scale})["previous"]
        try:
            yield scale
        finally:
            self.gateway.post("/_sluice/time-scale", {"scale": previous})

    def inject_fault(
        self,
        function: str,
        error_type: str,
        error_message: str | None = None,
        *,
        count: int = 1,
        after_handler: bool = False,
    ) -> dict[str, Any]:
        """Make FUNCTION's (logical id or name) next COUNT invokes fail with ERROR_TYPE, the
        error name a state's Retry/Catch sees, without running its handler (like an AWS FIS
        Lambda invocation-error action), or AFTER_HANDLER ran and did its work. Answers the
        pending fault."""
        resource = self.gateway.stack()["resources"].get(function)
        name = resource["name"] if resource else function
        body: dict[str, Any] = {"function": name, "errorType": error_type, "count": count}
        if after_handler:
            body["afterHandler"] = True
        if error_message is not None:
            body["errorMessage"] = error_message
        fault: dict[str, Any] = self.gateway.post("/_sluice/faults", body)
        return fault

    def faults(self) -> list[dict[str, Any]]:
        """The faults still pending, with how many invokes each will still fail."""
        faults: list[dict[str, Any]] = self.gateway.get("/_sluice/faults")
        return faults

    def clear_faults(self) -> None:
        self.gateway.delete("/_sluice/faults")

    def refuse_starts(
        self, flow: str, error_type: str = "ServiceUnavailable", *, count: int = 1
    ) -> dict[str, Any]:
        """Make FLOW's next COUNT StartExecution/StartSyncExecution calls fail with one of
        Step Functions' common errors (`ServiceUnavailable` 503, `InternalFailure` 500,
        `ThrottlingException` 400): no execution starts. COUNT 0 removes the fault."""
        body = {"stateMachine": self.flow_arn(flow), "errorType": error_type, "count": count}
        fault: dict[str, Any] = self.gateway.post("/_sluice/execution-faults", body)
        return fault

    def clear_execution_faults(self) -> None:
        self.gateway.delete("/_sluice/execution-faults")

    def hold_s3_notifications(self, bucket: str, prefix: str = "") -> None:
        """Keep back the S3 -> SQS notifications of BUCKET's keys under PREFIX, so a test
        can deliver them later, in any order (S3 guarantees none). Ends with
        `clear_s3_notifications`."""
        self.gateway.post("/_sluice/s3-notifications/hold", {"bucket": bucket, "prefix": prefix})

    def held_s3_notifications(self) -> list[dict[str, Any]]:
        """The notifications held so far, oldest first: `{"id", "queue", "body"}`, the body
        being the S3 event as SQS would have received it."""
        held: list[dict[str, Any]] = self.gateway.get("/_sluice/s3-notifications")["held"]
        return held

    def release_s3_notifications(self, ids: list[str] | None = None) -> None:
        """Send held notifications to their queues in the order of IDS (all without)."""
        self.gateway.post(
            "/_sluice/s3-notifications/release", {"ids": ids} if ids is not None else {}
        )

    def clear_s3_notifications(self) -> None:
        """End every hold; notifications still held are dropped."""
        self.gateway.delete("/_sluice/s3-notifications")

    def cli(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run `sluice ARGS…` against this stack, as a user would; wide, so lines don't wrap.
        Forked from the stack zygote when it can be, as stacks are."""
        command = [sys.executable, "-m", "sluice", *args]
        env = {**os.environ, "SLUICE_ENDPOINT": self.gateway.url, "COLUMNS": "250"}
        zygote = stack_zygote.zygote()
        if zygote is None or not zygote.fits(command, env):
            return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
        return zygote.run(command, env, timeout)

    def client(self, service: str, **config: Any) -> Any:
        if service == "stepfunctions" and os.environ.get("SLUICE_SFN_ENDPOINT"):
            from sluice.aws_client import client

            return client(os.environ["SLUICE_SFN_ENDPOINT"], service, **config)
        return self.gateway.client(service, **config)

    def resource(self, logical_id: str) -> dict[str, Any]:
        res: dict[str, Any] = self.gateway.stack()["resources"][logical_id]
        return res

    def flow_arn(self, flow: str) -> str:
        return self.gateway.flow_arn(flow)

    def start(self, flow: str, payload: Any, name: str | None = None) -> str:
        kwargs: dict[str, Any] = {
            "stateMachineArn": self.flow_arn(flow),
            "input": json.dumps(payload),
        }
        if name:
            kwargs["name"] = name
        arn: str = self.client("stepfunctions").start_execution(**kwargs)["executionArn"]
        return arn

    def run(
        self, flow: str, payload: Any, *, test_case: str | None = None, timeout: float = 60
    ) -> Execution:
        """Start FLOW with PAYLOAD (optionally a MockConfigFile test case) and wait for the end."""
        arn = self.flow_arn(flow) + (f"#{test_case}" if test_case else "")
        sfn = self.client("stepfunctions")
        started = sfn.start_execution(stateMachineArn=arn, input=json.dumps(payload))
        return self.execution(started["executionArn"], timeout=timeout)

    def execution(self, arn: str, timeout: float = 60) -> Execution:
        sfn = self.client("stepfunctions")
        desc = wait_for(
            lambda: (d := sfn.describe_execution(executionArn=arn))["status"] in TERMINAL and d,
            timeout=timeout,
            what=f"execution {arn}",
        )
        events: list[dict[str, Any]] = []
        for page in sfn.get_paginator("get_execution_history").paginate(executionArn=arn):
            events += page["events"]
        definition = sfn.describe_state_machine_for_execution(executionArn=arn)["definition"]
        return Execution(
            arn=arn,
            status=desc["status"],
            output=json.loads(desc["output"]) if desc.get("output") else None,
            error=desc.get("error"),
            cause=desc.get("cause"),
            input=json.loads(desc.get("input") or "null"),
            story=summarize(events, definition),
            events=events,
        )

    def put_events(self, entries: list[dict[str, Any]]) -> None:
        """PutEvents ENTRIES, then wait until rule delivery is idle: rules match during
        PutEvents, so by the return every state machine a rule matched has started."""
        self.client("events").put_events(Entries=entries)
        wait_for(
            lambda: self.gateway.get("/_sluice/stats")["rules"]["pending"] == 0,
            what="rule delivery to go idle",
        )

    def executions(self, flow: str, status: str | None = None) -> list[dict[str, Any]]:
        sfn = self.client("stepfunctions")
        kwargs: dict[str, Any] = {"stateMachineArn": self.flow_arn(flow)}
        if status:
            kwargs["statusFilter"] = status
        items: list[dict[str, Any]] = []
        for page in sfn.get_paginator("list_executions").paginate(**kwargs):
            items += page["executions"]
        return items

    def wait_executions(
        self, flow: str, count: int, *, timeout: float = 30, status: str | None = None
    ) -> list[Execution]:
        """Wait until FLOW has at least COUNT finished executions; return them oldest first."""

        def finished() -> list[dict[str, Any]] | None:
            done = [
                e
                for e in self.executions(flow)
                if e["status"] in TERMINAL and (status is None or e["status"] == status)
            ]
            return done if len(done) >= count else None

        done = wait_for(finished, timeout=timeout, what=f"{count} finished {flow} executions")
        done.sort(key=lambda e: e["startDate"])
        return [self.execution(e["executionArn"]) for e in done]


def module_stack(template: Path, **options: Any) -> Any:
    """A module-scoped pytest fixture: TEMPLATE's stack, shared by the module's tests.

    `my_stack = module_stack(HERE / "template.yaml", time_scale=0)` in a test module.
    """
    import pytest

    @pytest.fixture(scope="module")
    def fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackProcess]:
        stack = StackProcess(template, tmp_path_factory.mktemp(template.parent.name), **options)
        yield stack
        stack.stop()

    return fixture


def in_process_aws(handlers: dict[str, Callable[[Any, Any], Any]], **options: Any) -> Any:
    """moto and the embedded engine in this process, Lambda invokes running HANDLERS: a
    context manager yielding a `sluice.in_process.InProcessAws` (see `in_process_aws` there)."""
    from sluice.in_process import in_process_aws as start

    return start(handlers, **options)
