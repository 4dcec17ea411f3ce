"""The lake_maintenance ASL: wired as the template says, accepted by the engine, and run in
process with the real task handlers on a local lake (compaction rounds, a retried conflict,
a refused request)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from asl_checks import assert_placeholders_are, assert_transitions_land, substitute, walk
from pyiceberg.catalog import Catalog

from devkit.lake_maintenance import load_like_the_loader, sale_records
from schemas.sale_dual_write import LAKE_TABLE
from sluice.in_process import InProcessAws
from sluice.template import load_yaml
from sluice.testing import in_process_aws
from tasks.common.lake import catalog_from_env
from tasks.lake_maintenance import compact_files, expire_snapshots, remove_orphan_files

ROOT = Path(__file__).resolve().parents[2]
ASL = ROOT / "statemachines" / "lake_maintenance.asl.json"
TEMPLATE = ROOT / "infra" / "template.yaml"
FUNCTIONS = {
    "CompactFilesFunctionArn": "CompactFiles",
    "ExpireSnapshotsFunctionArn": "ExpireSnapshots",
    "RemoveOrphanFilesFunctionArn": "RemoveOrphanFiles",
}
HANDLERS = {
    "CompactFiles": compact_files.handler,
    "ExpireSnapshots": expire_snapshots.handler,
    "RemoveOrphanFiles": remove_orphan_files.handler,
}


def definition() -> str:
    arns = {k: f"arn:aws:lambda:us-east-1:123456789012:function:{v}" for k, v in FUNCTIONS.items()}
    return substitute(ASL.read_text(), arns)


def states() -> dict[str, Any]:
    states_: dict[str, Any] = json.loads(definition())["States"]
    return states_


def test_placeholders_are_the_templates_substitutions() -> None:
    machine = load_yaml(TEMPLATE.read_text())["Resources"]["LakeMaintenanceStateMachine"]
    subs = machine["Properties"]["DefinitionSubstitutions"]
    assert_placeholders_are(ASL.read_text(), {name: "x" for name in subs})
    assert set(subs) == set(FUNCTIONS)
    assert machine["Properties"]["Type"] == "STANDARD"


def test_every_transition_lands_and_every_commit_retries_conflicts() -> None:
    document = json.loads(definition())
    assert_transitions_land(document)
    committing = {"CompactFiles", "ExpireSnapshots"}
    for name, state in walk(document["States"]):
        if state["Type"] != "Task":
            continue
        retried = {e for r in state.get("Retry", []) for e in r["ErrorEquals"]}
        assert ("LakeCommitConflict" in retried) == (name in committing), name
        assert "States.ALL" not in retried and "TimeoutSeconds" in state, name


@pytest.fixture
def lake(tmp_path: Path) -> Iterator[tuple[InProcessAws, str, Catalog]]:
    env = {"LAKE_WAREHOUSE": str(tmp_path / "lake"), "LAKE_CATALOG_URI": ""}
    catalog = catalog_from_env(env)
    with in_process_aws(HANDLERS, env={**env, "LAKE_SNAPSHOT_MAX_AGE_SECONDS": "0"}) as aws:
        yield aws, aws.create_state_machine("lake-maintenance", definition()), catalog


def history_errors(aws: InProcessAws, execution_arn: str) -> list[str]:
    events = aws.client("stepfunctions").get_execution_history(executionArn=execution_arn)
    return [
        e[key]["error"]
        for e in events["events"]
        for key in ("lambdaFunctionFailedEventDetails", "taskFailedEventDetails")
        if key in e
    ]


def test_rounds_go_on_until_no_partition_is_left_and_a_conflict_is_retried(
    lake: tuple[InProcessAws, str, Catalog], monkeypatch: pytest.MonkeyPatch
) -> None:
    aws, machine, catalog = lake
    load_like_the_loader(catalog, sale_records("tenant-a", range(24)), batch=4)
    rows = catalog.load_table(LAKE_TABLE).scan().to_arrow().num_rows
    monkeypatch.setenv("LAKE_COMPACT_BUDGET_SECONDS", "0")  # one partition per round
    aws.faults["CompactFiles"] = ["LakeCommitConflict"]  # the first round's commit conflicts

    run = aws.run(machine, {"table": LAKE_TABLE}, timeout=120)

    assert run["status"] == "SUCCEEDED", run
    output = json.loads(run["output"])
    compaction = output["compaction"]
    assert compaction["rounds"] == compaction["partitionsCompacted"] > 1
    assert compaction["remaining"] == 0 and compaction["filesAfter"] < compaction["filesBefore"]
    assert history_errors(aws, run["executionArn"]) == ["LakeCommitConflict"]
    assert len(aws.called("CompactFiles")) == compaction["rounds"] + 1
    assert output["expiry"]["snapshotsKept"] == 1 and output["orphans"]["deletion"] == "done"
    assert catalog.load_table(LAKE_TABLE).scan().to_arrow().num_rows == rows


def test_an_unknown_table_fails_the_first_task_without_retrying(
    lake: tuple[InProcessAws, str, Catalog],
) -> None:
    aws, machine, _ = lake

    run = aws.run(machine, {"table": "pricing.nope"})

    assert run["status"] == "FAILED" and run["error"] == "InvalidMaintenanceRequest"
    assert "pricing.nope" in run["cause"]
    assert len(aws.called("CompactFiles")) == 1 and not aws.called("ExpireSnapshots")


def test_each_tables_rule_runs_on_the_schedule_parameter_and_on_its_request_event() -> None:
    resources = load_yaml(TEMPLATE.read_text())["Resources"]
    rules = {
        lid: r["Properties"]
        for lid, r in resources.items()
        if r["Type"] == "AWS::Events::Rule"
        and r["Properties"]["Targets"][0]["Arn"] == {"Ref": "LakeMaintenanceStateMachine"}
    }
    tables = set()
    for lid, rule in rules.items():
        [target] = rule["Targets"]
        table = json.loads(target["Input"])["table"]
        tables.add(table)
        assert rule["ScheduleExpression"] == {"Ref": "LakeMaintenanceSchedule"}, lid
        assert "EventBusName" not in rule, lid  # schedules run on the default bus only
        assert rule["EventPattern"]["detail"] == {"table": [table]}, lid
        assert rule["EventPattern"]["source"] == ["sluice.lake"], lid
    assert tables == {"pricing.sales_history", "silver.violations"}
