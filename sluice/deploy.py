"""Deploy the SAM template into the gateway: every resource, idempotently.

AWS resources are created through the public APIs (boto3 against the gateway), so what is
deployed is exactly what a client can see. Functions, triggers (Pipes, event source
mappings, rule targets that are state machines) and HTTP routes are handed to the runtime,
which serves them. Re-running picks up edited ASL and handlers.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from sluice import aws_client
from sluice.deploy_triggers import (
    event_source_mapping,
    pipe_spec,
    rule_spec,
    state_machine_rules,
)
from sluice.httpapi import Route
from sluice.lambda_runtime import FunctionSpec
from sluice.template import ACCOUNT_ID, REGION, Resource, Template, TemplateError, load_template
from sluice.triggers.specs import PipeSpec, RuleSpec

FUNCTION_TYPES = ("AWS::Serverless::Function", "AWS::Lambda::Function")
MACHINE_TYPES = ("AWS::Serverless::StateMachine", "AWS::StepFunctions::StateMachine")
# Types that only matter on AWS (permissions, keys, alarms and where they notify, log
# groups, the API object itself): accepted and skipped, nothing to run.
AWS_ONLY = {
    "AWS::IAM::Role",
    "AWS::IAM::Policy",
    "AWS::IAM::ManagedPolicy",
    "AWS::KMS::Key",
    "AWS::KMS::Alias",
    "AWS::SQS::QueuePolicy",
    "AWS::Lambda::Permission",
    "AWS::CloudWatch::Alarm",
    "AWS::Logs::LogGroup",
    "AWS::Serverless::HttpApi",
    "AWS::S3Tables::TableBucket",
    "AWS::S3Tables::Namespace",
    "AWS::OpenSearchService::Domain",
    "AWS::SNS::Topic",
    "AWS::SNS::Subscription",
    "AWS::SNS::TopicPolicy",
}
ROLE_ARN = f"arn:aws:iam::{ACCOUNT_ID}:role/sluice-local"


@dataclass
class Deployment:
    """What the runtime needs to serve the stack, plus a catalogue of deployed resources."""

    functions: list[FunctionSpec] = field(default_factory=list)
    pipes: list[PipeSpec] = field(default_factory=list)
    rules: list[RuleSpec] = field(default_factory=list)
    routes: list[Route] = field(default_factory=list)
    resources: dict[str, dict[str, Any]] = field(default_factory=dict)
    # The rules of the deployment this one replaces, by bus and name (empty for a stack's
    # first): one the template declares the same again is left as it is (_put_rule).
    previous_rules: dict[tuple[str, str], RuleSpec] = field(default_factory=dict, repr=False)

    def catalogue(self) -> dict[str, Any]:
        return {
            "resources": self.resources,
            "routes": [r.route_key for r in self.routes],
            "pipes": [p.name for p in self.pipes],
            "rules": [r.name for r in self.rules],
        }


@functools.cache
def client(endpoint: str, service: str) -> Any:
    """The deploy's SERVICE client at ENDPOINT, shared by every resource and redeploy: building
    one costs tens of milliseconds, and a template has dozens of resources."""
    return aws_client.client(endpoint, service)


def deploy(
    template_path: Path,
    endpoint: str,
    *,
    overrides: dict[str, str] | None = None,
    stack_name: str = "sluice",
    previous: Deployment | None = None,
) -> Deployment:
    """TEMPLATE_PATH's resources created or updated at ENDPOINT; PREVIOUS: the deployment
    this one replaces."""
    ddb = client(endpoint, "dynamodb")

    def lookup(logical_id: str, attr: str) -> str:
        if attr == "StreamArn":
            name = template.resources[logical_id].physical_name
            arn: str = ddb.describe_table(TableName=name)["Table"]["LatestStreamArn"]
            return arn
        raise TemplateError(f"{logical_id}.{attr} is not supported locally")

    template = load_template(
        template_path, stack_name=stack_name, overrides=overrides, lookup=lookup, endpoint=endpoint
    )
    template.check_rules()
    unknown = [
        f"{r.logical_id} ({r.type})"
        for r in template.resources.values()
        if r.type not in AWS_ONLY and r.type not in _KNOWN
    ]
    if unknown:
        raise TemplateError(f"resource types not supported locally: {', '.join(unknown)}")
    out = Deployment()
    if previous is not None:
        out.previous_rules = {(r.bus_name, r.name): r for r in previous.rules}
    for res in _ordered(template):
        _KNOWN[res.type](res, endpoint, out)
    for res in template.of_type("AWS::S3::Bucket"):
        _bucket_notifications(res, endpoint)
    return out


def _ordered(template: Template) -> list[Resource]:
    """Dead-letter queues before the queues that name them; data stores before consumers."""
    rank = {
        "AWS::SQS::Queue": 0,
        "AWS::DynamoDB::Table": 1,
        "AWS::S3::Bucket": 1,
        "AWS::Events::EventBus": 1,
    }
    res = sorted(
        template.resources.values(),
        key=lambda r: (rank.get(r.type, 2), bool(r.prop("RedrivePolicy"))),
    )
    return [r for r in res if r.type in _KNOWN]


def _record(out: Deployment, res: Resource, **attrs: Any) -> None:
    out.resources[res.logical_id] = {"type": res.type, "name": res.physical_name, **attrs}


# -- data stores ---------------------------------------------------------------------


def _queue(res: Resource, endpoint: str, out: Deployment) -> None:
    sqs = client(endpoint, "sqs")
    attrs = {}
    for key in (
        "VisibilityTimeout",
        "MessageRetentionPeriod",
        "DelaySeconds",
        "ReceiveMessageWaitTimeSeconds",
        "MaximumMessageSize",
    ):
        value = res.prop(key)
        if value is not None:
            attrs[key] = str(value)
    redrive = res.prop("RedrivePolicy")
    if redrive:
        attrs["RedrivePolicy"] = json.dumps(redrive)
    url = sqs.create_queue(QueueName=res.physical_name)["QueueUrl"]
    if attrs:
        sqs.set_queue_attributes(QueueUrl=url, Attributes=attrs)
    arn = res.template.get_att(res.logical_id, "Arn", res.logical_id)
    _record(out, res, arn=arn, url=url, dlq=(redrive or {}).get("deadLetterTargetArn"))


def _table(res: Resource, endpoint: str, out: Deployment) -> None:
    ddb = client(endpoint, "dynamodb")
    name = res.physical_name
    try:
        desc = ddb.describe_table(TableName=name)["Table"]
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ResourceNotFoundException":
            raise
        kwargs: dict[str, Any] = {
            "TableName": name,
            "KeySchema": res.prop("KeySchema"),
            "AttributeDefinitions": res.prop("AttributeDefinitions"),
            "BillingMode": res.prop("BillingMode", default="PAY_PER_REQUEST"),
        }
        if kwargs["BillingMode"] == "PROVISIONED":
            kwargs["ProvisionedThroughput"] = res.prop("ProvisionedThroughput")
        for key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes", "StreamSpecification"):
            if res.prop(key):
                kwargs[key] = res.prop(key)
        if "StreamSpecification" in kwargs:
            kwargs["StreamSpecification"] = {"StreamEnabled": True, **kwargs["StreamSpecification"]}
        desc = ddb.create_table(**kwargs)["TableDescription"]
    ttl = res.prop("TimeToLiveSpecification")
    if ttl and ttl.get("Enabled"):
        ddb.update_time_to_live(
            TableName=name,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]},
        )
    _record(out, res, arn=desc["TableArn"], stream_arn=desc.get("LatestStreamArn"))


def _bucket(res: Resource, endpoint: str, out: Deployment) -> None:
    s3 = client(endpoint, "s3")
    try:
        s3.create_bucket(Bucket=res.physical_name)
    except ClientError as exc:
        if exc.response["Error"]["Code"] not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise
    _record(out, res, arn=f"arn:aws:s3:::{res.physical_name}")


def _bucket_notifications(res: Resource, endpoint: str) -> None:
    config = res.prop("NotificationConfiguration") or {}
    queues = config.get("QueueConfigurations") or []
    if not queues:
        return
    client(endpoint, "s3").put_bucket_notification_configuration(
        Bucket=res.physical_name,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "QueueArn": q["Queue"],
                    "Events": [q["Event"]],
                    **({"Filter": _s3_filter(q["Filter"])} if q.get("Filter") else {}),
                }
                for q in queues
            ]
        },
    )


def _s3_filter(cfn_filter: dict[str, Any]) -> dict[str, Any]:
    # CloudFormation spells it S3Key.Rules; the S3 API spells it Key.FilterRules.
    rules = cfn_filter.get("S3Key", {}).get("Rules", [])
    return {"Key": {"FilterRules": [{"Name": r["Name"], "Value": r["Value"]} for r in rules]}}


def _bus(res: Resource, endpoint: str, out: Deployment) -> None:
    events = client(endpoint, "events")
    name = res.physical_name
    try:
        events.describe_event_bus(Name=name)
    except ClientError:
        events.create_event_bus(Name=name)
    _record(out, res, arn=res.template.get_att(res.logical_id, "Arn", res.logical_id))


# -- compute ---------------------------------------------------------------------------


def _function(res: Resource, endpoint: str, out: Deployment) -> None:
    if res.type == "AWS::Serverless::Function":
        runtime = res.prop("Runtime")
        if runtime and not str(runtime).startswith("python"):
            raise TemplateError(f"{res.logical_id}: runtime {runtime} cannot run locally")
    handler = res.prop("Handler")
    if not handler:
        raise TemplateError(f"{res.logical_id}: Handler is required")
    code = res.prop("CodeUri") if res.type == "AWS::Serverless::Function" else None
    code_dir = (res.template.base_dir / (code if isinstance(code, str) else ".")).resolve()
    if not code_dir.is_dir():
        raise TemplateError(f"{res.logical_id}: CodeUri {code_dir} is not a directory")
    env = {k: str(v) for k, v in (res.prop("Environment", "Variables") or {}).items()}
    arn = res.template.get_att(res.logical_id, "Arn", res.logical_id)
    reserved = res.prop("ReservedConcurrentExecutions")
    out.functions.append(
        FunctionSpec(
            name=res.physical_name,
            arn=arn,
            handler=str(handler),
            code_dir=code_dir,
            timeout=float(res.prop("Timeout", default=3)),
            memory=int(res.prop("MemorySize", default=128)),
            environment=env,
            reserved_concurrency=None if reserved is None else int(reserved),
        )
    )
    _record(out, res, arn=arn, handler=handler)
    for event_id, event in (res.prop("Events") or {}).items():
        props = event.get("Properties") or {}
        if event.get("Type") == "HttpApi":
            api = props.get("ApiId") or "default"
            out.routes.append(
                Route(
                    method=str(props.get("Method", "ANY")).upper().replace("*", "ANY"),
                    path=props.get("Path", "/"),
                    function=res.physical_name,
                    api_id=str(api),
                )
            )
        elif event.get("Type") in ("SQS", "DynamoDB"):
            out.pipes.append(event_source_mapping(f"{res.physical_name}-{event_id}", arn, props))
        else:
            raise TemplateError(
                f"{res.logical_id}.Events.{event_id}: event type {event.get('Type')} is not "
                "supported locally"
            )


def _state_machine(res: Resource, endpoint: str, out: Deployment) -> None:
    sfn = client(endpoint, "stepfunctions")
    definition = _definition(res)
    name = res.physical_name
    kind = str(res.prop("Type", default="STANDARD")).upper()
    arn = f"arn:aws:states:{REGION}:{ACCOUNT_ID}:stateMachine:{name}"
    try:
        sfn.describe_state_machine(stateMachineArn=arn)
        sfn.update_state_machine(stateMachineArn=arn, definition=definition)
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "StateMachineDoesNotExist":
            raise
        sfn.create_state_machine(name=name, definition=definition, roleArn=ROLE_ARN, type=kind)
    _record(out, res, arn=arn, kind=kind, definition_uri=res.prop("DefinitionUri"))
    rules = state_machine_rules(res, name, arn)  # SAM's events: a rule each, as on AWS
    for rule in rules:
        _put_rule(rule, endpoint, out)
    out.rules += rules


def _definition(res: Resource) -> str:
    subs = {k: str(v) for k, v in (res.prop("DefinitionSubstitutions") or {}).items()}
    inline = res.prop("Definition")
    if inline is not None:
        text = json.dumps(inline)
    else:
        uri = res.prop("DefinitionUri")
        if not isinstance(uri, str):
            raise TemplateError(f"{res.logical_id}: DefinitionUri must be a local path")
        path = res.template.base_dir / uri
        try:
            text = path.read_text()
        except OSError as exc:
            raise TemplateError(f"{res.logical_id}: cannot read {path}: {exc}") from exc

    def sub(m: re.Match[str]) -> str:
        key = m.group(1)
        if key not in subs:
            raise TemplateError(
                f"{res.logical_id}: no DefinitionSubstitutions entry for ${{{key}}}"
            )
        return subs[key]

    text = re.sub(r"\$\{([A-Za-z0-9_]+)\}", sub, text)
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        raise TemplateError(f"{res.logical_id}: definition is not valid JSON: {exc}") from exc
    return text


# -- triggers ---------------------------------------------------------------------------


def _rule(res: Resource, endpoint: str, out: Deployment) -> None:
    rule = rule_spec(res)
    _put_rule(rule, endpoint, out)
    out.rules.append(rule)
    _record(out, res, arn=res.template.get_att(res.logical_id, "Arn", res.logical_id))


def _put_rule(rule: RuleSpec, endpoint: str, out: Deployment) -> None:
    """The rule in EventBridge's API (moto's), where EnableRule and DisableRule reach it.

    As a CloudFormation stack update changes only the resources whose template changed, a
    redeploy leaves a rule the template declares as the deployment before did, so a rule
    disabled or enabled through the API keeps that State; a changed rule is put whole,
    with the template's State."""
    if out.previous_rules.get((rule.bus_name, rule.name)) == rule:
        return
    schedule = {"ScheduleExpression": rule.schedule} if rule.schedule else {}
    pattern = {"EventPattern": json.dumps(rule.pattern)} if rule.pattern or not schedule else {}
    state = "ENABLED" if rule.enabled else "DISABLED"
    client(endpoint, "events").put_rule(
        Name=rule.name, EventBusName=rule.bus_name, State=state, **schedule, **pattern
    )


def _pipe(res: Resource, endpoint: str, out: Deployment) -> None:
    """The pipe's poller, and the pipe itself in the Pipes API (moto's), where StartPipe,
    StopPipe and UpdatePipe's DesiredState start and stop the poller (sluice/trigger_service.py).
    A redeploy keeps a pipe's running or stopped state unless the template sets one."""
    pipe = pipe_spec(res)
    out.pipes.append(pipe)
    pipes = client(endpoint, "pipes")
    role = str(res.prop("RoleArn") or ROLE_ARN)
    desired = res.prop("DesiredState")
    state = {"DesiredState": str(desired)} if desired is not None else {}
    try:
        pipes.describe_pipe(Name=pipe.name)
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "NotFoundException":
            raise
        pipes.create_pipe(
            Name=pipe.name, Source=pipe.source_arn, Target=pipe.target_arn, RoleArn=role, **state
        )
    else:
        pipes.update_pipe(Name=pipe.name, Target=pipe.target_arn, RoleArn=role, **state)
    _record(
        out,
        res,
        arn=res.template.get_att(res.logical_id, "Arn", res.logical_id),
        source=pipe.source_arn,
        target=pipe.target_arn,
    )


_KNOWN = {
    "AWS::SQS::Queue": _queue,
    "AWS::DynamoDB::Table": _table,
    "AWS::S3::Bucket": _bucket,
    "AWS::Events::EventBus": _bus,
    "AWS::Serverless::Function": _function,
    "AWS::Lambda::Function": _function,
    "AWS::Serverless::StateMachine": _state_machine,
    "AWS::StepFunctions::StateMachine": _state_machine,
    "AWS::Events::Rule": _rule,
    "AWS::Pipes::Pipe": _pipe,
}
