"""MiniStack (a Docker-free AWS emulator, from PyPI) serving the runtime
bench's 4-state flow, as the second reference of bench/runtime_bench.py.

MiniStack runs in a child process on a free port with its own Step Functions engine and
its local (in-process, no Docker) Lambda executor. The flow is deployed with boto3 as a
developer would deploy it there: the table, the task function (a zip of
bench/runtime/bench_tasks.py) and the state machine with the template's substitutions.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import tempfile
import time
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from sluice.testing import free_port

HERE = Path(__file__).parent / "runtime"
# MiniStack pins its own botocore, older than moto's: it lives in an environment of its own,
# built by `make bench` from bench/ministack.lock.
PYTHON = Path(__file__).parent.parent / ".venv-ministack" / "bin" / "python"
ROLE = "arn:aws:iam::000000000000:role/bench"


class MiniStack:
    """A MiniStack server, torn down by `stop`."""

    def __init__(self, data_dir: Path) -> None:
        if not PYTHON.exists():
            raise RuntimeError(f"{PYTHON} is missing: `make bench` builds it")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log = (data_dir / "ministack.log").open("w")
        self.proc = subprocess.Popen(
            [str(PYTHON), "-m", "ministack"],
            cwd=data_dir,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "GATEWAY_PORT": str(self.port), "LOG_LEVEL": "WARNING"},
        )
        deadline = time.monotonic() + 60
        while not self._healthy():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"MiniStack did not start: {data_dir / 'ministack.log'}")
            time.sleep(0.1)

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/_ministack/health", timeout=1):
                return True
        except OSError:
            return False

    def client(self, service: str, max_pool_connections: int = 10) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
            config=Config(
                max_pool_connections=max_pool_connections,
                retries={"max_attempts": 0},
                inject_host_prefix=False,
            ),
        )

    def deploy_four_states(self) -> str:
        """The bench flow deployed as bench/runtime/template.yaml describes it; its ARN."""
        table = "bench-results"
        self.client("dynamodb").create_table(
            TableName=table,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        )
        code = io.BytesIO()
        with zipfile.ZipFile(code, "w") as archive:
            archive.write(HERE / "bench_tasks.py", "bench_tasks.py")
        function = self.client("lambda").create_function(
            FunctionName="bench-step",
            Runtime="python3.12",  # the project's one Python, as bench/runtime/template.yaml
            Role=ROLE,
            Handler="bench_tasks.step",
            Code={"ZipFile": code.getvalue()},
            Timeout=10,
        )["FunctionArn"]
        definition = (
            (HERE / "four_states.asl.json")
            .read_text()
            .replace("${StepArn}", function)
            .replace("${TableName}", table)
        )
        json.loads(definition)
        arn: str = self.client("stepfunctions").create_state_machine(
            name="four_states", definition=definition, roleArn=ROLE, type="STANDARD"
        )["stateMachineArn"]
        return arn

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log.close()


def on_ministack[T](measure: Any) -> T:
    with tempfile.TemporaryDirectory() as tmp:
        stack = MiniStack(Path(tmp))
        try:
            result: T = measure(stack)
            return result
        finally:
            stack.stop()
