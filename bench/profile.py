"""Where a burst's time goes: the stack's own tallies, read after a bench run.

Lambda: invokes, cold starts and their Init, time an invoke waited for a worker, handler
time. Pipes and rule delivery: target calls, records, time spent in the target (summed over
concurrent calls, so it can exceed the wall time). Read from `/_sluice/lambda/usage` and
`/_sluice/stats`.
"""

from __future__ import annotations

import json
import time
from typing import Any

from sluice.testing import StackProcess


def first_and_warm(stack: StackProcess, function: str, event: Any, warm_runs: int = 5) -> str:
    """Invoke FUNCTION right after the stack is up, then WARM_RUNS more times: a table row
    of the first invoke against the median warm one (client clock)."""
    lam = stack.client("lambda")
    name = stack.resource(function)["name"]
    times = []
    for _ in range(1 + warm_runs):
        began = time.perf_counter()
        lam.invoke(FunctionName=name, Payload=_payload(event))
        times.append((time.perf_counter() - began) * 1000)
    first, warm = times[0], sorted(times[1:])[warm_runs // 2]
    print(f"{function}: first invoke {first:.0f} ms, warm {warm:.0f} ms")
    return (
        f"| first invoke of `{function}` after `sluice up` / median warm one | "
        f"{first:.0f} / {warm:.0f} ms ({first / warm:.1f}x) |\n"
    )


def _payload(event: Any) -> bytes:
    return json.dumps(event).encode()


def breakdown(stack: StackProcess, wall_s: float) -> str:
    """A markdown section: per function and per trigger, over the whole run."""
    usage: list[dict[str, Any]] = stack.gateway.get("/_sluice/lambda/usage")
    stats: dict[str, Any] = stack.gateway.get("/_sluice/stats")
    lines = [
        f"\nWhere the time went (wall {wall_s:.1f} s; sums over concurrent calls):\n",
        "| Lambda function | invokes | cold starts | Init, mean | waited for a worker, "
        "mean | handler+pipe, mean |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for u in usage:
        n = max(1, u["invocations"])
        cold = u.get("cold_starts", 0)
        lines.append(
            f"| {u['function']} | {u['invocations']} | {cold} | "
            f"{u.get('init_ms', 0.0) / max(1, cold):.0f} ms | {u.get('wait_ms', 0.0) / n:.0f} ms"
            f" | {u['duration_ms'] / n:.0f} ms |"
        )
    lines += [
        "",
        "| trigger | target calls | records | in the target, sum | per call |",
        "|---|---:|---:|---:|---:|",
    ]
    triggers = {**stats.get("pipes", {}), "EventBridge rules": stats.get("rules", {})}
    for name, c in triggers.items():
        calls = c.get("invocations", 0)
        if not calls:
            continue
        ms = c.get("target_ms", 0)
        lines.append(
            f"| {name} | {calls} | {c.get('records_delivered', 0)} | {ms / 1000:.1f} s | "
            f"{ms / calls:.0f} ms |"
        )
    return "\n".join(lines) + "\n"
