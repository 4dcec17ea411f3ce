"""What a large execution input costs the engine: gateway CPU per execution of
sale_dual_write started directly with its real ~11 KB input (a 1,024-float embedding), and
of a Lambda-free machine of the same shape (Task-like Pass, one-branch Parallel, Choice,
two-branch Parallel, Pass) with that input and with a tiny one. The state is kept in memory
only (`SLUICE_DURABLE=0`), and the CPU the gateway spends idle (its pollers) over as long a
time is taken off, so the figures are what executions cost the engine and the gateway.

Run alone: `python -m bench.payload_bench [executions]`.
"""

from __future__ import annotations

import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bench.runtime_bench import _cpu_seconds, _wait_all
from bench.stack import on_fresh_stack
from devkit.sale_dual_write import sale_envelope, sale_event
from sluice import durable
from sluice.testing import StackProcess

EXECUTIONS = 100
CONCURRENCY = 4
ROLE = "arn:aws:iam::123456789012:role/payload-bench"


def _pass(next_state: str | None = None, **fields: Any) -> dict[str, Any]:
    state: dict[str, Any] = {"Type": "Pass", **fields}
    state.update({"Next": next_state} if next_state else {"End": True})
    return state


def _branch(name: str, **fields: Any) -> dict[str, Any]:
    return {"StartAt": name, "States": {name: _pass(**fields)}}


# sale_dual_write's path with the Lambda and the SDK calls replaced by Pass states.
SHAPE: dict[str, Any] = {
    "StartAt": "Validate",
    "States": {
        "Validate": _pass(
            "Claim",
            Parameters={"event.$": "$", "executionId.$": "$$.Execution.Id"},
            ResultPath="$.validated",
        ),
        "Claim": {
            "Type": "Parallel",
            "Branches": [_branch("Claimed", Result={"outcome": "CLAIMED"})],
            "ResultSelector": {"branch.$": "States.ArrayGetItem($, 0)"},
            "ResultPath": "$.claimed",
            "Next": "IsDuplicate",
        },
        "IsDuplicate": {
            "Type": "Choice",
            "Choices": [
                {
                    "Variable": "$.claimed.branch.outcome",
                    "StringEquals": "DUPLICATE",
                    "Next": "Done",
                }
            ],
            "Default": "WriteBoth",
        },
        "WriteBoth": {
            "Type": "Parallel",
            "Branches": [
                _branch("Record", Parameters={"id.$": "$$.Execution.Id"}),
                _branch("Queue", Parameters={"id.$": "$$.Execution.Id"}),
            ],
            "ResultPath": None,
            "Next": "Done",
        },
        "Done": _pass(Parameters={"result": "written", "id.$": "$$.Execution.Id"}),
    },
}


IDLE_SECONDS = 3.0


def _idle_cpu_rate(pid: int) -> float:
    """The gateway's CPU seconds per second with no execution running (its pollers)."""
    before = _cpu_seconds(pid)
    time.sleep(IDLE_SECONDS)
    return (_cpu_seconds(pid) - before) / IDLE_SECONDS


def _run(sfn: Any, arn: str, pid: int, inputs: list[str]) -> float:
    """Gateway CPU ms per execution of ARN over INPUTS (all must succeed), less what the
    gateway spends idle over as long a time."""
    idle = _idle_cpu_rate(pid)
    started = time.perf_counter()

    def start(doc: str) -> str:
        return str(sfn.start_execution(stateMachineArn=arn, input=doc)["executionArn"])

    cpu_before = _cpu_seconds(pid)
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        arns = list(pool.map(start, inputs))
    _wait_all(sfn, arn)
    cpu = _cpu_seconds(pid) - cpu_before - idle * (time.perf_counter() - started)
    failed = [a for a in arns if sfn.describe_execution(executionArn=a)["status"] != "SUCCEEDED"]
    assert not failed, f"{len(failed)} executions of {arn} did not succeed"
    return cpu / len(inputs) * 1000


def measure(stack: StackProcess, executions: int = EXECUTIONS) -> dict[str, float]:
    sfn = stack.gateway.client("stepfunctions", max_pool_connections=CONCURRENCY * 2)
    pid = stack.proc.pid
    shape = sfn.create_state_machine(
        name="payload-shape", definition=json.dumps(SHAPE), roleArn=ROLE
    )
    flow = stack.gateway.flow_arn("sale_dual_write")
    big = [json.dumps(sale_envelope(sale_event(i, "bench-tenant"))) for i in range(executions)]
    tiny = [json.dumps({"n": i}) for i in range(executions)]
    _run(sfn, flow, pid, big[:5])  # warm the Lambda workers and the engine
    return {
        "sale_dual_write, ~11 KB input": _run(sfn, flow, pid, big[5:]),
        "same-shape Pass machine, ~11 KB input": _run(sfn, shape["stateMachineArn"], pid, big),
        "same-shape Pass machine, tiny input": _run(sfn, shape["stateMachineArn"], pid, tiny),
    }


def main() -> None:
    executions = int(sys.argv[1]) if len(sys.argv) > 1 else EXECUTIONS
    load = os.getloadavg()[0]
    started = time.perf_counter()
    figures = on_fresh_stack(lambda stack: measure(stack, executions), env={durable.SWITCH: "0"})
    print(f"load {load:.1f} -> {os.getloadavg()[0]:.1f}, {time.perf_counter() - started:.0f} s")
    for name, ms in figures.items():
        print(f"{ms:8.1f} ms gateway CPU per execution  {name}")


if __name__ == "__main__":
    main()
