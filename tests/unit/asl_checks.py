"""Does moto's ASL parser (the embedded engine's) accept a flow's definition?"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any


def _states(states: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, state in states.items():
        yield name, state
        for scope in [
            state.get("ItemProcessor") or state.get("Iterator"),
            *state.get("Branches", []),
        ]:
            if scope:
                yield from _states(scope["States"])


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
    state = dict(_states(broken["States"]))[retry_state]
    state["Retry"][retry]["JitterStrategy"] = "SOMETIMES"
    with pytest.raises(ClientError, match="ASLParserException"):
        sfn.create_state_machine(
            name="broken", definition=json.dumps(broken), roleArn=role, type="EXPRESS"
        )
