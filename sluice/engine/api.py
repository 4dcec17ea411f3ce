"""The Step Functions API of the engine: moto's response, answered by the engine's backend,
with RedriveExecution and the redrive fields (sluice/engine/redrive.py) added, and the
answers that tests, the console and the CLI poll written directly (sluice/engine/wire_json.py)."""

from __future__ import annotations

import datetime
from typing import Any, cast

from flask import Flask
from moto.core.common_types import TYPE_RESPONSE
from moto.core.responses import ActionResult
from moto.moto_server.werkzeug_app import convert_to_flask_response
from moto.stepfunctions.responses import StepFunctionResponse

from sluice.engine import redrive, wire_json
from sluice.engine.backend import SluiceBackend, backends
from sluice.engine.execution import SluiceExecution

# These results are plain dicts in the wire's shape. moto's serializer took 35 ms for an
# 84-event history that json.dumps writes in 1.4 ms, and 0.3 ms for each DescribeExecution
# and 0.1 ms for each StartExecution: a tenth of the stack's CPU per execution of the
# runtime bench, which starts executions and polls them.
_written_directly = wire_json.serialized_directly(
    frozenset(
        {
            "GetExecutionHistory",
            "StartExecution",
            "DescribeExecution",
            "ListExecutions",
            "DescribeStateMachine",
            "DescribeStateMachineForExecution",
            "CreateStateMachine",
            "RedriveExecution",
            "StopExecution",
        }
    ),
    StepFunctionResponse.serialized,
)


class SluiceStepFunctionResponse(StepFunctionResponse):
    @property
    def stepfunction_backend(self) -> SluiceBackend:
        return backends[self.current_account][self.region]

    def redrive_execution(self) -> ActionResult:
        execution = self.stepfunction_backend.describe_execution(self._get_param("executionArn"))
        if not isinstance(execution, SluiceExecution):
            raise redrive.ExecutionNotRedrivable("Execution cannot be redriven.")
        redrive_date = redrive.redrive(execution, self._get_param("clientToken"))
        return ActionResult({"redriveDate": redrive_date})

    def stop_execution(self) -> ActionResult:
        requested = datetime.datetime.now(tz=datetime.UTC)
        execution = self.stepfunction_backend.stop_execution(
            self._get_param("executionArn"), self._get_param("error"), self._get_param("cause")
        )
        # AWS always answers with the stop date; the execution may still be winding down.
        return ActionResult({"stopDate": execution.stop_date or requested})

    def describe_execution(self) -> ActionResult:
        result = super().describe_execution()
        execution = self.stepfunction_backend.describe_execution(self._get_param("executionArn"))
        body = cast(dict[str, Any], result.result)
        if isinstance(execution, SluiceExecution):
            body.update(redrive.describe_fields(execution))
        if body.get("status") == "SUCCEEDED" and "output" not in body:
            body["output"] = "null"  # a JSON null output (moto left it out)
        return result

    def serialized(self, action_result: ActionResult) -> TYPE_RESPONSE:
        return _written_directly(self, action_result)

    def list_executions(self) -> ActionResult:
        result = super().list_executions()
        redrive_filter = self._get_param("redriveFilter")
        body = cast(dict[str, Any], result.result)
        items = []
        for item in body.get("executions", []):
            record = redrive.record_of(item["executionArn"])
            if redrive_filter == "REDRIVEN" and record.count == 0:
                continue
            if redrive_filter == "NOT_REDRIVEN" and record.count > 0:
                continue
            item["redriveCount"] = record.count
            if record.date is not None:
                item["redriveDate"] = record.date
            items.append(item)
        body["executions"] = items
        return result


def serve(app: Flask) -> None:
    """Answer the Step Functions requests of moto's Flask app for the service with the
    engine's response (the app's other routes are left as they are)."""
    endpoint = f"{StepFunctionResponse.__name__}.dispatch"
    if endpoint not in app.view_functions:
        raise RuntimeError(f"moto's stepfunctions app has no view {endpoint}")
    app.view_functions[endpoint] = convert_to_flask_response(SluiceStepFunctionResponse.dispatch)
