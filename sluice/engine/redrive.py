"""RedriveExecution for Standard executions on moto's ASL engine (moto has none).

As on AWS, redriving a FAILED, ABORTED or TIMED_OUT Standard execution continues the same
execution (same ARN, same start date, same `$$.Execution.Input`): the unsuccessful top-level
state runs again with the input it was entered with, states that succeeded are not run again,
and the history goes on after an `ExecutionRedriven` event, its ids continuing.

How: the execution's next worker parses the definition with `StartAt` set to that state and
runs on an environment that shares the previous worker's event manager (history list and id
counter) and variable store (so values assigned before the failure are still there).

The engine's Step Functions response (sluice/engine/api.py) adds the `RedriveExecution`
action, `redriveCount`/`redriveDate`/`redriveStatus` in DescribeExecution and
ListExecutions, and ListExecutions' `redriveFilter`.

A top-level Map or Parallel state that failed runs only its iterations or branches that did
not succeed; the others keep their results (sluice/engine/kept_results.py), as on AWS.

Differences from AWS: the iterations a redrive does not rerun still record
MapIterationStarted/Succeeded events; the redrive bookkeeping lives in memory.
"""

from __future__ import annotations

import datetime
import json
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, cast

from moto.core.exceptions import AWSError
from moto.stepfunctions.parser.api import ExecutionStatus, HistoryEventType
from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent
from moto.stepfunctions.parser.asl.eval.event.event_manager import EventHistoryContext
from moto.stepfunctions.parser.backend.execution import Execution
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

from sluice.engine import kept_results, programs
from sluice.engine.execution import SluiceExecution, SluiceWorker, context_object

REDRIVABLE = ("FAILED", "ABORTED", "TIMED_OUT")
REDRIVABLE_PERIOD = datetime.timedelta(days=14)
HISTORY_EVENT_LIMIT = 25_000
# AWS answers idempotently for the last 10 client tokens, each for 15 minutes.
TOKENS_KEPT = 10
TOKEN_TTL = datetime.timedelta(minutes=15)


class ExecutionNotRedrivable(AWSError):
    TYPE = "ExecutionNotRedrivable"
    STATUS = 400


@dataclass
class RedriveRecord:
    count: int = 0
    date: datetime.datetime | None = None
    # client token -> (first used, the redriveDate it answered)
    tokens: OrderedDict[str, tuple[datetime.datetime, datetime.datetime]] = field(
        default_factory=OrderedDict
    )


_records: dict[str, RedriveRecord] = {}
_lock = threading.Lock()


def _now() -> datetime.datetime:
    return datetime.datetime.now(tz=datetime.UTC)


def record_of(execution_arn: str) -> RedriveRecord:
    return _records.get(execution_arn) or RedriveRecord()


def _status(execution: Execution) -> str:
    status = execution.exec_status
    return status.value if status is not None else "RUNNING"


def _machine_type(execution: Execution) -> str:
    return str(getattr(execution.state_machine, "type", "STANDARD")).upper()


def not_redrivable_reason(execution: Execution) -> str | None:
    """Why RedriveExecution would answer ExecutionNotRedrivable now (None: it would not)."""
    if _machine_type(execution) == "EXPRESS":
        return "Executions of EXPRESS state machines cannot be redriven."
    status = _status(execution)
    if status not in REDRIVABLE:
        return f"Execution is {status} and cannot be redriven."
    stopped = execution.stop_date
    if stopped is not None and _now() - stopped > REDRIVABLE_PERIOD:
        return "Execution redrivable period exceeded."
    worker = execution.exec_worker
    if worker is None or worker.env is None:
        return f"Execution is {status} and cannot be redriven."
    if len(worker.env.event_manager.get_event_history()) >= HISTORY_EVENT_LIMIT:
        return "Execution history event limit exceeded."
    return None


def redrive(execution: SluiceExecution, client_token: str | None = None) -> datetime.datetime:
    """Redrive EXECUTION; answer its redriveDate. Raises ExecutionNotRedrivable."""
    with _lock:
        record = _records.setdefault(execution.exec_arn, RedriveRecord())
        now = _now()
        if client_token:
            for token, (first_used, _) in list(record.tokens.items()):
                if now - first_used > TOKEN_TTL:
                    del record.tokens[token]
            if client_token in record.tokens:
                return record.tokens[client_token][1]
        reason = not_redrivable_reason(execution)
        if reason is not None:
            raise ExecutionNotRedrivable(reason)
        previous = execution.exec_worker
        assert previous is not None and previous.env is not None  # checked above
        events = previous.env.event_manager.get_event_history()
        definition = json.loads(execution.state_machine.definition)
        start_at, state_input = resume_point(events, definition, execution.input_data)
        worker = RedriveWorker(execution, previous, start_at, state_input, record.count + 1, now)
        worker.prepare(last_event_id=int(events[-1]["id"]) if events else 0)
        record.count += 1
        record.date = now
        execution.exec_worker = worker
        execution.stop_date = None
        execution.error = None
        execution.cause = None
        execution.output = None
        execution.exec_status = ExecutionStatus.RUNNING
        worker.start()
        if client_token:
            record.tokens[client_token] = (now, now)
            while len(record.tokens) > TOKENS_KEPT:
                record.tokens.popitem(last=False)
        return now


def resume_point(
    events: list[Any], definition: dict[str, Any], execution_input: Any
) -> tuple[str, Any]:
    """The top-level state that did not finish, with the input it was entered with.

    Top-level states are matched by name (ASL state names are unique in a machine), so states
    inside Map iterations and Parallel branches do not count. An execution that failed before
    entering any state starts again from `StartAt` with the execution input.
    """
    top_level = definition.get("States", {})
    open_state: tuple[str, Any] | None = None
    for event in events:
        entered = event.get("stateEnteredEventDetails")
        if entered and entered.get("name") in top_level:
            raw = entered.get("input")
            open_state = (entered["name"], json.loads(raw) if raw else None)
            continue
        exited = event.get("stateExitedEventDetails")
        if exited and open_state is not None and exited.get("name") == open_state[0]:
            open_state = None
    if open_state is None:
        return str(definition["StartAt"]), execution_input
    return open_state


class RedriveWorker(SluiceWorker):
    """Runs an execution again from START_AT with STATE_INPUT, continuing its history."""

    def __init__(
        self,
        execution: SluiceExecution,
        previous: ExecutionWorker,
        start_at: str,
        state_input: Any,
        redrive_count: int,
        redrive_date: datetime.datetime,
    ) -> None:
        super().__init__(
            evaluation_details=execution.evaluation_details(),
            exec_comm=execution._get_start_execution_worker_comm(),
            cloud_watch_logging_session=previous._cloud_watch_logging_session,
            activity_store=previous._activity_store,
            mock_test_case=previous._mock_test_case,
        )
        self._previous = previous
        self.start_at = start_at
        self.state_input = state_input
        self.redrive_count = redrive_count
        self.redrive_date = redrive_date

    def _get_evaluation_entrypoint(self) -> EvalComponent:
        definition = json.loads(self._evaluation_details.state_machine_details.definition)
        definition["StartAt"] = self.start_at
        return programs.program_for(json.dumps(definition))

    def prepare(self, last_event_id: int) -> None:
        """Build the environment and record ExecutionRedriven before the run starts, so the
        history never goes missing in between."""
        previous_env = self._previous.env
        assert previous_env is not None
        context = context_object(
            self._evaluation_details, self.redrive_count, self.redrive_date.isoformat()
        )
        env = self.environment(
            context,
            EventHistoryContext(previous_event_id=last_event_id),
            variable_store=previous_env.variable_store,
        )
        env.event_manager = previous_env.event_manager
        kept_results.resume_at(env.event_manager, self.start_at)
        env.states.reset(input_value=self.state_input)
        env.event_manager.add_event(
            context=env.event_history_context,
            event_type=HistoryEventType.ExecutionRedriven,
            event_details=cast(
                Any, {"executionRedrivenEventDetails": {"redriveCount": self.redrive_count}}
            ),
        )
        self.env = env

    def _execution_logic(self) -> None:
        program = self._get_evaluation_entrypoint()
        assert self.env is not None
        program.eval(self.env)
        self._execution_communication.terminated()


# -- the API (sluice/engine/api.py) ----------------------------------------------------


def describe_fields(execution: Execution) -> dict[str, Any]:
    """DescribeExecution's redrive fields (none for Express executions)."""
    if _machine_type(execution) == "EXPRESS":
        return {}
    record = record_of(execution.exec_arn)
    out: dict[str, Any] = {"redriveCount": record.count}
    if record.date is not None:
        out["redriveDate"] = record.date
    reason = not_redrivable_reason(execution)
    if reason is None:
        out["redriveStatus"] = "REDRIVABLE"
    else:
        out["redriveStatus"] = "NOT_REDRIVABLE"
        out["redriveStatusReason"] = reason
    return out
