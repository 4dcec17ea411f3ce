"""Helpers shared by the console tests and tests/console/screenshot.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from sluice.client import Gateway
from sluice.testing import StackProcess, free_port, wait_for

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
FIXTURE = HERE / "fixture"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Every item of the drill run: Accept, Reject (fails the Map), then one never started.
DRILL_INPUT = {"items": [{"bad": False}, {"bad": True}, {"bad": False}], "order": 7}


class ConsoleStack(StackProcess):
    """A stack in a child process with the console at /console (tests/console/serve.py)."""

    drill_arn = ""  # the failing drill execution started with the stack

    def __init__(self, template: Path, data_dir: Path) -> None:
        self.port = free_port()
        self.gateway = Gateway(f"http://127.0.0.1:{self.port}")
        self.log_path = data_dir / "gateway.log"
        data_dir.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("w")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                str(HERE / "serve.py"),
                "--template",
                str(template),
                "--port",
                str(self.port),
                "--data-dir",
                str(data_dir),
            ],
            cwd=ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "SLUICE_ENDPOINT": self.gateway.url},
        )
        try:
            wait_for(self._ready, timeout=90, what=f"the console stack on port {self.port}")
        except AssertionError:
            self.stop()
            raise AssertionError(
                f"stack did not start:\n{self.log_path.read_text()[-4000:]}"
            ) from None

    @property
    def console(self) -> str:
        return f"{self.gateway.url}/console"


def sqs_record(body: dict[str, Any], message_id: str = "m-1") -> dict[str, Any]:
    """One record as a Pipe hands it to the state machine."""
    return {
        "messageId": message_id,
        "receiptHandle": "handle",
        "body": json.dumps(body),
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": "1700000000000",
            "SenderId": "AIDAEXAMPLE",
            "ApproximateFirstReceiveTimestamp": "1700000000001",
        },
        "messageAttributes": {},
        "md5OfBody": "0" * 32,
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:sluice-transcript-results",
        "awsRegion": "us-east-1",
    }
