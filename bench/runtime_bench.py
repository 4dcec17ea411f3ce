"""The runtime's own figure: executions/s and state transitions/s of a 5-state flow."""

from __future__ import annotations

import json
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sluice.client import Gateway
from sluice.testing import StackProcess

TEMPLATE = Path(__file__).parent / "runtime" / "template.yaml"
EXECUTIONS = 300
CONCURRENCY = 8


def run() -> str:
    with tempfile.TemporaryDirectory() as tmp:
        stack = StackProcess(TEMPLATE, Path(tmp))
        try:
            return _measure(stack.gateway)
        finally:
            stack.stop()


def _measure(g: Gateway) -> str:
    sfn = g.client("stepfunctions", max_pool_connections=CONCURRENCY * 2)
    arn = g.flow_arn("five_states")

    def one(i: int) -> tuple[float, int]:
        started = time.perf_counter()
        ex = sfn.start_execution(stateMachineArn=arn, input=json.dumps({"n": i}))
        desc = g.wait_execution(ex["executionArn"])
        assert desc["status"] == "SUCCEEDED", desc
        events = sfn.get_execution_history(executionArn=ex["executionArn"])["events"]
        transitions = sum(1 for e in events if e["type"].endswith("StateEntered"))
        return time.perf_counter() - started, transitions

    for i in range(10):  # warm the Lambda workers
        one(i)
    started = time.perf_counter()
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        results = list(pool.map(one, range(EXECUTIONS)))
    elapsed = time.perf_counter() - started
    latencies = sorted(r[0] for r in results)
    transitions = sum(r[1] for r in results)
    p50 = latencies[len(latencies) // 2] * 1000
    p95 = latencies[int(len(latencies) * 0.95)] * 1000
    print(f"{EXECUTIONS / elapsed:.1f} executions/s, {transitions / elapsed:.1f} transitions/s")
    return (
        "\n## Runtime: a 5-state flow (Pass, Lambda task, Choice, Lambda task, Succeed)\n\n"
        f"{EXECUTIONS} Standard executions, {CONCURRENCY} clients in parallel, after warm-up.\n\n"
        "| figure | value |\n|---|---|\n"
        f"| executions/s | {EXECUTIONS / elapsed:.1f} |\n"
        f"| state transitions/s | {transitions / elapsed:.1f} |\n"
        f"| latency p50 (start → SUCCEEDED seen by client) | {p50:.0f} ms |\n"
        f"| latency p95 | {p95:.0f} ms |\n"
        f"| wall time | {elapsed:.1f} s |\n"
    )
