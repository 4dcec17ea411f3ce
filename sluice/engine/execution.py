"""One execution on the engine: moto's Execution, worker and Environment, subclassed.

- The worker runs the cached program of the definition (sluice/engine/programs.py) on the
  engine's threads, with Step Functions Local's mocked responses when started as a test
  case, and `$$.Execution.RedriveCount` 0 before any redrive, as AWS's context object has.
- The environment and every frame opened from it keep virtual clocks
  (sluice/engine/virtual_time.py): history timestamps, `EnteredTime`, the stopDate.
- An execution reports its start, its end and each event added to its history to the
  engine's observers (sluice/engine/observers.py).
"""

from __future__ import annotations

import copy
import datetime
import time
from typing import Any, cast

from moto.stepfunctions.parser.api import ExecutionStatus
from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent
from moto.stepfunctions.parser.asl.eval.environment import Environment
from moto.stepfunctions.parser.asl.eval.evaluation_details import EvaluationDetails
from moto.stepfunctions.parser.asl.eval.event.event_manager import EventHistoryContext
from moto.stepfunctions.parser.asl.eval.program_state import (
    ProgramEnded,
    ProgramError,
    ProgramRunning,
    ProgramState,
    ProgramStopped,
    ProgramTimedOut,
)
from moto.stepfunctions.parser.asl.eval.states import (
    ContextObjectData,
    ExecutionData,
    StateMachineData,
)
from moto.stepfunctions.parser.backend.execution import (
    BaseExecutionWorkerCommunication,
    Execution,
)
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker
from moto.stepfunctions.parser.mocking.mock_config import MockTestCase

from sluice.engine import observers, programs, speed, virtual_time


class _HistoryManager(virtual_time.ClockedEventManager):
    """An event manager that reports each event it adds to its execution's history."""

    execution: Execution | None = None  # None: not an execution's (TestState's)

    def add_event(self, *args: Any, **kwargs: Any) -> int:
        event_id: int = super().add_event(*args, **kwargs)
        if self.execution is not None and observers.observed(observers.HISTORY_EVENT_ADDED):
            # Events are appended in id order; a parallel branch may have added one since.
            for event in reversed(self._history_event_list):
                if event["id"] == event_id:
                    observers.notify(observers.HISTORY_EVENT_ADDED, self.execution, event)
                    break
        return event_id


class SluiceEnvironment(Environment):
    """An execution's environment (or one of its frames) on a virtual clock."""

    on_slot = False  # a Map worker's frame holds a virtual slot (virtual_time)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.event_manager = _HistoryManager(
            cloud_watch_logging_session=self.cloud_watch_logging_session
        )

    @classmethod
    def as_frame_of(cls, env: Environment, event_history_frame_cache: Any = None) -> Environment:
        # moto's names Environment here, so frames of frames would lose the subclass.
        return cls.as_inner_frame_of(
            env=env,
            variable_store=env.variable_store,
            event_history_frame_cache=event_history_frame_cache,
        )

    @classmethod
    def as_inner_frame_of(
        cls, env: Environment, variable_store: Any, event_history_frame_cache: Any = None
    ) -> Environment:
        frame = super().as_inner_frame_of(
            env=env,
            variable_store=variable_store,
            event_history_frame_cache=event_history_frame_cache,
        )
        virtual_time.start_frame(frame, env)
        return frame

    def close_frame(self, frame: Environment) -> None:
        super().close_frame(frame)
        virtual_time.end_frame(frame, self)

    def program_state(self) -> ProgramState:
        # moto deep-copies the state at every state and loop turn, mostly to test its type;
        # a running one holds two names (strings), so a shallow copy is a whole one.
        state = self._program_state
        if type(state) is ProgramRunning:
            return copy.copy(state)
        return super().program_state()


def context_object(
    details: EvaluationDetails, redrive_count: int = 0, redrive_time: str | None = None
) -> ContextObjectData:
    """The context object an execution starts with. `$$.Execution.RedriveCount` is 0 in a
    run never redriven and RedriveTime exists only once redriven, as AWS's context object
    lists them (input-output-contextobject.html)."""
    execution = ExecutionData(
        Id=details.execution_details.arn,
        Input=details.execution_details.inpt,
        Name=details.execution_details.name,
        RoleArn=details.execution_details.role_arn,
        StartTime=details.execution_details.start_time,
    )
    extra = cast(dict[str, Any], execution)
    extra["RedriveCount"] = redrive_count
    if redrive_time is not None:
        extra["RedriveTime"] = redrive_time
    machine = StateMachineData(
        Id=details.state_machine_details.arn, Name=details.state_machine_details.name
    )
    return cast(ContextObjectData, {"Execution": execution, "StateMachine": machine})


class SluiceWorker(ExecutionWorker):
    def _get_evaluation_entrypoint(self) -> EvalComponent:
        return programs.program_for(self._evaluation_details.state_machine_details.definition)

    def _get_evaluation_environment(self) -> Environment:
        env = self.environment(
            context_object(self._evaluation_details), EventHistoryContext.of_program_start()
        )
        comm = self._execution_communication
        if isinstance(env.event_manager, _HistoryManager) and isinstance(
            comm, BaseExecutionWorkerCommunication
        ):
            env.event_manager.execution = comm.execution
        return env

    def environment(self, context: Any, event_history_context: Any, **more: Any) -> Environment:
        """A SluiceEnvironment of this worker's execution."""
        details = self._evaluation_details
        return SluiceEnvironment(
            aws_execution_details=details.aws_execution_details,
            execution_type=details.state_machine_details.typ,
            context=context,
            event_history_context=event_history_context,
            cloud_watch_logging_session=self._cloud_watch_logging_session,
            activity_store=self._activity_store,
            mock_test_case=self._mock_test_case,
            **more,
        )

    def start(self) -> None:
        speed.thread(self._execution_logic).start()


class _Communication(BaseExecutionWorkerCommunication):
    def terminated(self) -> None:
        try:
            super().terminated()
        finally:
            observers.notify(observers.EXECUTION_ENDED, self.execution, None)

    def _reflect_execution_status(self) -> None:
        """moto's, with the status set last: moto set it before the output (or the error and
        cause), so a reader polling the status (StartSyncExecution, DescribeExecution on
        another thread) could see SUCCEEDED with no output yet, or FAILED with no error."""
        execution = self.execution
        assert execution.exec_worker is not None and execution.exec_worker.env is not None
        env = execution.exec_worker.env
        ended = env.program_state()
        execution.stop_date = virtual_time.clock_of(env).now()
        if isinstance(ended, ProgramEnded):
            execution.output = env.states.get_input()
            status = ExecutionStatus.SUCCEEDED
        elif isinstance(ended, ProgramStopped):
            status = ExecutionStatus.ABORTED
        elif isinstance(ended, ProgramError):
            failed = ended.error or {}
            execution.error = failed.get("error")
            execution.cause = failed.get("cause")
            status = ExecutionStatus.FAILED
        elif isinstance(ended, ProgramTimedOut):
            status = ExecutionStatus.TIMED_OUT
        else:
            raise RuntimeWarning(f"Execution ended with unsupported ProgramState {ended!r}.")
        execution.exec_status = status


# How long a stop waits for a just-started execution's worker to make its environment.
_ENVIRONMENT_WAIT_S = 5.0


class SluiceExecution(Execution):
    """An execution run by SluiceWorker, with its mocked test case (if any)."""

    mock_test_case: MockTestCase | None = None

    def start(self) -> None:
        try:
            super().start()
        finally:
            observers.notify(observers.EXECUTION_STARTED, self, None)

    def _get_start_execution_worker_comm(self) -> BaseExecutionWorkerCommunication:
        return _Communication(self)

    def evaluation_details(self) -> EvaluationDetails:
        return EvaluationDetails(
            aws_execution_details=self._get_start_aws_execution_details(),
            execution_details=self.get_start_execution_details(),
            state_machine_details=self.get_start_state_machine_details(),
        )

    def _get_start_execution_worker(self) -> ExecutionWorker:
        return SluiceWorker(
            evaluation_details=self.evaluation_details(),
            exec_comm=self._get_start_execution_worker_comm(),
            cloud_watch_logging_session=self._cloud_watch_logging_session,
            activity_store=self._activity_store,
            mock_test_case=self.mock_test_case,
        )

    def get_start_execution_details(self) -> Any:
        # `$$.Execution.StartTime` is a string (moto handed a datetime to the context
        # object, which DescribeExecution then failed to serialise once output).
        details = super().get_start_execution_details()
        if isinstance(details.start_time, datetime.datetime):
            details.start_time = details.start_time.isoformat()
        return details

    def stop(self, stop_date: datetime.datetime, error: str | None, cause: str | None) -> None:
        worker = self.exec_worker
        if worker is None:
            return
        # A StopExecution right after StartExecution can come before the worker's thread
        # has made its environment (moto then failed on None).
        deadline = time.monotonic() + _ENVIRONMENT_WAIT_S
        while worker.env is None and time.monotonic() < deadline:
            time.sleep(0.001)
        if worker.env is not None:
            stop_date = virtual_time.clock_of(worker.env).now()
            super().stop(stop_date, error, cause)
