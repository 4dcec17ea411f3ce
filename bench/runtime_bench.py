"""The runtime's own figure: executions/s of the 4-state benchmark flow
(Lambda -> Choice -> Lambda -> DynamoDB putItem), with and without the engine adapters of
sluice/engine/speed.py and sluice/engine/moto_seam.py, and with the stack's state kept in
memory only (sluice/durable/ off), which is what persistence costs."""

from __future__ import annotations

import json
import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.ministack import MiniStack, on_ministack
from bench.profile import process_cpu_s
from bench.stack import on_fresh_stack
from sluice import durable
from sluice.engine.speed import SWITCH
from sluice.testing import StackProcess

TEMPLATE = Path(__file__).parent / "runtime" / "template.yaml"
EXECUTIONS = 1000
CONCURRENCY = 8
PAIRS = 3
_MEMORY = {durable.SWITCH: "0"}


@dataclass
class Run:
    client_rate: float  # executions / (first StartExecution sent .. last seen finished)
    engine_rate: float  # executions / (first startDate .. last stopDate)
    p50_ms: float
    p95_ms: float
    gateway_cpu_ms: float  # gateway process CPU per execution (user + sys)


def run() -> str:
    # Persistence on and off measured back to back, PAIRS times, so that both sides of a
    # pair meet about the same load on a shared machine; the figures are each side's median.
    load_before = os.getloadavg()[0]
    plain = on_fresh_stack(_measure, TEMPLATE, env={SWITCH: "0"})
    pairs = [
        (on_fresh_stack(_measure, TEMPLATE), on_fresh_stack(_measure, TEMPLATE, env=_MEMORY))
        for _ in range(PAIRS)
    ]
    costs_by_state = on_fresh_stack(_state_costs, TEMPLATE)
    load_after = os.getloadavg()[0]
    fast, memory = (_median([pair[side] for pair in pairs]) for side in (0, 1))
    costs = [100 * (1 - on.client_rate / off.client_rate) for on, off in pairs]
    cost = statistics.median(costs)
    cpu_cost = 100 * (fast.gateway_cpu_ms / memory.gateway_cpu_ms - 1)
    try:
        ministack: Run | str = on_ministack(_measure_ministack)
    except Exception as exc:  # reported in the table, with why
        ministack = f"{type(exc).__name__}: {exc}"
    print(
        f"{fast.client_rate:.1f} executions/s ({plain.client_rate:.1f} without the adapters, "
        f"{memory.client_rate:.1f} with the state in memory only: persistence costs {cost:.0f}%; "
        f"MiniStack: {ministack.client_rate if isinstance(ministack, Run) else ministack})"
    )
    runs = (fast, plain, memory, ministack)
    rows = [
        ("executions/s, client clock", lambda r: f"{r.client_rate:.1f}"),
        ("executions/s, engine clock", lambda r: f"{r.engine_rate:.1f}"),
        ("state transitions/s, client clock", lambda r: f"{4 * r.client_rate:.0f}"),
        ("execution duration p50", lambda r: f"{r.p50_ms:.0f} ms"),
        ("execution duration p95", lambda r: f"{r.p95_ms:.0f} ms"),
        ("server CPU per execution", lambda r: f"{r.gateway_cpu_ms:.1f} ms"),
    ]
    table = "".join(
        f"| {name} | {' | '.join(cell(r) if isinstance(r, Run) else '-' for r in runs)} |\n"
        for name, cell in rows
    )
    failure = (
        f"\nMiniStack could not run the benchmark flow: {ministack}\n"
        if isinstance(ministack, str)
        else ""
    )
    per_pair = ", ".join(
        f"{on.client_rate:.1f} vs {off.client_rate:.1f} ({c:.0f}%)"
        for (on, off), c in zip(pairs, costs, strict=True)
    )
    base = costs_by_state[0][1].gateway_cpu_ms
    by_state = "".join(
        f"| {name} | {r.client_rate:.1f} | {r.gateway_cpu_ms:.2f} ms | "
        f"{r.gateway_cpu_ms - base:+.2f} ms |\n"
        for name, r in costs_by_state
    )
    return (
        "\n## Runtime: the benchmark flow (Lambda → Choice → Lambda → DynamoDB putItem)\n\n"
        f"{EXECUTIONS} Standard executions started as fast as {CONCURRENCY} client threads "
        "can (boto3, one process), after 5 warm-up executions. The client clock runs from "
        "the first StartExecution sent until ListExecutions (polled every 10 ms) shows "
        "none still running, so it includes the client's own requests; the engine clock runs "
        "from the first execution's startDate to the last one's stopDate. Server CPU is the "
        "stack process's user+sys time over the run, per execution (Lambda workers are "
        "separate processes).\n\n"
        "**Persistence** (sluice/durable/, the state on disk) against the state in memory "
        f"only (`SLUICE_DURABLE=0`), {PAIRS} pairs run back to back (on, then off), "
        f"executions/s on vs off: {per_pair}. Median cost **{cost:.0f}%** of the "
        f"client-clock rate (the budget is 20%); gateway CPU per execution {cpu_cost:+.0f}%. "
        f"Load average (1 min) {load_before:.1f} before the runs and {load_after:.1f} after, "
        f"on {len(os.sched_getaffinity(0))} CPU(s) shared with other work: single runs are "
        "noisy, compare within a pair. Sluice's column is the median run with persistence "
        "on, the last column the median with it off. MiniStack "
        "(bench/ministack.py, its own environment `.venv-ministack` from "
        "bench/ministack.lock) serves the same flow in the same run, deployed with boto3, "
        "its Lambda on its local executor (no Docker), its state in memory.\n\n"
        "| figure | Sluice | moto's engine as shipped (`SLUICE_ENGINE_SPEED=0`) "
        "| state in memory only (`SLUICE_DURABLE=0`) | MiniStack |\n"
        "|---|---|---|---|---|\n" + table + failure + "\n"
        "**Where the server's CPU goes**: one-state machines on one more fresh stack (state "
        f"on disk), {EXECUTIONS} executions each as above. The stack serves on one core at a "
        "time (one interpreter), so 1,000 ms over its CPU per execution bounds its rate.\n\n"
        "| machine | executions/s | server CPU per execution | over a Pass alone |\n"
        "|---|---:|---:|---:|\n" + by_state
    )


def _median(runs: list[Run]) -> Run:
    """The run with the median client-clock rate."""
    return sorted(runs, key=lambda r: r.client_rate)[len(runs) // 2]


def _wait_all(sfn: Any, machine: str) -> None:
    """Until no execution of `machine` is RUNNING: one cheap request every 10 ms, so the
    client clock stops within about 10 ms of the last execution's end."""
    while sfn.list_executions(stateMachineArn=machine, statusFilter="RUNNING", maxResults=1)[
        "executions"
    ]:
        time.sleep(0.01)


def _measure(stack: StackProcess) -> Run:
    sfn = stack.gateway.client("stepfunctions", max_pool_connections=CONCURRENCY * 2)
    return _measure_flow(sfn, stack.gateway.flow_arn("four_states"), stack.proc.pid)


def _measure_ministack(stack: MiniStack) -> Run:
    sfn = stack.client("stepfunctions", max_pool_connections=CONCURRENCY * 2)
    return _measure_flow(sfn, stack.deploy_four_states(), stack.proc.pid)


# One state of each kind the benchmark flow has, alone in a machine (FN, TABLE: the
# template's function and table), to tell an execution's own cost from its states'.
_ONE_STATE = {
    "Pass": {"Type": "Pass", "End": True},
    "Pass → Pass": {"Type": "Pass", "Next": "Then"},
    "Lambda (lambda:invoke)": {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": "FN", "Payload.$": "$"},
        "OutputPath": "$.Payload",
        "End": True,
    },
    "DynamoDB putItem": {
        "Type": "Task",
        "Resource": "arn:aws:states:::dynamodb:putItem",
        "Parameters": {"TableName": "TABLE", "Item": {"pk": {"S.$": "$$.Execution.Name"}}},
        "End": True,
    },
}


def _state_costs(stack: StackProcess) -> list[tuple[str, Run]]:
    sfn = stack.gateway.client("stepfunctions", max_pool_connections=CONCURRENCY * 2)
    function = stack.resource("StepFunction")["arn"]
    table = stack.resource("ResultsTable")["name"]
    runs = []
    for i, (name, state) in enumerate(_ONE_STATE.items()):
        states: dict[str, Any] = {"Only": state}
        if "Next" in state:
            states["Then"] = {"Type": "Pass", "End": True}
        definition = json.dumps({"StartAt": "Only", "States": states})
        arn = sfn.create_state_machine(
            name=f"one-state-{i}",
            definition=definition.replace('"FN"', json.dumps(function)).replace(
                '"TABLE"', json.dumps(table)
            ),
            roleArn="arn:aws:iam::123456789012:role/bench",
        )["stateMachineArn"]
        runs.append((name, _measure_flow(sfn, arn, stack.proc.pid)))
    return runs


def _wait_one(sfn: Any, execution: str) -> None:
    while sfn.describe_execution(executionArn=execution)["status"] == "RUNNING":
        time.sleep(0.01)


def _measure_flow(sfn: Any, arn: str, pid: int) -> Run:
    """Run the bench on the flow ARN served by the process PID (its CPU is measured)."""
    for _ in range(5):  # warm the Lambda workers and the engine
        _wait_one(sfn, sfn.start_execution(stateMachineArn=arn, input="{}")["executionArn"])

    def start(i: int) -> str:
        resp = sfn.start_execution(stateMachineArn=arn, input=json.dumps({"n": i}))
        return str(resp["executionArn"])

    cpu_before = process_cpu_s(pid)
    begun = time.perf_counter()
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        arns = list(pool.map(start, range(EXECUTIONS)))
    _wait_all(sfn, arn)
    elapsed = time.perf_counter() - begun
    cpu = process_cpu_s(pid) - cpu_before
    descs = [sfn.describe_execution(executionArn=a) for a in arns]
    failed = [d for d in descs if d["status"] != "SUCCEEDED"]
    assert not failed, f"{len(failed)} executions did not succeed, e.g. {failed[0]}"
    engine_s = (
        max(d["stopDate"] for d in descs) - min(d["startDate"] for d in descs)
    ).total_seconds()
    durations = sorted((d["stopDate"] - d["startDate"]).total_seconds() for d in descs)
    return Run(
        client_rate=EXECUTIONS / elapsed,
        engine_rate=EXECUTIONS / engine_s,
        p50_ms=durations[len(durations) // 2] * 1000,
        p95_ms=durations[int(len(durations) * 0.95)] * 1000,
        gateway_cpu_ms=cpu / EXECUTIONS * 1000,
    )
