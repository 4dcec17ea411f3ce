"""The engine's Step Functions backend: moto's, subclassed where AWS differs.

- Executions are SluiceExecutions (sluice/engine/execution.py), so every run goes through
  the engine's worker, program cache, virtual clocks and mocked test cases.
- StartExecution without a name gets a generated UUID name (moto reused `None`, so the
  second nameless start failed with ExecutionAlreadyExists); an input over the API's
  262,144 UTF-8 bytes is rejected before anything starts; `StateMachineArn#TestCase` runs
  Step Functions Local's mocked integrations (sluice/engine/mocks.py).
- Executions of an EXPRESS machine get AWS's Express execution ARN,
  `arn:<partition>:states:<region>:<account>:express:<machine>:<name>:<id>` (the `express`
  resource type of the Service Authorization Reference), also as `$$.Execution.Id`. AWS
  has no Standard API for Express executions; locally DescribeExecution and
  GetExecutionHistory still answer for them (history, coverage).
- StartSyncExecution (what Pipes call for Express targets) is provided here: moto has none.
"""

from __future__ import annotations

import contextlib
import copy
import datetime
import functools
import json
import re
import threading
import time
import uuid
import weakref
from collections.abc import Iterator
from typing import Any

from moto.core.base_backend import BackendDict
from moto.core.exceptions import AWSError
from moto.stepfunctions.exceptions import InvalidExecutionInput
from moto.stepfunctions.models import StateMachine, StepFunctionBackend
from moto.stepfunctions.parser.models import StepFunctionsParserBackend
from moto.utilities.utils import ARN_PARTITION_REGEX

from sluice.engine import definitions, mocks, programs, speed
from sluice.engine.execution import SluiceExecution
from sluice.template import ACCOUNT_ID, REGION

# StartExecution/StartSyncExecution `input`: at most 262,144 bytes as UTF-8 (API reference).
MAX_INPUT_BYTES = 262_144


def _errors_named_in(method: str) -> Any:
    """moto's StepFunctionsParserBackend.METHOD, its errors raised with their names."""
    moto_method = getattr(StepFunctionsParserBackend, method)

    @functools.wraps(moto_method)
    def named(self: Any, *args: Any, **kwargs: Any) -> Any:
        with _errors_named():
            return moto_method(self, *args, **kwargs)

    return named


class SluiceBackend(StepFunctionsParserBackend):
    accepted_exec_arn_format = re.compile(
        ARN_PARTITION_REGEX
        + r":states:[-0-9a-zA-Z]+:(?P<account_id>[0-9]{12}):(execution|express):.+"
    )

    def create_state_machine(self, name: str, definition: str, *args: Any, **kwargs: Any) -> Any:
        try:
            definitions.check_transitions(definition)
            programs.program_for(definition)
        except Exception as exc:
            raise AWSError(
                definitions.invalid_definition_message(exc), exception_type="InvalidDefinition"
            ) from None
        return StepFunctionBackend.create_state_machine(self, name, definition, *args, **kwargs)

    def describe_execution(self, execution_arn: str) -> Any:
        """moto's, found by name in the machine's index rather than by a scan of every
        execution of the machine (GetExecutionHistory and StopExecution go through it too,
        and a poll of a machine's executions described each: the scans added up to the
        square of their number)."""
        found = _indexed_execution(self, execution_arn)
        return found if found is not None else super().describe_execution(execution_arn)

    def stop_execution(
        self, execution_arn: str, error: str | None = None, cause: str | None = None
    ) -> Any:
        """Stop an execution with StopExecution's error and cause, which its ExecutionAborted
        event carries (moto dropped both)."""
        execution = self.describe_execution(execution_arn)
        execution.stop(stop_date=datetime.datetime.now(tz=datetime.UTC), error=error, cause=cause)
        return execution

    # The task-token and map-run calls raise moto's engine errors, named as AWS names them.
    send_task_heartbeat = _errors_named_in("send_task_heartbeat")
    send_task_success = _errors_named_in("send_task_success")
    send_task_failure = _errors_named_in("send_task_failure")
    describe_map_run = _errors_named_in("describe_map_run")
    list_map_runs = _errors_named_in("list_map_runs")
    update_map_run = _errors_named_in("update_map_run")

    def start_execution(
        self,
        state_machine_arn: str,
        name: str = "",
        execution_input: str = "{}",
        trace_header: str = "",
    ) -> Any:
        arn, _, test_case = state_machine_arn.partition("#")
        size = len(execution_input.encode("utf-8")) if execution_input else 0
        if size > MAX_INPUT_BYTES:
            raise InvalidExecutionInput(
                f"Input is {size} bytes as UTF-8; the maximum is {MAX_INPUT_BYTES} bytes"
            )
        machine = self.describe_state_machine(arn)
        mock = mocks.load_mock_test_case(machine.name, test_case) if test_case else None
        name = name or str(uuid.uuid4())
        existing: SluiceExecution | None = _existing_execution(machine, name, execution_input)
        if existing is not None:
            return existing
        input_data = "{}" if execution_input is None else execution_input
        try:
            json.loads(input_data)
        except ValueError as exc:
            raise InvalidExecutionInput(str(exc)) from None
        snapshot = machine_snapshot(machine)
        execution_arn = (
            f"arn:{self.partition}:states:{self.region_name}:{self.account_id}"
            f":execution:{machine.name}:{name}"
        )
        if getattr(machine, "type", None) == "EXPRESS":
            execution_arn = execution_arn.replace(":execution:", ":express:", 1)
            execution_arn += f":{uuid.uuid4()}"
        execution = SluiceExecution(
            name=name,
            sm_type=snapshot.sm_type,
            role_arn=snapshot.roleArn,
            exec_arn=execution_arn,
            account_id=self.account_id,
            region_name=self.region_name,
            state_machine=snapshot,
            start_date=datetime.datetime.now(tz=datetime.UTC),
            cloud_watch_logging_session=None,
            input_data=input_data,
            trace_header=trace_header or None,
            activity_store={},
        )
        execution.mock_test_case = mock
        executions: list[Any] = machine.executions
        executions.append(execution)
        execution.start()
        return execution


def machine_snapshot(machine: StateMachine) -> Any:
    """The machine as an execution keeps it: what an update made later must not change (a
    redrive runs the definition its execution started with). Shallow: UpdateStateMachine
    and publishing replace the machine's attributes rather than change them in place, and
    a deep copy (moto's, sparing the executions and the backend) also copied every
    published version of the machine at every start."""
    snapshot = copy.copy(machine)
    snapshot.executions = []
    return snapshot


@contextlib.contextmanager
def _errors_named() -> Iterator[None]:
    """moto's engine errors (`TaskDoesNotExist`, `InvalidToken`, ...) spell their name
    `code` (LocalStack's convention) where moto's AWSError reads `TYPE`, so they answered
    `{"__type": null}` and boto3 saw an empty error code; raised again with the name."""
    try:
        yield
    except AWSError as error:
        name = getattr(type(error), "code", None)
        if error.error_type is not None or not isinstance(name, str):
            raise
        status = getattr(error, "status_code", None) or error.STATUS
        raise AWSError(error.message, exception_type=name, status=status) from None


backends: BackendDict[SluiceBackend] = BackendDict(SluiceBackend, "stepfunctions")


def backend() -> SluiceBackend:
    return backends[ACCOUNT_ID][REGION]


_index_lock = threading.Lock()
# Kept beside the machines, not on them: each execution deep-copies its machine.
_indexes: weakref.WeakKeyDictionary[StateMachine, dict[str, Any]] = weakref.WeakKeyDictionary()


def _existing_execution(machine: StateMachine, name: str, execution_input: str | None) -> Any:
    """The execution NAME already names (moto's rules: the same input answers it, another
    raises ExecutionAlreadyExists); None if there is none."""
    check: Any = StateMachine._handle_name_input_idempotency
    index = _index(machine)
    if index is None:
        return check(machine, name, execution_input)
    known = index.get(name)
    return None if known is None else check(_OneExecution(known), name, execution_input)


def _indexed_execution(sfn: StepFunctionBackend, arn: str) -> Any:
    """The execution of ARN (`...:execution|express:<machine>:<name>[:<id>]`) found by its
    name in its machine's index; None where the index cannot tell (moto then scans)."""
    parts = arn.split(":")
    if len(parts) < 8:
        return None
    machine = next((m for m in sfn.state_machines if m.name == parts[6]), None)
    index = None if machine is None else _index(machine)
    found = None if index is None else index.get(parts[7])
    return found if found is not None and found.exec_arn == arn else None


def _index(machine: StateMachine) -> dict[str, Any] | None:
    """MACHINE's executions by name, brought up to date with its list; None with the
    adapters off, or if the list was not only appended to (then moto's scans answer).
    An index, not a scan: the scan grows with every execution of the machine."""
    if not speed.enabled():
        return None
    with _index_lock:
        index = _indexes.setdefault(machine, {})
        for execution in machine.executions[len(index) :]:
            index[execution.name] = execution
        if len(index) != len(machine.executions):
            del _indexes[machine]
            return None
        return index


class _OneExecution:
    """What moto's name check reads of a machine, holding only the execution of that name."""

    def __init__(self, execution: Any) -> None:
        self.executions = [execution]


class NotExpress(Exception):
    pass


def start_sync_execution(
    state_machine_arn: str, name: str | None, execution_input: str | None, timeout: float = 300
) -> dict[str, Any]:
    """StartSyncExecution: run an Express execution and answer with its outcome."""
    sfn = backend()
    machine = sfn.describe_state_machine(state_machine_arn.partition("#")[0])
    if machine.type != "EXPRESS":
        raise NotExpress(state_machine_arn)
    execution = sfn.start_execution(state_machine_arn, name or "", execution_input or "{}")
    deadline = time.time() + timeout
    delay = 0.002

    def status_of() -> str:
        return execution.exec_status.value if execution.exec_status else "RUNNING"

    while status_of() == "RUNNING" and time.time() < deadline:
        time.sleep(delay)
        delay = min(delay * 2, 0.05)
    status = status_of()
    out: dict[str, Any] = {
        "executionArn": execution.exec_arn,
        "stateMachineArn": machine.arn,
        "name": execution.name,
        "startDate": execution.start_date.timestamp(),
        "stopDate": (execution.stop_date or execution.start_date).timestamp(),
        "status": "TIMED_OUT" if status == "RUNNING" else status,
        "input": json.dumps(execution.input_data),
        "inputDetails": {"included": True},
        "billingDetails": {"billedMemoryUsedInMB": 64, "billedDurationInMilliseconds": 100},
    }
    if status == "SUCCEEDED":
        out["output"] = json.dumps(execution.output)
        out["outputDetails"] = {"included": True}
    if execution.error is not None:
        out["error"] = execution.error
    if execution.cause is not None:
        out["cause"] = execution.cause
    return out
