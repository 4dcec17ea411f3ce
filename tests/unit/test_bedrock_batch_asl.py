"""The bedrock_batch ASL and its template snippet agree, and follow the runtime's rules."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sluice.template import load_yaml

ROOT = Path(__file__).resolve().parents[2]
ASL = json.loads((ROOT / "statemachines" / "bedrock_batch.asl.json").read_text())
TEMPLATE = load_yaml((ROOT / "infra" / "template.yaml").read_text())


def states(definition: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, state in definition["States"].items():
        yield name, state
        if "ItemProcessor" in state:
            yield from states(state["ItemProcessor"])
        for branch in state.get("Branches", []):
            yield from states(branch)


def test_tasks_are_lambda_invokes_with_substituted_arns() -> None:
    subs = TEMPLATE["Resources"]["BedrockBatchStateMachine"]["Properties"][
        "DefinitionSubstitutions"
    ]
    used = set()
    for name, state in states(ASL):
        if state["Type"] == "Task":
            assert state["Resource"] == "arn:aws:states:::lambda:invoke", name
            placeholder = re.fullmatch(
                r"\$\{(\w+FunctionArn)\}", state["Parameters"]["FunctionName"]
            )
            assert placeholder, name
            used.add(placeholder.group(1))
    assert used == set(subs)


def test_retries_wait_at_least_a_second_and_wait_uses_seconds_path() -> None:
    for name, state in states(ASL):
        for retry in state.get("Retry", []):
            assert retry["IntervalSeconds"] >= 1, name
        if state["Type"] == "Wait":
            assert set(state) >= {"SecondsPath"} and "Seconds" not in state, name
    assert "QueryLanguage" not in ASL  # JSONPath only


def test_every_transition_lands_on_a_state() -> None:
    for definition in [ASL] + [s["ItemProcessor"] for _, s in states(ASL) if "ItemProcessor" in s]:
        names = set(definition["States"])
        assert definition["StartAt"] in names
        for name, state in definition["States"].items():
            targets = [state.get("Next"), state.get("Default")]
            targets += [c.get("Next") for c in state.get("Choices", [])]
            targets += [c.get("Next") for c in state.get("Catch", [])]
            for target in filter(None, targets):
                assert target in names, f"{name} -> {target}"


def test_the_poll_loop_ends_on_every_terminal_status() -> None:
    choice = ASL["States"]["JobStatus"]
    text = json.dumps(choice)
    for status in ("Completed", "PartiallyCompleted", "Failed", "Stopped", "Expired"):
        assert f'"{status}"' in text
    assert "waitExceeded" in text and choice["Default"] == "WaitForJob"
    assert ASL["States"]["JobFailed"]["Type"] == "Fail"


def test_only_descriptors_travel_through_the_map() -> None:
    mapped = ASL["States"]["ProcessOutput"]
    assert mapped["ItemsPath"] == "$.plan.value.chunks"
    assert mapped["MaxConcurrency"] >= 1
