"""Step Functions Local's mocked service integrations: `StateMachineArn#TestCase` starts an
execution whose states answer from the MockConfigFile named by SFN_MOCK_CONFIG."""

from __future__ import annotations

import json
import os
from pathlib import Path

from moto.stepfunctions.exceptions import ValidationException
from moto.stepfunctions.parser.mocking.mock_config import (
    MockedResponse,
    MockedResponseReturn,
    MockedResponseThrow,
    MockTestCase,
    StateMockedResponses,
    _parse_mocked_response_range,
)

MOCK_CONFIG_ENV = "SFN_MOCK_CONFIG"


class MockConfigError(ValidationException):
    """The mock config file or the requested test case is missing or malformed."""


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
