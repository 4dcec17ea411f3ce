"""Helpers shared by the console tests and tests/console/screenshot.py."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from sluice.testing import StackProcess

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

    cwd = ROOT

    def server_command(self, template: Path, data_dir: Path, **options: Any) -> list[str]:
        args = ["--template", str(template), "--port", str(self.port), "--data-dir", str(data_dir)]
        return [sys.executable, str(HERE / "serve.py"), *args]

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
