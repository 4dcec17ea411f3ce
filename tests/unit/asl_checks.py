"""Checks every flow's ASL tests share: placeholders, transitions, the engine's parser."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from sluice.in_process import mocked_aws

STATEMACHINES = Path(__file__).resolve().parents[2] / "statemachines"


def substitute(text: str, values: Mapping[str, str]) -> str:
    """TEXT with each ``${name}`` of VALUES replaced (DefinitionSubstitutions)."""
    for name, value in values.items():
        text = text.replace("${" + name + "}", value)
    return text


def assert_placeholders_are(text: str, substitutions: Mapping[str, str]) -> None:
    """TEXT's ``${name}`` placeholders are exactly SUBSTITUTIONS' names: none is left over
    once they are substituted, and none of them is unused."""
    assert set(re.findall(r"\$\{(\w+)\}", text)) == set(substitutions)
    assert "${" not in substitute(text, substitutions)


@dataclass(frozen=True)
class FlowAsl:
    """A flow's ASL file and the DefinitionSubstitutions its unit tests give it."""

    flow: str
    substitutions: Mapping[str, str]

    def text(self) -> str:
        return (STATEMACHINES / f"{self.flow}.asl.json").read_text()

    def document(self) -> dict[str, Any]:
        document: dict[str, Any] = json.loads(self.text())
        return document

    def definition(self, text: str | None = None) -> str:
        """TEXT (the file when None) with the substitutions made, ready to create."""
        return substitute(self.text() if text is None else text, self.substitutions)

    def assert_placeholders(self) -> None:
        assert_placeholders_are(self.text(), self.substitutions)


def targets(state: dict[str, Any]) -> list[str]:
    """The states STATE can move to: Next, Default, its Choices' and Catchers' Next."""
    found = [state[k] for k in ("Next", "Default") if k in state]
    found += [choice["Next"] for choice in state.get("Choices", [])]
    found += [catcher["Next"] for catcher in state.get("Catch", [])]
    return found


def assert_transitions_land(scope: dict[str, Any]) -> None:
    """In SCOPE (a definition, branch or item processor): every transition names one of its
    states, every state is reachable from StartAt, and every state ends or moves on."""
    states: dict[str, Any] = scope["States"]
    reachable, frontier = set(), [scope["StartAt"]]
    while frontier:
        name = frontier.pop()
        assert name in states, f"transition to unknown state {name!r}"
        if name not in reachable:
            reachable.add(name)
            frontier.extend(targets(states[name]))
    assert reachable == set(states)
    for name, state in states.items():
        ends = state.get("End") is True or state["Type"] in ("Succeed", "Fail", "Choice")
        assert ends or targets(state), name


def walk(states: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(name, state) of STATES and of every branch and item processor inside them."""
    for name, state in states.items():
        yield name, state
        for scope in [
            state.get("ItemProcessor") or state.get("Iterator"),
            *state.get("Branches", []),
        ]:
            if scope:
                yield from walk(scope["States"])


def assert_engine_parses(
    monkeypatch: pytest.MonkeyPatch, definition: str, name: str, retry_state: str, retry: int = 0
) -> None:
    """moto's engine accepts DEFINITION as an Express machine and rejects it once the
    JitterStrategy of RETRY_STATE's (at any depth) retrier number RETRY is made invalid.

    The engine only parses; a dangling Next is caught by each flow's reachability test.
    Runs on `mock_aws` in this process, without AWS_ENDPOINT_URL (a stack's would win).
    """
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mocked_aws(run_executions=True):
        _assert_engine_parses(definition, name, retry_state, retry)


def _assert_engine_parses(definition: str, name: str, retry_state: str, retry: int) -> None:
    sfn = boto3.client(
        "stepfunctions",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    role = "arn:aws:iam::123456789012:role/sfn"
    created = sfn.create_state_machine(
        name=name, definition=definition, roleArn=role, type="EXPRESS"
    )
    assert created["stateMachineArn"].endswith(f":stateMachine:{name}")
    broken = json.loads(definition)
    state = dict(walk(broken["States"]))[retry_state]
    state["Retry"][retry]["JitterStrategy"] = "SOMETIMES"
    with pytest.raises(ClientError, match="ASLParserException"):
        sfn.create_state_machine(
            name="broken", definition=json.dumps(broken), roleArn=role, type="EXPRESS"
        )
