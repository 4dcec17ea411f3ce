"""State coverage (sluice/coverage/) and its pytest plugin (sluice/pytest_plugin.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sluice.asl.choice import CannotEvaluate, rule_matches
from sluice.asl.edges import error_matches
from sluice.coverage import CoverageReport, collect, exercised, machine_items
from sluice.coverage import merge as coverage_merge
from sluice.coverage.merge import part_file
from sluice.coverage.report import failure_message
from sluice.testing import Execution, StackProcess

ROOT = Path(__file__).resolve().parents[2]
HISTORIES = ROOT / "tests" / "runtime" / "histories"
FIXTURE = ROOT / "tests" / "runtime" / "fixture"


def recorded(name: str) -> dict[str, Any]:
    """A history recorded from moto by tests/runtime/test_history.py (definition + events)."""
    document: dict[str, Any] = json.loads((HISTORIES / f"{name}.json").read_text())
    return document


def history(*states: tuple[str, str, Any]) -> list[dict[str, Any]]:
    """A linear execution history: (type, name, input) per state, each entered then exited."""
    events: list[dict[str, Any]] = [{"id": 1, "previousEventId": 0, "type": "ExecutionStarted"}]
    for kind, name, value in states:
        entered = {"name": name, "input": json.dumps(value)}
        events.append(
            {
                "id": len(events) + 1,
                "previousEventId": len(events),
                "type": f"{kind}StateEntered",
                "stateEnteredEventDetails": entered,
            }
        )
        if kind not in ("Fail", "Succeed"):
            events.append(
                {
                    "id": len(events) + 1,
                    "previousEventId": len(events),
                    "type": f"{kind}StateExited",
                    "stateExitedEventDetails": {"name": name, "output": json.dumps(value)},
                }
            )
    return events


# A Choice whose first rule and Default lead to the same state, as sale_dual_write's
# WhoHoldsTheClaim does.
SHARED_NEXT = {
    "StartAt": "Who",
    "States": {
        "Who": {
            "Type": "Choice",
            "Choices": [
                {"Variable": "$.item", "IsPresent": False, "Next": "Contended"},
                {"Variable": "$.item.status", "StringEquals": "DONE", "Next": "Done"},
            ],
            "Default": "Contended",
        },
        "Contended": {"Type": "Fail", "Error": "Claim.Contended"},
        "Done": {"Type": "Succeed"},
    },
}


# -- items and matching ----------------------------------------------------------------------


def test_items_cover_states_choice_rules_retriers_and_catchers_in_nested_states() -> None:
    definition = json.loads(recorded("parallel_caught")["definition"])
    labels = [item.label for item in machine_items(definition)]
    assert labels == [
        "state Enrich",
        "catch Enrich Catch[0] (States.ALL) -> Quarantine",
        "state Lookup",
        "state Validate",
        "choice Validate rule 0 -> Valid",
        "choice Validate Default -> Invalid",
        "state Valid",
        "state Invalid",
        "state Quarantine",
        "state Done",
    ]
    mapped = machine_items(recorded("map_iteration_failure")["definition"])
    assert [i.key for i in mapped if i.kind == "choice"] == [
        "choice:Check#0",
        "choice:Check#Default",
    ]


def test_error_matching_follows_step_functions_wildcards() -> None:
    assert error_matches(["TransientError"], "TransientError")
    assert not error_matches(["TransientError"], "ValidationFailed")
    assert error_matches(["States.ALL"], "Lambda.ServiceException")
    assert not error_matches(["States.ALL"], "States.Runtime")
    assert error_matches(["States.TaskFailed"], "DynamoDB.ConditionalCheckFailedException")
    assert not error_matches(["States.TaskFailed"], "States.Timeout")
    assert error_matches(["States.Timeout", "States.TaskFailed"], "States.Timeout")


@pytest.mark.parametrize(
    ("rule", "value", "expected"),
    [
        ({"Variable": "$.n", "NumericEquals": 0}, {"n": 0}, True),
        ({"Variable": "$.n", "NumericGreaterThanPath": "$.m"}, {"n": 2, "m": 1}, True),
        ({"Variable": "$.n", "NumericEquals": 0}, {"n": "0"}, False),
        ({"Variable": "$.s", "StringMatches": "log-*.txt"}, {"s": "log-1.txt"}, True),
        ({"Variable": "$['a'].b[1]", "BooleanEquals": True}, {"a": {"b": [False, True]}}, True),
        (
            {"Variable": "$.t", "TimestampLessThan": "2026-01-02T00:00:00Z"},
            {"t": "2026-01-01T00:00:00Z"},
            True,
        ),
        ({"Variable": "$.x", "IsPresent": False}, {}, True),
        ({"Variable": "$.x", "IsNull": True}, {"x": None}, True),
        ({"Not": {"Variable": "$.s", "StringEquals": "a"}}, {"s": "b"}, True),
        (
            {
                "Or": [
                    {"Variable": "$.s", "StringEquals": "a"},
                    {
                        "And": [
                            {"Variable": "$.n", "IsNumeric": True},
                            {"Variable": "$.n", "NumericLessThan": 3},
                        ]
                    },
                ]
            },
            {"s": "b", "n": 2},
            True,
        ),
    ],
)
def test_choice_rules_are_evaluated_on_the_recorded_input(
    rule: dict[str, Any], value: Any, expected: bool
) -> None:
    assert rule_matches(rule, value) is expected


@pytest.mark.parametrize(
    "rule",
    [
        {"Condition": "{% $states.input.n = 0 %}"},  # JSONata
        {"Variable": "$$.Execution.Id", "StringEquals": "x"},  # context object
        {"Variable": "$.missing", "StringEquals": "x"},  # a runtime error on AWS
    ],
)
def test_choice_rules_that_cannot_be_evaluated_say_so(rule: dict[str, Any]) -> None:
    with pytest.raises(CannotEvaluate):
        rule_matches(rule, {"n": 0})


# -- exercised paths from histories -----------------------------------------------------------


def test_choice_rules_sharing_a_next_are_told_apart_by_evaluating_them() -> None:
    absent = history(("Choice", "Who", {}), ("Fail", "Contended", {}))
    busy = history(("Choice", "Who", {"item": {"status": "BUSY"}}), ("Fail", "Contended", {}))
    done = history(("Choice", "Who", {"item": {"status": "DONE"}}), ("Succeed", "Done", {}))
    assert exercised(absent, SHARED_NEXT) == {"state:Who", "choice:Who#0", "state:Contended"}
    assert exercised(busy, SHARED_NEXT) == {"state:Who", "choice:Who#Default", "state:Contended"}
    assert exercised(done, SHARED_NEXT) == {"state:Who", "choice:Who#1", "state:Done"}


def test_unevaluable_choice_rules_sharing_a_next_are_marked_together() -> None:
    jsonata = json.loads(json.dumps(SHARED_NEXT))
    jsonata["QueryLanguage"] = "JSONata"
    jsonata["States"]["Who"]["Choices"] = [
        {"Condition": "{% $not($exists($states.input.item)) %}", "Next": "Contended"},
        {"Condition": "{% $states.input.item.status = 'DONE' %}", "Next": "Done"},
    ]
    absent = history(("Choice", "Who", {}), ("Fail", "Contended", {}))
    assert exercised(absent, jsonata) == {
        "state:Who",
        "choice:Who#0",
        "choice:Who#Default",
        "state:Contended",
    }


def test_retry_and_catch_of_a_task_are_attributed_to_their_entries() -> None:
    document = recorded("retry_then_catch")
    assert exercised(document["events"], document["definition"]) == {
        "state:Reserve",
        "retry:Reserve#0",
        "catch:Reserve#0",
        "state:Conflict",
        "state:Done",
    }


def test_a_retried_parallel_counts_states_of_every_attempt_and_its_retry_and_catch() -> None:
    document = recorded("parallel_retry_caught")
    hit = exercised(document["events"], document["definition"])
    # Left ran only in the first attempt.
    assert hit == {
        "state:Split",
        "retry:Split#0",
        "catch:Split#0",
        "state:Left",
        "state:Right",
        "state:Fallback",
    }


def test_paths_inside_an_earlier_attempt_of_a_retried_parallel_count() -> None:
    definition = {
        "StartAt": "Claim",
        "States": {
            "Claim": {
                "Type": "Parallel",
                "Branches": [
                    {
                        "StartAt": "Who",
                        "States": {
                            "Who": {
                                "Type": "Choice",
                                "Choices": [
                                    {"Variable": "$.held", "BooleanEquals": True, "Next": "Held"}
                                ],
                                "Default": "Ok",
                            },
                            "Held": {"Type": "Fail", "Error": "Claim.Held"},
                            "Ok": {"Type": "Pass", "End": True},
                        },
                    }
                ],
                "Retry": [{"ErrorEquals": ["Claim.Held"], "IntervalSeconds": 1}],
                "End": True,
            }
        },
    }
    chain = [
        ("ExecutionStarted", None, None),
        ("ParallelStateEntered", "Claim", {}),
        ("ParallelStateStarted", None, None),
        ("ChoiceStateEntered", "Who", {"held": True}),  # the first attempt: held
        ("ChoiceStateExited", "Who", None),
        ("FailStateEntered", "Held", {}),
        ("ParallelStateStarted", None, None),  # retried
        ("ChoiceStateEntered", "Who", {"held": False}),
        ("ChoiceStateExited", "Who", None),
        ("PassStateEntered", "Ok", {}),
        ("PassStateExited", "Ok", None),
        ("ParallelStateSucceeded", None, None),
        ("ParallelStateExited", "Claim", None),
        ("ExecutionSucceeded", None, None),
    ]
    events: list[dict[str, Any]] = []
    for number, (kind, name, value) in enumerate(chain, start=1):
        event: dict[str, Any] = {"id": number, "previousEventId": number - 1, "type": kind}
        if kind.endswith("StateEntered"):
            event["stateEnteredEventDetails"] = {"name": name, "input": json.dumps(value)}
        elif kind.endswith("StateExited"):
            event["stateExitedEventDetails"] = {"name": name, "output": "{}"}
        events.append(event)
    assert exercised(events, definition) == {
        "state:Claim",
        "retry:Claim#0",
        "state:Who",
        "choice:Who#0",  # taken only in the discarded attempt
        "choice:Who#Default",
        "state:Held",
        "state:Ok",
    }


def test_map_iterations_contribute_their_choice_branches() -> None:
    document = recorded("map_iteration_failure")
    hit = exercised(document["events"], document["definition"])
    assert {"choice:Check#0", "choice:Check#Default", "state:Hold", "state:Reject"} <= hit
    assert "state:Report" not in hit  # the Map failed


# -- the acceptance: a removed test leaves its path named -------------------------------------


def _report(name: str, definition: str, executions: list[Execution]) -> CoverageReport:
    report = CoverageReport()
    machine = report.machine(name)
    machine.add_definition(definition)
    for execution in executions:
        machine.add_execution(execution.events, definition)
    return report


def test_removing_a_test_makes_the_report_name_its_unexercised_path(
    fixture_stack: StackProcess, tmp_path: Path
) -> None:
    retried = fixture_stack.run(
        "retry_catch", {"counter_file": str(tmp_path / "retried"), "fail_times": 1}
    )
    caught = fixture_stack.run(
        "retry_catch", {"counter_file": str(tmp_path / "caught"), "invalid": True, "id": "c1"}
    )
    assert (retried.status, caught.status) == ("SUCCEEDED", "SUCCEEDED")
    sfn = fixture_stack.client("stepfunctions")
    arn = fixture_stack.flow_arn("retry_catch")
    definition = sfn.describe_state_machine(stateMachineArn=arn)["definition"]
    name = "sluice-retry_catch"

    full = _report(name, definition, [retried, caught])
    assert full.machines[name].missing == []
    assert full.machines[name].percent == 100.0
    assert "not exercised" not in full.text()

    # The "catch" test removed: its Catch path and the state it leads to are named.
    no_catch = _report(name, definition, [retried])
    assert [i.label for i in no_catch.machines[name].missing] == [
        "catch Work Catch[0] (ValidationFailed) -> Fallback",
        "state Fallback",
    ]
    assert "catch Work Catch[0] (ValidationFailed) -> Fallback" in no_catch.text()
    assert "- catch Work Catch[0] (ValidationFailed) -> Fallback" in no_catch.markdown()
    assert no_catch.machines[name].percent == 50.0

    # The "retry" test removed instead: the retrier is named.
    no_retry = _report(name, definition, [caught])
    assert [i.label for i in no_retry.machines[name].missing] == [
        "retry Work Retry[0] (TransientError)"
    ]


def test_collect_reads_every_machine_and_execution_of_a_stack_express_included(
    fixture_stack: StackProcess,
) -> None:
    sync = fixture_stack.client("stepfunctions", inject_host_prefix=False)
    result = sync.start_sync_execution(
        stateMachineArn=fixture_stack.flow_arn("queue_target"), input='{"coverage": "probe"}'
    )
    assert result["status"] == "SUCCEEDED"
    report = collect(fixture_stack.client("stepfunctions"))
    assert report.problems == []
    assert {"sluice-retry_catch", "sluice-queue_target", "sluice-timeout"} <= set(report.machines)
    express = report.machines["sluice-queue_target"]
    assert express.executions >= 1
    assert express.missing == []
    document = report.to_json(threshold=50)
    assert document["machines"]["sluice-queue_target"]["summary"]["states"] == {
        "covered": 1,
        "total": 1,
    }


def test_collect_can_keep_to_the_templates_machines(fixture_stack: StackProcess) -> None:
    """A test's own probe machine (made with CreateStateMachine) is not an application path:
    the session report reads only the machines the template deployed."""
    sfn = fixture_stack.client("stepfunctions")
    probe = sfn.create_state_machine(
        name="coverage-probe",
        definition=json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}),
        roleArn="arn:aws:iam::123456789012:role/probe",
    )["stateMachineArn"]
    deployed = {fixture_stack.flow_arn("retry_catch"), fixture_stack.flow_arn("timeout")}
    try:
        assert "coverage-probe" in collect(sfn).machines
        assert set(collect(sfn, only=deployed).machines) == {
            "sluice-retry_catch",
            "sluice-timeout",
        }
    finally:
        sfn.delete_state_machine(stateMachineArn=probe)


# -- merging and the threshold ----------------------------------------------------------------


def test_the_same_machine_on_several_stacks_merges() -> None:
    absent = history(("Choice", "Who", {}), ("Fail", "Contended", {}))
    done = history(("Choice", "Who", {"item": {"status": "DONE"}}), ("Succeed", "Done", {}))
    first, second = CoverageReport(stacks=1), CoverageReport(stacks=1)
    first.machine("claims").add_execution(absent, SHARED_NEXT)
    second.machine("claims").add_execution(done, SHARED_NEXT)
    first.merge(second)
    claims = first.machines["claims"]
    assert (first.stacks, claims.executions) == (2, 2)
    assert [i.label for i in claims.missing] == ["choice Who Default -> Contended"]
    assert claims.counts() == (5, 6)


def test_failure_message_names_the_machines_below_the_threshold() -> None:
    report = CoverageReport()
    report.machine("full").add_execution(
        history(("Choice", "Who", {}), ("Fail", "Contended", {})), SHARED_NEXT
    )
    report.machine("empty").add_definition(SHARED_NEXT)
    assert failure_message(report, 0) is None
    assert failure_message(report, 40) == "Sluice state coverage below 40%: empty (0.0%)"
    message = failure_message(report, 60)
    assert message == "Sluice state coverage below 60%: empty (0.0%), full (50.0%)"
    # Per-machine minimums (fnmatch patterns, first match wins) override the threshold.
    floors = {"emp*": 0.0, "full": 60.0}
    assert failure_message(report, 90, floors) == (
        "Sluice state coverage below the minimum: full (50.0% < 60%)"
    )
    assert failure_message(report, 0, {"full": 50.0}) is None


def test_session_reports_coverage_and_fails_under_the_threshold(pytester: pytest.Pytester) -> None:
    """An inner session with a real stack: the plugin collects it when it stops."""
    pytester.makepyfile(
        test_inner=f"""
        from pathlib import Path
        from sluice.testing import StackProcess

        def test_runs_the_happy_path_only(tmp_path):
            fixture = Path({str(FIXTURE)!r})
            stack = StackProcess(fixture / "template.yaml", tmp_path / "stack")
            try:
                run = stack.run("retry_catch", {{"counter_file": str(tmp_path / "c")}})
                assert run.status == "SUCCEEDED"
            finally:
                stack.stop()
        """
    )
    pytester.makeini(
        """
        [pytest]
        sluice_coverage_fail_under = 0
        sluice_coverage_fail_under_machines =
            sluice-retry_* = 30
            sluice-timeout = 0
        """
    )
    out = pytester.path / "coverage-out"
    result = pytester.runpytest_subprocess(
        "-p", "sluice.pytest_plugin", "--sluice-coverage", f"--sluice-coverage-dir={out}"
    )
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.re_match_lines(
        [
            r"=+ Sluice state coverage =+",
            r"sluice-retry_catch +1 +1/2 +0/0 +0/1 +0/1 +25\.0%",
            r" +catch Work Catch\[0\] \(ValidationFailed\) -> Fallback",
            r"FAIL Sluice state coverage below the minimum: sluice-retry_catch \(25\.0% < 30%\)$",
        ]
    )
    document = json.loads((out / "coverage.json").read_text())
    assert document["machines"]["sluice-retry_catch"]["percent"] == 25.0
    assert document["below_threshold"] == ["sluice-retry_catch"]
    assert "retry Work Retry[0] (TransientError)" in (out / "coverage.md").read_text()


XDIST_INNER = """
import os
from pathlib import Path
from sluice.testing import StackProcess

def test_{name}(tmp_path):
    (Path({out!r}) / "{name}").write_text(os.environ["PYTEST_XDIST_WORKER"])
    stack = StackProcess(Path({fixture!r}) / "template.yaml", tmp_path / "stack")
    try:
        run = stack.run("retry_catch", {{"counter_file": str(tmp_path / "c"), {payload}}})
        assert run.status == "SUCCEEDED"
    finally:
        stack.stop()
"""


def test_parallel_workers_coverage_is_merged_before_the_thresholds(
    pytester: pytest.Pytester,
) -> None:
    """Under pytest-xdist each worker reads its own stacks; the controller adds them up and
    applies the thresholds to the sum: two runs below 80% alone make 100% together."""
    out = pytester.path / "coverage-out"
    out.mkdir()
    for name, payload in (("caught", '"invalid": True'), ("retried", '"fail_times": 1')):
        source = XDIST_INNER.format(name=name, out=str(out), fixture=str(FIXTURE), payload=payload)
        pytester.makepyfile(**{f"test_{name}": source})
    pytester.makeini(
        """
        [pytest]
        sluice_coverage_fail_under = 0
        sluice_coverage_fail_under_machines =
            sluice-retry_catch = 80
            sluice-timeout = 10
        """
    )
    result = pytester.runpytest_subprocess(
        "-p", "sluice.pytest_plugin", "--sluice-coverage", f"--sluice-coverage-dir={out}",
        "-n", "2", "--dist", "loadfile",
    )  # fmt: skip
    result.assert_outcomes(passed=2)
    workers = {(out / name).read_text() for name in ("caught", "retried")}
    assert len(workers) == 2, workers  # each run on its own worker
    document = json.loads((out / "coverage.json").read_text())
    assert document["stacks"] == 2
    assert document["machines"]["sluice-retry_catch"]["executions"] == 2
    assert document["machines"]["sluice-retry_catch"]["percent"] == 100.0
    # The merged total is still held to every machine's minimum.
    assert document["below_threshold"] == ["sluice-timeout"]
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.re_match_lines(
        [r"sluice-retry_catch +2 +2/2 +0/0 +1/1 +1/1 +100\.0%", r"FAIL .*sluice-timeout \(0\.0%"]
    )


# -- a run in parts (make test: the suite from source, the `built` tests from packages) ------


def write_part(out: Path, name: str, report: CoverageReport) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / part_file(name)).write_text(json.dumps(report.to_json()))


def test_a_part_read_back_is_the_coverage_it_was() -> None:
    report = CoverageReport(stacks=2, problems=["stack on port 1: gone"])
    report.machine("claims").add_execution(
        history(("Choice", "Who", {}), ("Fail", "Contended", {})), SHARED_NEXT
    )
    back = CoverageReport.from_json(json.loads(json.dumps(report.to_json())))
    assert (back.stacks, back.problems) == (2, ["stack on port 1: gone"])
    claims, original = back.machines["claims"], report.machines["claims"]
    assert (claims.executions, claims.hits) == (original.executions, original.hits)
    assert [i.label for i in claims.missing] == [i.label for i in original.missing]


def test_parts_are_held_to_the_thresholds_together(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two parts below the machine's floor alone reach it together; a machine neither part
    covers enough still fails the merge, and the merged report is written either way."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pyproject.toml").write_text(
        "[tool.pytest.ini_options]\n"
        "sluice_coverage_fail_under = 0\n"
        'sluice_coverage_fail_under_machines = ["claims = 80", "idle = 10"]\n'
    )
    out = tmp_path / "coverage"
    absent, done = CoverageReport(stacks=1), CoverageReport(stacks=1)
    absent.machine("claims").add_execution(
        history(("Choice", "Who", {}), ("Fail", "Contended", {})), SHARED_NEXT
    )
    done.machine("claims").add_execution(
        history(("Choice", "Who", {"item": {"status": "DONE"}}), ("Succeed", "Done", {})),
        SHARED_NEXT,
    )
    done.machine("idle").add_definition(SHARED_NEXT)
    write_part(out, "suite", absent)
    write_part(out, "built", done)

    assert coverage_merge.main(["merge", str(out), "suite"]) == 1  # claims alone: 50% < 80%
    assert "claims (50.0% < 80%)" in capsys.readouterr().out

    assert coverage_merge.main(["merge", str(out), "suite", "built"]) == 1
    printed = capsys.readouterr().out
    assert "FAIL Sluice state coverage below the minimum: idle (0.0% < 10%)" in printed
    document = json.loads((out / "coverage.json").read_text())
    assert document["stacks"] == 2
    assert document["machines"]["claims"]["percent"] == 83.3  # 5 of 6 paths
    assert document["below_threshold"] == ["idle"]


def test_a_missing_or_broken_part_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pyproject.toml").write_text("[tool.pytest.ini_options]\n")
    write_part(tmp_path, "suite", CoverageReport())
    assert coverage_merge.main(["merge", str(tmp_path), "suite", "built"]) == 2
    assert f"no part 'built': {tmp_path / 'part-built.json'} does not exist" in (
        capsys.readouterr().err
    )
    (tmp_path / part_file("built")).write_text('{"machines": {}}')
    assert coverage_merge.main(["merge", str(tmp_path), "suite", "built"]) == 2
    assert "part 'built'" in capsys.readouterr().err and not (tmp_path / "coverage.json").exists()


def test_a_session_in_parts_defers_the_thresholds_to_the_merge(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A part session below a floor still passes and writes its part; the merge fails it.
    (Its coverage is handed to the session's collector directly: reading it from a stack is
    test_session_reports_coverage_and_fails_under_the_threshold's.)"""
    pytester.makepyfile(
        test_inner=f"""
        from sluice.coverage import CoverageReport
        from sluice.pytest_plugin import collector

        def test_a_machine_never_run(request):
            report = CoverageReport(stacks=1)
            report.machine("sluice-claims").add_definition({SHARED_NEXT!r})
            collector(request.config).add(report, 0.0)
        """
    )
    pytester.makepyprojecttoml(
        """
        [tool.pytest.ini_options]
        sluice_coverage_fail_under = 0
        sluice_coverage_fail_under_machines = ["sluice-claims = 30"]
        """
    )
    out = pytester.path / "coverage-out"
    result = pytester.runpytest_subprocess(
        "-p", "sluice.pytest_plugin", "--sluice-coverage", f"--sluice-coverage-dir={out}",
        "--sluice-coverage-part", "suite",
    )  # fmt: skip
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines([f"part 'suite' written to {out / 'part-suite.json'}*"])
    assert not (out / "coverage.json").exists()
    monkeypatch.chdir(pytester.path)
    assert coverage_merge.main(["merge", str(out), "suite"]) == 1
    assert "sluice-claims (0.0% < 30%)" in capsys.readouterr().out
