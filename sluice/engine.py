"""Adapters that make moto's ASL engine behave like Step Functions where flows rely on it.

Each adapter is small and says what AWS does:
- StartExecution without a name gets a generated UUID name (moto reuses `None`, so the
  second nameless start fails with ExecutionAlreadyExists).
- StartSyncExecution (what Pipes call for Express targets) is provided here: moto has none.
- `StateMachineArn#TestCase` starts an execution with Step Functions Local's mocked
  integrations, read from the file named by SFN_MOCK_CONFIG (Step Functions Local's format).
"""

from __future__ import annotations

import contextvars
import json
import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from moto.core.config import default_user_config
from moto.stepfunctions.exceptions import InvalidExecutionInput, ValidationException
from moto.stepfunctions.parser.backend.execution import Execution
from moto.stepfunctions.parser.mocking.mock_config import (
    MockedResponse,
    MockedResponseReturn,
    MockedResponseThrow,
    MockTestCase,
    StateMockedResponses,
    _parse_mocked_response_range,
)
from moto.stepfunctions.parser.models import (
    StepFunctionsParserBackend,
    stepfunctions_parser_backends,
)

from sluice import engine_speed, jsonata, redrive, virtual_time
from sluice.template import ACCOUNT_ID, REGION

MOCK_CONFIG_ENV = "SFN_MOCK_CONFIG"
# StartExecution/StartSyncExecution `input`: at most 262,144 bytes as UTF-8 (API reference).
MAX_INPUT_BYTES = 262_144
_pending_mock: contextvars.ContextVar[MockTestCase | None] = contextvars.ContextVar(
    "sluice_pending_mock", default=None
)


class MockConfigError(ValidationException):
    """The mock config file or the requested test case is missing or malformed."""


def backend() -> StepFunctionsParserBackend:
    return stepfunctions_parser_backends[ACCOUNT_ID][REGION]


def load_mock_test_case(state_machine_name: str, test_case: str) -> MockTestCase:
    """Read one test case of a Step Functions Local MockConfigFile into moto's model."""
    path = os.environ.get(MOCK_CONFIG_ENV)
    if not path:
        raise MockConfigError(f"{MOCK_CONFIG_ENV} is not set; cannot run test case {test_case}")
    try:
        raw = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise MockConfigError(f"cannot read mock config {path}: {exc}") from exc
    machine = raw.get("StateMachines", {}).get(state_machine_name)
    if machine is None:
        raise MockConfigError(f"{path}: no StateMachines.{state_machine_name}")
    case = machine.get("TestCases", {}).get(test_case)
    if case is None:
        raise MockConfigError(f"{path}: no test case {test_case} for {state_machine_name}")
    responses = raw.get("MockedResponses", {})
    per_state = []
    for state_name, response_name in case.items():
        ranges = responses.get(response_name)
        if not ranges:
            raise MockConfigError(f"{path}: no MockedResponses.{response_name}")
        mocked: list[MockedResponse] = []
        for range_text, spec in ranges.items():
            start, end = _parse_mocked_response_range(range_text)
            if "Return" in spec:
                mocked.append(MockedResponseReturn(start, end, spec["Return"]))
            elif "Throw" in spec:
                throw = spec["Throw"]
                mocked.append(
                    MockedResponseThrow(start, end, throw.get("Error", ""), throw.get("Cause", ""))
                )
            else:
                raise MockConfigError(f"{path}: {response_name}[{range_text}] needs Return/Throw")
        per_state.append(StateMockedResponses(state_name, response_name, mocked))
    return MockTestCase(state_machine_name, test_case, per_state)


def install() -> None:
    """Enable moto's ASL engine and apply the adapters (idempotent)."""
    default_user_config["stepfunctions"]["execute_state_machine"] = True
    if getattr(StepFunctionsParserBackend, "_sluice_patched", False):
        return
    original_start = StepFunctionsParserBackend.start_execution
    original_worker = Execution._get_start_execution_worker

    def start_execution(
        self: StepFunctionsParserBackend,
        state_machine_arn: str,
        name: str | None = None,
        execution_input: str | None = None,
        trace_header: str | None = None,
    ) -> Any:
        arn, _, test_case = state_machine_arn.partition("#")
        # AWS rejects an input over the API's length constraint before starting anything;
        # moto accepted any size (the first state then failed with States.DataLimitExceeded).
        size = len(execution_input.encode("utf-8")) if execution_input else 0
        if size > MAX_INPUT_BYTES:
            raise InvalidExecutionInput(
                f"Input is {size} bytes as UTF-8; the maximum is {MAX_INPUT_BYTES} bytes"
            )
        mock = None
        if test_case:
            machine_name = arn.rsplit(":", 1)[-1]
            mock = load_mock_test_case(machine_name, test_case)
        token = _pending_mock.set(mock)
        try:
            start: Any = original_start
            return start(self, arn, name or str(uuid.uuid4()), execution_input, trace_header)
        finally:
            _pending_mock.reset(token)

    def get_worker(self: Execution) -> Any:
        worker = original_worker(self)
        mock = _pending_mock.get()
        if mock is not None:
            worker._mock_test_case = mock  # type: ignore[misc]
        return worker

    StepFunctionsParserBackend.start_execution = start_execution  # type: ignore[method-assign]
    Execution._get_start_execution_worker = get_worker  # type: ignore[method-assign]
    _express_execution_arns()
    _query_language_scopes_per_parse()
    _name_parser_errors()
    _states_all_spares_terminal_errors()
    _map_input_json_type()
    _keep_mocked_errors()
    _aws_sdk_error_names()
    _aws_sdk_results_are_json()
    _dynamodb_validates_requests()
    _reuse_clients()
    _reuse_jsonpaths()
    engine_speed.install()
    jsonata.install()
    virtual_time.install()
    redrive.install()
    StepFunctionsParserBackend._sluice_patched = True  # type: ignore[attr-defined]


def _express_execution_arns() -> None:
    """Executions of an EXPRESS machine get AWS's Express execution ARN,
    `arn:<partition>:states:<region>:<account>:express:<machine>:<name>:<id>` (the `express`
    resource type of the Service Authorization Reference), also as `$$.Execution.Id`.

    moto names every execution `...:execution:<machine>:<name>`, the Standard form. The ARN is
    rewritten as the Execution is built, before its worker makes the context object. AWS has
    no Standard API for Express executions; locally DescribeExecution and
    GetExecutionHistory still answer for them (history, coverage), so the backend's
    execution-ARN check accepts the Express form too (the machine name is still field 6).
    """
    import re

    from moto.stepfunctions.models import StepFunctionBackend
    from moto.utilities.utils import ARN_PARTITION_REGEX

    if getattr(Execution, "_sluice_express_arns", False):
        return
    original_init = Execution.__init__

    def __init__(self: Execution, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        # The machine (a snapshot of it) keeps its declared type; moto's sm_type is STANDARD.
        if getattr(self.state_machine, "type", None) == "EXPRESS" and ":execution:" in (
            self.exec_arn or ""
        ):
            arn = self.exec_arn.replace(":execution:", ":express:", 1) + f":{uuid.uuid4()}"
            self.exec_arn = self.execution_arn = arn

    Execution.__init__ = __init__  # type: ignore[method-assign]
    StepFunctionBackend.accepted_exec_arn_format = re.compile(
        ARN_PARTITION_REGEX
        + r":states:[-0-9a-zA-Z]+:(?P<account_id>[0-9]{12}):(execution|express):.+"
    )
    Execution._sluice_express_arns = True  # type: ignore[attr-defined]


def _query_language_scopes_per_parse() -> None:
    """Give every parse its own stack of QueryLanguage scopes.

    moto's Preprocessor keeps that stack in a class attribute: one list for every parse in
    the process, on every thread. A definition that raises inside a JSONata scope (e.g. a
    JSONata state with `Parameters`) leaves its scopes on the list, and every later
    JSONPath definition is then read as JSONata and rejected until the process restarts;
    CreateStateMachine calls on several threads also push and pop each other's scopes.
    A list per Preprocessor (one is made per parse) fixes both, for every subclass too
    (TestStatePreprocessor).
    """
    from moto.stepfunctions.parser.asl.parse.preprocessor import Preprocessor

    if "__init__" in vars(Preprocessor):  # installed already (moto defines no __init__)
        return

    def __init__(self: Preprocessor, *args: Any, **kwargs: Any) -> None:
        super(Preprocessor, self).__init__(*args, **kwargs)
        self._query_language_per_scope = []

    Preprocessor.__init__ = __init__  # type: ignore[method-assign,assignment]


def _name_parser_errors() -> None:
    """moto's Step Functions errors answer with their name, as AWS's do.

    The engine's errors (`InvalidDefinition`, `TaskDoesNotExist`, `TaskTimedOut`, ...) are
    moto AWSErrors that spell their name `code` (LocalStack's convention) where AWSError
    reads `TYPE`, so they answered `{"__type": null}`, `X-Amzn-ErrorType: UnknownError`,
    and boto3 saw an empty error code.
    """
    from moto.core.exceptions import AWSError
    from moto.stepfunctions.parser import api

    for error in vars(api).values():
        if (
            isinstance(error, type)
            and issubclass(error, AWSError)
            and error.TYPE is None
            and isinstance(vars(error).get("code"), str)
        ):
            error.TYPE = vars(error)["code"]
            error.STATUS = getattr(error, "status_code", error.STATUS)


def _states_all_spares_terminal_errors() -> None:
    """`States.ALL` in Retry or Catch does not match `States.DataLimitExceeded` or
    `States.Runtime`, as AWS documents ("Error names",
    https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html).

    moto's ErrorEqualsDecl lets `States.ALL` match every error, so a task whose result is over
    the 256 KiB payload quota was caught locally and the flow went on where AWS fails it.
    Naming either error explicitly in ErrorEquals still matches it (moto's own rule).
    This follows the documentation; LocalStack's snapshots recorded against AWS in 2024
    (test_states_errors, "catch_state_all_data_limit_exceeded") show a Lambda result's
    DataLimitExceeded caught by States.ALL, so AWS may be more lenient than documented: a
    flow failing here for that reason may pass there, never the other way round.
    """
    from moto.stepfunctions.parser.asl.component.common.error_name.error_equals_decl import (
        ErrorEqualsDecl,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import (
        StatesErrorName,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )

    if getattr(ErrorEqualsDecl, "_sluice_terminal", None):
        return
    terminal = (
        StatesErrorName(typ=StatesErrorNameType.StatesStatesDataLimitExceeded),
        StatesErrorName(typ=StatesErrorNameType.StatesRuntime),
    )
    original = ErrorEqualsDecl._eval_body

    def _eval_body(self: ErrorEqualsDecl, env: Any) -> None:
        error_name = env.stack[-1]
        if error_name in terminal and error_name not in self.error_names:
            env.stack.pop()
            env.stack.append(False)
            return
        original(self, env)

    ErrorEqualsDecl._eval_body = _eval_body  # type: ignore[method-assign]
    ErrorEqualsDecl._sluice_terminal = terminal  # type: ignore[attr-defined]


def _map_input_json_type() -> None:
    """A Map whose items are not an array names the JSON type, not Python's class.

    moto's cause read `Map state input must be an array but was: <class 'bool'>`. AWS names
    JSON types (`boolean`, `number`, `string`, `object`, `null`) in its Items errors (see
    moto's own ItemsJSONata, ported from AWS-recorded snapshots), so the cause is rewritten
    with those names when the failure leaves the Map state.
    """
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
        FailureEventException,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.state_map import StateMap

    if getattr(StateMap, "_sluice_json_types", False):
        return
    prefix = "Map state input must be an array but was: "
    json_types = {
        "<class 'bool'>": "boolean",
        "<class 'int'>": "number",
        "<class 'float'>": "number",
        "<class 'str'>": "string",
        "<class 'dict'>": "object",
        "<class 'NoneType'>": "null",
    }
    original = StateMap._eval_execution

    def _eval_execution(self: StateMap, env: Any) -> None:
        try:
            original(self, env)
        except FailureEventException as exc:
            event_details: dict[str, Any] = dict(exc.failure_event.event_details or {})
            details = event_details.get("evaluationFailedEventDetails")
            cause = str((details or {}).get("cause", ""))
            if details is not None and cause.startswith(prefix):
                python_type = cause[len(prefix) :]
                details["cause"] = prefix + json_types.get(python_type, python_type)
            raise

    StateMap._eval_execution = _eval_execution  # type: ignore[method-assign]
    StateMap._sluice_json_types = True  # type: ignore[attr-defined]


def _aws_sdk_error_names() -> None:
    """`aws-sdk:<service>:*` errors are `ServiceName.ErrorName`, both in PascalCase, with an
    `Exception` suffix even where the service's own name has none (`S3.NoSuchKeyException`)
    ("Learning to use AWS service SDK integrations in Step Functions",
    https://docs.aws.amazon.com/step-functions/latest/dg/supported-services-awssdk.html).

    moto knows the names of two services (DynamoDb, Sfn, as recorded on AWS) and used any
    other lower-cased (`s3.NoSuchKeyException`). S3 is `S3` (the page's own example); other
    services get an upper-case first letter, the nearest PascalCase without a list of names.
    """
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_aws_sdk as aws_sdk,
    )

    if getattr(aws_sdk, "_sluice_names", False):
        return
    aws_sdk._SERVICE_ERROR_NAMES.setdefault("s3", "S3")

    def normalise(service_name: str) -> str:
        known = aws_sdk._SERVICE_ERROR_NAMES.get(service_name.lower())
        return known or service_name[:1].upper() + service_name[1:]

    sdk_state: Any = aws_sdk.StateTaskServiceAwsSdk
    sdk_state._normalise_service_error_name = staticmethod(normalise)
    aws_sdk._sluice_names = True  # type: ignore[attr-defined]


def _aws_sdk_results_are_json() -> None:
    """An `aws-sdk:*` task's result is JSON: timestamps in it (S3's `CreationDate` and
    `LastModified`, ...) become ISO-8601 text, as `$$.Execution.StartTime` is.

    moto handed on botocore's datetime objects: the next state could not serialise them and
    DescribeExecution/GetExecutionHistory answered HTTP 500 (`datetime is not JSON
    serializable`). States pass JSON only; AWS's exact timestamp spelling is not documented.
    """
    import datetime

    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_aws_sdk as aws_sdk,
    )

    def as_json(value: Any) -> Any:
        if isinstance(value, datetime.datetime | datetime.date):
            return value.isoformat()
        if isinstance(value, dict):
            return {key: as_json(member) for key, member in value.items()}
        if isinstance(value, list):
            return [as_json(member) for member in value]
        return value

    def after(state: Any, env: Any) -> None:
        env.stack.append(as_json(env.stack.pop()))

    _wrap_service_task(aws_sdk.StateTaskServiceAwsSdk, "_sluice_json_results", after=after)


def _wrap_service_task(
    cls: Any,
    flag: str,
    before: Callable[[Any, dict[str, Any]], None] | None = None,
    after: Callable[[Any, Any], None] | None = None,
) -> None:
    """Run BEFORE(state, parameters) ahead of a service task class's request and
    AFTER(state, env) once its result is on the stack; FLAG marks the class as done."""
    if getattr(cls, flag, False):
        return
    original = cls._eval_service_task

    def _eval_service_task(
        self: Any,
        env: Any,
        resource_runtime_part: Any,
        normalised_parameters: dict[str, Any],
        state_credentials: Any,
    ) -> Any:
        if before is not None:
            before(self, normalised_parameters)
        original(
            self,
            env=env,
            resource_runtime_part=resource_runtime_part,
            normalised_parameters=normalised_parameters,
            state_credentials=state_credentials,
        )
        if after is not None:
            after(self, env)

    cls._eval_service_task = _eval_service_task
    setattr(cls, flag, True)


# DynamoDB table names: 3 to 255 of a-z, A-Z, 0-9, `_`, `-`, `.` ("Naming rules",
# https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/HowItWorks.NamingRulesDataTypes.html);
# the item APIs also take a table ARN.
_DYNAMODB_TABLE_NAME = r"[a-zA-Z0-9_.-]+"
_DYNAMODB_REQUIRED = {"putitem": "Item", "getitem": "Key", "deleteitem": "Key", "updateitem": "Key"}


def dynamodb_validation_errors(action: str, params: dict[str, Any]) -> list[str]:
    """What DynamoDB's request validation says about an item request (empty: valid)."""
    import re

    errors = []
    table = params.get("TableName")
    if table is None:
        errors.append(
            "Value null at 'tableName' failed to satisfy constraint: Member must not be null"
        )
    elif not str(table).startswith("arn:"):
        if len(str(table)) < 3:
            errors.append(
                f"Value '{table}' at 'tableName' failed to satisfy constraint: "
                "Member must have length greater than or equal to 3"
            )
        if len(str(table)) > 255:
            errors.append(
                f"Value '{table}' at 'tableName' failed to satisfy constraint: "
                "Member must have length less than or equal to 255"
            )
        if not re.fullmatch(_DYNAMODB_TABLE_NAME, str(table)):
            errors.append(
                f"Value '{table}' at 'tableName' failed to satisfy constraint: "
                f"Member must satisfy regular expression pattern: {_DYNAMODB_TABLE_NAME}"
            )
    member = _DYNAMODB_REQUIRED.get(action.lower())
    if member and params.get(member) is None:
        errors.append(
            f"Value null at '{member[0].lower()}{member[1:]}' failed to satisfy constraint: "
            "Member must not be null"
        )
    return errors


def _dynamodb_validates_requests() -> None:
    """The optimised DynamoDB integration fails an invalid request with
    `DynamoDB.ValidationException`, DynamoDB's own answer ("1 validation error detected: ...").

    moto's DynamoDB looked a badly named table up (`DynamoDB.ResourceNotFoundException`) and
    failed a null `Item` with a Python KeyError (`DynamoDB.AmazonDynamoDBException`, cause
    `'Item'`). The request is checked before it is sent; the error goes through moto's own
    ClientError naming (`DynamoDB.<code>`, cause with the service details).
    """
    from botocore.exceptions import ClientError
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_dynamodb as dynamodb,
    )

    def before(state: Any, parameters: dict[str, Any]) -> None:
        errors = dynamodb_validation_errors(state.resource.api_action, parameters)
        if errors:
            count = f"{len(errors)} validation error{'s' if len(errors) > 1 else ''} detected"
            response: Any = {
                "Error": {
                    "Code": "ValidationException",
                    "Message": f"{count}: {'; '.join(errors)}",
                },
                "ResponseMetadata": {"HTTPStatusCode": 400, "RequestId": str(uuid.uuid4())},
            }
            raise ClientError(response, state.resource.api_action)

    _wrap_service_task(dynamodb.StateTaskServiceDynamoDB, "_sluice_validates", before=before)


def _reuse_clients() -> None:
    """Build each service client the engine uses once, not once per task (~7 ms of CPU each).

    boto3 clients are thread-safe once built; building them from the shared default session
    in many execution threads at once is not, so building happens under a lock.
    """
    import sys
    import threading

    from moto.stepfunctions.parser.asl.utils import boto_client

    original = boto_client.boto_client_for
    cache: dict[tuple[str, str], Any] = {}
    lock = threading.Lock()

    def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        # moto ignores per-state credentials (IAM is not enforced locally), and so do we.
        if service == "lambda" and (in_process := engine_speed.in_process_lambda_client()):
            return in_process
        key = (region, service)
        with lock:
            if key not in cache:
                cache[key] = engine_speed.route_in_process(original(region=region, service=service))
            return cache[key]

    # The engine's modules imported the function by name: rebind it where they hold it.
    for name, module in list(sys.modules.items()):
        if name.startswith("moto.stepfunctions.parser") and (
            getattr(module, "boto_client_for", None) is original
        ):
            module.boto_client_for = boto_client_for  # type: ignore[attr-defined]
    boto_client.boto_client_for = boto_client_for


def _reuse_jsonpaths() -> None:
    """Parse each JSONPath once: jsonpath_ng builds a new ply parser on every `parse`, and
    the engine parses every path of every state of every execution again.

    Parsed expressions are not changed by `find` or `update_or_create`, so sharing them is
    safe. ResultPath imports jsonpath_ng's own (non-extended) `parse`: cached likewise.
    """
    import functools

    from moto.stepfunctions.parser.asl.component.common.path import result_path
    from moto.stepfunctions.parser.asl.utils import json_path

    json_path.parse = functools.lru_cache(maxsize=4096)(json_path.parse)
    result_path.parse = functools.lru_cache(maxsize=4096)(result_path.parse)


def _keep_mocked_errors() -> None:
    """A mocked Throw must surface with its own error name.

    Service integrations (dynamodb, sqs, ...) override `_from_error` and turn any exception
    that is not a ClientError into `<Service>.AmazonServiceException`; the mocked Throw is a
    ready FailureEventException, so let it through unchanged as the base state does.
    """
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
        FailureEventException,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import state_task
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_factory,  # noqa: F401 - imports every service integration class
    )

    def subclasses(cls: type[Any]) -> list[type[Any]]:
        return [cls, *(s for sub in cls.__subclasses__() for s in subclasses(sub))]

    for cls in subclasses(state_task.StateTask):
        original = cls.__dict__.get("_from_error")
        if original is None:
            continue

        def _from_error(self: Any, env: Any, ex: Exception, _original: Any = original) -> Any:
            if isinstance(ex, FailureEventException):
                return ex.failure_event
            return _original(self, env, ex)

        cls._from_error = _from_error


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
    start: Any = sfn.start_execution  # the adapter above accepts a missing name
    execution = start(state_machine_arn, name, execution_input)
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
