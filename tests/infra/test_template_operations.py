"""infra/template.yaml is operable in production: alarms, tracing, logs, least privilege,
retained state. Read from the raw template, so a new function, state machine, pipe or
queue without its alarm or log group fails here."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sluice.template import load_yaml

ROOT = Path(__file__).resolve().parent.parent.parent
BODY: dict[str, Any] = load_yaml((ROOT / "infra" / "template.yaml").read_text())
RESOURCES: dict[str, dict[str, Any]] = BODY["Resources"]

FUNCTION = "AWS::Serverless::Function"
MACHINE = "AWS::Serverless::StateMachine"


def of_type(kind: str) -> dict[str, dict[str, Any]]:
    return {lid: r for lid, r in RESOURCES.items() if r["Type"] == kind}


def props(res: dict[str, Any]) -> dict[str, Any]:
    return res.get("Properties") or {}


def alarms(namespace: str, metric: str) -> dict[str, dict[str, Any]]:
    """Alarm properties keyed by the logical id their single dimension references."""
    found = {}
    for alarm in of_type("AWS::CloudWatch::Alarm").values():
        p = props(alarm)
        if p.get("Namespace") == namespace and p.get("MetricName") == metric:
            [dimension] = p["Dimensions"]
            value = dimension["Value"]
            target = value.get("Ref") or value.get("Fn::GetAtt", [None])[0]
            found[target] = p
    return found


def walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def dead_letter_queues() -> set[str]:
    """Queues named as a dead-letter target anywhere (SQS redrive, Pipes, EventBridge)."""
    found = set()
    for node in walk(RESOURCES):
        for key in ("deadLetterTargetArn", "DeadLetterConfig"):
            target = node.get(key)
            if isinstance(target, dict) and key == "DeadLetterConfig":
                target = target.get("Arn")
            if isinstance(target, dict) and "Fn::GetAtt" in target:
                found.add(target["Fn::GetAtt"][0])
    return found


def test_the_template_has_what_these_tests_count() -> None:
    assert len(of_type(FUNCTION)) == 23 and len(of_type(MACHINE)) == 7
    assert len(of_type("AWS::Pipes::Pipe")) == 4 and len(dead_letter_queues()) == 5


def test_every_alarm_notifies_the_alarm_topic() -> None:
    topic = of_type("AWS::SNS::Topic")
    assert list(topic) == ["AlarmTopic"] and "KmsMasterKeyId" in props(topic["AlarmTopic"])
    for lid, alarm in of_type("AWS::CloudWatch::Alarm").items():
        assert props(alarm)["AlarmActions"] == [{"Ref": "AlarmTopic"}], lid
        assert props(alarm)["OKActions"] == [{"Ref": "AlarmTopic"}], lid
    [subscription] = of_type("AWS::SNS::Subscription").values()
    assert subscription["Condition"] == "HasAlarmEmail"


@pytest.mark.parametrize("metric", ["ExecutionsFailed", "ExecutionsTimedOut"])
def test_every_state_machine_alarms_on_failed_and_timed_out_executions(metric: str) -> None:
    assert set(alarms("AWS/States", metric)) == set(of_type(MACHINE))


def test_every_function_alarms_on_errors() -> None:
    assert set(alarms("AWS/Lambda", "Errors")) == set(of_type(FUNCTION))


def test_every_pipe_alarms_on_failed_executions() -> None:
    assert set(alarms("AWS/EventBridge/Pipes", "ExecutionFailed")) == set(
        of_type("AWS::Pipes::Pipe")
    )


def test_every_dead_letter_queue_alarms_on_depth() -> None:
    depth = alarms("AWS/SQS", "ApproximateNumberOfMessagesVisible")
    assert set(depth) == dead_letter_queues()


def test_functions_and_state_machines_are_traced() -> None:
    assert BODY["Globals"]["Function"]["Tracing"] == "Active"
    for lid, machine in of_type(MACHINE).items():
        assert props(machine)["Tracing"] == {"Enabled": True}, lid


def test_every_function_logs_to_its_own_log_group_with_retention() -> None:
    groups = of_type("AWS::Logs::LogGroup")
    for lid, fn in of_type(FUNCTION).items():
        group = props(fn)["LoggingConfig"]["LogGroup"]["Ref"]
        assert group == f"{lid}Logs" and "RetentionInDays" in props(groups[group]), lid
    for lid, group in groups.items():
        assert props(group)["RetentionInDays"] == {"Ref": "LogRetentionDays"}, lid


def test_state_machines_log_less_in_prod() -> None:
    for lid, machine in of_type(MACHINE).items():
        logging = props(machine)["Logging"]
        group = logging["Destinations"][0]["CloudWatchLogsLogGroup"]["LogGroupArn"]
        assert group["Fn::GetAtt"][0] in RESOURCES, lid
        assert logging["IncludeExecutionData"] == {"Fn::If": ["IsProd", False, True]}, lid
        if props(machine)["Type"] == "EXPRESS":
            assert logging["Level"] == {"Fn::If": ["IsProd", "ERROR", "ALL"]}, lid
    assert BODY["Conditions"]["IsProd"] == {"Fn::Equals": [{"Ref": "Stage"}, "prod"]}


def test_the_http_api_writes_access_logs() -> None:
    api = props(RESOURCES["SluiceHttpApi"])
    arn = api["AccessLogSettings"]["DestinationArn"]["Fn::GetAtt"]
    assert RESOURCES[arn[0]]["Type"] == "AWS::Logs::LogGroup"


def test_no_managed_full_access_policies() -> None:
    assert "FullAccess" not in str(RESOURCES)
    for lid, machine in of_type(MACHINE).items():
        assert {"Ref": "StateMachineLogDeliveryPolicy"} in props(machine)["Policies"], lid


def statements() -> Iterator[tuple[str, dict[str, Any]]]:
    for lid, res in RESOURCES.items():
        for node in walk(res):
            if "Effect" in node and "Action" in node:
                yield lid, node


def test_lake_and_bedrock_permissions_name_their_resources() -> None:
    checked = 0
    for lid, statement in statements():
        actions = (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
        if any(str(a).startswith(("s3tables:", "bedrock:")) for a in actions):
            checked += 1
            assert statement["Resource"] != "*" and "*" not in statement["Resource"], lid
    assert checked == 11


def test_queue_policies_name_their_source() -> None:
    for lid, policy in of_type("AWS::SQS::QueuePolicy").items():
        for statement in props(policy)["PolicyDocument"]["Statement"]:
            conditions = statement["Condition"]
            assert any("aws:SourceArn" in c for c in conditions.values()), lid


STATEFUL = ("AWS::DynamoDB::Table", "AWS::S3::Bucket", "AWS::SQS::Queue")


@pytest.mark.parametrize("kind", STATEFUL)
def test_stateful_resources_are_retained(kind: str) -> None:
    for lid, res in of_type(kind).items():
        assert res.get("DeletionPolicy") == "Retain", lid
        assert res.get("UpdateReplacePolicy") == "Retain", lid


def test_every_table_has_point_in_time_recovery() -> None:
    for lid, table in of_type("AWS::DynamoDB::Table").items():
        pitr = props(table)["PointInTimeRecoverySpecification"]
        assert pitr == {"PointInTimeRecoveryEnabled": True}, lid


def test_api_functions_answer_within_the_http_api_timeout() -> None:
    default = BODY["Globals"]["Function"]["Timeout"]
    for lid, fn in of_type(FUNCTION).items():
        events = (props(fn).get("Events") or {}).values()
        if any(e["Type"] == "HttpApi" for e in events):
            assert props(fn).get("Timeout", default) < 30, lid


def test_route_auth_is_decided_for_every_route() -> None:
    """IAM for the admin and analytics routes; /artists/search is public by decision (the
    comment above SluiceHttpApi says why and what protects it), and so is its OpenAPI
    document."""
    auth = {
        (e["Properties"]["Method"], e["Properties"]["Path"]): e["Properties"].get("Auth", {})
        for fn in of_type(FUNCTION).values()
        for e in (props(fn).get("Events") or {}).values()
        if e["Type"] == "HttpApi"
    }
    public = {route for route, a in auth.items() if a.get("Authorizer") != "AWS_IAM"}
    assert public == {("GET", "/artists/search"), ("GET", "/artists/openapi.json")}
    text = (ROOT / "infra" / "template.yaml").read_text()
    assert "GET /artists/search is public on purpose" in text
