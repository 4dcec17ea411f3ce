"""EventBridge rules across a crash: a State set through the API (DisableRule, EnableRule)
is the rule's State after the restart too, and through a redeploy of the same template (a
rule the template changes gets its template State: tests/runtime/test_runtime_deploy.py)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from sluice.testing import StackProcess

TEMPLATE = Path(__file__).resolve().parents[1] / "runtime" / "fixture" / "template.yaml"
ON, PAUSED = "sluice-event_target-OrderPlaced", "sluice-event_target-OrderPlacedPaused"
PLACED = {"Source": "fixture.orders", "DetailType": "order.placed"}


def _executions_started(stack: StackProcess) -> int:
    """Executions of event_target that one `order.placed` event starts."""
    run = uuid.uuid4().hex
    bus = stack.resource("Bus")["name"]
    stack.put_events([{"EventBusName": bus, **PLACED, "Detail": json.dumps({"run": run})}])
    sfn = stack.client("stepfunctions")
    arns = [e["executionArn"] for e in stack.executions("event_target")]
    return sum(run in sfn.describe_execution(executionArn=arn)["input"] for arn in arns)


def test_rule_states_set_through_the_api_survive_a_crash_and_a_redeploy(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "stack"
    stack = StackProcess(TEMPLATE, data_dir)
    try:
        events, bus = stack.client("events"), stack.resource("Bus")["name"]
        events.disable_rule(Name=ON, EventBusName=bus)  # answered once it is on disk
        events.enable_rule(Name=PAUSED, EventBusName=bus)
    finally:
        stack.kill()

    stack = StackProcess(TEMPLATE, data_dir)
    try:
        events, bus = stack.client("events"), stack.resource("Bus")["name"]
        assert events.describe_rule(Name=ON, EventBusName=bus)["State"] == "DISABLED"
        assert events.describe_rule(Name=PAUSED, EventBusName=bus)["State"] == "ENABLED"
        assert _executions_started(stack) == 1  # by the rule enabled before the crash
        stack.gateway.post("/_sluice/deploy")  # the same template: the rules unchanged
        assert events.describe_rule(Name=ON, EventBusName=bus)["State"] == "DISABLED"
        assert events.describe_rule(Name=PAUSED, EventBusName=bus)["State"] == "ENABLED"
        assert _executions_started(stack) == 1
    finally:
        stack.stop()
