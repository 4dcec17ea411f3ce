"""Components whose errors and results read as AWS's: each class is a subclass of the moto
component it corrects, mixed into the components the preprocessor builds
(sluice/engine/programs.py)."""

from __future__ import annotations

import datetime
import json
import uuid
from typing import Any

from botocore.exceptions import ClientError
from moto.stepfunctions.parser.api import ExecutionFailedEventDetails, HistoryEventType
from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import (
    CustomErrorName,
)
from moto.stepfunctions.parser.asl.component.common.error_name.error_equals_decl import (
    ErrorEqualsDecl,
)
from moto.stepfunctions.parser.asl.component.common.error_name.error_name import ErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
    FailureEvent,
    FailureEventException,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import (
    StatesErrorName,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
    StatesErrorNameType,
)
from moto.stepfunctions.parser.asl.component.state.choice.state_choice import StateChoice
from moto.stepfunctions.parser.asl.component.state.exec.state_map.item_reader.item_reader_decl import (  # noqa: E501
    ItemReader,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.iteration_worker import (  # noqa: E501
    IterationWorker,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_map.state_map import StateMap
from moto.stepfunctions.parser.asl.component.state.exec.state_parallel.branch_worker import (
    BranchWorker,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_parallel.branches_decl import (
    BranchesDecl,
    BranchWorkerPool,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service_aws_sdk as aws_sdk,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_dynamodb import (  # noqa: E501
    StateTaskServiceDynamoDB,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sns import (  # noqa: E501
    StateTaskServiceSns,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sqs import (  # noqa: E501
    StateTaskServiceSqs,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task import StateTask
from moto.stepfunctions.parser.asl.eval.program_state import ProgramEnded, ProgramError
from moto.stepfunctions.parser.quotas import is_within_size_quota

from sluice.engine import dynamodb_requests, kept_results, sdk_metadata, speed, untimed

_TERMINAL = (
    StatesErrorName(typ=StatesErrorNameType.StatesStatesDataLimitExceeded),
    StatesErrorName(typ=StatesErrorNameType.StatesRuntime),
)


class TerminalErrorsSpared(ErrorEqualsDecl):
    """`States.ALL` in Retry or Catch does not match `States.DataLimitExceeded` or
    `States.Runtime`, as AWS documents ("Error names",
    https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html);
    naming either explicitly still matches it.

    LocalStack's snapshots recorded against AWS in 2024 (test_states_errors,
    "catch_state_all_data_limit_exceeded") show a Lambda result's DataLimitExceeded caught
    by States.ALL, so AWS may be more lenient than documented: a flow failing here for that
    reason may pass there, never the other way round.
    """

    def _eval_body(self, env: Any) -> None:
        error_name = env.stack[-1]
        if error_name in _TERMINAL and error_name not in self.error_names:
            env.stack.pop()
            env.stack.append(False)
            return
        super()._eval_body(env)


_MAP_CAUSE = "Map state input must be an array but was: "
_JSON_TYPES = {
    "<class 'bool'>": "boolean",
    "<class 'int'>": "number",
    "<class 'float'>": "number",
    "<class 'str'>": "string",
    "<class 'dict'>": "object",
    "<class 'NoneType'>": "null",
}


class MapCauseNamesJsonType(StateMap):
    """A Map whose items are not an array names the JSON type (`... but was: boolean`), as
    AWS names JSON types in its Items errors, not Python's class (`<class 'bool'>`)."""

    def _eval_execution(self, env: Any) -> None:
        try:
            super()._eval_execution(env)
        except FailureEventException as exc:
            event_details: dict[str, Any] = dict(exc.failure_event.event_details or {})
            details = event_details.get("evaluationFailedEventDetails")
            cause = str((details or {}).get("cause", ""))
            if details is not None and cause.startswith(_MAP_CAUSE):
                python_type = cause[len(_MAP_CAUSE) :]
                details["cause"] = _MAP_CAUSE + _JSON_TYPES.get(python_type, python_type)
            raise


class MapResultWithinQuota(StateMap):
    """A Map whose result is over the 256 KiB payload quota fails with
    `States.DataLimitExceeded`, which `States.ALL` does not catch ("when the output of a
    state is larger than the payload size quota", Step Functions' error names); moto checks
    only task results. Measured on the iterations' results, before ResultPath: they are
    complete then (`MapStateSucceeded`), and `MapStateFailed` follows."""

    def _eval_execution(self, env: Any) -> None:
        super()._eval_execution(env)
        if is_within_size_quota(env.stack[-1]):
            return
        limit = StatesErrorNameType.StatesStatesDataLimitExceeded
        cause = (
            f"The state/task '{self.name}' returned a result with a size exceeding the "
            "maximum number of bytes service limit."
        )
        # moto's EventDetails TypedDict lists every kind of detail; an event carries one.
        details: Any = {
            "executionFailedEventDetails": ExecutionFailedEventDetails(
                error=limit.to_name(), cause=cause
            )
        }
        raise FailureEventException(
            FailureEvent(
                env=env,
                error_name=StatesErrorName(typ=limit),
                event_type=HistoryEventType.MapStateFailed,
                event_details=details,
            )
        )


class NoChoiceMatchedAsAws(StateChoice):
    """A Choice whose rules all fail to match and that has no `Default` fails the
    execution with `States.NoChoiceMatched`, the error AWS names for it ("Error names",
    concepts-error-handling.html; "Choice workflow state": without a Default, no match
    fails the execution); moto raised a Python RuntimeError, read as `States.Runtime`."""

    def _eval_state(self, env: Any) -> None:
        if self.default_state is not None:
            super()._eval_state(env)
            return
        for rule in self.choices_decl.rules:
            rule.eval(env)
            if env.stack.pop() is True and rule.next_stmt is not None:
                env.stack.append(rule.next_stmt.name)
                return
        error = StatesErrorName(typ=StatesErrorNameType.StatesNoChoiceMatched)
        cause = f"No Choice rule of state '{self.name}' matched and it has no Default"
        failed = ExecutionFailedEventDetails(error=error.error_name, cause=cause)
        details: Any = {"executionFailedEventDetails": failed}
        raise FailureEventException(
            failure_event=FailureEvent(
                env=env,
                error_name=error,
                event_type=HistoryEventType.ExecutionFailed,
                event_details=details,
            )
        )


class _ReportedErrorName(ErrorName):
    """An error name as a state reported it, `States.` prefix or not."""


def error_name_of(error_name: str | None) -> ErrorName:
    """The ErrorName of an error a Parallel branch or a Map iteration failed with: one of
    Step Functions' own for `States.*` (a Task's States.Timeout, ...), so that the Parallel
    or Map state fails with it and its Retry and Catch match it as they would the state's
    own ("Parallel workflow state": "If any branch fails, because of an unhandled error or
    by transitioning to a Fail state, the entire Parallel state fails", state-parallel.html).
    moto names it a custom error name, which refuses a `States.` prefix, so a branch's or an
    iteration's States.* error became a States.Runtime that no Catch handled."""
    if error_name is not None and error_name.startswith("States."):
        try:
            return StatesErrorName.from_name(error_name)
        except ValueError:  # not one moto knows: matched by its name alone
            return _ReportedErrorName(error_name=error_name)
    return CustomErrorName(error_name=error_name)


def _failed_details(details: Any) -> Any:
    # moto's EventDetails TypedDict lists every kind of detail; an event carries one.
    return {"executionFailedEventDetails": details}


class QuietBranchWorker(BranchWorker):
    """moto's branch worker without its thread's name, which formats the whole branch
    program (every component's attributes) each time a branch starts: 2% of the engine's
    time in a flow with two Parallel states."""

    def start(self) -> None:
        if self._worker_thread is not None:
            raise RuntimeError("a branch worker runs once")
        self._worker_thread = speed.thread(self._thread_routine)
        self._worker_thread.start()


class BranchErrorsKept(BranchesDecl):
    """Runs the branches as moto does; a failed branch's error is named by error_name_of,
    and a redrive runs only the branches that did not succeed (kept_results)."""

    state_name: str | None = None  # the Parallel state's, when it is a top-level one

    def _eval_body(self, env: Any) -> None:
        branch_input = env.stack.pop()
        name = self.state_name
        results: dict[int, Any] = {}
        if name is not None:
            kept_results.begin(env, name)
            results.update(kept_results.reusable(env, name))
        running = [i for i in range(len(self.programs)) if i not in results]
        pool = BranchWorkerPool(workers_num=len(running))
        workers = {}
        for index in running:
            frame = env.open_inner_frame()
            frame.states.reset(input_value=branch_input)
            workers[index] = QuietBranchWorker(
                branch_worker_comm=pool, program=self.programs[index], env=frame
            )
            workers[index].start()
        if workers:
            pool.wait()
        for index, worker in workers.items():
            if isinstance(worker.env.program_state(), ProgramEnded):
                results[index] = worker.env.states.get_input()
                if name is not None:
                    kept_results.succeeded(env, name, index, results[index])
        failed = pool.get_exit_event_details()
        if failed is not None:
            for worker in workers.values():
                worker.stop(stop_date=datetime.datetime.now(), cause=None, error=None)
                env.close_frame(worker.env)
            raise FailureEventException(
                failure_event=FailureEvent(
                    env=env,
                    error_name=error_name_of(failed.get("error")),
                    event_type=HistoryEventType.ExecutionFailed,
                    event_details=_failed_details(failed),
                )
            )
        for worker in workers.values():
            env.close_frame(worker.env)
        env.stack.append([results[index] for index in range(len(self.programs))])


class _IterationProgram:
    """An iteration's program as a Map worker runs it: one a redrive does not rerun ends
    with its kept output; one that fails with a `States.*` error raises the
    MapIterationFailed failure the worker would have raised for a custom error (the worker
    then records and propagates it as its own)."""

    def __init__(self, program: Any, map_env: Any, map_name: str, index: int) -> None:
        self.program = program
        self.map_env = map_env
        self.map_name = map_name
        self.index = index

    def eval(self, env: Any) -> None:
        kept = kept_results.reusable(self.map_env, self.map_name)
        if self.index in kept:
            env.states.reset(input_value=kept[self.index])
            return
        with untimed.inline_if_untimed(self.program):
            self.program.eval(env)
        ended = env.program_state()
        if isinstance(ended, ProgramEnded):
            output = env.states.get_input()
            kept_results.succeeded(self.map_env, self.map_name, self.index, output)
            return
        if not isinstance(ended, ProgramError) or not ended.error:
            return
        error = ended.error.get("error")
        if isinstance(error, str) and error.startswith("States."):
            raise FailureEventException(
                failure_event=FailureEvent(
                    env=env,
                    error_name=error_name_of(error),
                    event_type=HistoryEventType.MapIterationFailed,
                    event_details=_failed_details(ended.error),
                )
            )


class IterationErrorsKept(IterationWorker):
    """A Map worker whose iterations fail with their `States.*` errors and keep their
    results for a redrive (_IterationProgram)."""

    def _eval_pool(self, job: Any, worker_frame: Any) -> None:
        if job is not None and not isinstance(job.job_program, _IterationProgram):
            job.job_program = _IterationProgram(
                job.job_program, self._env, self._work_name, job.job_index
            )
        super()._eval_pool(job, worker_frame)


class MockedErrorsKept(StateTask):
    """A mocked Throw (Step Functions Local's MockConfigFile) surfaces with its own name.

    Service integrations turn any exception that is not a ClientError into
    `<Service>.AmazonServiceException`; the mocked Throw is a ready failure event."""

    def _from_error(self, env: Any, ex: Exception) -> FailureEvent:
        if isinstance(ex, FailureEventException):
            return ex.failure_event
        event: FailureEvent = super()._from_error(env, ex)
        return event


def _as_json(value: Any) -> Any:
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {key: _as_json(member) for key, member in value.items()}
    if isinstance(value, list):
        return [_as_json(member) for member in value]
    return value


class ItemReaderAsJson(ItemReader):
    """A distributed Map's items are JSON: the S3 objects `s3:listObjectsV2` lists carry
    their LastModified as ISO-8601 text, as the AWS SDK integrations' results do here,
    where the in-process client's datetimes failed the Map and the execution's history."""

    def _eval_body(self, env: Any) -> None:
        super()._eval_body(env)
        env.stack.append(_as_json(env.stack.pop()))


def _unchanged(value: Any) -> Any:
    return value


def _run_service_task(
    call: Any,
    request: dict[str, Any],
    result: Any = _unchanged,
    error: Any = None,
) -> None:
    """Run a service task's request (CALL, moto's `_eval_service_task`, which moto calls
    with keywords) and hand its RESULT on as AWS would: `result` maps the value the request
    left on the stack, `error` maps a ClientError and the request's parameters."""
    env = request["env"]
    sdk_metadata.forget()
    try:
        call(**request)
    except ClientError as exc:
        if error is None:
            raise
        raise error(exc, request["normalised_parameters"]) from None
    env.stack.append(result(env.stack.pop()))


class AwsSdkAsAws(aws_sdk.StateTaskServiceAwsSdk):
    """`aws-sdk:<service>:*` tasks: errors, requests and results as AWS gives them.

    Errors are `ServiceName.ErrorName`, both PascalCase, with an `Exception` suffix even
    where the service's own name has none (`S3.NoSuchKeyException`; "Learning to use AWS
    service SDK integrations", supported-services-awssdk.html). moto knows two service
    names (DynamoDb, Sfn) and lower-cased the rest; S3 is `S3` (the page's own example),
    others get an upper-case first letter. Results are JSON: timestamps (S3's
    `LastModified`, ...) become ISO-8601 text, as `$$.Execution.StartTime` is; moto handed
    on datetimes, which DescribeExecution then could not serialise. An `s3:putObject`
    `Body` that is not text (a JSON object, array, number, ...) is written as its JSON
    text, as the SDK integration serialises it; moto's client failed on it with a Python
    AttributeError.
    """

    @staticmethod
    def _normalise_service_error_name(service_name: str) -> str:
        if service_name.lower() == "s3":
            return "S3"
        known: str | None = aws_sdk._SERVICE_ERROR_NAMES.get(service_name.lower())
        return known or service_name[:1].upper() + service_name[1:]

    def _eval_service_task(self, *args: Any, **request: Any) -> Any:
        parameters = request["normalised_parameters"]
        body = parameters.get("Body")
        if self._get_boto_service_name() == "s3" and not isinstance(body, str | bytes | None):
            parameters["Body"] = json.dumps(body, separators=(",", ":"))
        _run_service_task(super()._eval_service_task, request, result=_as_json)


class SqsWithSdkMetadata(StateTaskServiceSqs):
    """`sqs:sendMessage` results carry `SdkHttpMetadata`/`SdkResponseMetadata`."""

    def _eval_service_task(self, *args: Any, **request: Any) -> Any:
        _run_service_task(super()._eval_service_task, request, result=sdk_metadata.added_to)


class SnsAsAws(StateTaskServiceSns):
    """`sns:publish` as AWS answers: the result carries `SdkHttpMetadata` and
    `SdkResponseMetadata`; errors are Publish's documented ones (API_Publish.html):
    `NotFound` "Topic does not exist" for a missing topic (moto's SNS looked for a mobile
    endpoint of that ARN and answered "Endpoint does not exist"), and `InvalidParameter` for
    a missing parameter (moto's `MissingParameter` is not among Publish's errors)."""

    def _eval_service_task(self, *args: Any, **request: Any) -> Any:
        _run_service_task(
            super()._eval_service_task,
            request,
            result=sdk_metadata.added_to,
            error=_sns_error_as_aws,
        )


def _sns_error_as_aws(error: ClientError, parameters: dict[str, Any]) -> ClientError:
    response: Any = {**error.response, "Error": dict(error.response.get("Error") or {})}
    code = response["Error"].get("Code")
    if code == "NotFound" and "TopicArn" in parameters:
        response["Error"]["Message"] = "Topic does not exist"
    elif code == "MissingParameter":
        response["Error"]["Code"] = "InvalidParameter"
        response["Error"]["Message"] = f"Invalid parameter: {response['Error'].get('Message', '')}"
    else:
        return error
    return ClientError(response, error.operation_name)


class DynamoDbAsAws(StateTaskServiceDynamoDB):
    """`dynamodb:*` results carry `SdkHttpMetadata`/`SdkResponseMetadata`, and an invalid
    request fails with `DynamoDB.ValidationException` ("1 validation error detected: ..."),
    DynamoDB's own answer, checked before the request is sent. moto looked a badly named
    table up and failed a null `Item` with a Python KeyError."""

    def _eval_service_task(self, *args: Any, **request: Any) -> Any:
        action = self.resource.api_action
        errors = dynamodb_requests.validation_errors(action, request["normalised_parameters"])
        if errors:
            count = f"{len(errors)} validation error{'s' if len(errors) > 1 else ''} detected"
            response: Any = {
                "Error": {
                    "Code": "ValidationException",
                    "Message": f"{count}: {'; '.join(errors)}",
                },
                "ResponseMetadata": {"HTTPStatusCode": 400, "RequestId": str(uuid.uuid4())},
            }
            raise ClientError(response, action)
        _run_service_task(super()._eval_service_task, request, result=sdk_metadata.added_to)
