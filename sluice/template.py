"""Load the SAM template and resolve it the way CloudFormation would for one stack.

Only what the flows use is supported: Parameters, Rules, Globals (Function), Conditions
with Fn::Equals/Not/And/Or, and the intrinsics Ref, GetAtt, Sub, Join, Select, Split, If.
Anything else raises `TemplateError` naming the resource and property, so a typo never
turns into a silently half-deployed stack.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from cfn_tools.yaml_loader import TAG_MAP, construct_mapping, multi_constructor

ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
NO_VALUE = object()

# Attributes only the deployed backend knows (e.g. a table's stream ARN carries a timestamp).
DynamicLookup = Callable[[str, str], str]


class _CfnLoader(yaml.CSafeLoader):
    """cfn_flip's reading of a template (``!Ref x`` as ``{"Ref": "x"}``, ``!GetAtt a.b`` as
    ``{"Fn::GetAtt": ["a", "b"]}``) on libyaml's parser: 0.02 CPU-s for the project's
    template instead of 0.15. Every stack start and every function's build reads it."""


_CfnLoader.add_constructor(TAG_MAP, construct_mapping)
_CfnLoader.add_multi_constructor("!", multi_constructor)


def load_yaml(text: str) -> Any:
    """A CloudFormation/SAM template's YAML as cfn_flip's `load_yaml` gives it."""
    return yaml.load(text, Loader=_CfnLoader)


class TemplateError(Exception):
    """The template cannot be resolved; the message names the resource and what is wrong."""


@dataclass
class Resource:
    logical_id: str
    type: str
    properties: dict[str, Any]
    template: Template

    @property
    def physical_name(self) -> str:
        """The name a resource gets: its explicit name property, else its logical id."""
        key = _NAME_PROPERTY.get(self.type)
        if key and key in self.properties:
            return str(self.template.resolve(self.properties[key], self.logical_id))
        return self.logical_id

    def prop(self, *path: str, default: Any = None) -> Any:
        """A resolved property (nested keys allowed), or `default` when absent."""
        node: Any = self.properties
        for key in path:
            if not isinstance(node, dict) or key not in node:
                return default
            node = node[key]
        value = self.template.resolve(node, self.logical_id)
        return default if value is NO_VALUE else value


_NAME_PROPERTY = {
    "AWS::Serverless::Function": "FunctionName",
    "AWS::Lambda::Function": "FunctionName",
    "AWS::Serverless::StateMachine": "Name",
    "AWS::StepFunctions::StateMachine": "StateMachineName",
    "AWS::DynamoDB::Table": "TableName",
    "AWS::SQS::Queue": "QueueName",
    "AWS::S3::Bucket": "BucketName",
    "AWS::Events::EventBus": "Name",
    "AWS::Events::Rule": "Name",
    "AWS::Pipes::Pipe": "Name",
    "AWS::IAM::Role": "RoleName",
}


@dataclass
class Template:
    path: Path
    body: dict[str, Any]
    stack_name: str = "sluice"
    overrides: dict[str, str] = field(default_factory=dict)
    lookup: DynamicLookup | None = None
    endpoint: str = "http://127.0.0.1:4566"

    def __post_init__(self) -> None:
        self.parameters = self._parameters()
        self.conditions = {
            name: bool(self.resolve(expr, f"Conditions.{name}"))
            for name, expr in (self.body.get("Conditions") or {}).items()
        }
        self.resources = {
            lid: Resource(lid, spec["Type"], self._with_globals(spec), self)
            for lid, spec in (self.body.get("Resources") or {}).items()
            if self._condition_holds(spec)
        }

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    def rule_failures(self) -> list[str]:
        """Each failed assertion of the template's Rules, as CloudFormation checks them
        before creating anything: "<rule>: <AssertDescription>"; empty when all hold."""
        failures = []
        for name, rule in (self.body.get("Rules") or {}).items():
            where = f"Rules.{name}"
            if "RuleCondition" in rule and not self._rule_value(
                rule["RuleCondition"], f"{where}.RuleCondition"
            ):
                continue
            for i, assertion in enumerate(rule.get("Assertions") or []):
                if not self._rule_value(assertion.get("Assert"), f"{where}.Assertions[{i}]"):
                    failures.append(
                        f"{name}: {assertion.get('AssertDescription') or 'assertion failed'}"
                    )
        return failures

    def check_rules(self) -> None:
        """Refuse the stack, as CloudFormation would, when a rule's assertion fails."""
        failures = self.rule_failures()
        if failures:
            raise TemplateError("template rules not met:\n  " + "\n  ".join(failures))

    def _rule_value(self, node: Any, where: str) -> Any:
        """The rule-specific functions the template's Rules use, over parameter values."""
        if isinstance(node, list):
            return [self._rule_value(v, where) for v in node]
        if not isinstance(node, dict):
            return node
        if len(node) != 1:
            raise TemplateError(f"{where}: expected one rule function, got {sorted(node)}")
        ((key, arg),) = node.items()
        if key == "Ref":
            if arg not in self.parameters:
                raise TemplateError(f"{where}: rules may only Ref parameters, not {arg!r}")
            return self.parameters[arg]
        args = self._rule_value(arg, where)
        if key == "Fn::Equals":
            return str(args[0]) == str(args[1])
        if key == "Fn::Not":
            return not args[0]
        if key == "Fn::And":
            return all(args)
        if key == "Fn::Or":
            return any(args)
        if key == "Fn::Contains":
            return str(args[1]) in [str(v) for v in args[0]]
        raise TemplateError(f"{where}: rule function {key} is not supported locally")

    def of_type(self, *types: str) -> list[Resource]:
        return [r for r in self.resources.values() if r.type in types]

    def _parameters(self) -> dict[str, str]:
        values: dict[str, str] = {}
        declared = self.body.get("Parameters") or {}
        unknown = set(self.overrides) - set(declared)
        if unknown:
            raise TemplateError(f"unknown parameter override(s): {', '.join(sorted(unknown))}")
        for name, spec in declared.items():
            if name in self.overrides:
                value = str(self.overrides[name])
            elif "Default" in spec:
                value = str(spec["Default"])
            else:
                raise TemplateError(f"parameter {name} has no Default and no override")
            allowed = spec.get("AllowedValues")
            if allowed and value not in [str(a) for a in allowed]:
                raise TemplateError(f"parameter {name}={value!r} is not one of {allowed}")
            values[name] = value
        return values

    def _condition_holds(self, spec: dict[str, Any]) -> bool:
        name = spec.get("Condition")
        return True if name is None else self.conditions[name]

    def _with_globals(self, spec: dict[str, Any]) -> dict[str, Any]:
        props = copy.deepcopy(spec.get("Properties") or {})
        if spec["Type"] != "AWS::Serverless::Function":
            return props
        defaults = copy.deepcopy((self.body.get("Globals") or {}).get("Function") or {})
        env = {
            **(defaults.pop("Environment", {}) or {}).get("Variables", {}),
            **(props.get("Environment", {}) or {}).get("Variables", {}),
        }
        merged = {**defaults, **props}
        if env:
            merged["Environment"] = {"Variables": env}
        return merged

    # -- intrinsic functions ---------------------------------------------------------

    def resolve(self, node: Any, where: str) -> Any:
        if isinstance(node, list):
            items = [self.resolve(v, where) for v in node]
            return [v for v in items if v is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, arg),) = node.items()
            fn = _INTRINSICS.get(key)
            if fn is not None:
                return fn(self, arg, where)
            if key.startswith("Fn::"):
                raise TemplateError(f"{where}: intrinsic {key} is not supported locally")
        out = {k: self.resolve(v, f"{where}.{k}") for k, v in node.items()}
        return {k: v for k, v in out.items() if v is not NO_VALUE}

    def ref(self, name: str, where: str) -> Any:
        pseudo = {
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT_ID,
            "AWS::StackName": self.stack_name,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NoValue": NO_VALUE,
        }
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        res = self.resources.get(name)
        if res is None:
            raise TemplateError(f"{where}: Ref to unknown parameter or resource {name!r}")
        kind = res.type
        if kind in ("AWS::Serverless::StateMachine", "AWS::StepFunctions::StateMachine"):
            return self.get_att(name, "Arn", where)
        if kind == "AWS::SQS::Queue":
            return f"{self.endpoint}/{ACCOUNT_ID}/{res.physical_name}"
        return res.physical_name

    def get_att(self, name: str, attr: str, where: str) -> Any:
        res = self.resources.get(name)
        if res is None:
            raise TemplateError(f"{where}: GetAtt on unknown resource {name!r}")
        pname = res.physical_name
        path = res.prop("Path", default="/")  # an IAM role's
        arns = {
            "AWS::Serverless::Function": f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{pname}",
            "AWS::Lambda::Function": f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{pname}",
            "AWS::Serverless::StateMachine": (
                f"arn:aws:states:{REGION}:{ACCOUNT_ID}:stateMachine:{pname}"
            ),
            "AWS::StepFunctions::StateMachine": (
                f"arn:aws:states:{REGION}:{ACCOUNT_ID}:stateMachine:{pname}"
            ),
            "AWS::DynamoDB::Table": f"arn:aws:dynamodb:{REGION}:{ACCOUNT_ID}:table/{pname}",
            "AWS::SQS::Queue": f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{pname}",
            "AWS::S3::Bucket": f"arn:aws:s3:::{pname}",
            "AWS::Events::EventBus": f"arn:aws:events:{REGION}:{ACCOUNT_ID}:event-bus/{pname}",
            "AWS::Events::Rule": f"arn:aws:events:{REGION}:{ACCOUNT_ID}:rule/{pname}",
            "AWS::Pipes::Pipe": f"arn:aws:pipes:{REGION}:{ACCOUNT_ID}:pipe/{pname}",
            # IAM is global (no region); the role is not created locally, only named.
            "AWS::IAM::Role": f"arn:aws:iam::{ACCOUNT_ID}:role{path}{pname}",
        }
        if attr == "Arn" and res.type in arns:
            return arns[res.type]
        if attr in ("Name", "QueueName", "TableName"):
            return pname
        if attr == "QueueUrl" and res.type == "AWS::SQS::Queue":
            return self.ref(name, where)
        if self.lookup is not None:
            return self.lookup(name, attr)
        raise TemplateError(f"{where}: {name}.{attr} is not known before deploy")


def _sub(t: Template, arg: Any, where: str) -> str:
    text, extra = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
    values = {k: t.resolve(v, where) for k, v in extra.items()}

    def repl(m: re.Match[str]) -> str:
        name = m.group(1)
        if name.startswith("!"):
            return "${" + name[1:] + "}"
        if name in values:
            return str(values[name])
        if "." in name and name.split(".", 1)[0] in t.resources:
            lid, attr = name.split(".", 1)
            return str(t.get_att(lid, attr, where))
        return str(t.ref(name, where))

    return re.sub(r"\$\{([^}]+)\}", repl, text)


def _get_att(t: Template, arg: Any, where: str) -> Any:
    lid, attr = arg.split(".", 1) if isinstance(arg, str) else arg
    return t.get_att(lid, attr, where)


def _if(t: Template, arg: Any, where: str) -> Any:
    cond, yes, no = arg
    return t.resolve(yes if t.conditions[cond] else no, where)


_INTRINSICS: dict[str, Callable[[Template, Any, str], Any]] = {
    "Ref": lambda t, a, w: t.ref(a, w),
    "Fn::GetAtt": _get_att,
    "Fn::Sub": _sub,
    "Fn::Join": lambda t, a, w: str(a[0]).join(str(v) for v in t.resolve(a[1], w)),
    "Fn::Select": lambda t, a, w: t.resolve(a[1], w)[int(t.resolve(a[0], w))],
    "Fn::Split": lambda t, a, w: str(t.resolve(a[1], w)).split(a[0]),
    "Fn::If": _if,
    "Fn::Equals": lambda t, a, w: str(t.resolve(a[0], w)) == str(t.resolve(a[1], w)),
    "Fn::Not": lambda t, a, w: not t.resolve(a[0], w),
    "Fn::And": lambda t, a, w: all(t.resolve(v, w) for v in a),
    "Fn::Or": lambda t, a, w: any(t.resolve(v, w) for v in a),
    "Condition": lambda t, a, w: t.conditions[a],
}


def load_template(
    path: Path,
    *,
    stack_name: str = "sluice",
    overrides: dict[str, str] | None = None,
    lookup: DynamicLookup | None = None,
    endpoint: str = "http://127.0.0.1:4566",
) -> Template:
    """Read and pre-resolve a SAM template; raises TemplateError on anything unusable."""
    try:
        body = load_yaml(path.read_text())
    except FileNotFoundError as exc:
        raise TemplateError(f"template not found: {path}") from exc
    except Exception as exc:
        raise TemplateError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(body, dict) or "Resources" not in body:
        raise TemplateError(f"{path}: no Resources section")
    return Template(
        path=path,
        body=_plain(body),
        stack_name=stack_name,
        overrides=dict(overrides or {}),
        lookup=lookup,
        endpoint=endpoint,
    )


def _plain(node: Any) -> Any:
    """cfn_flip yields OrderedDicts; plain dicts keep the rest of the code simple."""
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node
