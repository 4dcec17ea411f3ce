"""JSONPath and JSONata as AWS evaluates them: each test expects what AWS (or the query
language's own specification, which AWS names as what it implements) documents."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from sluice.testing import Execution, StackProcess, module_stack

HERE = Path(__file__).resolve().parent / "aws_parity"
ROLE = "arn:aws:iam::123456789012:role/sluice-aws-parity"

queries_stack = module_stack(HERE / "template.yaml", time_scale=0, config_env="aws-parity")


def run(stack: StackProcess, definition: dict[str, Any], payload: Any = None) -> Execution:
    sfn = stack.client("stepfunctions")
    arn = sfn.create_state_machine(
        name=f"queries-{uuid.uuid4().hex[:12]}", definition=json.dumps(definition), roleArn=ROLE
    )["stateMachineArn"]
    started = sfn.start_execution(stateMachineArn=arn, input=json.dumps(payload or {}))
    return stack.execution(started["executionArn"], timeout=30)


def _jsonata_pass(**fields: Any) -> dict[str, Any]:
    return {
        "QueryLanguage": "JSONata",
        "StartAt": "P",
        "States": {"P": {"Type": "Pass", **fields, "End": True}},
    }


def test_jsonpath_filters_combine_conditions_with_and_and_or(queries_stack: StackProcess) -> None:
    """Paths "follow JsonPath syntax" ("Paths", amazon-states-language-paths.html) as
    Jayway's JsonPath implements it, whose filter operators include `&&` and `||`."""
    items = [{"x": 2, "y": "b"}, {"x": 0, "y": "b"}, {"x": 0, "y": "c"}]
    definition = {
        "StartAt": "P",
        "States": {
            "P": {
                "Type": "Pass",
                "Parameters": {
                    "both.$": "$.items[?(@.x > 1 && @.y == 'b')]",
                    "either.$": "$.items[?(@.x > 1 || @.y == 'c')]",
                },
                "End": True,
            }
        },
    }
    execution = run(queries_stack, definition, {"items": items})
    assert execution.status == "SUCCEEDED", execution.cause
    assert execution.output == {
        "both": [{"x": 2, "y": "b"}],
        "either": [{"x": 2, "y": "b"}, {"x": 0, "y": "c"}],
    }


def test_jsonata_output_null_is_the_state_output(queries_stack: StackProcess) -> None:
    """`Output` "accepts any JSON value (object, array, string, number, boolean, null)" and,
    when specified, "overrides the state output default" ("Transforming data with JSONata",
    transforming-data.html; JsonataCommonOptions)."""
    execution = run(queries_stack, _jsonata_pass(Output=None), {"a": 1})
    assert execution.status == "SUCCEEDED", execution.cause
    desc = queries_stack.client("stepfunctions").describe_execution(executionArn=execution.arn)
    assert desc["output"] == "null"


def test_a_jsonata_sequence_of_one_item_is_a_singleton(queries_stack: StackProcess) -> None:
    """Step Functions implements JSONata 2.0.6 (transforming-data.html), whose result
    sequences of one value are that value ("Sequences", docs.jsonata.org/sequences):
    `$range(1, 1, 1)` is `1`; longer ranges stay arrays ("JSONata functions provided by Step
    Functions": `$range(0, 10, 2)` is `[0,2,4,6,8,10]`)."""
    output = {"one": "{% $range(1, 1, 1) %}", "many": "{% $range(0, 10, 2) %}"}
    execution = run(queries_stack, _jsonata_pass(Output=output))
    assert execution.status == "SUCCEEDED", execution.cause
    assert execution.output == {"one": 1, "many": [0, 2, 4, 6, 8, 10]}


def test_an_undefined_jsonata_result_names_the_field(queries_stack: StackProcess) -> None:
    """A JSONata expression that evaluates to nothing fails the state with
    `States.QueryEvaluationError`, and the cause says where: EvaluationFailedEventDetails
    carries "the location of the field in the state in which the evaluation error occurred"
    (API reference), which AWS's cause words as "specified for the field 'Assign/result'"."""
    execution = run(queries_stack, _jsonata_pass(Assign={"result": "{% $states.input.missing %}"}))
    assert execution.status == "FAILED"
    assert execution.error == "States.QueryEvaluationError"
    assert execution.cause is not None
    assert (
        "The JSONata expression '$states.input.missing' specified for the field "
        "'Assign/result' returned nothing (undefined)."
    ) in execution.cause


def test_an_intrinsic_function_over_a_variable_in_assign(queries_stack: StackProcess) -> None:
    """Intrinsic functions are "for use in fields that accept JSONPath" (intrinsic-functions.html),
    `Assign` is one in a JSONPath state and a variable is referenced as `$name`
    (workflow-variables.html). The values are the documented examples: `States.StringToJson`
    of `"{\\"foo\\": \\"bar\\"}"` is `{"foo": "bar"}`, `States.MathAdd(111, -1)` is 110,
    `States.Format` fills its `{}`, `States.ArrayLength` of a three-item array is 3."""
    definition = {
        "StartAt": "Keep",
        "States": {
            "Keep": {
                "Type": "Pass",
                "Assign": {
                    "escapedJsonString": '{"foo": "bar"}',
                    "value1": 111,
                    "name": "Alice",
                    "inputArray": [1, 2, 3],
                },
                "Next": "Use",
            },
            "Use": {
                "Type": "Pass",
                "Assign": {
                    "parsed.$": "States.StringToJson($escapedJsonString)",
                    "sum.$": "States.MathAdd($value1, -1)",
                    "greeting.$": "States.Format('Hello, my name is {}.', $name)",
                    "length.$": "States.ArrayLength($inputArray)",
                },
                "Next": "Show",
            },
            "Show": {
                "Type": "Pass",
                "Parameters": {
                    "parsed.$": "$parsed",
                    "sum.$": "$sum",
                    "greeting.$": "$greeting",
                    "length.$": "$length",
                },
                "End": True,
            },
        },
    }
    execution = run(queries_stack, definition)
    assert execution.status == "SUCCEEDED", (execution.error, execution.cause)
    assert execution.output == {
        "parsed": {"foo": "bar"},
        "sum": 110,
        "greeting": "Hello, my name is Alice.",
        "length": 3,
    }


# Escapes as a definition's JSON text carries them (RFC 8259, section 7): `\/` is `/`, a
# surrogate pair is one character, `\"` a quote, `\t` a tab.
ESCAPED_DEFINITION_TEXT = r"""{
  "QueryLanguage": "JSONata",
  "StartAt": "Compare",
  "States": {
    "Compare": {
      "Type": "Pass",
      "Assign": {"quoted": "{\"k\":1}", "slashed": "a\/b"},
      "Output": {
        "emoji": "{% $states.input.emoji = '\ud83d\ude00' %}",
        "slash": "{% $states.input.path = 'a\/b' %}",
        "quote": "{% $states.input.quote = 'say \"hi\"' %}",
        "tab": "{% $states.input.tab = 'a\tb' %}",
        "literal": "a\/b \ud83d\ude00"
      },
      "Next": "Variables"
    },
    "Variables": {
      "Type": "Pass",
      "Output": {
        "compared": "{% $states.input %}",
        "quoted": "{% $quoted %}",
        "slashed": "{% $slashed %}"
      },
      "End": true
    }
  }
}"""


def test_escapes_in_a_definition_are_json_escapes(queries_stack: StackProcess) -> None:
    """A definition is JSON ("Amazon States Language", concepts-amazon-states-language.html:
    "a JSON-based, structured language"), and the string a JSON string literal stands for is
    its characters with each escape replaced (RFC 8259, "Strings"): JSONata comparisons see
    the decoded strings, as do `Assign` values and literal `Output` strings."""
    sfn = queries_stack.client("stepfunctions")
    arn = sfn.create_state_machine(
        name=f"queries-{uuid.uuid4().hex[:12]}", definition=ESCAPED_DEFINITION_TEXT, roleArn=ROLE
    )["stateMachineArn"]
    payload = {"emoji": "\U0001f600", "path": "a/b", "quote": 'say "hi"', "tab": "a\tb"}
    started = sfn.start_execution(stateMachineArn=arn, input=json.dumps(payload))
    execution = queries_stack.execution(started["executionArn"], timeout=30)
    assert execution.status == "SUCCEEDED", (execution.error, execution.cause)
    assert execution.output == {
        "compared": {
            "emoji": True,
            "slash": True,
            "quote": True,
            "tab": True,
            "literal": "a/b \U0001f600",
        },
        "quoted": '{"k":1}',
        "slashed": "a/b",
    }
