"""What the console shows, read through the public AWS APIs at the gateway.

Step Functions data comes only from boto3 calls (so the console reads exactly what a client
sees); triggers come from the deployed catalogue and the stack's trigger specs; DLQs from
the stack's ``DeadLetterQueues``.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from pydantic import TypeAdapter, ValidationError

from sluice import devkit
from sluice.aws_client import client as boto_client
from sluice.history import ExecutionStory, summarize

STATUSES = ("RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")
MACHINE_TYPES = ("AWS::Serverless::StateMachine", "AWS::StepFunctions::StateMachine")


@dataclass(frozen=True)
class Flow:
    name: str
    arn: str
    kind: str  # STANDARD | EXPRESS
    logical_id: str
    definition_uri: str | None
    triggers: list[str]


@dataclass(frozen=True)
class ExecutionRow:
    flow: str
    arn: str
    name: str
    status: str
    started: datetime
    stopped: datetime | None
    error: str | None = None
    cause: str | None = None

    @property
    def duration_s(self) -> float | None:
        return (self.stopped - self.started).total_seconds() if self.stopped else None


@dataclass
class ExecutionView:
    arn: str
    name: str
    flow: str | None
    machine_arn: str
    status: str
    started: datetime | None
    stopped: datetime | None
    input: str | None
    output: str | None
    error: str | None
    cause: str | None
    definition: str
    events: list[dict[str, Any]]
    story: ExecutionStory = field(repr=False)
    redrive_status: str | None = None  # REDRIVABLE / NOT_REDRIVABLE (Standard only)
    redrive_count: int = 0


@dataclass(frozen=True)
class InputProblem:
    where: str  # "" for the document itself
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}" if self.where else self.message


class InvalidInput(Exception):
    def __init__(self, problems: list[InputProblem]) -> None:
        super().__init__("; ".join(map(str, problems)))
        self.problems = problems


class UnknownFlow(KeyError):
    pass


def schema_for(flow: str) -> TypeAdapter[Any] | None:
    """The execution input schema FLOW registers (`sluice.devkit.Flow.execution_input`)."""
    registered = devkit.flow(flow)
    return registered.input_schema() if registered else None


def validate_input(text: str, schema: TypeAdapter[Any] | None) -> list[InputProblem]:
    """Problems with TEXT as an execution input: not JSON, or not what the schema wants."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        return [InputProblem("", f"not valid JSON: {exc.msg} (line {exc.lineno}, col {exc.colno})")]
    if schema is None:
        return []
    try:
        schema.validate_python(document)
    except ValidationError as exc:
        return [
            InputProblem(".".join(str(p) for p in err["loc"]), err["msg"])
            for err in exc.errors(include_url=False)
        ]
    return []


def schema_name(schema: TypeAdapter[Any] | None, flow: str) -> str | None:
    registered = devkit.flow(flow)
    if schema is None or registered is None or registered.execution_input is None:
        return None
    return registered.execution_input.replace(":", ".")


def json_schema(schema: TypeAdapter[Any] | None) -> str | None:
    if schema is None:
        return None
    try:
        return json.dumps(schema.json_schema(), indent=2)
    except Exception:  # some models (e.g. with type[...] fields) have no JSON Schema
        return None


class ConsoleStack(Protocol):
    """What the console reads of a running stack (a ``sluice.stack.LocalStack``): its
    gateway (catalogue, routes, functions) and triggers (rules, dead-letter queues). A
    protocol, so the stack can mount the console without the two importing each other."""

    @property
    def gateway(self) -> Any: ...

    @property
    def triggers(self) -> Any: ...


class ConsoleData:
    """Reads for the pages. Catalogue and triggers are read per call: a redeploy changes them."""

    def __init__(self, stack: ConsoleStack) -> None:
        self._stack = stack
        self.endpoint = stack.gateway.endpoint
        self._sfn: Any = None

    @property
    def sfn(self) -> Any:
        if self._sfn is None:
            self._sfn = boto_client(self.endpoint, "stepfunctions")
        return self._sfn

    @property
    def catalogue(self) -> dict[str, Any]:
        return self._stack.gateway.stack or {}

    # -- flows -----------------------------------------------------------------------------

    def flows(self) -> list[Flow]:
        catalogue = self.catalogue
        prefix = f"{catalogue.get('stack_name', 'sluice')}-"
        resources: dict[str, dict[str, Any]] = catalogue.get("resources", {})
        out = []
        for logical_id, res in resources.items():
            if res.get("type") not in MACHINE_TYPES:
                continue
            out.append(
                Flow(
                    name=str(res["name"]).removeprefix(prefix),
                    arn=res["arn"],
                    kind=res.get("kind", "STANDARD"),
                    logical_id=logical_id,
                    definition_uri=res.get("definition_uri"),
                    triggers=self._triggers(res, resources),
                )
            )
        return sorted(out, key=lambda f: f.name)

    def flow(self, name: str) -> Flow:
        for flow in self.flows():
            if flow.name == name:
                return flow
        raise UnknownFlow(name)

    def flow_of_machine(self, machine_arn: str) -> str | None:
        return next((f.name for f in self.flows() if f.arn == machine_arn), None)

    def _triggers(self, machine: dict[str, Any], resources: dict[str, dict[str, Any]]) -> list[str]:
        arn = machine["arn"]
        out = []
        for res in resources.values():
            if res.get("type") == "AWS::Pipes::Pipe" and res.get("target") == arn:
                out.append(f"Pipe {res['name']} ← {_describe_source(res.get('source'), resources)}")
        for rule in self._rules():
            if any(t.arn == arn for t in rule.targets):
                pattern = json.dumps(rule.pattern, separators=(",", ":"))
                out.append(f"EventBridge rule {rule.name} on {rule.bus_name}: {pattern}")
        for route in getattr(self._stack.gateway, "routes", []):
            spec = self._stack.gateway.lambdas.resolve(route.function)
            if spec is not None and any(
                arn == v or machine["name"] == v for v in spec.environment.values()
            ):
                out.append(f"HTTP {route.route_key} → {route.function}")
        return out

    def _rules(self) -> list[Any]:
        # RuleDelivery keeps the deployed RuleSpecs (targets included); moto has no targets
        # for rules whose targets are state machines.
        compiled = getattr(self._stack.triggers.rules, "_rules", [])
        return [spec for spec, _ in compiled]

    def definition(self, flow: Flow) -> str:
        definition: str = self.sfn.describe_state_machine(stateMachineArn=flow.arn)["definition"]
        return definition

    # -- executions --------------------------------------------------------------------------

    def _list(self, machine_arn: str, status: str | None) -> list[dict[str, Any]]:
        kwargs: dict[str, Any] = {"stateMachineArn": machine_arn}
        if status:
            kwargs["statusFilter"] = status
        items: list[dict[str, Any]] = []
        for page in self.sfn.get_paginator("list_executions").paginate(**kwargs):
            items += page["executions"]
        return items

    def counts(self, flow: Flow) -> dict[str, int]:
        return dict(Counter(e["status"] for e in self._list(flow.arn, None)))

    def executions(
        self, flow: str | None = None, status: str | None = None, limit: int = 200
    ) -> list[ExecutionRow]:
        """Newest first; failed ones carry their error and cause."""
        flows = [f for f in self.flows() if flow is None or f.name == flow]
        if flow is not None and not flows:
            raise UnknownFlow(flow)
        raw = [(f.name, e) for f in flows for e in self._list(f.arn, status)]
        raw.sort(key=lambda item: item[1]["startDate"], reverse=True)
        rows = []
        for fname, e in raw[:limit]:
            error = cause = None
            if e["status"] in ("FAILED", "TIMED_OUT", "ABORTED"):
                desc = self.sfn.describe_execution(executionArn=e["executionArn"])
                error, cause = desc.get("error"), desc.get("cause")
            rows.append(
                ExecutionRow(
                    flow=fname,
                    arn=e["executionArn"],
                    name=e["name"],
                    status=e["status"],
                    started=e["startDate"],
                    stopped=e.get("stopDate"),
                    error=error,
                    cause=cause,
                )
            )
        return rows

    def execution(self, arn: str) -> ExecutionView:
        return load_execution(self.sfn, arn, self.flow_of_machine)

    def start(self, flow: Flow, text: str, name: str | None = None) -> str:
        """Validate TEXT against the flow's schema, then start; raises ``InvalidInput``."""
        problems = validate_input(text, schema_for(flow.name))
        if problems:
            raise InvalidInput(problems)
        kwargs: dict[str, Any] = {"stateMachineArn": flow.arn, "input": text}
        if name:
            kwargs["name"] = name
        arn: str = self.sfn.start_execution(**kwargs)["executionArn"]
        return arn

    def test_state(self, execution_arn: str, definition: str, text: str, level: str) -> Any:
        """TestState, with the role of the execution's state machine; TestState is sent to a
        `sync-` host prefix, which a local endpoint cannot take."""
        machine = self.sfn.describe_state_machine_for_execution(executionArn=execution_arn)
        sfn = boto_client(self.endpoint, "stepfunctions", inject_host_prefix=False)
        return sfn.test_state(
            definition=definition, roleArn=machine["roleArn"], input=text, inspectionLevel=level
        )

    def redrive_execution(self, arn: str) -> None:
        """RedriveExecution: continue a failed Standard execution from the state that failed."""
        self.sfn.redrive_execution(executionArn=arn)

    # -- pipes -------------------------------------------------------------------------------

    def pipes(self) -> list[dict[str, Any]]:
        pipes: list[dict[str, Any]] = self._stack.triggers.pipes_overview()
        return pipes

    def set_pipe_running(self, name: str, running: bool) -> None:
        """StartPipe or StopPipe, as any client of the Pipes API would."""
        pipes = boto_client(self.endpoint, "pipes")
        (pipes.start_pipe if running else pipes.stop_pipe)(Name=name)

    # -- dead-letter queues ------------------------------------------------------------------

    def dlqs(self) -> list[dict[str, Any]]:
        queues: list[dict[str, Any]] = self._stack.triggers.dlqs.overview()
        return sorted(queues, key=lambda q: q["name"])

    def dlq_messages(self, name: str) -> list[dict[str, Any]]:
        return self._stack.triggers.dlqs.messages(name)

    def redrive(self, name: str) -> dict[str, Any]:
        return self._stack.triggers.dlqs.redrive(name)


def load_execution(
    sfn: Any, arn: str, flow_of: Callable[[str], str | None] | None = None
) -> ExecutionView:
    """Everything about one execution, from DescribeExecution, GetExecutionHistory and
    DescribeStateMachineForExecution."""
    desc = sfn.describe_execution(executionArn=arn)
    events: list[dict[str, Any]] = []
    for page in sfn.get_paginator("get_execution_history").paginate(executionArn=arn):
        events += page["events"]
    definition: str = sfn.describe_state_machine_for_execution(executionArn=arn)["definition"]
    machine_arn = desc["stateMachineArn"]
    return ExecutionView(
        arn=arn,
        name=desc["name"],
        flow=flow_of(machine_arn) if flow_of else None,
        machine_arn=machine_arn,
        status=desc["status"],
        started=desc.get("startDate"),
        stopped=desc.get("stopDate"),
        input=desc.get("input"),
        output=desc.get("output"),
        error=desc.get("error"),
        cause=desc.get("cause"),
        definition=definition,
        events=events,
        story=summarize(events, definition),
        redrive_status=desc.get("redriveStatus"),
        redrive_count=desc.get("redriveCount") or 0,
    )


def _describe_source(source: str | None, resources: dict[str, dict[str, Any]]) -> str:
    if not source:
        return "?"
    for res in resources.values():
        if res.get("arn") == source and res.get("type") == "AWS::SQS::Queue":
            return f"SQS {res['name']}"
        if res.get("stream_arn") == source:
            return f"DynamoDB stream of {res['name']}"
    return source
