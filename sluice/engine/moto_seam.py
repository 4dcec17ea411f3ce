"""Every moto symbol the engine relies on, checked at start-up, and the few global patches.

The engine extends moto (pinned in requirements.lock) by subclassing: its backend, response,
execution, worker, environment, event manager and preprocessor, and the components the
preprocessor builds. `SYMBOLS` lists each moto name it subclasses, calls or replaces, with
the parameters it expects; `verify()` fails start-up with the name and the difference
when a moto upgrade moved or changed one, so nothing is switched off silently. Upgrading
moto is a change to this list (and to what it names).

What cannot be reached through a subclass stays a process-wide patch, each one below:
names that moto's modules imported by value (a client factory, a parser, `copy`,
`Thread`), a class attribute shared by every parse, and moto server lookups. The patches
of moto's service models that the gateway needs (not the engine's) are in
sluice/engine/moto_services.py, their symbols listed here too, so that no module outside
this package assigns to moto.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import inspect
import sys
import threading
import types
from collections import deque
from collections.abc import Iterator
from typing import Any

from sluice.engine import moto_services, speed
from sluice.engine.moto_symbols import MotoSeamError, resolve

_P = "moto.stepfunctions.parser"
_ASL = f"{_P}.asl"
_STATE = f"{_ASL}.component.state"
_MAP = f"{_STATE}.exec.state_map"
_TASK = f"{_STATE}.exec.state_task"
_TS = f"{_P}.backend.test_state"
_SEC = "self env resource_runtime_part normalised_parameters state_credentials"

# "module:qualified.name" -> the parameters expected, space-separated (None: not a callable).
SYMBOLS: dict[str, str | None] = {
    # Subclassed; the methods overridden or called; the classes whose instances the engine
    # reads while it builds a program (programs.py) or an execution's context.
    "moto.stepfunctions.models:StepFunctionBackend.create_state_machine": (
        "self name definition roleArn tags publish loggingConfiguration "
        "tracingConfiguration encryptionConfiguration version_description sm_type"
    ),
    "moto.stepfunctions.models:StepFunctionBackend.describe_state_machine": "self arn",
    "moto.stepfunctions.models:StepFunctionBackend.stop_execution": "self execution_arn",
    "moto.stepfunctions.responses:StepFunctionResponse.stop_execution": "self",
    "moto.stepfunctions.models:StateMachine._handle_name_input_idempotency": (
        "self name execution_input"
    ),
    f"{_P}.models:StepFunctionsParserBackend.send_task_heartbeat": "self task_token",
    f"{_P}.models:StepFunctionsParserBackend.send_task_success": "self task_token outcome",
    f"{_P}.models:StepFunctionsParserBackend.send_task_failure": "self task_token error cause",
    f"{_P}.models:StepFunctionsParserBackend.describe_map_run": "self map_run_arn",
    f"{_P}.models:StepFunctionsParserBackend.list_map_runs": "self execution_arn",
    f"{_P}.models:StepFunctionsParserBackend.update_map_run": (
        "self map_run_arn max_concurrency tolerated_failure_count tolerated_failure_percentage"
    ),
    "moto.stepfunctions.responses:StepFunctionResponse.stepfunction_backend": None,
    "moto.stepfunctions.responses:StepFunctionResponse.describe_execution": "self",
    "moto.stepfunctions.responses:StepFunctionResponse.list_executions": "self",
    "moto.moto_server.werkzeug_app:convert_to_flask_response": None,
    f"{_P}.backend.execution:Execution.__init__": (
        "self name sm_type role_arn exec_arn account_id region_name state_machine "
        "start_date cloud_watch_logging_session activity_store input_data trace_header"
    ),
    f"{_P}.backend.execution:Execution._get_start_execution_worker": "self",
    f"{_P}.backend.execution:Execution._get_start_execution_worker_comm": "self",
    f"{_P}.backend.execution:Execution.get_start_execution_details": "self",
    f"{_P}.backend.execution:Execution.stop": "self stop_date error cause",
    f"{_P}.backend.execution:Execution.start": "self",
    f"{_P}.backend.execution:BaseExecutionWorkerCommunication.terminated": "self",
    f"{_P}.backend.execution:BaseExecutionWorkerCommunication._reflect_execution_status": "self",
    f"{_P}.backend.execution_worker:ExecutionWorker.__init__": (
        "self evaluation_details exec_comm cloud_watch_logging_session activity_store "
        "mock_test_case"
    ),
    f"{_P}.backend.execution_worker:ExecutionWorker._get_evaluation_entrypoint": "self",
    f"{_P}.backend.execution_worker:ExecutionWorker._get_evaluation_environment": "self",
    f"{_P}.backend.execution_worker:ExecutionWorker._execution_logic": "self",
    f"{_P}.backend.execution_worker:ExecutionWorker.start": "self",
    f"{_ASL}.eval.environment:Environment.__init__": (
        "self aws_execution_details execution_type context event_history_context "
        "cloud_watch_logging_session activity_store variable_store mock_test_case"
    ),
    f"{_ASL}.eval.environment:Environment.as_inner_frame_of": (
        "cls env variable_store event_history_frame_cache"
    ),
    f"{_ASL}.eval.environment:Environment.as_frame_of": "cls env event_history_frame_cache",
    f"{_ASL}.eval.environment:Environment.close_frame": "self frame",
    f"{_ASL}.eval.event.event_manager:EventManager.add_event": (
        "self context event_type event_details timestamp update_source_event_id"
    ),
    f"{_ASL}.parse.preprocessor:Preprocessor": None,
    f"{_ASL}.parse.preprocessor:from_string_literal": "parser_rule_context",
    f"{_ASL}.component.common.assign.assign_template_value_terminal"
    ":AssignTemplateValueTerminalLit._eval_body": "self env",
    f"{_ASL}.parse.asl_parser:AmazonStateLanguageParser.parse": "definition",
    f"{_ASL}.parse.asl_parser:ASLParserException": None,
    f"{_ASL}.component.eval_component:EvalComponent.heap_key": None,
    f"{_ASL}.component.common.error_name.error_equals_decl:ErrorEqualsDecl._eval_body": "self env",
    f"{_ASL}.component.common.retry.retrier_decl:RetrierDecl._eval_body": "self env",
    f"{_ASL}.component.common.string.string_expression:StringJSONata._eval_body": "self env",
    f"{_ASL}.component.common.string.string_expression:StringVariableSample._eval_body": "self env",
    f"{_STATE}.state:CommonStateField._eval_state_input": "self env",
    f"{_STATE}.state:CommonStateField._get_state_entered_event_details": "self env",
    f"{_STATE}.state:CommonStateField._get_state_exited_event_details": "self env",
    f"{_STATE}.state:CommonStateField._verify_size_quota": "self env value",
    f"{_ASL}.eval.states:States.reset": "self input_value",  # state_io reads what it keeps
    f"{_P}.quotas:MAX_STATE_SIZE_UTF8_BYTES": None,
    f"{_STATE}.wait.wait_function.wait_function:WaitFunction._wait_interval": (
        "self env wait_seconds"
    ),
    f"{_STATE}.wait.wait_function.timestamp:Timestamp._get_wait_seconds": "self env",
    f"{_STATE}.exec.execute_state:ExecutionState._evaluate_with_timeout": "self env",
    f"{_ASL}.component.common.timeouts.timeout:Timeout.is_default_value": "self",
    f"{_ASL}.component.program.program:Program.eval": "self env",
    f"{_MAP}.state_map:StateMap._eval_execution": "self env",
    f"{_MAP}.item_reader.item_reader_decl:ItemReader._eval_body": "self env",
    f"{_STATE}.exec.state_parallel.branches_decl:BranchesDecl._eval_body": "self env",
    f"{_STATE}.exec.state_parallel.branches_decl:BranchWorkerPool.__init__": "self workers_num",
    f"{_STATE}.exec.state_parallel.branches_decl:BranchWorkerPool.wait": "self",
    f"{_STATE}.exec.state_parallel.branches_decl:BranchWorkerPool.get_exit_event_details": ("self"),
    f"{_STATE}.exec.state_parallel.branch_worker:BranchWorker.__init__": (
        "self branch_worker_comm program env"
    ),
    f"{_STATE}.exec.state_parallel.branch_worker:BranchWorker.stop": "self stop_date cause error",
    f"{_STATE}.exec.state_parallel.branch_worker:BranchWorker.start": "self",
    f"{_STATE}.exec.state_parallel.branch_worker:BranchWorker._thread_routine": "self",
    f"{_MAP}.iteration.job:Job.__init__": "self job_index job_program job_input",
    f"{_ASL}.component.common.error_name.states_error_name:StatesErrorName.from_name": (
        "cls error_name"
    ),
    f"{_ASL}.eval.environment:Environment.program_state": "self",
    f"{_MAP}.iteration.job:JobPool.__init__": "self job_program job_inputs",
    f"{_P}.quotas:is_within_size_quota": "value",
    f"{_MAP}.iteration.inline_iteration_component:InlineIterationComponent._launch_worker": (
        "self env eval_input job_pool"
    ),
    f"{_MAP}.iteration.iteration_worker:IterationWorker._eval_pool": "self job worker_frame",
    f"{_TASK}.state_task:StateTask._from_error": "self env ex",
    f"{_TASK}.service.state_task_service_aws_sdk:StateTaskServiceAwsSdk._eval_service_task": _SEC,
    f"{_TASK}.service.state_task_service_aws_sdk:StateTaskServiceAwsSdk"
    "._normalise_service_error_name": "service_name",
    f"{_TASK}.service.state_task_service_dynamodb:StateTaskServiceDynamoDB._eval_service_task": (
        _SEC
    ),
    f"{_TASK}.service.state_task_service_sqs:StateTaskServiceSqs._eval_service_task": _SEC,
    f"{_TASK}.service.state_task_service_sns:StateTaskServiceSns._eval_service_task": _SEC,
    f"{_P}.mocking.mock_config:_parse_mocked_response_range": "string_definition",
    # TestState (test_state.py, test_state_request.py): the execution and worker it
    # subclasses, the Retry and Catch it replaces, the mocks and results it builds and reads.
    f"{_TS}.execution:TestStateExecution.__init__": (
        "self name role_arn exec_arn account_id region_name state_machine start_date "
        "activity_store input_data"
    ),
    f"{_TS}.execution:TestStateExecution._get_start_execution_worker_comm": "self",
    f"{_TS}.execution:TestStateExecution._get_start_execution_worker": "self",
    f"{_TS}.execution:TestStateExecution._get_start_aws_execution_details": "self",
    f"{_TS}.execution:TestStateExecution.get_start_state_machine_details": "self",
    f"{_TS}.execution_worker:TestStateExecutionWorker._get_evaluation_entrypoint": "self",
    f"{_TS}.execution_worker:TestStateExecutionWorker._get_evaluation_environment": "self",
    f"{_P}.backend.state_machine:TestStateMachine.__init__": (
        "self name arn definition role_arn create_date"
    ),
    f"{_ASL}.eval.evaluation_details:EvaluationDetails.__init__": (
        "self aws_execution_details execution_details state_machine_details"
    ),
    f"{_ASL}.eval.program_state:ProgramEnded": None,
    f"{_ASL}.eval.program_state:ProgramError": None,
    f"{_ASL}.eval.program_state:ProgramRunning": None,
    f"{_ASL}.eval.program_state:ProgramTimedOut": None,
    f"{_ASL}.eval.test_state.program_state:ProgramChoiceSelected": None,
    f"{_ASL}.static_analyser.test_state.test_state_analyser:TestStateStaticAnalyser.analyse": (
        "self definition"
    ),
    f"{_ASL}.component.eval_component:EvalComponent._eval_body": "self env",
    f"{_ASL}.component.common.parargs:Arguments": None,
    f"{_ASL}.component.common.retry.retry_decl:RetryDecl.__init__": "self retriers",
    f"{_ASL}.component.common.retry.retry_decl:RetryDecl._eval_body": "self env",
    f"{_ASL}.component.common.retry.retry_outcome:RetryOutcome": None,
    f"{_ASL}.component.common.catch.catch_decl:CatchDecl.__init__": "self catchers",
    f"{_ASL}.component.common.catch.catch_decl:CatchDecl._eval_body": "self env",
    f"{_ASL}.component.common.catch.catch_outcome:CatchOutcome": None,
    f"{_ASL}.component.common.catch.catcher_outcome:CatcherOutcomeCaught": None,
    f"{_ASL}.utils.encoding:to_json_str": "obj separators",
    f"{_P}.mocking.mock_config:MockTestCase.__init__": (
        "self state_machine_name test_case_name state_mocked_responses_list"
    ),
    f"{_P}.mocking.mock_config:StateMockedResponses.__init__": (
        "self state_name mocked_response_name mocked_responses"
    ),
    f"{_P}.mocking.mock_config:MockedResponse": None,
    f"{_P}.mocking.mock_config:MockedResponseReturn.__init__": "self range_start range_end payload",
    f"{_P}.mocking.mock_config:MockedResponseThrow.__init__": (
        "self range_start range_end error cause"
    ),
    # Replaced process-wide by the patches below.
    f"{_ASL}.utils.boto_client:boto_client_for": "region service state_credentials",
    f"{_ASL}.utils.json_path:parse": None,
    f"{_ASL}.component.common.path.result_path:parse": None,
    f"{_P}.utils:TMP_THREADS": None,
    "moto.backends:list_of_moto_modules": "",
    "moto.core.exceptions:AWSError.__init__": "self message exception_type status",
    "moto.core.responses:method_names_from_class": "clazz",
    "moto.moto_server.werkzeug_app:DomainDispatcherApplication.get_backend_for_host": "self host",
    "moto.core.base_backend:BackendDict.__getitem__": "self account_id",
    "moto.core.base_backend:BackendDict._create_account_specific_backend": "self account_id",
    # moto's server without Flask's framing (sluice/engine/moto_dispatch.py).
    "moto.moto_server.werkzeug_app:DomainDispatcherApplication.get_application": "self environ",
    "moto.moto_server.werkzeug_app:BackendRequest.from_wsgi_server": None,
    "moto.core.request:Request.__init__": "self args kwargs",
    "moto.moto_server.werkzeug_app:convert_to_flask_response.__init__": "self callback",
    # moto's service models as the gateway serves them (sluice/engine/moto_services.py).
    **moto_services.SYMBOLS,
}

# The engine modules whose `copy.deepcopy` calls copy JSON values (inputs, results, parameters).
JSON_COPYING_MODULES = (
    f"{_ASL}.eval.states",
    f"{_STATE}.exec.execute_state",
    f"{_ASL}.component.common.path.result_path",
    f"{_ASL}.component.common.string.string_expression",
    f"{_TASK}.service.state_task_service",
)
# Modules that start a thread per program, task or Parallel branch (workers and inline Map
# iterations start theirs through the engine's subclasses).
THREADING_MODULES = (
    f"{_ASL}.component.program.program",
    f"{_STATE}.exec.execute_state",
    f"{_STATE}.exec.state_parallel.branch_worker",
)


def verify() -> None:
    """Raise MotoSeamError naming the first symbol that is missing or changed signature."""
    for symbol, expected in SYMBOLS.items():
        value = resolve(symbol)
        if expected is None:
            continue
        if isinstance(value, property):
            value = value.fget
        got = tuple(inspect.signature(value).parameters)
        if got != tuple(expected.split()):
            raise MotoSeamError(
                f"moto symbol {symbol} changed signature: expected "
                f"({', '.join(expected.split())}), found ({', '.join(got)})"
            )


_installed = False
_install_lock = threading.Lock()


def install() -> None:
    """Verify the symbols and apply the global patches (once per process)."""
    global _installed
    with _install_lock:
        if _installed:
            return
        verify()
        for patch in GLOBAL_PATCHES:
            if patch is _preprocessor_per_parse_reading_json or speed.enabled():
                patch()
        for patch in SERVICE_PATCHES:
            patch()
        _installed = True


def _preprocessor_per_parse_reading_json() -> None:
    """Give every parse its own stack of QueryLanguage scopes, and decode string literals
    as JSON (sluice/engine/json_strings.py), which moto's preprocessor module imported by
    value.

    moto's Preprocessor keeps that stack in a class attribute: one list for every parse in
    the process, on every thread. A definition that raises inside a JSONata scope leaves
    its scopes on the list, and every later JSONPath definition is then read as JSONata and
    rejected until the process restarts; parses on several threads also push and pop each
    other's scopes. Patched on moto's class, so every subclass (TestState's too) has it.
    """
    from moto.stepfunctions.parser.asl.parse import preprocessor
    from moto.stepfunctions.parser.asl.parse.preprocessor import Preprocessor

    from sluice.engine import json_strings

    preprocessor.from_string_literal = json_strings.from_string_literal

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        super(Preprocessor, self).__init__(*args, **kwargs)
        self._query_language_per_scope = []

    Preprocessor.__init__ = __init__  # type: ignore[method-assign]


def _rebind(name: str, old: Any, new: Any) -> None:
    """Rebind NAME from OLD to NEW in each engine module that imported it by value."""
    for module_name, module in list(sys.modules.items()):
        if module_name.startswith(_P) and getattr(module, name, None) is old:
            setattr(module, name, new)


def _engine_clients() -> None:
    """The engine's service clients built once and answered in process (speed.engine_client)."""
    from moto.stepfunctions.parser.asl.utils import boto_client

    original = boto_client.boto_client_for

    def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        return speed.engine_client(region, service, lambda r, s: original(region=r, service=s))

    _rebind("boto_client_for", original, boto_client_for)


def _jsonpaths_parsed_once() -> None:
    """jsonpath_ng builds a new ply parser on every `parse`, and the engine parses every
    path of every state of every execution again; parsed paths are not changed by `find`
    or `update_or_create`, so they are shared."""
    from moto.stepfunctions.parser.asl.component.common.path import result_path
    from moto.stepfunctions.parser.asl.utils import json_path

    json_path.parse = functools.lru_cache(maxsize=4096)(json_path.parse)
    result_path.parse = functools.lru_cache(maxsize=4096)(result_path.parse)


def _json_copied_directly() -> None:
    """The engine's copies of JSON values with a plain recursive copy (speed.json_copy)."""
    fast_copy = types.SimpleNamespace(deepcopy=speed.json_copy, copy=__import__("copy").copy)
    for name in JSON_COPYING_MODULES:
        importlib.import_module(name).copy = fast_copy  # type: ignore[attr-defined]


def _pooled_threads() -> None:
    """Per-program, per-task and per-branch threads taken from the engine's pool; the
    module-level list moto appends every thread to (nothing reads it) kept short."""
    from moto.stepfunctions.parser import utils

    pooled = types.SimpleNamespace(**vars(threading))
    pooled.Thread = speed.PooledThread
    for name in THREADING_MODULES:
        module = importlib.import_module(name)
        if getattr(module, "Thread", None) is threading.Thread:
            module.Thread = speed.PooledThread  # type: ignore[attr-defined]
        if getattr(module, "threading", None) is threading:
            module.threading = pooled  # type: ignore[attr-defined]
    kept: deque[Any] = deque(maxlen=256)
    _rebind("TMP_THREADS", utils.TMP_THREADS, kept)


def _server_lookups_once() -> None:
    """moto's server lists its package directory and matches the host against every
    service's URL patterns to resolve every request's backend (under one lock), and lists a
    response class's methods with `inspect` for every request; none of it changes once the
    gateway serves."""
    from moto import backends
    from moto.core import responses
    from moto.core.base_backend import BackendDict
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    modules = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: modules
    responses.method_names_from_class = functools.lru_cache(maxsize=None)(
        responses.method_names_from_class
    )
    dispatcher: Any = DomainDispatcherApplication
    dispatcher.get_backend_for_host = functools.lru_cache(maxsize=1024)(
        dispatcher.get_backend_for_host
    )
    BackendDict.__getitem__ = _account_backend  # type: ignore[method-assign]


def _account_backend(self: Any, account_id: str) -> Any:
    """An account's backends, created once under moto's lock and then read without it, as
    moto reads a region's. moto takes its process-wide lock for every read, and scans
    every service in use under it: each request reads two or three, and on a busy stack a
    thread that loses the interpreter while it holds that lock stops every other request
    (a third of a rule delivery's StartExecution was spent waiting for it in a sale burst)."""
    try:
        return dict.__getitem__(self, account_id)
    except KeyError:
        self._create_account_specific_backend(account_id)
        return dict.__getitem__(self, account_id)


# Every process-wide patch; all but the first are speed-ups that `make bench` can switch off.
GLOBAL_PATCHES = (
    _preprocessor_per_parse_reading_json,
    _engine_clients,
    _jsonpaths_parsed_once,
    _json_copied_directly,
    _pooled_threads,
    _server_lookups_once,
)


# Not the engine's: moto's DynamoDB, S3 and SQS as the gateway serves them, patched by
# sluice/engine/moto_services.py so that every patch of moto is in this package.
SERVICE_PATCHES = moto_services.PATCHES


@contextlib.contextmanager
def step_functions_in_process() -> Iterator[None]:
    """Step Functions calls made under `mock_aws` (no gateway) answered by the engine's
    backend for the block, which starts empty, as mock_aws's own backends do."""
    from moto.stepfunctions.responses import StepFunctionResponse

    from sluice.engine.backend import backends

    backends.reset()
    saved = StepFunctionResponse.__dict__["stepfunction_backend"]
    StepFunctionResponse.stepfunction_backend = property(  # type: ignore[assignment,method-assign]
        lambda self: backends[self.current_account][self.region]
    )
    try:
        yield
    finally:
        StepFunctionResponse.stepfunction_backend = saved  # type: ignore[method-assign]
        backends.reset()
