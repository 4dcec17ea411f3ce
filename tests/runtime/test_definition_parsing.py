"""CreateStateMachine judges each definition on its own: a rejected definition, or one being
parsed on another thread at the same moment, never changes how the next one is read.

What AWS accepts and rejects ("QueryLanguage" in the Amazon States Language reference,
https://docs.aws.amazon.com/step-functions/latest/dg/statemachine-structure.html, and
"Transforming data with JSONata",
https://docs.aws.amazon.com/step-functions/latest/dg/transforming-data.html):

- JSONPath is the default. A JSONPath machine may set `"QueryLanguage": "JSONata"` on a
  state; a JSONata machine may not set a state back to JSONPath.
- JSONata states have no `Parameters` (they use `Arguments`/`Output`); JSONPath states have
  no `{% %}` expressions.
- Either mistake is `InvalidDefinition` from CreateStateMachine.
- A JSONata expression that fails while the state runs fails it with
  `States.QueryEvaluationError`.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from sluice.testing import StackProcess, module_stack

HERE = Path(__file__).resolve().parent
ROLE = "arn:aws:iam::123456789012:role/sluice-definition-parsing"

parsing_stack = module_stack(HERE / "parsing" / "template.yaml")


def _jsonpath_parameters(i: int) -> dict[str, Any]:
    return {
        "Comment": f"JSONPath {i}",
        "StartAt": "Add",
        "States": {
            "Add": {
                "Type": "Pass",
                "Parameters": {"sum.$": "States.MathAdd($.a, $.b)", "id": i},
                "End": True,
            }
        },
    }


def _jsonata_output(i: int) -> dict[str, Any]:
    return {
        "Comment": f"JSONata {i}",
        "QueryLanguage": "JSONata",
        "StartAt": "Add",
        "States": {
            "Add": {
                "Type": "Pass",
                "Output": "{% {'sum': $states.input.a + $states.input.b, 'id': " + f"{i}" + "} %}",
                "End": True,
            }
        },
    }


def _jsonata_state_in_jsonpath_branch(i: int) -> dict[str, Any]:
    """JSONPath machine, a Parallel branch whose state is JSONata: allowed."""
    return {
        "Comment": f"JSONPath with a JSONata branch {i}",
        "StartAt": "Pick",
        "States": {
            "Pick": {"Type": "Pass", "Parameters": {"a.$": "$.a", "b.$": "$.b"}, "Next": "Both"},
            "Both": {
                "Type": "Parallel",
                "End": True,
                "Branches": [
                    {
                        "StartAt": "Add",
                        "States": {
                            "Add": {
                                "Type": "Pass",
                                "QueryLanguage": "JSONata",
                                "Output": "{% {'sum': $states.input.a + $states.input.b, 'id': "
                                + f"{i}"
                                + "} %}",
                                "End": True,
                            }
                        },
                    }
                ],
            },
        },
    }


def _jsonata_with_parameters(i: int) -> dict[str, Any]:
    """Invalid: `Parameters` in a JSONata state."""
    return {
        "Comment": f"invalid JSONata {i}",
        "QueryLanguage": "JSONata",
        "StartAt": "Add",
        "States": {"Add": {"Type": "Pass", "Parameters": {"id": i}, "End": True}},
    }


def _jsonpath_state_in_jsonata_branch(i: int) -> dict[str, Any]:
    """Invalid: a JSONata machine whose Parallel branch sets a state back to JSONPath."""
    return {
        "Comment": f"invalid downgrade {i}",
        "QueryLanguage": "JSONata",
        "StartAt": "Both",
        "States": {
            "Both": {
                "Type": "Parallel",
                "End": True,
                "Branches": [
                    {
                        "StartAt": "Add",
                        "States": {
                            "Add": {
                                "Type": "Pass",
                                "QueryLanguage": "JSONPath",
                                "Parameters": {"id": i},
                                "End": True,
                            }
                        },
                    }
                ],
            }
        },
    }


def _jsonata_in_jsonpath_state(i: int) -> dict[str, Any]:
    """Invalid: a `{% %}` expression in a JSONPath state."""
    return {
        "Comment": f"invalid JSONPath {i}",
        "StartAt": "Add",
        "States": {"Add": {"Type": "Pass", "Output": "{% $states.input.a %}", "End": True}},
    }


def _jsonata_failing_at_run_time(i: int) -> dict[str, Any]:
    """Valid, but `name` is a string: `+` fails while the state runs."""
    return {
        "Comment": f"JSONata failing {i}",
        "QueryLanguage": "JSONata",
        "StartAt": "Add",
        "States": {"Add": {"Type": "Pass", "Output": "{% $states.input.name + 1 %}", "End": True}},
    }


@dataclass(frozen=True)
class Case:
    index: int
    kind: str
    definition: dict[str, Any]
    valid: bool
    input: dict[str, Any]
    output: Any = None  # a valid machine's output when it succeeds
    error: str | None = None  # a valid machine's error when it fails


_KINDS = (
    ("jsonpath", _jsonpath_parameters, True),
    ("jsonata", _jsonata_output, True),
    ("jsonata state in a jsonpath branch", _jsonata_state_in_jsonpath_branch, True),
    ("jsonata failing at run time", _jsonata_failing_at_run_time, True),
    ("invalid: parameters in jsonata", _jsonata_with_parameters, False),
    ("invalid: jsonpath in a jsonata branch", _jsonpath_state_in_jsonata_branch, False),
    ("invalid: expression in jsonpath", _jsonata_in_jsonpath_state, False),
)


def case(i: int) -> Case:
    kind, make, valid = _KINDS[i % len(_KINDS)]
    payload = {"a": i, "b": 2 * i + 1, "name": f"n{i}"}
    result = {"sum": 3 * i + 1, "id": i}
    output: Any = None
    error = None
    if kind == "jsonata state in a jsonpath branch":
        output = [result]  # a Parallel state's output: one element per branch
    elif kind == "jsonata failing at run time":
        error = "States.QueryEvaluationError"
    elif valid:
        output = result
    return Case(i, kind, make(i), valid, payload, output, error)


def create(sfn: Any, name: str, definition: dict[str, Any]) -> str:
    arn: str = sfn.create_state_machine(
        name=name, definition=json.dumps(definition), roleArn=ROLE, type="EXPRESS"
    )["stateMachineArn"]
    return arn


def rejection(sfn: Any, name: str, definition: dict[str, Any]) -> str:
    """The error code CreateStateMachine answers with (fails if it accepts the definition)."""
    with pytest.raises(ClientError) as rejected:
        create(sfn, name, definition)
    code: str = rejected.value.response["Error"]["Code"]
    return code


def run(sync: Any, arn: str, payload: Any) -> dict[str, Any]:
    """Run an Express machine with StartSyncExecution, which answers with the outcome."""
    result: dict[str, Any] = sync.start_sync_execution(
        stateMachineArn=arn, input=json.dumps(payload)
    )
    return result


def test_an_unreadable_definition_is_rejected_as_invalid_definition(
    parsing_stack: StackProcess,
) -> None:
    sfn = parsing_stack.client("stepfunctions")
    unknown_type = {"StartAt": "A", "States": {"A": {"Type": "Teleport", "End": True}}}
    with pytest.raises(ClientError) as rejected:
        sfn.create_state_machine(
            name=f"unreadable-{uuid.uuid4().hex[:8]}",
            definition=json.dumps(unknown_type),
            roleArn=ROLE,
        )
    assert rejected.value.response["Error"]["Code"] == "InvalidDefinition"
    assert rejected.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_a_rejected_jsonata_definition_leaves_jsonpath_definitions_valid(
    parsing_stack: StackProcess,
) -> None:
    sfn = parsing_stack.client("stepfunctions")
    sync = parsing_stack.client("stepfunctions", inject_host_prefix=False)
    tag = uuid.uuid4().hex[:8]
    assert rejection(sfn, f"bad-jsonata-{tag}", _jsonata_with_parameters(1)) == "InvalidDefinition"

    # A new definition (never parsed before), with JSONPath Parameters: accepted and run.
    arn = create(sfn, f"jsonpath-{tag}", _jsonpath_parameters(7))
    result = run(sync, arn, {"a": 2, "b": 3})
    assert result["status"] == "SUCCEEDED", result
    assert json.loads(result["output"]) == {"sum": 5, "id": 7}

    # Rejected from deep inside a JSONata scope (a Parallel branch): the same holds.
    downgrade = _jsonpath_state_in_jsonata_branch(2)
    assert rejection(sfn, f"bad-downgrade-{tag}", downgrade) == "InvalidDefinition"
    arn = create(sfn, f"jsonpath-again-{tag}", _jsonpath_parameters(8))
    result = run(sync, arn, {"a": 4, "b": 5})
    assert json.loads(result["output"]) == {"sum": 9, "id": 8}

    # A machine deployed before the rejections still runs.
    deployed = parsing_stack.run("PassMachine", {"kept": True})
    assert (deployed.status, deployed.output) == ("SUCCEEDED", {"kept": True})


def test_a_rejected_jsonpath_definition_leaves_jsonata_definitions_valid(
    parsing_stack: StackProcess,
) -> None:
    sfn = parsing_stack.client("stepfunctions")
    sync = parsing_stack.client("stepfunctions", inject_host_prefix=False)
    tag = uuid.uuid4().hex[:8]
    assert rejection(sfn, f"bad-jsonpath-{tag}", _jsonata_in_jsonpath_state(1)) == (
        "InvalidDefinition"
    )
    arn = create(sfn, f"jsonata-{tag}", _jsonata_output(9))
    result = run(sync, arn, {"a": 1, "b": 1})
    assert json.loads(result["output"]) == {"sum": 2, "id": 9}


MACHINES = 1400  # 200 of each kind
THREADS = 8


def test_many_definitions_created_and_run_at_once_are_each_judged_on_their_own(
    parsing_stack: StackProcess,
) -> None:
    tag = uuid.uuid4().hex[:8]
    cases = [case(i) for i in range(MACHINES)]

    clients = threading.local()  # one pair of clients per thread: building one costs ~10 ms

    def attempt(c: Case) -> tuple[Case, str, Any]:
        """What happened to one case: ("rejected", error code) or ("ran", its outcome)."""
        if not hasattr(clients, "sfn"):
            clients.sfn = parsing_stack.client("stepfunctions")
            clients.sync = parsing_stack.client("stepfunctions", inject_host_prefix=False)
        try:
            arn = create(clients.sfn, f"m{c.index}-{tag}", c.definition)
        except ClientError as exc:
            return c, "rejected", exc.response["Error"]["Code"]
        return c, "ran", run(clients.sync, arn, c.input)

    started = time.monotonic()
    with ThreadPoolExecutor(THREADS) as pool:
        outcomes = list(pool.map(attempt, cases))
    elapsed = time.monotonic() - started

    wrong = []
    for c, what, detail in outcomes:
        if not c.valid:
            if (what, detail) != ("rejected", "InvalidDefinition"):
                wrong.append((c.index, c.kind, what, detail))
        elif what != "ran":
            wrong.append((c.index, c.kind, what, detail))
        elif c.error is not None:
            if (detail["status"], detail.get("error")) != ("FAILED", c.error):
                wrong.append((c.index, c.kind, detail))
        elif detail["status"] != "SUCCEEDED" or json.loads(detail["output"]) != c.output:
            wrong.append((c.index, c.kind, detail))
    assert wrong == [], f"{len(wrong)} of {MACHINES} judged wrongly, e.g. {wrong[:3]}"
    kinds = {c.kind for c, _, _ in outcomes}
    assert len(kinds) == len(_KINDS)
    print(f"{MACHINES} machines on {THREADS} threads in {elapsed:.1f} s")
