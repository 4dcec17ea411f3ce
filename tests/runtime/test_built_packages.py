"""`sluice up --built`: functions run from sam build's packages, isolated as on Lambda.

A package holds what `sam build` put in it; the python3.12 runtime adds the standard
library and boto3. A handler importing anything else must fail at import with
`Runtime.ImportModuleError`, even though the laptop's own environment has the module.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from sluice.testing import StackProcess

TEMPLATE = """\
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Resources:
  CompleteFunction:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: complete
      Runtime: python3.12
      Handler: app.handler
      CodeUri: CompleteFunction
  IncompleteFunction:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: incomplete
      Runtime: python3.12
      Handler: app.handler
      CodeUri: IncompleteFunction
"""

COMPLETE = """\
import sys

import boto3  # provided by the Lambda runtime


def handler(event, context):
    return {"path": sys.path, "boto3": boto3.__version__}
"""

INCOMPLETE = """\
import pydantic  # installed on the laptop, missing from this package


def handler(event, context):
    return {"pydantic": pydantic.VERSION}
"""


def sam_build_output(root: Path) -> Path:
    """What `sam build` leaves: .aws-sam/build/template.yaml and a directory per function."""
    build = root / ".aws-sam" / "build"
    for name, code in (("CompleteFunction", COMPLETE), ("IncompleteFunction", INCOMPLETE)):
        (build / name).mkdir(parents=True)
        (build / name / "app.py").write_text(code)
    (build / "template.yaml").write_text(TEMPLATE)
    (root / "samconfig.toml").write_text("version = 0.1\n")
    return build / "template.yaml"


def invoke(stack: StackProcess, name: str) -> tuple[str | None, dict[str, object]]:
    reply = stack.client("lambda").invoke(FunctionName=name, Payload=b"{}")
    return reply.get("FunctionError"), json.loads(reply["Payload"].read())


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return sam_build_output(tmp_path_factory.mktemp("project"))


@pytest.fixture(scope="module")
def built(template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackProcess]:
    stack = StackProcess(template, tmp_path_factory.mktemp("built-data"), built=True)
    yield stack
    stack.stop()


def test_a_package_sees_itself_and_the_runtime_libraries_only(
    built: StackProcess, template: Path
) -> None:
    error, payload = invoke(built, "complete")
    assert error is None, payload
    path = [str(p) for p in payload["path"]]  # type: ignore[attr-defined]
    assert path[0] == str(template.parent / "CompleteFunction")
    assert not [p for p in path if "site-packages" in p], path
    assert payload["boto3"]


def test_a_missing_dependency_fails_at_import_as_on_lambda(built: StackProcess) -> None:
    error, payload = invoke(built, "incomplete")
    assert error == "Unhandled"
    assert payload["errorType"] == "Runtime.ImportModuleError"
    assert "No module named 'pydantic'" in str(payload["errorMessage"])


def test_the_same_package_imports_from_the_laptop_without_built(
    template: Path, tmp_path: Path
) -> None:
    """The contrast that makes --built a proof: from source, the laptop's pydantic is found."""
    stack = StackProcess(template, tmp_path)
    try:
        error, payload = invoke(stack, "incomplete")
    finally:
        stack.stop()
    assert error is None and payload["pydantic"]


def test_built_without_a_build_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "samconfig.toml").write_text("version = 0.1\n")
    missing = tmp_path / ".aws-sam" / "build" / "template.yaml"
    done = subprocess.run(
        [sys.executable, "-m", "sluice", "up", "--built", "--template", str(missing)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert done.returncode == 1  # the stack cannot start (usage errors are 2)
    assert "run `make package` first" in done.stderr
