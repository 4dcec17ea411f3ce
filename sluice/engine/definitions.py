"""What CreateStateMachine answers for a definition the engine cannot build.

AWS answers `InvalidDefinition` with `Invalid State Machine Definition: '<CODE>: <what>
at <where>'`. moto's parser reports a transition to a state that does not exist only when
an execution takes it, so the transitions are checked here first.
"""

from __future__ import annotations

import json
from typing import Any

from moto.stepfunctions.parser.asl.parse.asl_parser import ASLParserException


class DefinitionProblem(Exception):
    """A definition names a state that is not there."""


def check_transitions(definition: str) -> None:
    """Raise DefinitionProblem for the first `StartAt`, `Next` or `Default` that names a state
    its `States` does not have (the top level, Parallel branches and Map processors)."""
    try:
        document = json.loads(definition)
    except ValueError:
        return  # the parser says what is wrong with the text
    if isinstance(document, dict):
        _check_machine(document, "")


def _check_machine(machine: dict[str, Any], where: str) -> None:
    states = machine.get("States")
    if not isinstance(states, dict):
        return
    start = machine.get("StartAt")
    if isinstance(start, str) and start not in states:
        raise DefinitionProblem(
            f"MISSING_TRANSITION_TARGET: Missing 'StartAt' target: {start} at {where}/StartAt"
        )
    for name, state in states.items():
        if not isinstance(state, dict):
            continue
        here = f"{where}/States/{name}"
        targets = [("Next", state.get("Next")), ("Default", state.get("Default"))]
        for i, choice in enumerate(state.get("Choices") or []):
            if isinstance(choice, dict):
                targets.append((f"Choices[{i}]/Next", choice.get("Next")))
        for i, catcher in enumerate(state.get("Catch") or []):
            if isinstance(catcher, dict):
                targets.append((f"Catch[{i}]/Next", catcher.get("Next")))
        for field, target in targets:
            if isinstance(target, str) and target not in states:
                raise DefinitionProblem(
                    f"MISSING_TRANSITION_TARGET: Missing '{field.rsplit('/', 1)[-1]}' target: "
                    f"{target} at {here}/{field}"
                )
        for i, branch in enumerate(state.get("Branches") or []):
            if isinstance(branch, dict):
                _check_machine(branch, f"{here}/Branches[{i}]")
        for key in ("ItemProcessor", "Iterator"):
            if isinstance(state.get(key), dict):
                _check_machine(state[key], f"{here}/{key}")


def invalid_definition_message(exc: Exception) -> str:
    """AWS's InvalidDefinition message form, naming the problem (never a Python exception's
    repr)."""
    if isinstance(exc, ASLParserException):
        problem = "; ".join(f"SCHEMA_VALIDATION_FAILED: {e}" for e in exc.errors) or (
            "SCHEMA_VALIDATION_FAILED"
        )
    else:
        problem = " ".join(str(arg) for arg in exc.args) or type(exc).__name__
    return f"Invalid State Machine Definition: '{problem}'"
