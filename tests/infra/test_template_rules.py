"""The template's Rules, evaluated against parameter sets the way CloudFormation does.

The assertions come from infra/template.yaml itself (`Template.rule_failures` evaluates
its Fn::Equals/Not/And/Or/Contains + Ref forms), so these tests follow the template.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sluice.stack import samconfig_overrides
from sluice.template import Template, TemplateError, load_template

ROOT = Path(__file__).resolve().parent.parent.parent
TEMPLATE = ROOT / "infra" / "template.yaml"

AWS_VALUES = {
    "LakeWarehouse": "arn:aws:s3tables:us-east-1:123456789012:bucket/sluice-lake",
    "LakeCatalogUri": "https://s3tables.us-east-1.amazonaws.com/iceberg",
    "OpenSearchEndpoint": "https://search-sluice-artists.us-east-1.es.amazonaws.com",
    "OpenSearchDomainArn": "arn:aws:es:us-east-1:123456789012:domain/sluice-artists",
}


def failures(**overrides: str) -> list[str]:
    return load_template(TEMPLATE, overrides=overrides).rule_failures()


def test_the_template_has_rules_for_every_aws_only_value() -> None:
    body = load_template(TEMPLATE).body
    asserted = str(body["Rules"])
    for name in [*AWS_VALUES, "SearchBackend"]:
        assert f"'Ref': '{name}'" in asserted, name


def test_local_with_empty_values_is_accepted() -> None:
    assert failures(Stage="local", SearchBackend="embedded") == []


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_an_aws_stage_with_every_value_is_accepted(stage: str) -> None:
    assert failures(Stage=stage, **AWS_VALUES) == []


def test_prod_without_the_lake_warehouse_is_rejected() -> None:
    values = {**AWS_VALUES, "LakeWarehouse": ""}
    [failure] = failures(Stage="prod", **values)
    assert failure.startswith("LakeOnAws: LakeWarehouse")


@pytest.mark.parametrize("stage", ["dev", "prod"])
@pytest.mark.parametrize("missing", sorted(AWS_VALUES))
def test_an_aws_stage_missing_any_value_is_rejected(stage: str, missing: str) -> None:
    values = dict(AWS_VALUES)
    del values[missing]  # its Default: empty, or the domain ARN placeholder
    found = failures(Stage=stage, **values)
    assert len(found) == 1 and missing in found[0], found


def test_an_aws_stage_may_not_use_the_embedded_index() -> None:
    [failure] = failures(Stage="dev", SearchBackend="embedded", **AWS_VALUES)
    assert "SearchBackend must be opensearch" in failure


def test_the_defaults_alone_are_not_deployable() -> None:
    assert len(failures()) == len(AWS_VALUES)  # Stage defaults to dev


@pytest.mark.parametrize("env", ["default", "prod", "local"])
def test_every_samconfig_environment_meets_the_rules(env: str) -> None:
    _, overrides = samconfig_overrides(TEMPLATE, env)
    assert failures(**overrides) == []
    if env != "local":
        assert overrides["Stage"] != "local"


def test_the_lake_is_local_only_for_stage_local() -> None:
    assert load_template(TEMPLATE, overrides={"Stage": "local"}).conditions["LocalLake"]
    for stage in ("dev", "prod"):
        t = load_template(TEMPLATE, overrides={"Stage": stage, "LakeWarehouse": ""})
        assert not t.conditions["LocalLake"]


# -- the evaluator itself -------------------------------------------------------------------

RULES = """
Parameters:
  Stage: {Type: String, Default: dev}
  Size: {Type: String, Default: small}
  Name: {Type: String, Default: ""}
Rules:
  Always:
    Assertions:
      - Assert: !Contains [[small, large], !Ref Size]
        AssertDescription: Size is small or large.
  NamedUnlessLocal:
    RuleCondition: !Or [!Equals [!Ref Stage, dev], !Equals [!Ref Stage, prod]]
    Assertions:
      - Assert: !And [!Not [!Equals [!Ref Name, ""]], !Not [!Equals [!Ref Name, none]]]
        AssertDescription: Name is required.
Resources: {}
"""


def rules_template(tmp_path: Path, text: str = RULES, **overrides: str) -> Template:
    path = tmp_path / "template.yaml"
    path.write_text(text)
    return load_template(path, overrides=overrides)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"Stage": "local"}, []),
        ({"Stage": "dev"}, ["NamedUnlessLocal: Name is required."]),
        ({"Stage": "prod", "Name": "none"}, ["NamedUnlessLocal: Name is required."]),
        ({"Stage": "prod", "Name": "x"}, []),
        ({"Stage": "local", "Size": "huge"}, ["Always: Size is small or large."]),
    ],
)
def test_rule_functions(tmp_path: Path, overrides: dict[str, str], expected: list[str]) -> None:
    assert rules_template(tmp_path, **overrides).rule_failures() == expected


def test_check_rules_refuses_the_stack_naming_each_failure(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match="NamedUnlessLocal: Name is required"):
        rules_template(tmp_path, Stage="dev").check_rules()


def test_unsupported_rule_functions_are_named(tmp_path: Path) -> None:
    text = RULES.replace("!Contains [[small, large], !Ref Size]", "{Fn::EachMemberIn: [[a], [a]]}")
    with pytest.raises(TemplateError, match=r"Rules.Always.Assertions\[0\]: .*Fn::EachMemberIn"):
        rules_template(tmp_path, text).rule_failures()
