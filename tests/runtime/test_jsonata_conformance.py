"""QueryLanguage JSONata in the embedded engine: each machine against AWS's documented results,
and against its JSONPath twin (tests/runtime/jsonata/statemachines/*_jsonpath.asl.json).

Expected values come from "Transforming data with JSONata in Step Functions"
(https://docs.aws.amazon.com/step-functions/latest/dg/transforming-data.html) and
"Passing data between states with variables"
(https://docs.aws.amazon.com/step-functions/latest/dg/workflow-variables.html).
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from sluice.testing import Execution, StackProcess, module_stack

FIXTURE = Path(__file__).resolve().parent / "jsonata"


jsonata_stack = module_stack(FIXTURE / "template.yaml")


def run_twins(stack: StackProcess, name: str, payload: Any) -> Execution:
    """Run `<name>Jsonata` and `<name>Jsonpath` with PAYLOAD; both must end the same way."""
    with ThreadPoolExecutor(2) as pool:
        jsonata, jsonpath = pool.map(
            lambda flow: stack.run(flow, payload, timeout=20),
            [f"{name}Jsonata", f"{name}Jsonpath"],
        )
    assert (jsonata.status, jsonata.error, jsonata.cause) == (
        jsonpath.status,
        jsonpath.error,
        jsonpath.cause,
    )
    assert jsonata.output == jsonpath.output
    return jsonata


# -- the documentation's examples, with their JSONPath twins -------------------------------


def test_arguments_and_variables_give_the_documented_conversion_result(
    jsonata_stack: StackProcess,
) -> None:
    # transforming-data.html, "Given input { "title" : "Doctor" } and variable customerName
    # assigned to "María", both state machines will produce the following JSON result".
    note = 'she said "hi" \\ then\nleft'  # quotes, backslash, newline survive variables
    execution = run_twins(jsonata_stack, "Task", {"title": "Doctor", "note": note})
    assert execution.status == "SUCCEEDED"
    assert execution.output == {
        "payload": {
            "static": "Hello",
            "title": "Doctor",
            "name": "María",
            "not-evaluated": "$customerName",
        },
        "title": "Doctor",  # Assign from $states.result, read in the next state
        "note": note,
        "state": "Finish",  # $states.context.State.Name
    }


def test_choice_conditions_choose_like_their_jsonpath_rules(jsonata_stack: StackProcess) -> None:
    # transforming-data.html, Choice example: "{% $states.input.type != 'Private' %}" and
    # "{% $states.input.value >= 20 and $states.input.value < 30 %}".
    public = run_twins(jsonata_stack, "Choice", {"type": "Public"})
    assert public.output == {"route": "public"}
    twenties = run_twins(jsonata_stack, "Choice", {"type": "Private", "value": 25})
    assert twenties.output == {"route": "private", "band": "twenties", "value": 25}
    # A choice rule's own Assign and Output (JSONata only) shaped the next state's input.
    assert json.loads(twenties.state("Twenties").input or "") == {"band": "twenties", "value": 25}


def test_fail_state_error_and_cause_expressions(jsonata_stack: StackProcess) -> None:
    execution = run_twins(jsonata_stack, "Choice", {"type": "Private", "value": 35})
    assert execution.status == "FAILED"
    assert execution.error == "Rejected.Private"
    assert execution.cause == "value 35 is out of range"


def test_map_items_item_selector_and_context(jsonata_stack: StackProcess) -> None:
    orders: list[dict[str, Any]] = [
        {"id": "a", "qty": 1},
        {"id": "b", "qty": 0},
        {"id": "c", "qty": 2},
    ]
    payload = {
        "orders": orders,
        "positive": [o for o in orders if o["qty"] > 0],  # what the JSONPath twin iterates
        "concurrency": 2,
        "currency": "EUR",
    }
    execution = run_twins(jsonata_stack, "Map", payload)
    assert execution.status == "SUCCEEDED"
    assert execution.output == {
        "lines": [
            {"label": "a#0", "qty": 1, "currency": "EUR"},
            {"label": "c#1", "qty": 2, "currency": "EUR"},
        ],
        "count": 2,
    }


def test_parallel_arguments_branch_variables_and_result(jsonata_stack: StackProcess) -> None:
    # workflow-variables.html: branches read outer variables ($factor); what they assign
    # stays in the branch; the Parallel state's Assign sees $states.result.
    execution = run_twins(jsonata_stack, "Parallel", {"a": 1, "b": 2})
    assert execution.status == "SUCCEEDED"
    assert execution.output == {"scaled": 11, "sum": 3, "total": 14}


def test_catch_reads_states_error_output(jsonata_stack: StackProcess) -> None:
    execution = run_twins(jsonata_stack, "Catch", {"id": "o-1"})
    assert execution.status == "SUCCEEDED"
    assert execution.output == {
        "id": "o-1",
        "error": "OrderRejected",
        "reason": "order o-1 rejected",
    }
    assert execution.state("Submit").status == "caught"


def test_step_functions_jsonata_functions(jsonata_stack: StackProcess) -> None:
    # transforming-data.html, "JSONata functions provided by Step Functions": $partition,
    # $range ($range(0, 10, 2) is [0, 2, 4, 6, 8, 10]), $hash, $random, $uuid, $parse.
    payload = {
        "array": [1, 2, 3, 4, 5],
        "content": "input data",
        "json_string": '{"foo": "bar"}',
        "seed": 7,
    }
    execution = run_twins(jsonata_stack, "Functions", payload)  # twin: States.* intrinsics
    assert execution.status == "SUCCEEDED"
    out = execution.output
    assert out["partition"] == [[1, 2], [3, 4], [5]]
    assert out["range"] == [0, 2, 4, 6, 8, 10]
    assert out["hash"] == hashlib.sha256(b"input data").hexdigest()
    assert out["parsed"] == {"foo": "bar"}


def test_random_uuid_and_every_hash_algorithm(jsonata_stack: StackProcess) -> None:
    first = jsonata_stack.run("Random", {"seed": 7}, timeout=20).output
    second = jsonata_stack.run("Random", {"seed": 7}, timeout=20).output
    assert 0 <= first["random"] < 1 and 0 <= first["unseeded"] < 1
    assert first["random"] == first["randomAgain"] == second["random"]  # same seed, same number
    assert uuid.UUID(first["uuid"]).version == 4 and first["uuid"] != second["uuid"]
    assert first["hashes"] == [
        hashlib.new(name, b"input data").hexdigest() for name in ("md5", "sha1", "sha384", "sha512")
    ]


def test_values_keep_json_types(jsonata_stack: StackProcess) -> None:
    text = 'a "b" \\ c'
    execution = jsonata_stack.run("Expression", {"case": "echo", "text": text}, timeout=20)
    assert execution.status == "SUCCEEDED"
    # null stays null; 4 / 2 is the JSON number 2, as in JavaScript's JSONata.
    assert execution.output == {
        "text": text,
        "length": 9,
        "nothing": None,
        "ratio": 1.5,
        "whole": 2,
    }


def test_concurrent_executions_share_parsed_expressions(jsonata_stack: StackProcess) -> None:
    titles = [f"Dr {i}" for i in range(6)]
    with ThreadPoolExecutor(6) as pool:
        runs = list(
            pool.map(
                lambda t: jsonata_stack.run("TaskJsonata", {"title": t, "note": t}, timeout=30),
                titles,
            )
        )
    assert [r.output["title"] for r in runs] == titles
    assert [r.output["payload"]["title"] for r in runs] == titles


# -- failures ------------------------------------------------------------------------------


def failed_with_query_error(execution: Execution, state: str) -> str:
    assert execution.status == "FAILED"
    assert execution.error == "States.QueryEvaluationError"
    cause = execution.cause or ""
    prefix = f"An error occurred while executing the state '{state}' (entered at the event id #"
    assert cause.startswith(prefix), cause
    assert any(e["type"] == "EvaluationFailed" for e in execution.events)
    return cause


def test_expression_error_fails_with_query_evaluation_error(jsonata_stack: StackProcess) -> None:
    execution = jsonata_stack.run("Expression", {"case": "bad-add", "value": "x"}, timeout=20)
    cause = failed_with_query_error(execution, "BadAdd")
    # The cause names the field the expression is specified for, as AWS's does.
    assert cause.endswith(
        "The JSONata expression '$states.input.value + 1' specified for the field 'Output' "
        "threw an error during evaluation. "
        "T2001: The left side of the + operator must evaluate to a number"
    )


def test_undefined_result_fails_with_query_evaluation_error(jsonata_stack: StackProcess) -> None:
    execution = jsonata_stack.run("Expression", {"case": "undefined"}, timeout=20)
    cause = failed_with_query_error(execution, "Undefined")
    assert cause.endswith(
        "The JSONata expression '$states.input.missing' specified for the field "
        "'Output/missing' returned nothing (undefined)."
    )


def test_undefined_condition_fails_the_choice(jsonata_stack: StackProcess) -> None:
    execution = jsonata_stack.run("Expression", {"case": "bad-condition"}, timeout=20)
    failed_with_query_error(execution, "BadCondition")


def test_step_functions_function_misuse_names_the_function(jsonata_stack: StackProcess) -> None:
    execution = jsonata_stack.run("Expression", {"case": "bad-hash"}, timeout=20)
    cause = failed_with_query_error(execution, "BadHash")
    assert re.search(r"\$hash: the algorithm must be one of MD5, .*SHA-512, got \"SHA-3\"$", cause)


# -- the evaluator itself (in process) -----------------------------------------------------


def test_each_expression_is_parsed_once_and_evaluated_per_binding() -> None:
    from sluice.engine import jsonata

    expression = "$states.input.n * $factor & ':' & $string($now() != '')"
    assert jsonata.compiled(expression) is jsonata.compiled(expression)

    def run(n: int) -> Any:
        return jsonata.evaluate(expression, {"states": {"input": {"n": n}}, "factor": 3})

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(run, range(200)))
    assert results == [f"{n * 3}:true" for n in range(200)]
    assert jsonata.evaluate("$x", {"x": None}) is None  # JSON null, not undefined
    assert jsonata.evaluate("$x.y", {"x": {}}) is jsonata.UNDEFINED
