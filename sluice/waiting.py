"""Waiting on a condition by polling it, never by sleeping a fixed time."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_for[T](
    probe: Callable[[], T | None],
    *,
    timeout: float = 30,
    what: str = "condition",
    interval: float = 0.05,
) -> T:
    """Poll `probe` until it returns something truthy; fail with `what` after `timeout`."""
    deadline = time.time() + timeout
    last: T | None = None
    while time.time() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval)
        interval = min(interval * 1.5, 0.5)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")
