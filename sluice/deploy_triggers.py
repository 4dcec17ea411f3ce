"""The template's triggers as the runtime's trigger specs: SAM SQS/stream function events
(Lambda event source mappings), EventBridge rules and Pipes, each with AWS's defaults."""

from __future__ import annotations

import json
from typing import Any

from sluice.template import Resource, TemplateError
from sluice.triggers import schedules
from sluice.triggers.specs import PipeSpec, RuleSpec, RuleTargetSpec


def filters(criteria: dict[str, Any] | None) -> list[dict[str, Any]]:
    """FilterCriteria patterns; CloudFormation gives them as JSON strings."""
    return [
        json.loads(f["Pattern"]) if isinstance(f.get("Pattern"), str) else f.get("Pattern", {})
        for f in (criteria or {}).get("Filters", [])
    ]


def event_source_mapping(name: str, function_arn: str, props: dict[str, Any]) -> PipeSpec:
    """A SAM SQS/DynamoDB function event: Lambda's event source mapping, with its defaults."""
    source = str(props.get("Queue") or props.get("Stream"))
    is_sqs = "Queue" in props
    destination = (props.get("DestinationConfig") or {}).get("OnFailure") or {}
    return PipeSpec(
        name=name,
        source_arn=source,
        target_arn=function_arn,
        batch_size=int(props.get("BatchSize", 10 if is_sqs else 100)),
        batching_window_s=float(props.get("MaximumBatchingWindowInSeconds", 0)),
        filters=filters(props.get("FilterCriteria")),
        starting_position=str(props.get("StartingPosition", "TRIM_HORIZON")),
        max_retry_attempts=int(props.get("MaximumRetryAttempts", -1)),
        max_record_age_s=int(props.get("MaximumRecordAgeInSeconds", -1)),
        bisect_on_error=bool(props.get("BisectBatchOnFunctionError", False)),
        dlq_arn=destination.get("Destination"),
        report_item_failures="ReportBatchItemFailures"
        in (props.get("FunctionResponseTypes") or []),
        parallelization_factor=int(props.get("ParallelizationFactor", 1)),
    )


def _target(target_id: str, arn: str, props: dict[str, Any]) -> RuleTargetSpec:
    """A rule target with EventBridge's retry defaults (185 attempts, 24 hours)."""
    retry = props.get("RetryPolicy") or {}
    return RuleTargetSpec(
        id=target_id,
        arn=arn,
        input_path=props.get("InputPath"),
        input=props.get("Input"),
        max_retry_attempts=int(retry.get("MaximumRetryAttempts", 185)),
        max_event_age_s=int(retry.get("MaximumEventAgeInSeconds", 86400)),
        dlq_arn=(props.get("DeadLetterConfig") or {}).get("Arn"),
    )


def _schedule(where: str, expression: Any) -> str | None:
    """A rule's ScheduleExpression, refused at deploy as PutRule refuses it on AWS."""
    if expression is None:
        return None
    try:
        schedules.parse(str(expression))
    except schedules.ScheduleError as exc:
        raise TemplateError(f"{where}: ScheduleExpression is not valid: {exc}") from None
    return str(expression)


# A rule's State -> whether it is on: AWS matches events and fires schedules for those only.
_STATES = {
    "ENABLED": True,
    "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS": True,
    "DISABLED": False,
}


def _enabled(where: str, state: Any, enabled: Any = None) -> bool:
    """Whether a rule with STATE (or a SAM Schedule event's legacy ENABLED flag) is on."""
    if state is None:
        return str(enabled).lower() != "false"
    if str(state) not in _STATES:
        raise TemplateError(f"{where}: State must be one of {', '.join(_STATES)}, not {state!r}")
    return _STATES[str(state)]


def rule_spec(res: Resource) -> RuleSpec:
    """An EventBridge rule and its targets."""
    bus = str(res.prop("EventBusName", default="default")).rsplit("/", 1)[-1]
    return RuleSpec(
        name=res.physical_name,
        bus_name=bus,
        pattern=res.prop("EventPattern") or {},
        targets=[_target(t["Id"], t["Arn"], t) for t in res.prop("Targets") or []],
        schedule=_schedule(res.logical_id, res.prop("ScheduleExpression")),
        enabled=_enabled(res.logical_id, res.prop("State")),
    )


def state_machine_rules(res: Resource, name: str, arn: str) -> list[RuleSpec]:
    """A SAM state machine's EventBridgeRule and Schedule events, each a rule targeting it
    (ARN); a Schedule event runs on the default bus, as its rule does on AWS."""
    rules = []
    for event_id, event in (res.prop("Events") or {}).items():
        where = f"{res.logical_id}.Events.{event_id}"
        kind = event.get("Type")
        if kind not in ("EventBridgeRule", "Schedule"):
            raise TemplateError(f"{where}: only EventBridgeRule and Schedule events are supported")
        props = event.get("Properties") or {}
        target_id = (props.get("Target") or {}).get("Id", f"{event_id}Target")
        rules.append(
            RuleSpec(
                name=f"{name}-{event_id}",
                bus_name=str(props.get("EventBusName", "default")),
                pattern=props.get("Pattern") or {},
                targets=[_target(target_id, arn, props)],
                schedule=_schedule(where, props.get("Schedule")) if kind == "Schedule" else None,
                enabled=_enabled(where, props.get("State"), props.get("Enabled")),
            )
        )
    return rules


def pipe_spec(res: Resource) -> PipeSpec:
    """An EventBridge Pipe from SQS or a DynamoDB stream to a state machine."""
    source = str(res.prop("Source"))
    target = str(res.prop("Target"))
    params = res.prop("SourceParameters") or {}
    if ":sqs:" in source:
        src = params.get("SqsQueueParameters") or {}
        default_batch = 10
    elif ":dynamodb:" in source:
        src = params.get("DynamoDBStreamParameters") or {}
        default_batch = 100
    else:
        raise TemplateError(f"{res.logical_id}: pipe source {source} is not supported locally")
    if ":states:" not in target:
        raise TemplateError(f"{res.logical_id}: pipe target {target} is not supported locally")
    invocation = (
        (res.prop("TargetParameters") or {}).get("StepFunctionStateMachineParameters") or {}
    ).get("InvocationType", "REQUEST_RESPONSE")
    return PipeSpec(
        name=res.physical_name,
        source_arn=source,
        target_arn=target,
        batch_size=int(src.get("BatchSize", default_batch)),
        batching_window_s=float(src.get("MaximumBatchingWindowInSeconds", 0)),
        filters=filters(params.get("FilterCriteria")),
        starting_position=str(src.get("StartingPosition", "LATEST")),
        max_retry_attempts=int(src.get("MaximumRetryAttempts", -1)),
        max_record_age_s=int(src.get("MaximumRecordAgeInSeconds", -1)),
        bisect_on_error=src.get("OnPartialBatchItemFailure") == "AUTOMATIC_BISECT",
        dlq_arn=(src.get("DeadLetterConfig") or {}).get("Arn"),
        invocation_type=str(invocation),
        parallelization_factor=int(src.get("ParallelizationFactor", 1)),
    )
