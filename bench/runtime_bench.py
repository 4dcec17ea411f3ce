"""The runtime's own figure: executions/s and state transitions/s of a 5-state flow."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.stack import on_fresh_stack
from sluice.client import Gateway

TEMPLATE = Path(__file__).parent / "runtime" / "template.yaml"
EXECUTIONS = 300
CONCURRENCY = 8


def run() -> str:
    return on_fresh_stack(lambda stack: _measure(stack.gateway), TEMPLATE)


def _measure(g: Gateway) -> str:
    """Start EXECUTIONS at once, then read start/stop times from the engine itself."""
    sfn = g.client("stepfunctions", max_pool_connections=CONCURRENCY * 2)
    arn = g.flow_arn("four_states")
    for _ in range(5):  # warm the Lambda workers
        g.wait_execution(sfn.start_execution(stateMachineArn=arn, input="{}")["executionArn"])

    def start(i: int) -> str:
        resp = sfn.start_execution(stateMachineArn=arn, input=json.dumps({"n": i}))
        return str(resp["executionArn"])

    begun = time.perf_counter()
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        arns = list(pool.map(start, range(EXECUTIONS)))
    descs = [g.wait_execution(a, timeout=600) for a in arns]
    elapsed = time.perf_counter() - begun
    assert all(d["status"] == "SUCCEEDED" for d in descs)
    first = min(d["startDate"] for d in descs)
    last = max(d["stopDate"] for d in descs)
    engine_s = (last - first).total_seconds()
    history = sfn.get_execution_history(executionArn=arns[0])["events"]
    per_run = sum(1 for e in history if e["type"].endswith("StateEntered"))
    durations = sorted((d["stopDate"] - d["startDate"]).total_seconds() for d in descs)
    p50 = durations[len(durations) // 2] * 1000
    p95 = durations[int(len(durations) * 0.95)] * 1000
    rate = EXECUTIONS / engine_s
    print(f"{rate:.1f} executions/s, {rate * per_run:.1f} transitions/s")
    return (
        "\n## Runtime: a 5-state flow (Pass, Lambda task, Choice, Lambda task, Succeed)\n\n"
        f"{EXECUTIONS} Standard executions started by {CONCURRENCY} client threads as fast as "
        "they go; rates use the engine's own start and stop times (first start to last "
        "stop), so client polling does not count.\n\n"
        "| figure | value |\n|---|---|\n"
        f"| executions/s | {rate:.1f} |\n"
        f"| state transitions/s | {rate * per_run:.1f} ({per_run} states per execution) |\n"
        f"| execution duration p50 (engine) | {p50:.0f} ms |\n"
        f"| execution duration p95 (engine) | {p95:.0f} ms |\n"
        f"| wall time incl. client | {elapsed:.1f} s |\n"
    )
