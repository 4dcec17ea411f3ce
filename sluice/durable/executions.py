"""Step Functions executions, durable: one row per execution and one per history event.

The execution's row (machine, definition, input, status, output or error, dates) is
marked when it starts and when its program ends (success, failure, timeout, stop; a
redriven run ends again). Each history event is a row of its own, marked as it is added,
so writing an execution's progress costs its new events only, however long its history;
both are written before the answer of the request that made them, or by the journal's
background flush within 50 ms when the execution runs on its own.

On restore each execution comes back as it was saved, history included, under the
definition it ran with. One that was RUNNING when the stack died cannot continue (its
thread and in-memory state are gone): it is marked FAILED with a `States.Runtime` error
whose cause names the crash, an `ExecutionFailed` event ends its history, and it can be
redriven, which continues from the top-level state that had not finished, as a redrive
of any failed execution does. Variables assigned before the crash are not saved.
"""

from __future__ import annotations

import copy
import datetime
import functools
import json
import pickle
from collections import defaultdict
from collections.abc import Callable
from typing import Any, cast

from moto.stepfunctions.parser.api import ExecutionStatus, HistoryEventType
from moto.stepfunctions.parser.asl.eval.event.event_manager import (
    EventHistoryContext,
    EventManager,
)
from moto.stepfunctions.parser.backend.execution import (
    BaseExecutionWorkerCommunication,
    Execution,
)
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

from sluice.durable.journal import Journal
from sluice.durable.store import Store
from sluice.engine.backend import backends
from sluice.engine.execution import SluiceExecution, SluiceWorker

KIND = "executions"
EVENTS = "execution-events"
CRASH_ERROR = "States.Runtime"
CRASH_CAUSE = (
    "The execution was running when its stack stopped without finishing it (sluice up "
    "was killed or crashed); it was marked failed when the stack restarted. Redrive it to "
    "continue from the state that had not finished."
)
_journal: Journal | None = None


def _snapshot(execution: Execution) -> bytes:
    status = execution.exec_status
    return pickle.dumps(
        {
            "account_id": execution.account_id,
            "region": execution.region_name,
            "machine_arn": execution.state_machine.arn,
            "definition": execution.state_machine.definition,
            "name": execution.name,
            "arn": execution.exec_arn,
            "role_arn": execution.role_arn,
            "start_date": execution.start_date,
            "input": execution.execution_input,
            "trace_header": execution.trace_header,
            "status": status.value if status is not None else "RUNNING",
            "stop_date": execution.stop_date,
            "output": execution.output,
            "error": execution.error,
            "cause": execution.cause,
        }
    )


def _mark(execution: Execution) -> None:
    if _journal is not None:
        _journal.mark(KIND, execution.exec_arn, lambda: _snapshot(execution))


def _event_row(arn: str, event: dict[str, Any]) -> tuple[str, str, bytes]:
    return EVENTS, json.dumps([arn, int(event["id"])]), pickle.dumps(event)


def _mark_event(execution: Execution, event: dict[str, Any]) -> None:
    if _journal is not None:
        kind, key, value = _event_row(execution.exec_arn, event)
        _journal.mark(kind, key, lambda: value)


def _after(method: Callable[..., Any], execution_of: Callable[[Any], Execution]) -> Any:
    @functools.wraps(method)
    def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        finally:
            _mark(execution_of(self))

    return call


def _environment_of_execution(method: Callable[..., Any]) -> Callable[..., Any]:
    """The worker's new environment, its event manager tagged with the execution."""

    @functools.wraps(method)
    def call(self: ExecutionWorker) -> Any:
        env = method(self)
        comm = self._execution_communication
        if isinstance(comm, BaseExecutionWorkerCommunication):
            env.event_manager._sluice_execution = comm.execution
        return env

    return call


def _add_event(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def call(self: EventManager, *args: Any, **kwargs: Any) -> Any:
        event_id = method(self, *args, **kwargs)
        execution = getattr(self, "_sluice_execution", None)
        if execution is not None:
            # Events are appended in id order; a parallel branch may have added one since.
            for event in reversed(self._history_event_list):
                if event["id"] == event_id:
                    _mark_event(execution, cast(dict[str, Any], event))
                    break
        return event_id

    return call


def install(journal: Journal) -> None:
    global _journal
    _journal = journal
    if getattr(Execution.start, "_sluice_durable", False):
        return
    Execution.start = _after(Execution.start, lambda e: e)  # type: ignore[method-assign]
    BaseExecutionWorkerCommunication.terminated = _after(  # type: ignore[method-assign]
        BaseExecutionWorkerCommunication.terminated, lambda comm: comm.execution
    )
    SluiceWorker._get_evaluation_environment = _environment_of_execution(  # type: ignore[method-assign]
        SluiceWorker._get_evaluation_environment
    )
    EventManager.add_event = _add_event(EventManager.add_event)  # type: ignore[method-assign]
    Execution.start._sluice_durable = True  # type: ignore[attr-defined]


def _rebuild(saved: dict[str, Any], events: list[dict[str, Any]]) -> Execution | None:
    backend = backends[saved["account_id"]][saved["region"]]
    try:
        machine = backend.describe_state_machine(saved["machine_arn"])
    except Exception:  # the template no longer has it
        return None
    # As StartExecution does: the execution keeps a snapshot of its machine, here with the
    # definition it ran with, so a redrive runs that one.
    snapshot = copy.deepcopy(
        machine, {id(machine.executions): [], id(machine.backend): machine.backend}
    )
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
    last_id = int(events[-1]["id"]) if events else 0
    worker.env = worker._get_evaluation_environment()
    manager = worker.env.event_manager
    manager._sluice_execution = execution  # type: ignore[attr-defined]
    manager._history_event_list.extend(cast(list[Any], events))
    manager._event_id_gen._next_id = last_id + 1
    execution.exec_worker = worker
    execution.exec_status = ExecutionStatus(saved["status"])
    execution.stop_date = saved["stop_date"]
    execution.output = saved["output"]
    execution.error = saved["error"]
    execution.cause = saved["cause"]
    machine.executions.append(cast(Any, execution))
    return execution


def _fail_crashed(execution: Execution) -> dict[str, Any]:
    """Mark a restored execution that was running FAILED; answers its new last event."""
    assert execution.exec_worker is not None and execution.exec_worker.env is not None
    manager = execution.exec_worker.env.event_manager
    events = manager.get_event_history()
    event_id = manager.add_event(
        context=EventHistoryContext(previous_event_id=int(events[-1]["id"]) if events else 0),
        event_type=HistoryEventType.ExecutionFailed,
        event_details=cast(
            Any, {"executionFailedEventDetails": {"error": CRASH_ERROR, "cause": CRASH_CAUSE}}
        ),
    )
    execution.exec_status = ExecutionStatus.FAILED
    execution.stop_date = datetime.datetime.now(tz=datetime.UTC)
    execution.error, execution.cause = CRASH_ERROR, CRASH_CAUSE
    failed = next(e for e in manager.get_event_history() if e["id"] == event_id)
    return cast(dict[str, Any], failed)


def restore(store: Store) -> int:
    """Bring back every saved execution of a machine the template still has, oldest first;
    the ones that were running are marked failed (and saved so)."""
    histories: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for key, value in store.load(EVENTS):
        histories[json.loads(key)[0]].append(pickle.loads(value))
    saved = sorted(
        (pickle.loads(value) for _, value in store.load(KIND)), key=lambda s: s["start_date"]
    )
    restored, changes = 0, list[tuple[str, str, bytes | None]]()
    for entry in saved:
        events = sorted(histories.pop(entry["arn"], []), key=lambda e: int(e["id"]))
        execution = _rebuild(entry, events)
        if execution is None:
            changes.append((KIND, entry["arn"], None))
            changes += [(EVENTS, json.dumps([entry["arn"], int(e["id"])]), None) for e in events]
            continue
        if entry["status"] == "RUNNING":
            failed = _fail_crashed(execution)
            changes += [
                (KIND, entry["arn"], _snapshot(execution)),
                _event_row(entry["arn"], failed),
            ]
        restored += 1
    store.write(changes)
    return restored
