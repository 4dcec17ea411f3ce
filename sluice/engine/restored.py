"""Executions put back from saved state (the stack's durable state, sluice/durable/).

`rebuild` makes an execution that is not running: its status, dates, output or error and
its whole history as they were saved, under the definition it ran with, so that
DescribeExecution, GetExecutionHistory and RedriveExecution answer as before the restart.
`fail` ends one that was running when the stack died: its thread and in-memory state are
gone, so it cannot continue, and it is marked FAILED with an `ExecutionFailed` event.
"""

from __future__ import annotations

import datetime
from typing import Any, cast

from moto.stepfunctions.parser.api import ExecutionStatus, HistoryEventType
from moto.stepfunctions.parser.asl.eval.event.event_manager import EventHistoryContext

from sluice.engine.backend import backends, machine_snapshot
from sluice.engine.execution import SluiceExecution


def rebuild(saved: dict[str, Any], events: list[dict[str, Any]]) -> SluiceExecution | None:
    """The execution SAVED describes (the fields sluice/durable/executions.py keeps), with
    EVENTS as its history; None when its state machine no longer exists."""
    backend = backends[saved["account_id"]][saved["region"]]
    try:
        machine = backend.describe_state_machine(saved["machine_arn"])
    except Exception:  # the template no longer has it
        return None
    # As StartExecution does: the execution keeps a snapshot of its machine, here with the
    # definition it ran with, so a redrive runs that one.
    snapshot = machine_snapshot(machine)
    snapshot.definition = saved["definition"]
    execution = SluiceExecution(
        name=saved["name"],
        sm_type=cast(Any, snapshot.sm_type),
        role_arn=saved["role_arn"],
        exec_arn=saved["arn"],
        account_id=saved["account_id"],
        region_name=saved["region"],
        state_machine=cast(Any, snapshot),
        start_date=saved["start_date"],
        cloud_watch_logging_session=None,
        activity_store={},
        input_data=saved["input"],
        trace_header=saved["trace_header"],
    )
    # A worker that is never started: it holds the history (and a variable store) for
    # GetExecutionHistory and for a redrive to continue.
    worker = execution._get_start_execution_worker()
    worker.env = worker._get_evaluation_environment()
    manager = worker.env.event_manager
    manager._history_event_list.extend(cast(list[Any], events))
    manager._event_id_gen._next_id = (int(events[-1]["id"]) if events else 0) + 1
    execution.exec_worker = worker
    execution.exec_status = ExecutionStatus(saved["status"])
    execution.stop_date = saved["stop_date"]
    execution.output = saved["output"]
    execution.error = saved["error"]
    execution.cause = saved["cause"]
    machine.executions.append(cast(Any, execution))
    return execution


def fail(execution: SluiceExecution, error: str, cause: str) -> dict[str, Any]:
    """Mark a rebuilt execution that was running FAILED with ERROR and CAUSE; answers the
    `ExecutionFailed` event that now ends its history."""
    assert execution.exec_worker is not None and execution.exec_worker.env is not None
    manager = execution.exec_worker.env.event_manager
    events = manager.get_event_history()
    event_id = manager.add_event(
        context=EventHistoryContext(previous_event_id=int(events[-1]["id"]) if events else 0),
        event_type=HistoryEventType.ExecutionFailed,
        event_details=cast(Any, {"executionFailedEventDetails": {"error": error, "cause": cause}}),
    )
    execution.exec_status = ExecutionStatus.FAILED
    execution.stop_date = datetime.datetime.now(tz=datetime.UTC)
    execution.error, execution.cause = error, cause
    failed = next(e for e in manager.get_event_history() if e["id"] == event_id)
    return cast(dict[str, Any], failed)
