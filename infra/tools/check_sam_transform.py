"""Run the SAM transform on a template, offline, the way `sam validate` does.

    .venv-sam/bin/python infra/tools/check_sam_transform.py infra/template.yaml [--print]

cfn-lint no longer runs the translator, so a template can lint clean and still be refused
by CloudFormation's AWS::Serverless transform (e.g. an IAM-authorized HttpApi route on an
API that enables no IAM authorizer). This runs `samtranslator` from the pinned SAM CLI
environment (infra/tools/sam.lock, the translator `sam deploy` uses) and exits non-zero
with the translator's own messages when the transform fails.

Offline like `sam validate`: local CodeUri/DefinitionUri paths are replaced by a dummy S3
URI (the translator accepts only S3 locations), the pseudo parameters get fixed values and
managed policy names are mapped to their `arn:aws:iam::aws:policy/<name>` ARNs instead of
listing IAM's policies.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")  # the translator needs a region

from samtranslator.model.exceptions import InvalidDocumentException
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

DUMMY_S3_URI = "s3://bucket/value"
PSEUDO_PARAMETERS = {
    "AWS::AccountId": "123456789012",
    "AWS::Partition": "aws",
    "AWS::Region": "us-east-1",
    "AWS::StackName": "sluice",
    "AWS::StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/sluice/0",
    "AWS::URLSuffix": "amazonaws.com",
}
# Where each serverless type keeps a local path the packager (`sam build`/`package`) uploads.
LOCAL_PATHS = {
    "AWS::Serverless::Function": "CodeUri",
    "AWS::Serverless::LayerVersion": "ContentUri",
    "AWS::Serverless::Api": "DefinitionUri",
    "AWS::Serverless::HttpApi": "DefinitionUri",
    "AWS::Serverless::StateMachine": "DefinitionUri",
}


class AwsManagedPolicies:
    """What `ManagedPolicyLoader` provides, without calling IAM: name -> AWS managed ARN."""

    def load(self) -> dict[str, str]:
        return _ArnByName()


class _ArnByName(dict[str, str]):
    def get(self, name: str, default: Any = None) -> str:  # type: ignore[override]
        return f"arn:aws:iam::aws:policy/{name}"

    def __getitem__(self, name: str) -> str:
        return self.get(name)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str)


def _packaged(template: dict[str, Any]) -> dict[str, Any]:
    """Local code and definition paths replaced by S3 URIs, as `sam package` would."""

    def upload(props: dict[str, Any], key: str) -> None:
        value = props.get(key, ".")
        if isinstance(value, str) and not value.startswith("s3://"):
            props[key] = DUMMY_S3_URI

    function_globals = (template.get("Globals") or {}).get("Function")
    if isinstance(function_globals, dict) and "CodeUri" in function_globals:
        upload(function_globals, "CodeUri")
    for resource in (template.get("Resources") or {}).values():
        key = LOCAL_PATHS.get(resource.get("Type"))
        props = resource.setdefault("Properties", {})
        if key is None or props.get("PackageType") == "Image":
            continue
        if key == "CodeUri" and "InlineCode" in props:
            continue
        if key == "DefinitionUri" and "Definition" in props:
            continue
        if key in props or key == "CodeUri":
            upload(props, key)
    return template


def translate(path: Path, parameters: dict[str, str] | None = None) -> dict[str, Any]:
    """The CloudFormation template the transform produces; raises InvalidDocumentException."""
    template = _packaged(yaml_parse(path.read_text()))
    values = {**PSEUDO_PARAMETERS, **(parameters or {})}
    result: dict[str, Any] = transform(template, values, AwsManagedPolicies())  # type: ignore[arg-type]
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("template", type=Path)
    parser.add_argument("--print", action="store_true", help="print the transformed template")
    parser.add_argument(
        "--parameter", action="append", default=[], metavar="KEY=VALUE", help="a parameter value"
    )
    args = parser.parse_args(argv)
    parameters = dict(p.split("=", 1) for p in args.parameter)
    try:
        result = translate(args.template, parameters)
    except InvalidDocumentException as exc:
        print(f"{args.template}: the SAM transform rejects the template:", file=sys.stderr)
        for cause in exc.causes:
            print(f"  - {cause.message}", file=sys.stderr)
        return 1
    if args.print:
        json.dump(result, sys.stdout, indent=2, default=str)
        print()
    else:
        kinds = len(result.get("Resources", {}))
        print(f"{args.template}: the SAM transform accepts it ({kinds} CloudFormation resources)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
