"""Lambda stand-ins for running a flow's ASL on moto's engine inside one test process."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from moto.awslambda.models import LambdaBackend

Handler = Callable[[Any, Any], Any]
Invoke = Callable[[LambdaBackend, str, str | None, Any, Any, dict[str, str]], bytes]


@dataclass
class FakeContext:
    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int = 256
    aws_request_id: str = "00000000-0000-0000-0000-000000000000"


def in_process_lambda(
    handlers: dict[str, Handler],
    calls: list[tuple[str, Any]],
    faults: dict[str, list[str]] | None = None,
) -> Invoke:
    """A replacement for moto's `LambdaBackend.invoke` that runs the named handler here.

    One invocation at a time, like a single Lambda sandbox: handler module state (e.g. the
    Metrics buffer) belongs to one sandbox, not to concurrent invocations. Each call is
    recorded as (function name, event). `faults` maps a function name to error types its
    next invokes fail with, one each, without running the handler (as `sluice up`'s
    `/_sluice/faults` does).
    """
    sandbox = threading.Lock()
    pending = faults if faults is not None else {}

    def invoke(
        self: LambdaBackend,
        function_name: str,
        qualifier: str | None,
        body: Any,
        headers: Any,
        response_headers: dict[str, str],
    ) -> bytes:
        name = function_name.rsplit(":", 1)[-1]
        event = json.loads(body)
        calls.append((name, event))
        context = FakeContext(function_name=name, invoked_function_arn=function_name)
        if pending.get(name):
            response_headers["x-amz-function-error"] = "Unhandled"
            error = pending[name].pop(0)
            return json.dumps({"errorType": error, "errorMessage": "injected fault"}).encode()
        try:
            with sandbox:
                result = handlers[name](event, context)
        except Exception as exc:  # the Lambda runtime's error payload
            response_headers["x-amz-function-error"] = "Unhandled"
            result = {"errorType": type(exc).__name__, "errorMessage": str(exc)}
        return json.dumps(result).encode()

    return invoke


def assert_engine_parses(definition: str, name: str, retry_state: str, retry: int = 0) -> None:
    """moto's engine accepts DEFINITION as an Express machine and rejects it once the
    JitterStrategy of RETRY_STATE's retrier number RETRY is made invalid.

    The engine only parses; a dangling Next is caught by each flow's reachability test.
    Call inside `mock_aws(config={"stepfunctions": {"execute_state_machine": True}})`.
    """
    import boto3
    import pytest
    from botocore.exceptions import ClientError

    sfn = boto3.client(
        "stepfunctions",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    role = "arn:aws:iam::123456789012:role/sfn"
    created = sfn.create_state_machine(
        name=name, definition=definition, roleArn=role, type="EXPRESS"
    )
    assert created["stateMachineArn"].endswith(f":stateMachine:{name}")
    broken = json.loads(definition)
    broken["States"][retry_state]["Retry"][retry]["JitterStrategy"] = "SOMETIMES"
    with pytest.raises(ClientError, match="ASLParserException"):
        sfn.create_state_machine(
            name="broken", definition=json.dumps(broken), roleArn=role, type="EXPRESS"
        )
