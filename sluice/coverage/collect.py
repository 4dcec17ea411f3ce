"""Reading coverage from a running stack: every state machine and execution behind a Step
Functions client."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sluice.coverage.exercised import exercised
from sluice.coverage.report import CoverageReport


def collect(sfn: Any, *, workers: int = 8, only: set[str] | None = None) -> CoverageReport:
    """Coverage of every state machine (or those whose ARN is in `only`) and its executions
    behind a Step Functions client.

    Express executions are included where the engine lists them (moto keeps them like
    Standard ones; AWS itself has no ListExecutions or history for Express).
    """
    report = CoverageReport(stacks=1)
    machines: list[dict[str, Any]] = []
    for page in sfn.get_paginator("list_state_machines").paginate():
        machines += page["stateMachines"]
    if only is not None:
        machines = [m for m in machines if m["stateMachineArn"] in only]
    jobs: list[tuple[str, str, str]] = []
    for machine in machines:
        name, arn = machine["name"], machine["stateMachineArn"]
        try:
            definition = sfn.describe_state_machine(stateMachineArn=arn)["definition"]
            report.machine(name).add_definition(definition)
            for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=arn):
                jobs += [(name, definition, e["executionArn"]) for e in page["executions"]]
        except Exception as exc:  # one unreadable machine must not hide the others
            report.problems.append(f"{name}: {type(exc).__name__}: {exc}")

    def one(job: tuple[str, str, str]) -> tuple[str, set[str] | None, str | None]:
        name, definition, arn = job
        try:
            events: list[dict[str, Any]] = []
            for page in sfn.get_paginator("get_execution_history").paginate(executionArn=arn):
                events += page["events"]
            return name, exercised(events, definition), None
        except Exception as exc:
            return name, None, f"{arn}: {type(exc).__name__}: {exc}"

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for name, keys, problem in pool.map(one, jobs):
            if keys is not None:
                report.machine(name).add_exercised(keys)
            if problem is not None:
                report.problems.append(problem)
    return report
