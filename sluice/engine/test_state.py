"""TestState (`states:TestState`): run one state with an input and answer as Step Functions does.

The engine's own TestState pieces (moto's port of LocalStack's) do the running: their parser
records the inspection data (input, afterInputPath, afterParameters, result,
afterResultSelector, afterResultPath) and their environment ends a Choice on the choice made.
What the API reference documents and those pieces lack is added here, by subclassing the
TestState worker and swapping the tested state's Retry and Catch declarations:

- `nextState`: the state's `Next`, the Choice's choice, or the catcher's `Next`;
- `status` RETRIABLE: an error a retrier still has attempts for is not retried; the answer
  names the retrier (`errorDetails.retryIndex`) and its backoff, after
  `stateConfiguration.retrierRetryCount` retries already made;
- `status` CAUGHT_ERROR: a Catch matched; `errorDetails.catchIndex` names the catcher;
- `variables` in, `inspectionData.variables` out; `stateName` picks a state out of a whole
  state machine; `mock` (a `result` or an `errorOutput`) stands in for a Task's call, and
  `context` then sets the Context object;
- invalid requests answer InvalidDefinition, InvalidExecutionInput, InvalidArn or
  ValidationException (HTTP 400) before anything runs.

A Task calling a Lambda function really invokes it, through the engine's Lambda client.
"""

from __future__ import annotations

import datetime
import json
import uuid
from dataclasses import dataclass
from typing import Any

from moto.stepfunctions.parser.asl.component.common.catch.catch_decl import CatchDecl
from moto.stepfunctions.parser.asl.component.common.catch.catch_outcome import CatchOutcome
from moto.stepfunctions.parser.asl.component.common.catch.catcher_outcome import (
    CatcherOutcomeCaught,
)
from moto.stepfunctions.parser.asl.component.common.parargs import Arguments
from moto.stepfunctions.parser.asl.component.common.retry.retrier_decl import RetrierDecl
from moto.stepfunctions.parser.asl.component.common.retry.retry_decl import RetryDecl
from moto.stepfunctions.parser.asl.component.common.retry.retry_outcome import RetryOutcome
from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent
from moto.stepfunctions.parser.asl.component.state.exec.execute_state import ExecutionState
from moto.stepfunctions.parser.asl.eval.environment import Environment
from moto.stepfunctions.parser.asl.eval.evaluation_details import EvaluationDetails
from moto.stepfunctions.parser.asl.eval.program_state import (
    ProgramEnded,
    ProgramError,
    ProgramTimedOut,
)
from moto.stepfunctions.parser.asl.eval.test_state.program_state import ProgramChoiceSelected
from moto.stepfunctions.parser.asl.utils.encoding import to_json_str
from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication
from moto.stepfunctions.parser.backend.state_machine import TestStateMachine
from moto.stepfunctions.parser.backend.test_state.execution import TestStateExecution
from moto.stepfunctions.parser.backend.test_state.execution_worker import (
    TestStateExecutionWorker,
)
from moto.stepfunctions.parser.mocking.mock_config import MockTestCase, StateMockedResponses

from sluice.engine import programs
from sluice.engine.test_state_request import InvalidRequest, Request, parse_request
from sluice.template import ACCOUNT_ID, REGION

TARGET = "AWSStepFunctions.TestState"
# The TestState parser names the state under test so (the Context object's State.Name).
TESTED_STATE_NAME = "TestState"


class _Retriable(Exception):
    """Raised in place of a retry: the answer is RETRIABLE."""


@dataclass
class _Outcome:
    """How the tested state's error was handled."""

    error: dict[str, Any] | None = None  # {"Error", "Cause"}
    retry_index: int | None = None
    retry_backoff_seconds: int | None = None
    catch_index: int | None = None


def backoff_seconds(retrier: RetrierDecl, retries_made: int) -> int:
    """The wait before the next retry: IntervalSeconds x BackoffRate^retries, at most
    MaxDelaySeconds (jitter left out)."""
    interval = retrier.interval_seconds.seconds * retrier.backoff_rate.rate**retries_made
    return round(min(interval, retrier.max_delay_seconds.max_delays_seconds))


class _RetryOnce(RetryDecl):
    """Decides as the state's Retry does, without waiting or running the state again."""

    def __init__(self, retry: RetryDecl, retries_made: int, outcome: _Outcome) -> None:
        super().__init__(retriers=retry.retriers)
        self._retries_made, self._outcome = retries_made, outcome

    def _eval_body(self, env: Environment) -> None:
        error_name = env.stack.pop()
        for index, retrier in enumerate(self.retriers):
            env.stack.append(error_name)
            retrier.error_equals.eval(env)
            if not env.stack.pop():
                continue
            if self._retries_made >= retrier.max_attempts.attempts:
                env.stack.append(RetryOutcome.CannotRetry)
                return
            self._outcome.error = env.states.get_error_output()
            self._outcome.retry_index = index
            self._outcome.retry_backoff_seconds = backoff_seconds(retrier, self._retries_made)
            raise _Retriable()
        env.stack.append(RetryOutcome.NoRetrier)


class _IndexedCatch(CatchDecl):
    """The state's Catch, remembering which catcher caught the error."""

    def __init__(self, catch: CatchDecl, outcome: _Outcome) -> None:
        super().__init__(catchers=catch.catchers)
        self._outcome = outcome

    def _eval_body(self, env: Environment) -> None:
        error = env.states.get_error_output()
        for index, catcher in enumerate(self.catchers):
            catcher.eval(env)
            if isinstance(env.stack.pop(), CatcherOutcomeCaught):
                self._outcome.error, self._outcome.catch_index = error, index
                env.stack.append(CatchOutcome.Caught)
                return
        env.stack.append(CatchOutcome.NotCaught)


def _record_after(component: EvalComponent, key: str) -> None:
    """Record the value COMPONENT (of this parse only) leaves on the stack as inspection data
    KEY, as the TestState parser does for InputPath, Parameters, ResultSelector, ResultPath."""
    evaluate = component._eval_body

    def _eval_body(env: Any) -> None:
        evaluate(env)
        env.inspection_data[key] = to_json_str(env.stack[-1])

    setattr(component, "_eval_body", _eval_body)  # noqa: B010 - an instance, not the class


class _Ended(BaseExecutionWorkerCommunication):
    """The answer is read from the environment; there is no execution status to record."""

    def terminated(self) -> None:
        pass


class _Worker(TestStateExecutionWorker):
    def __init__(self, request: Request, outcome: _Outcome, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._request, self._outcome = request, outcome

    def _get_evaluation_entrypoint(self) -> EvalComponent:
        program = super()._get_evaluation_entrypoint()
        programs.specialise_program(program)  # JSONata, virtual time, AWS error names
        state = getattr(program, "test_state", None)
        arguments = getattr(state, "parargs", None)
        if isinstance(arguments, Arguments):  # JSONata: the parser records only Parameters
            _record_after(arguments, "afterArguments")
        if isinstance(state, ExecutionState):
            if state.retry is not None:
                state.retry = _RetryOnce(state.retry, self._request.retry_count, self._outcome)
            if state.catch is not None:
                state.catch = _IndexedCatch(state.catch, self._outcome)
        return program

    def _get_evaluation_environment(self) -> Environment:
        env = super()._get_evaluation_environment()
        for name, value in self._request.variables.items():
            env.variable_store.set(name, value)
        if self._request.mock is not None:
            response = StateMockedResponses(TESTED_STATE_NAME, "mock", [self._request.mock])
            env.mock_test_case = MockTestCase("TestState", "mock", [response])
        if self._request.context:
            env.states.context_object.context_object_data.update(self._request.context)  # type: ignore[typeddict-item]
        return env


class _Execution(TestStateExecution):
    def __init__(self, request: Request, outcome: _Outcome, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._request, self._outcome = request, outcome

    def _get_start_execution_worker_comm(self) -> BaseExecutionWorkerCommunication:
        return _Ended(self)

    def _get_start_execution_worker(self) -> _Worker:
        return _Worker(
            request=self._request,
            outcome=self._outcome,
            evaluation_details=EvaluationDetails(
                aws_execution_details=self._get_start_aws_execution_details(),
                execution_details=self.get_start_execution_details(),
                state_machine_details=self.get_start_state_machine_details(),
            ),
            exec_comm=self._get_start_execution_worker_comm(),
            cloud_watch_logging_session=None,
            activity_store=self._activity_store,
        )


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


def _assigned_names(state: dict[str, Any]) -> set[str]:
    """The variables the state's Assign fields (its own and its catchers') may set."""
    assigns = [
        state.get("Assign") or {},
        *((c.get("Assign") or {}) for c in state.get("Catch") or []),
    ]
    return {key.removesuffix(".$") for assign in assigns for key in assign}


def run(request: Request) -> dict[str, Any]:
    """Run the request's state; the TestState answer (TestStateOutput)."""
    name = f"TestState-{uuid.uuid4()}"
    arn = f"arn:aws:states:{REGION}:{ACCOUNT_ID}:stateMachine:{name}"
    machine = TestStateMachine(
        name=name, arn=arn, definition=request.definition, role_arn=request.role_arn or ""
    )
    outcome = _Outcome()
    execution = _Execution(
        request=request,
        outcome=outcome,
        name=name,
        role_arn=request.role_arn or "",
        exec_arn=f"arn:aws:states:{REGION}:{ACCOUNT_ID}:execution:{name}:{name}",
        account_id=ACCOUNT_ID,
        region_name=REGION,
        state_machine=machine,
        start_date=datetime.datetime.now(tz=datetime.UTC),
        activity_store={},
        input_data=json.dumps(request.input),
    )
    execution.start()  # synchronous: the TestState worker runs on this thread
    env = execution.exec_worker.env if execution.exec_worker else None
    assert env is not None
    answer = _answer(env, outcome)
    if request.inspection_level != "INFO":
        answer["inspectionData"] = _inspection_data(env, outcome, request)
    return answer


def _answer(env: Any, outcome: _Outcome) -> dict[str, Any]:
    state = env.program_state()
    output = _compact(env.states.get_input())
    if outcome.retry_index is not None and outcome.error is not None:
        return {"status": "RETRIABLE", **_error_fields(outcome.error)}
    if isinstance(state, ProgramError):
        details = state.error or {}
        answer = {"status": "FAILED", "error": details.get("error", "")}
        if details.get("cause") is not None:
            answer["cause"] = details["cause"]
        return answer
    if isinstance(state, ProgramTimedOut):
        return {"status": "FAILED", "error": "States.Timeout"}
    if outcome.catch_index is not None and outcome.error is not None:
        return {
            "status": "CAUGHT_ERROR",
            "output": output,
            "nextState": env.next_state_name,
            **_error_fields(outcome.error),
        }
    if isinstance(state, ProgramChoiceSelected):
        return {"status": "SUCCEEDED", "output": output, "nextState": state.next_state_name}
    if isinstance(state, ProgramEnded):
        return {"status": "SUCCEEDED", "output": output}
    # Still running: the state continued with its Next.
    return {"status": "SUCCEEDED", "output": output, "nextState": env.next_state_name}


def _error_fields(error: dict[str, Any]) -> dict[str, Any]:
    return {"error": str(error.get("Error", "")), "cause": str(error.get("Cause", ""))}


def _inspection_data(env: Any, outcome: _Outcome, request: Request) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for key, value in dict(env.inspection_data).items():
        try:  # the engine spells JSON with spaces; the API's strings are compact
            data[key] = _compact(json.loads(value)) if isinstance(value, str) else value
        except ValueError:
            data[key] = value
    names = set(request.variables) | _assigned_names(request.state)
    variables = {}
    for name in sorted(names):
        try:
            variables[name] = env.variable_store.get(name)
        except Exception:  # not assigned (the state failed first)
            continue
    if variables:
        data["variables"] = _compact(variables)
    if outcome.retry_index is not None:
        data["errorDetails"] = {
            "retryIndex": outcome.retry_index,
            "retryBackoffIntervalSeconds": outcome.retry_backoff_seconds,
        }
    elif outcome.catch_index is not None:
        data["errorDetails"] = {"catchIndex": outcome.catch_index}
    return data


def handle(body: bytes) -> tuple[int, dict[str, Any]]:
    """The HTTP answer to a TestState request BODY: (status, JSON document)."""
    try:
        request = parse_request(json.loads(body or b"{}"))
    except json.JSONDecodeError:
        return 400, {"__type": "SerializationException", "message": "The request is not JSON"}
    except InvalidRequest as exc:
        return 400, {"__type": exc.code, "message": exc.message}
    return 200, run(request)
