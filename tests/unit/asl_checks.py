"""Checks every flow's ASL tests share: placeholders, transitions, the engine's parser."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any


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


def assert_engine_parses(definition: str, name: str, retry_state: str, retry: int = 0) -> None:
    """moto's engine accepts DEFINITION as an Express machine and rejects it once the
    JitterStrategy of RETRY_STATE's (at any depth) retrier number RETRY is made invalid.

    The engine only parses; a dangling Next is caught by each flow's reachability test.
    Call inside `mock_aws(config={"stepfunctions": {"execute_state_machine": True}})`.
    """
    import boto3
    import pytest
    from botocore.exceptions import ClientError

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
