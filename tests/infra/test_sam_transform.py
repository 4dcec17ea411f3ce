"""The SAM transform accepts infra/template.yaml (what `sam validate` and CloudFormation run).

The translator lives in the pinned SAM CLI environment (`make .venv-sam/.installed`, a
prerequisite of `make lint` and so of `make test`), not in the project's .venv.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
TEMPLATE = ROOT / "infra" / "template.yaml"
CHECK = ROOT / "infra" / "tools" / "check_sam_transform.py"
SAM_PYTHON = ROOT / ".venv-sam" / "bin" / "python"

pytestmark = pytest.mark.skipif(
    not SAM_PYTHON.exists(), reason="no SAM CLI environment: make .venv-sam/.installed"
)


def run_check(template: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SAM_PYTHON), str(CHECK), str(template), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def transformed() -> dict[str, Any]:
    done = run_check(TEMPLATE, "--print")
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_the_transform_accepts_the_template(transformed: dict[str, Any]) -> None:
    types = {r["Type"] for r in transformed["Resources"].values()}
    assert not [t for t in types if t.startswith("AWS::Serverless::")]
    assert "AWS::Lambda::Function" in types and "AWS::StepFunctions::StateMachine" in types


def route_auth(transformed: dict[str, Any]) -> dict[str, str]:
    """'METHOD /path' -> its authorizer, from the OpenAPI body SAM generates for the HttpApi."""
    [api] = [r for r in transformed["Resources"].values() if r["Type"] == "AWS::ApiGatewayV2::Api"]
    return {
        f"{method.upper()} {path}": next(iter((op.get("security") or [{"NONE": []}])[0]))
        for path, ops in api["Properties"]["Body"]["paths"].items()
        for method, op in ops.items()
    }


def test_admin_routes_are_iam_authorized(transformed: dict[str, Any]) -> None:
    routes = route_auth(transformed)
    admin = {k: v for k, v in routes.items() if "/admin/" in k}
    assert len(admin) == 5 and set(admin.values()) == {"AWS_IAM"}, routes
    assert routes["GET /analytics/{callId}"] == "AWS_IAM"
    assert routes["GET /artists/search"] == "NONE"  # public by decision (see the template)
    # An API's OpenAPI document is authorized like the API it describes.
    assert routes["GET /admin/bedrock/batch/openapi.json"] == "AWS_IAM"
    assert routes["GET /analytics/openapi.json"] == "AWS_IAM"
    assert routes["GET /artists/openapi.json"] == "NONE"


def test_state_machine_roles_deliver_logs_and_write_traces(transformed: dict[str, Any]) -> None:
    resources = transformed["Resources"]
    machines = [k for k, r in resources.items() if r["Type"] == "AWS::StepFunctions::StateMachine"]
    assert len(machines) == 7
    for machine in machines:
        arns = resources[f"{machine}Role"]["Properties"]["ManagedPolicyArns"]
        assert {"Ref": "StateMachineLogDeliveryPolicy"} in arns, machine
        assert "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess" in arns, machine
        assert not any("CloudWatchLogsFullAccess" in str(a) for a in arns), machine


def test_the_check_fails_with_the_translators_reason(tmp_path: Path) -> None:
    template = tmp_path / "template.yaml"
    template.write_text(
        """
Transform: AWS::Serverless-2016-10-31
Resources:
  Api:
    Type: AWS::Serverless::HttpApi
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.12
      Handler: app.handler
      CodeUri: .
      Events:
        Post:
          Type: HttpApi
          Properties: {ApiId: !Ref Api, Path: /admin, Method: POST, Auth: {Authorizer: AWS_IAM}}
"""
    )
    done = run_check(template)
    assert done.returncode == 1
    assert "the SAM transform rejects the template" in done.stderr
    assert "does not define any Authorizers" in done.stderr
