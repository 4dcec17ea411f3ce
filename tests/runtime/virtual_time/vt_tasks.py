"""Task handlers used only by the virtual-time tests (not a flow)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


class TransientError(Exception):
    """Retried by the state machine with backoff."""


def flaky(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Fails with TransientError until it has been called `fail_times` times."""
    counter = Path(event["counter_file"])
    attempts = int(counter.read_text()) + 1 if counter.exists() else 1
    counter.write_text(str(attempts))
    if attempts <= int(event.get("fail_times", 0)):
        raise TransientError(f"attempt {attempts} failed")
    return {"attempts": attempts}
