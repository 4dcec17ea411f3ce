"""A TestState request, checked as the Step Functions API does before anything runs.

Invalid requests raise `InvalidRequest` with the API's error name (InvalidDefinition,
InvalidExecutionInput, InvalidArn, ValidationException) and a message naming what is wrong.
`stateName` picks one state out of a whole state machine definition (which must be valid);
`mock` (a `result` or an `errorOutput`) is read into the engine's mocked-response model.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
from moto.stepfunctions.parser.asl.static_analyser.test_state.test_state_analyser import (
    TestStateStaticAnalyser,
)
from moto.stepfunctions.parser.mocking.mock_config import (
    MockedResponse,
    MockedResponseReturn,
    MockedResponseThrow,
)

INSPECTION_LEVELS = ("INFO", "DEBUG", "TRACE")
MOCKABLE_TYPES = ("Task", "Map", "Parallel")
_ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:role/\S+")


class InvalidRequest(Exception):
    """An invalid TestState request: CODE is the API's error name."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def _invalid(field_name: str, problem: str) -> InvalidRequest:
    return InvalidRequest("ValidationException", f"Invalid value for '{field_name}': {problem}")


@dataclass
class Request:
    """A validated TestState request."""

    definition: str  # the state's own definition, as JSON text
    state: dict[str, Any]
    role_arn: str | None
    input: Any
    inspection_level: str = "INFO"
    variables: dict[str, Any] = field(default_factory=dict)
    mock: MockedResponse | None = None
    context: dict[str, Any] | None = None
    retry_count: int = 0


def _json(text: Any, code: str, what: str) -> Any:
    if not isinstance(text, str):
        raise InvalidRequest(code, f"{what} must be a string holding JSON")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidRequest(
            code, f"{what} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        ) from None


def _state_of(body: dict[str, Any]) -> dict[str, Any]:
    definition = body.get("definition")
    if not isinstance(definition, str) or not definition:
        raise InvalidRequest(
            "ValidationException",
            "Value null at 'definition' failed to satisfy constraint: Member must not be null",
        )
    document = _json(definition, "InvalidDefinition", "Invalid State Machine Definition")
    if not isinstance(document, dict):
        raise InvalidRequest("InvalidDefinition", "The definition must be a JSON object")
    name = body.get("stateName")
    if name is None:
        return document
    try:  # stateName: the definition is a whole state machine, which must be valid
        AmazonStateLanguageParser.parse(definition)
    except Exception as exc:
        raise InvalidRequest("InvalidDefinition", _definition_problem(exc)) from None
    state = (document.get("States") or {}).get(name)
    if not isinstance(state, dict):
        raise _invalid("stateName", f"no state {name!r} in the definition's States")
    if "QueryLanguage" in document and "QueryLanguage" not in state:
        state = {**state, "QueryLanguage": document["QueryLanguage"]}
    return dict(state)


def _definition_problem(exc: Exception) -> str:
    """What the parser found wrong, without the engine's Python wrapping."""
    errors = getattr(exc, "errors", None)  # the parser's syntax errors
    detail = "; ".join(map(str, errors)) if errors else f"{type(exc).__name__}: {exc}"
    return f"Invalid State Machine Definition: {detail}"


def _mock(body: dict[str, Any], state_type: Any) -> MockedResponse | None:
    mock = body.get("mock")
    if mock is None:
        return None
    if not isinstance(mock, dict):
        raise _invalid("mock", "must be an object with a result or an errorOutput")
    if state_type not in MOCKABLE_TYPES:
        raise _invalid(
            "mock", f"a mock can only be specified for {', '.join(MOCKABLE_TYPES)} states"
        )
    if state_type != "Task":
        raise _invalid(
            "mock", f"mocking a {state_type} state is not supported by the local runtime"
        )
    has_result, has_error = "result" in mock, "errorOutput" in mock
    if has_result == has_error:
        raise _invalid("mock", "specify exactly one of result and errorOutput")
    if has_result:
        return MockedResponseReturn(
            0, 0, _json(mock["result"], "ValidationException", "mock.result")
        )
    error = mock["errorOutput"] if isinstance(mock["errorOutput"], dict) else {}
    return MockedResponseThrow(0, 0, str(error.get("error", "")), str(error.get("cause", "")))


def parse_request(body: Any) -> Request:
    """Validate a TestState request body; raises InvalidRequest naming what is wrong."""
    if not isinstance(body, dict):
        raise InvalidRequest("ValidationException", "The request body must be a JSON object")
    state = _state_of(body)
    definition = json.dumps(state)
    try:
        TestStateStaticAnalyser().analyse(definition)
    except Exception as exc:
        raise InvalidRequest("InvalidDefinition", _definition_problem(exc)) from None
    mock = _mock(body, state.get("Type"))
    role_arn = body.get("roleArn")
    if role_arn is None and mock is None:
        raise InvalidRequest(
            "ValidationException", "roleArn is required unless a mock is specified"
        )
    if role_arn is not None and not _ROLE_ARN.fullmatch(str(role_arn)):
        raise InvalidRequest("InvalidArn", f"Invalid Arn: '{role_arn}' is not an IAM role ARN")
    level = body.get("inspectionLevel") or "INFO"
    if level not in INSPECTION_LEVELS:
        raise InvalidRequest(
            "ValidationException",
            f"Value '{level}' at 'inspectionLevel' failed to satisfy constraint: "
            f"Member must satisfy enum value set: [{', '.join(INSPECTION_LEVELS)}]",
        )
    variables = {}
    if body.get("variables") is not None:
        variables = _json(body["variables"], "InvalidExecutionInput", "variables")
        if not isinstance(variables, dict):
            raise InvalidRequest("InvalidExecutionInput", "variables must be a JSON object")
    context = None
    if body.get("context") is not None:
        if mock is None:
            raise _invalid("context", "context may only be specified together with a mock")
        context = _json(body["context"], "ValidationException", "context")
        if not isinstance(context, dict):
            raise _invalid("context", "must be a JSON object")
    retry_count = (body.get("stateConfiguration") or {}).get("retrierRetryCount") or 0
    if not isinstance(retry_count, int) or retry_count < 0:
        raise _invalid("stateConfiguration.retrierRetryCount", "must be an integer >= 0")
    return Request(
        definition=definition,
        state=state,
        role_arn=role_arn,
        input=_json(body.get("input", "{}"), "InvalidExecutionInput", "input"),
        inspection_level=level,
        variables=variables,
        mock=mock,
        context=context,
        retry_count=retry_count,
    )
