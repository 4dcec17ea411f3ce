"""The ASL vocabulary (sluice/asl) that history, coverage and the console graph share.

Expected values follow the Amazon States Language and Step Functions API references: the
Choice state (rules tried in order, the first match wins, else ``Default``), ``QueryLanguage``
(set on the machine, overridable per state), and the ``HistoryEventType`` names.
"""

from __future__ import annotations

from typing import Any

import pytest

from sluice.asl.choice import CannotEvaluate, chosen_rule, describe
from sluice.asl.definition import Outline, walk
from sluice.asl.edges import catchers, retriers, transitions
from sluice.asl.events import EventKind, failure_error, kind_of

NESTED: dict[str, Any] = {
    "StartAt": "Fan",
    "States": {
        "Fan": {
            "Type": "Parallel",
            "Branches": [
                {"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}},
                {"StartAt": "B", "States": {"B": {"Type": "Pass", "End": True}}},
            ],
            "Next": "Each",
        },
        "Each": {
            "Type": "Map",
            "ItemProcessor": {"StartAt": "Item", "States": {"Item": {"Type": "Succeed"}}},
            "Next": "Old",
        },
        "Old": {
            "Type": "Map",
            "Iterator": {"StartAt": "Legacy", "States": {"Legacy": {"Type": "Succeed"}}},
            "End": True,
        },
    },
}

ROUTE: dict[str, Any] = {
    "Type": "Choice",
    "Choices": [
        {"Variable": "$.n", "NumericLessThanEquals": 3, "Next": "Small"},
        {"Variable": "$.n", "NumericLessThan": 10, "Next": "Medium"},
    ],
    "Default": "Large",
}


def test_walk_visits_every_state_depth_first_in_definition_order() -> None:
    names = [name for name, _ in walk(NESTED)]
    assert names == ["Fan", "A", "B", "Each", "Item", "Old", "Legacy"]


def test_outline_places_states_in_their_branch_or_item_processor() -> None:
    outline = Outline.of(NESTED)
    assert outline.root == ["Fan", "Each", "Old"]
    assert outline.branches == {"Fan": [["A"], ["B"]]}
    assert outline.processors == {"Each": ["Item"], "Old": ["Legacy"]}
    assert outline.branch_index("Fan", "B") == 1
    assert outline.type_of("Item") == "Succeed"
    assert outline.type_of("Nowhere") == "Unknown"


def test_query_language_is_the_machines_unless_a_state_sets_its_own() -> None:
    machine = {
        "QueryLanguage": "JSONata",
        "StartAt": "Fan",
        "States": {
            "Fan": {
                "Type": "Parallel",
                "Branches": [{"StartAt": "In", "States": {"In": {"Type": "Succeed"}}}],
                "Next": "Old",
            },
            "Old": {"Type": "Choice", "QueryLanguage": "JSONPath", "Choices": [], "Default": "X"},
            "X": {"Type": "Succeed"},
        },
    }
    outline = Outline.of(machine)
    assert outline.query_language("Fan") == "JSONata"
    assert outline.query_language("In") == "JSONata"
    assert outline.query_language("Old") == "JSONPath"
    assert Outline.of(NESTED).query_language("A") == "JSONPath"  # the default


def test_transitions_list_every_way_out_in_definition_order() -> None:
    spec = {
        **ROUTE,
        "Catch": [
            {"ErrorEquals": ["States.Timeout"], "Next": "Late"},
            {"ErrorEquals": ["States.ALL"], "Next": "Broken"},
        ],
        "Retry": [{"ErrorEquals": ["Busy"], "MaxAttempts": 2}],
    }
    ways = [(t.kind, t.target, t.index) for t in transitions(spec)]
    assert ways == [
        ("choice", "Small", 0),
        ("choice", "Medium", 1),
        ("default", "Large", None),
        ("catch", "Late", 0),
        ("catch", "Broken", 1),
    ]
    assert [(c.index, c.errors, c.next) for c in catchers(spec)][1] == (
        1,
        ("States.ALL",),
        "Broken",
    )
    assert [(r.index, r.errors) for r in retriers(spec)] == [(0, ("Busy",))]


@pytest.mark.parametrize(
    ("value", "expected"),
    [({"n": 3}, 0), ({"n": 2}, 0), ({"n": 4}, 1), ({"n": 10}, None)],
)
def test_a_jsonpath_choice_takes_the_first_matching_rule_else_the_default(
    value: dict[str, Any], expected: int | None
) -> None:
    assert chosen_rule(ROUTE, value, "JSONPath") == expected


def test_a_jsonata_choice_is_not_evaluated_from_the_recorded_input() -> None:
    spec = {
        "Type": "Choice",
        "Choices": [{"Condition": "{% $states.input.n = 0 %}", "Next": "Zero"}],
        "Default": "Other",
    }
    with pytest.raises(CannotEvaluate):
        chosen_rule(spec, {"n": 0}, "JSONata")
    # The same rule under JSONPath has no Variable: it cannot be evaluated either.
    with pytest.raises(CannotEvaluate):
        chosen_rule(spec, {"n": 0}, "JSONPath")


def test_choice_rules_read_as_short_labels_in_both_query_languages() -> None:
    assert describe(ROUTE["Choices"][0]) == "$.n <= 3"
    assert describe(ROUTE["Choices"][1]) == "$.n < 10"
    assert describe({"Variable": "$.s", "StringEqualsPath": "$.t"}) == "$.s == $.t"
    assert describe({"Variable": "$.s", "StringMatches": "log-*"}) == '$.s ~ "log-*"'
    assert describe({"Not": {"Variable": "$.x", "IsPresent": True}}) == "not $.x present=true"
    assert describe({"Condition": "{% $states.input.n = 0 %}"}) == "$states.input.n = 0"
    assert describe({"Variable": "$.a_rather_long_path.into.the.input", "IsNull": True}) == (
        "$.a_rather_long_path.into.t…"
    )


@pytest.mark.parametrize(
    ("event_type", "kind"),
    [
        ("ExecutionStarted", EventKind("execution", phase="Started")),
        ("ExecutionRedriven", EventKind("execution", phase="Redriven")),
        ("ExecutionTimedOut", EventKind("execution", phase="TimedOut")),
        ("TaskStateEntered", EventKind("entered", "Task")),
        ("ParallelStateEntered", EventKind("entered", "Parallel")),
        ("ChoiceStateExited", EventKind("exited", "Choice")),
        ("MapStateExited", EventKind("exited", "Map")),
        ("ParallelStateStarted", EventKind("container", "Parallel", "Started")),
        ("MapStateFailed", EventKind("container", "Map", "Failed")),
        ("MapIterationSucceeded", EventKind("iteration", "Map", "Succeeded")),
        ("TaskScheduled", EventKind("task", "Task", "Scheduled")),
        ("LambdaFunctionStartFailed", EventKind("task", "LambdaFunction", "StartFailed")),
        ("ActivityTimedOut", EventKind("task", "Activity", "TimedOut")),
        ("MapRunStarted", EventKind("other", phase="MapRunStarted")),
        ("WaitStateAborted", EventKind("other", phase="WaitStateAborted")),
    ],
)
def test_history_event_types_read_as_what_they_are_about(event_type: str, kind: EventKind) -> None:
    assert kind_of(event_type) == kind


def test_failure_errors_of_task_and_container_attempts() -> None:
    assert failure_error({"type": "TaskFailed", "taskFailedEventDetails": {"error": "Boom"}}) == (
        "Boom"
    )
    # A task that runs past TimeoutSeconds fails with States.Timeout.
    assert failure_error({"type": "TaskTimedOut", "taskTimedOutEventDetails": {}}) == (
        "States.Timeout"
    )
    assert failure_error({"type": "ParallelStateFailed"}) == ""
    assert failure_error({"type": "TaskSucceeded"}) is None
    assert failure_error({"type": "TaskStateAborted"}) is None
    assert failure_error(None) is None
