"""The console's "Test this state" page: one state of an execution run again through
TestState, from its recorded input (editable, as is the state's definition)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sluice.console.pages import (
    badge,
    cause_html,
    execution_url,
    h,
    layout,
    pretty,
    state_test_url,
)
from sluice.console.runs import RunPath
from sluice.console.service import ExecutionView

INSPECTION_LEVELS = ("INFO", "DEBUG", "TRACE")
# Where a state's nested states live: a Parallel's branches, a Map's processor.
_MAP_PROCESSORS = ("ItemProcessor", "Iterator")


def state_definition(definition: str, path: RunPath) -> dict[str, Any] | None:
    """The definition of the state PATH names (see ``runs``) in a state machine DEFINITION,
    with the machine's QueryLanguage when the state names none; None if there is none."""
    machine = json.loads(definition)
    states: dict[str, Any] = machine.get("States") or {}
    state: dict[str, Any] | None = None
    for depth, segment in enumerate(path):
        if depth % 2 == 0:
            state = states.get(segment)
            if not isinstance(state, dict):
                return None
            continue
        assert state is not None
        if state.get("Type") == "Parallel":
            branches = state.get("Branches") or []
            if not segment.isdigit() or int(segment) >= len(branches):
                return None
            states = branches[int(segment)].get("States") or {}
        else:  # a Map iteration: every iteration runs the same processor
            processor: dict[str, Any] = next((state[k] for k in _MAP_PROCESSORS if k in state), {})
            states = processor.get("States") or {}
    if state is None or len(path) % 2 == 0:
        return None
    if "QueryLanguage" in machine and "QueryLanguage" not in state:
        return {**state, "QueryLanguage": machine["QueryLanguage"]}
    return state


@dataclass(frozen=True)
class StateForm:
    """What the page submits: the state's definition, its input and the inspection level."""

    definition: str
    input: str
    level: str = "DEBUG"


def state_test_page(
    view: ExecutionView,
    path: RunPath,
    form: StateForm,
    answer: dict[str, Any] | None = None,
    problem: str | None = None,
) -> str:
    name = path[-1]
    levels = "".join(
        f"<option{' selected' if level == form.level else ''}>{level}</option>"
        for level in INSPECTION_LEVELS
    )
    body = (
        f'<nav class="trail"><a href="{execution_url(view.arn, path)}">{h(view.name)}</a>'
        f" &rsaquo; {h(name)}</nav>"
        f'<h1 id="test-title" data-state="{h(name)}">Test {h(name)}</h1>'
        '<p class="muted">Runs this one state through TestState with the input below '
        "(the input it had in this execution), as the Step Functions API does.</p>"
        f'<form method="post" action="{state_test_url(view.arn, path)}" class="start">'
        '<label for="test-input">Input</label>'
        f'<textarea id="test-input" name="input" rows="10" spellcheck="false">{h(form.input)}'
        "</textarea>"
        '<label for="test-definition">State definition</label>'
        f'<textarea id="test-definition" name="definition" rows="10" spellcheck="false">'
        f"{h(form.definition)}</textarea>"
        f'<label>Inspection level <select id="inspection-level" name="level">{levels}</select>'
        '</label> <button type="submit" id="run-test">Test state</button></form>'
    )
    if problem:
        body += f'<div class="problem" id="test-problem" role="alert">{h(problem)}</div>'
    if answer is not None:
        body += _answer_html(answer)
    return layout(f"Test {name}", body, active="executions")


def _answer_html(answer: dict[str, Any]) -> str:
    status = str(answer.get("status", ""))
    parts = [
        f'<section id="test-result" data-status="{h(status)}">'
        f'<h2>Result <span id="test-status">{badge(status)}</span></h2>'
    ]
    if answer.get("nextState"):
        parts.append(f'<p>Next state: <b id="test-next-state">{h(answer["nextState"])}</b></p>')
    if answer.get("error") or answer.get("cause"):
        parts.append(
            f'<div class="problem"><b id="test-error">{h(answer.get("error"))}</b>'
            f"{cause_html(answer.get('cause'), 'test-cause')}</div>"
        )
    if answer.get("output") is not None:
        parts.append(f'<h3>Output</h3><pre id="test-output">{h(pretty(answer["output"]))}</pre>')
    data = answer.get("inspectionData") or {}
    if data:
        rows = "".join(
            f'<tr data-key="{h(key)}"><th>{h(key)}</th><td><pre>'
            f"{h(pretty(value) if isinstance(value, str) else json.dumps(value, indent=2))}"
            "</pre></td></tr>"
            for key, value in data.items()
        )
        parts.append(
            f'<h3>Inspection data</h3><table class="inspection"><tbody>{rows}</tbody></table>'
        )
    return "".join(parts) + "</section>"
