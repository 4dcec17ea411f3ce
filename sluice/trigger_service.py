"""Placeholder wiring, replaced once the pollers land."""

from __future__ import annotations
from pathlib import Path
from typing import Any


class Triggers:
    def __init__(self, endpoint: str, data_dir: Path) -> None:
        self.endpoint = endpoint

    def apply(self, pipes: Any, rules: Any, resources: Any) -> None:
        pass

    def put_events(self, events: Any) -> None:
        pass

    def dlq_endpoint(self, environ: Any, start_response: Any) -> Any:
        start_response("404 Not Found", [])
        return [b""]

    def stop(self) -> None:
        pass
