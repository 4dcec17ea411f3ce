"""Deploying is idempotent and picks up edited ASL and handlers."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sluice.testing import StackProcess

FIXTURE = Path(__file__).parent / "fixture"


@pytest.fixture
def editable_stack(tmp_path: Path) -> Iterator[tuple[StackProcess, Path]]:
    src = tmp_path / "app"
    shutil.copytree(FIXTURE, src, ignore=shutil.ignore_patterns("__pycache__"))
    stack = StackProcess(src / "template.yaml", tmp_path / "data")
    yield stack, src
    stack.stop()


def test_redeploy_is_idempotent_and_picks_up_edits(
    editable_stack: tuple[StackProcess, Path],
) -> None:
    stack, src = editable_stack
    first = stack.run("environment", {})
    assert first.output["definition"]["substituted"] == "hello-from-parameter"

    # Deploying again changes nothing and loses nothing (tables keep their items).
    ddb = stack.client("dynamodb")
    table = stack.resource("ItemsTable")["name"]
    ddb.put_item(TableName=table, Item={"PK": {"S": "keep-me"}})
    stack.gateway.post("/_sluice/deploy")
    assert ddb.get_item(TableName=table, Key={"PK": {"S": "keep-me"}}).get("Item")
    again = stack.run("environment", {})
    assert again.output["definition"] == first.output["definition"]
    assert again.output["env"]["greeting"] == first.output["env"]["greeting"]

    asl = src / "statemachines" / "environment.asl.json"
    asl.write_text(asl.read_text().replace('"substituted"', '"edited"'))
    handler = src / "fixture_tasks.py"
    handler.write_text(
        handler.read_text().replace('"greeting": os.environ', '"greeting_v2": os.environ')
    )
    stack.gateway.post("/_sluice/deploy")
    after = stack.run("environment", {})
    assert after.output["definition"] == {"edited": "hello-from-parameter", "table": table}
    assert after.output["env"]["greeting_v2"] == "hello-from-parameter-via-env"
    assert "greeting" not in after.output["env"]


def test_a_broken_template_is_refused_with_the_reason(
    editable_stack: tuple[StackProcess, Path],
) -> None:
    stack, src = editable_stack
    template = src / "template.yaml"
    template.write_text(
        template.read_text().replace("!GetAtt FlakyFunction.Arn", "!GetAtt FlakyFunctionTypo.Arn")
    )
    with pytest.raises(Exception, match="GetAtt on unknown resource 'FlakyFunctionTypo'"):
        stack.gateway.post("/_sluice/deploy")
    # The running stack keeps serving the last good deployment.
    assert stack.run("environment", {}).status == "SUCCEEDED"


def test_redeploy_changes_a_rules_state_only_where_the_template_changed_the_rule(
    editable_stack: tuple[StackProcess, Path],
) -> None:
    """As a CloudFormation stack update changes only the resources whose template changed:
    a rule disabled through the API stays disabled through a redeploy that leaves it as it
    was, and gets the template's State once the template changes it."""
    stack, src = editable_stack
    events, bus = stack.client("events"), stack.resource("Bus")["name"]
    on, paused = "sluice-event_target-OrderPlaced", "sluice-event_target-OrderPlacedPaused"

    def state(name: str) -> str:
        return str(events.describe_rule(Name=name, EventBusName=bus)["State"])

    events.disable_rule(Name=on, EventBusName=bus)
    stack.gateway.post("/_sluice/deploy")
    assert (state(on), state(paused)) == ("DISABLED", "DISABLED")

    template = src / "template.yaml"
    retries = "MaximumRetryAttempts: 2\n"
    assert template.read_text().count(retries) == 1  # OrderPlaced's RetryPolicy
    template.write_text(template.read_text().replace(retries, "MaximumRetryAttempts: 3\n"))
    stack.gateway.post("/_sluice/deploy")
    assert (state(on), state(paused)) == ("ENABLED", "DISABLED")


def test_redeploy_keeps_unchanged_pipes_and_their_stream_positions(
    editable_stack: tuple[StackProcess, Path],
) -> None:
    from sluice.testing import wait_for

    stack, _ = editable_stack
    ddb = stack.client("dynamodb")
    table = stack.resource("ItemsTable")["name"]
    ddb.put_item(TableName=table, Item={"PK": {"S": "ITEM#before-redeploy"}})

    def delivered() -> int:
        pipes = stack.gateway.get("/_sluice/stats")["pipes"]
        return int(pipes["sluice-stream-pipe"]["records_delivered"])

    wait_for(lambda: delivered() >= 1, what="the first stream record")
    stack.gateway.post("/_sluice/deploy")
    # The same poller carries on: its count (and shard position) survive the deploy, and a
    # change made right after the deploy is delivered exactly once.
    assert delivered() >= 1
    ddb.put_item(TableName=table, Item={"PK": {"S": "ITEM#after-redeploy"}})
    wait_for(lambda: delivered() == 2, what="the record written after the redeploy")


def test_a_pipe_deployed_stopped_delivers_from_its_deploy_position_once_started(
    tmp_path: Path,
) -> None:
    from sluice.testing import wait_for

    src = tmp_path / "app"
    shutil.copytree(FIXTURE, src, ignore=shutil.ignore_patterns("__pycache__"))
    template = src / "template.yaml"
    text = template.read_text()
    pipe = '      Name: !Sub "${AWS::StackName}-stream-pipe"\n'
    assert pipe in text and "StartingPosition: TRIM_HORIZON" in text
    text = text.replace(pipe, pipe + "      DesiredState: STOPPED\n", 1)
    text = text.replace("StartingPosition: TRIM_HORIZON", "StartingPosition: LATEST")
    template.write_text(text)
    stack = StackProcess(template, tmp_path / "data")
    try:
        name, pipes = "sluice-stream-pipe", stack.client("pipes")
        ddb, table = stack.client("dynamodb"), stack.resource("ItemsTable")["name"]

        def stats() -> dict[str, Any]:
            return dict(stack.gateway.get("/_sluice/stats"))

        def delivered() -> int:
            return int(stats()["pipes"][name]["records_delivered"])

        assert pipes.describe_pipe(Name=name)["DesiredState"] == "STOPPED"
        assert stats()["stopped_pipes"] == [name]
        ddb.put_item(TableName=table, Item={"PK": {"S": "ITEM#while-stopped"}})
        assert delivered() == 0
        pipes.start_pipe(Name=name)
        # LATEST is the deploy's position, not StartPipe's: the record is not skipped.
        wait_for(lambda: delivered() == 1, what="the record written while stopped")

        # Stopped by the API, it stays stopped through a redeploy of a template that sets
        # no DesiredState; one that sets RUNNING starts it.
        pipes.stop_pipe(Name=name)
        template.write_text(text.replace("      DesiredState: STOPPED\n", ""))
        stack.gateway.post("/_sluice/deploy")
        assert pipes.describe_pipe(Name=name)["DesiredState"] == "STOPPED"
        wait_for(lambda: stats()["stopped_pipes"] == [name], what="the pipe still stopped")
        template.write_text(text.replace("DesiredState: STOPPED", "DesiredState: RUNNING"))
        stack.gateway.post("/_sluice/deploy")
        assert stats()["stopped_pipes"] == []
        ddb.put_item(TableName=table, Item={"PK": {"S": "ITEM#running-again"}})
        wait_for(lambda: delivered() == 2, what="the record written once running again")
    finally:
        stack.stop()
