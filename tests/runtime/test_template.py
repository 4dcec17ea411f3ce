"""Template resolution: the intrinsics the flows use, and clear errors for everything else."""

from __future__ import annotations

from pathlib import Path

import pytest
from cfn_flip import load_yaml as cfn_flip_load_yaml

from sluice.deploy_triggers import rule_spec
from sluice.template import TemplateError, load_template, load_yaml

BASE = """
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Parameters:
  Stage: {Type: String, Default: dev, AllowedValues: [dev, prod]}
  Size: {Type: Number, Default: 10}
Conditions:
  IsProd: !Equals [!Ref Stage, prod]
Globals:
  Function:
    Timeout: 30
    Environment:
      Variables: {SHARED: shared, OVERRIDDEN: global}
Resources:
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: !Sub "${AWS::StackName}-items-${Stage}"
  Queue:
    Type: AWS::SQS::Queue
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.handler
      Environment:
        Variables:
          TABLE: !Ref Table
          OVERRIDDEN: local
          QUEUE_ARN: !GetAtt Queue.Arn
          JOINED: !Join ["-", [a, !Ref Stage, !Select [1, [x, y]]]]
          SIZE: !If [IsProd, big, !Ref Size]
  ProdOnly:
    Type: AWS::SQS::Queue
    Condition: IsProd
"""


def write(tmp_path: Path, text: str = BASE) -> Path:
    path = tmp_path / "template.yaml"
    path.write_text(text)
    return path


ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "path",
    [ROOT / "infra" / "template.yaml", *sorted((ROOT / "tests").glob("**/template.yaml"))],
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_templates_read_as_cfn_flip_reads_them(path: Path) -> None:
    """The stack reads templates with libyaml's parser; every short-form intrinsic and
    value must come out as cfn_flip (what cfn-lint and the SAM tooling use) gives it."""
    text = path.read_text()
    assert load_yaml(text) == cfn_flip_load_yaml(text)


def test_short_forms_read_as_their_long_forms() -> None:
    body = load_yaml(BASE)
    assert body["Conditions"]["IsProd"] == {"Fn::Equals": [{"Ref": "Stage"}, "prod"]}
    variables = body["Resources"]["Fn"]["Properties"]["Environment"]["Variables"]
    assert variables["QUEUE_ARN"] == {"Fn::GetAtt": ["Queue", "Arn"]}
    assert body["Resources"]["Table"]["Properties"]["TableName"] == {
        "Fn::Sub": "${AWS::StackName}-items-${Stage}"
    }


def test_intrinsics_parameters_globals_and_names(tmp_path: Path) -> None:
    t = load_template(write(tmp_path), stack_name="st")
    fn = t.resources["Fn"]
    assert fn.prop("Timeout") == 30
    assert fn.prop("Environment", "Variables") == {
        "SHARED": "shared",
        "OVERRIDDEN": "local",
        "TABLE": "st-items-dev",
        "QUEUE_ARN": "arn:aws:sqs:us-east-1:123456789012:Queue",
        "JOINED": "a-dev-y",
        "SIZE": "10",
    }
    assert "ProdOnly" not in t.resources


def test_overrides_change_conditions_and_values(tmp_path: Path) -> None:
    t = load_template(write(tmp_path), overrides={"Stage": "prod"})
    assert t.resources["Fn"].prop("Environment", "Variables")["SIZE"] == "big"
    assert "ProdOnly" in t.resources


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"Nope": "1"}, r"unknown parameter override\(s\): Nope"),
        ({"Stage": "qa"}, "Stage='qa' is not one of"),
    ],
)
def test_bad_overrides_are_named(tmp_path: Path, overrides: dict[str, str], message: str) -> None:
    with pytest.raises(TemplateError, match=message):
        load_template(write(tmp_path), overrides=overrides)


def test_reference_to_an_unknown_resource_names_where(tmp_path: Path) -> None:
    t = load_template(write(tmp_path, BASE.replace("!Ref Table", "!Ref Tabel")))
    with pytest.raises(TemplateError, match=r"Fn.*Ref to unknown parameter or resource 'Tabel'"):
        t.resources["Fn"].prop("Environment", "Variables")


def test_missing_template_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match="template not found"):
        load_template(tmp_path / "nope.yaml")
    with pytest.raises(TemplateError, match="no Resources section"):
        load_template(write(tmp_path, "Parameters: {}\n"))


@pytest.mark.parametrize(
    ("properties", "message"),
    [
        # A schedule EventBridge would refuse (day-of-week and day-of-month both given).
        (
            "{ScheduleExpression: cron(0 2 * * * *)}",
            r"ScheduleExpression is not valid: .*must be '\?'",
        ),
        # A State EventBridge does not know.
        ("{State: PAUSED, ScheduleExpression: rate(1 day)}", r"State must be one of .*DISABLED"),
    ],
)
def test_a_rule_eventbridge_would_refuse_fails_the_deploy_naming_it(
    tmp_path: Path, properties: str, message: str
) -> None:
    template = write(
        tmp_path,
        f"Resources:\n  Nightly:\n    Type: AWS::Events::Rule\n    Properties: {properties}\n",
    )
    rule = load_template(template).resources["Nightly"]
    with pytest.raises(TemplateError, match=f"Nightly: {message}"):
        rule_spec(rule)


def test_a_roles_arn_is_known_before_deploy(tmp_path: Path) -> None:
    """`!GetAtt Role.Arn`, as rule targets and pass-role policies name a role on AWS."""
    template = write(
        tmp_path,
        "Resources:\n"
        "  JobRole:\n"
        "    Type: AWS::IAM::Role\n"
        "    Properties: {Path: /service/, AssumeRolePolicyDocument: {}}\n"
        "  Named:\n"
        "    Type: AWS::IAM::Role\n"
        "    Properties: {RoleName: named-role, AssumeRolePolicyDocument: {}}\n",
    )
    t = load_template(template)
    assert t.get_att("JobRole", "Arn", "test") == "arn:aws:iam::123456789012:role/service/JobRole"
    assert t.get_att("Named", "Arn", "test") == "arn:aws:iam::123456789012:role/named-role"
