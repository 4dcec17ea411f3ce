"""RedriveExecution for Standard executions on moto's ASL engine (moto has none).

As on AWS, redriving a FAILED, ABORTED or TIMED_OUT Standard execution continues the same
execution (same ARN, same start date, same `$$.Execution.Input`): the unsuccessful top-level
state runs again with the input it was entered with, states that succeeded are not run again,
and the history goes on after an `ExecutionRedriven` event, its ids continuing.

How: the execution's next worker parses the definition with `StartAt` set to that state and
runs on an environment that shares the previous worker's event manager (history list and id
counter) and variable store (so values assigned before the failure are still there).

Where moto answers the API, this module adds to its Step Functions response: the
`RedriveExecution` action, `redriveCount`/`redriveDate`/`redriveStatus` in DescribeExecution
and ListExecutions, and ListExecutions' `redriveFilter`.

Differences from AWS: a Map or Parallel state that failed runs again as a whole (AWS re-runs
only its unsuccessful iterations or branches); the redrive bookkeeping lives in memory.
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
from moto.stepfunctions.parser.asl.eval.environment import Environment
from moto.stepfunctions.parser.asl.eval.evaluation_details import EvaluationDetails
from moto.stepfunctions.parser.asl.eval.event.event_manager import EventHistoryContext
from moto.stepfunctions.parser.asl.eval.states import (
    ContextObjectData,
    ExecutionData,
    StateMachineData,
)
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
from moto.stepfunctions.parser.backend.execution import Execution
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

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


def redrive(execution: Execution, client_token: str | None = None) -> datetime.datetime:
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


class RedriveWorker(ExecutionWorker):
    """Runs an execution again from START_AT with STATE_INPUT, continuing its history."""

    def __init__(
        self,
        execution: Execution,
        previous: ExecutionWorker,
        start_at: str,
        state_input: Any,
        redrive_count: int,
        redrive_date: datetime.datetime,
    ) -> None:
        super().__init__(
            evaluation_details=EvaluationDetails(
                aws_execution_details=execution._get_start_aws_execution_details(),
                execution_details=execution.get_start_execution_details(),
                state_machine_details=execution.get_start_state_machine_details(),
            ),
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
        program: EvalComponent = AmazonStateLanguageParser.parse(json.dumps(definition))[0]
        return program

    def prepare(self, last_event_id: int) -> None:
        """Build the environment and record ExecutionRedriven before the run starts, so the
        history never goes missing in between."""
        previous_env = self._previous.env
        assert previous_env is not None
        details = self._evaluation_details
        execution_data = ExecutionData(
            Id=details.execution_details.arn,
            Input=details.execution_details.inpt,
            Name=details.execution_details.name,
            RoleArn=details.execution_details.role_arn,
            StartTime=details.execution_details.start_time,
        )
        # $$.Execution.RedriveCount / RedriveTime, as on AWS.
        extra = cast(dict[str, Any], execution_data)
        extra["RedriveCount"] = self.redrive_count
        extra["RedriveTime"] = self.redrive_date.isoformat()
        env = Environment(
            aws_execution_details=details.aws_execution_details,
            execution_type=details.state_machine_details.typ,
            context=cast(
                ContextObjectData,
                {
                    "Execution": execution_data,
                    "StateMachine": StateMachineData(
                        Id=details.state_machine_details.arn,
                        Name=details.state_machine_details.name,
                    ),
                },
            ),
            event_history_context=EventHistoryContext(previous_event_id=last_event_id),
            cloud_watch_logging_session=self._cloud_watch_logging_session,
            activity_store=self._activity_store,
            variable_store=previous_env.variable_store,
            mock_test_case=self._mock_test_case,
        )
        env.event_manager = previous_env.event_manager
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


# -- the API, on moto's Step Functions response ------------------------------------------------


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


def _redrive_count_before_any_redrive() -> None:
    """`$$.Execution.RedriveCount` is 0 in a run that was never redriven, as AWS's Context
    object lists it (RedriveTime only exists once redriven; input-output-contextobject.html).
    moto's first run had neither; redriven runs get both from RedriveWorker.prepare."""
    original = ExecutionWorker._get_evaluation_environment

    def _get_evaluation_environment(self: ExecutionWorker) -> Environment:
        env = original(self)
        execution = env.states.context_object.context_object_data.get("Execution")
        if execution is not None:
            cast(dict[str, Any], execution).setdefault("RedriveCount", 0)
        return env

    ExecutionWorker._get_evaluation_environment = _get_evaluation_environment  # type: ignore[method-assign]


def install() -> None:
    """Add RedriveExecution and the redrive fields to moto's Step Functions response."""
    from moto.stepfunctions.responses import StepFunctionResponse

    if getattr(StepFunctionResponse, "_sluice_redrive", False):
        return
    _redrive_count_before_any_redrive()
    original_describe = StepFunctionResponse.describe_execution
    original_list = StepFunctionResponse.list_executions

    def redrive_execution(self: StepFunctionResponse) -> Any:
        from moto.core.responses import ActionResult

        arn = self._get_param("executionArn")
        execution = self.stepfunction_backend.describe_execution(arn)
        if not isinstance(execution, Execution):  # moto without its ASL engine
            raise ExecutionNotRedrivable("Execution cannot be redriven.")
        redrive_date = redrive(execution, self._get_param("clientToken"))
        return ActionResult({"redriveDate": redrive_date})

    def describe_execution(self: StepFunctionResponse) -> Any:
        result = original_describe(self)
        execution = self.stepfunction_backend.describe_execution(self._get_param("executionArn"))
        if isinstance(execution, Execution):
            cast(dict[str, Any], result.result).update(describe_fields(execution))
        return result

    def list_executions(self: StepFunctionResponse) -> Any:
        result = original_list(self)
        redrive_filter = self._get_param("redriveFilter")
        body = cast(dict[str, Any], result.result)
        items = []
        for item in body.get("executions", []):
            record = record_of(item["executionArn"])
            if redrive_filter == "REDRIVEN" and record.count == 0:
                continue
            if redrive_filter == "NOT_REDRIVEN" and record.count > 0:
                continue
            item["redriveCount"] = record.count
            if record.date is not None:
                item["redriveDate"] = record.date
            items.append(item)
        body["executions"] = items
        return result

    StepFunctionResponse.redrive_execution = redrive_execution  # type: ignore[attr-defined]
    StepFunctionResponse.describe_execution = describe_execution  # type: ignore[method-assign]
    StepFunctionResponse.list_executions = list_executions  # type: ignore[method-assign]
    StepFunctionResponse._sluice_redrive = True  # type: ignore[attr-defined]
