"""Where a burst's time goes: the stack's own tallies, read after a bench run.

Lambda: invokes, cold starts and their Init, time an invoke waited for a worker, handler
time. Pipes and rule delivery: target calls, records, time spent in the target (summed over
concurrent calls, so it can exceed the wall time). Read from `/_sluice/lambda/usage` and
`/_sluice/stats`.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from sluice.testing import StackProcess
from sluice.waiting import wait_for

WARM_WAIT_S = 240  # the bench's burst starts after this at the latest


def first_and_warm(
    stack: StackProcess, at_once: tuple[str, Any], once_warm: tuple[str, Any], runs: int = 5
) -> str:
    """Table rows: the first invoke of one function right after `sluice up` answered (its
    worker may still be importing in the background), how long until every function had a
    worker imported, then the first invoke of another function; each against the median of
    the RUNS invokes after it (client clock)."""
    began = time.perf_counter()
    rows = _first_row(stack, *at_once, runs, "right after `sluice up`")
    try:
        stack.gateway.get("/_sluice/lambda/workers")
    except Exception:  # a runtime that starts workers on first use only
        return rows + _first_row(stack, *once_warm, runs, "later")

    def all_warm() -> bool:
        workers: dict[str, dict[str, int]] = stack.gateway.get("/_sluice/lambda/workers")
        return all(w["idle"] or w["running"] for w in workers.values())

    try:
        wait_for(all_warm, timeout=WARM_WAIT_S, what="every worker imported", interval=0.2)
        rows += (
            f"| every function's worker imported after | {time.perf_counter() - began:.1f} s |\n"
        )
    except AssertionError:
        rows += f"| every function's worker imported after | not within {WARM_WAIT_S} s |\n"
    return rows + _first_row(stack, *once_warm, runs, "after waiting for the workers")


def _first_row(stack: StackProcess, function: str, event: Any, runs: int, when: str) -> str:
    lam = stack.client("lambda")
    name = stack.resource(function)["name"]
    times = []
    for _ in range(1 + runs):
        began = time.perf_counter()
        lam.invoke(FunctionName=name, Payload=_payload(event))
        times.append((time.perf_counter() - began) * 1000)
    first, warm = times[0], sorted(times[1:])[runs // 2]
    print(f"{function}: first invoke {first:.0f} ms, warm {warm:.0f} ms ({when})")
    return (
        f"| first invoke of `{function}` {when} / median of the next {runs} | "
        f"{first:.0f} / {warm:.0f} ms ({first / warm:.1f}x) |\n"
    )


def _payload(event: Any) -> bytes:
    return json.dumps(event).encode()


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of process PID so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_s() -> float:
    """CPU seconds every core of the machine has been busy (not idle, not waiting on I/O)."""
    ticks = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


class CpuClock:
    """CPU time from its making on: the stack process's (one interpreter, so it serves on
    one core at a time: its CPU per record bounds the flow's rate) and the machine's."""

    def __init__(self, stack: StackProcess) -> None:
        self.pid = stack.proc.pid
        self._stack = process_cpu_s(self.pid)
        self._machine = machine_busy_s()

    def summary(self, records: int, unit: str, wall_s: float) -> str:
        stack_s = process_cpu_s(self.pid) - self._stack
        machine_s = machine_busy_s() - self._machine
        per = 1000 * stack_s / max(1, records)
        cores = len(os.sched_getaffinity(0))
        return (
            f"\nCPU: the stack process took {stack_s:.1f} CPU-s, {per:.1f} ms per {unit}, so "
            f"its one interpreter alone allows at most {1000 / max(per, 1e-9):.0f} {unit}s/s; "
            f"the machine was busy {machine_s:.1f} of the {cores * wall_s:.1f} CPU-s its "
            f"{cores} cores had over the run (Lambda workers, the bench's clients, the rest).\n"
        )


def breakdown(
    stack: StackProcess,
    wall_s: float,
    cpu: CpuClock | None = None,
    records: int = 0,
    unit: str = "record",
) -> str:
    """A markdown section: per function and per trigger, over the whole run (and with CPU,
    the stack's and the machine's CPU time since it started)."""
    usage: list[dict[str, Any]] = stack.gateway.get("/_sluice/lambda/usage")
    stats: dict[str, Any] = stack.gateway.get("/_sluice/stats")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    lines = [
        f"\nWhere the time went (wall {wall_s:.1f} s; sums over concurrent calls; load average"
        f" {load} at the end, on {len(os.sched_getaffinity(0))} CPUs):\n",
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
    return "\n".join(lines) + "\n" + (cpu.summary(records, unit, wall_s) if cpu else "")
