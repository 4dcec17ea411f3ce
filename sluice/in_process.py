"""AWS in the test process: moto with the embedded ASL engine, Lambda invokes run here.

For a flow's ASL unit tests: the definition runs on the same engine as `sluice up`, its
Lambda tasks call the given handlers in this process (no worker, no gateway), and the
service integrations reach moto's DynamoDB, S3, SQS... directly; S3 event notifications
carry the fields `sluice up` adds (`sluice.s3_notifications`). Used through
`sluice.testing.in_process_aws`.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import boto3
from moto import mock_aws
from moto.awslambda.models import LambdaBackend

from sluice import engine
from sluice.engine import moto_seam, moto_services, virtual_time
from sluice.waiting import wait_for

if TYPE_CHECKING:
    from moto.core.models import MockAWS

Handler = Callable[[Any, Any], Any]
REGION = "us-east-1"
ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/sluice-test"
TERMINAL = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}
_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": REGION,
}


def mocked_aws(*, run_executions: bool = False) -> MockAWS:
    """moto's ``mock_aws`` as the tests use it (RUN_EXECUTIONS: the Step Functions engine runs
    what is started), keeping boto3's default session across mocks. moto resets it on every
    start, so that no session made before the mock signs its requests; but every request
    made under the mock is answered by moto, whatever signs it, and each client made after a
    reset reads its service model again in a new session: 30-60 ms of CPU a client, in every
    test."""
    return mock_aws(
        config={
            "core": {"reset_boto3_session": False},
            "stepfunctions": {"execute_state_machine": run_executions},
        }
    )


@dataclass
class FakeContext:
    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int = 256
    aws_request_id: str = "00000000-0000-0000-0000-000000000000"


def lambda_context(function_name: str) -> Any:
    """A Lambda context object for calling FUNCTION_NAME's handler directly in a test."""
    return FakeContext(
        function_name=function_name, invoked_function_arn=function_arn(function_name)
    )


def function_arn(name: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"


@dataclass
class InProcessAws:
    """The running mock: its clients, the invokes made so far and the faults still pending.

    calls: every Lambda invoke as (function name, event), in order.
    faults: function name -> error types its next invokes fail with, one each, without
        running the handler (as `sluice up`'s `/_sluice/faults` does).
    """

    handlers: dict[str, Handler]
    calls: list[tuple[str, Any]] = field(default_factory=list)
    faults: dict[str, list[str]] = field(default_factory=dict)

    def client(self, service: str, **kwargs: Any) -> Any:
        return boto3.client(service, region_name=REGION, **kwargs)  # type: ignore[call-overload]

    function_arn = staticmethod(function_arn)

    def called(self, name: str) -> list[Any]:
        """The events NAME was invoked with, oldest first."""
        return [event for called, event in self.calls if called == name]

    def create_table(self, name: str, *keys: str, stream: bool = False) -> Any:
        """A pay-per-request table keyed by KEYS (hash, then range; strings), as a boto3
        resource; STREAM turns on its NEW_AND_OLD_IMAGES stream."""
        options: dict[str, Any] = {}
        if stream:
            options["StreamSpecification"] = {
                "StreamEnabled": True,
                "StreamViewType": "NEW_AND_OLD_IMAGES",
            }
        return boto3.resource("dynamodb", region_name=REGION).create_table(
            TableName=name,
            KeySchema=[
                {"AttributeName": k, "KeyType": "HASH" if n == 0 else "RANGE"}
                for n, k in enumerate(keys)
            ],
            AttributeDefinitions=[{"AttributeName": k, "AttributeType": "S"} for k in keys],
            BillingMode="PAY_PER_REQUEST",
            **options,
        )

    def create_state_machine(self, name: str, definition: str, kind: str = "STANDARD") -> str:
        arn: str = self.client("stepfunctions").create_state_machine(
            name=name, definition=definition, roleArn=ROLE, type=kind
        )["stateMachineArn"]
        return arn

    def run(self, machine_arn: str, payload: Any, timeout: float = 30) -> dict[str, Any]:
        """Start MACHINE_ARN with PAYLOAD and return its DescribeExecution once it ended."""
        sfn = self.client("stepfunctions")
        arn = sfn.start_execution(
            stateMachineArn=machine_arn, name=str(uuid.uuid4()), input=json.dumps(payload)
        )["executionArn"]

        def ended() -> dict[str, Any] | None:
            described: dict[str, Any] = sfn.describe_execution(executionArn=arn)
            return described if described["status"] in TERMINAL else None

        return wait_for(ended, timeout=timeout, what=f"execution {arn}")

    def _invoke(
        self,
        sandbox: threading.Lock,
        function_name: str,
        body: Any,
        response_headers: dict[str, str],
    ) -> bytes:
        # One invocation at a time, like a single Lambda sandbox: handler module state (e.g.
        # the Metrics buffer) belongs to one sandbox, not to concurrent invocations.
        name = function_name.rsplit(":", 1)[-1]
        event = json.loads(body)
        self.calls.append((name, event))
        if self.faults.get(name):
            response_headers["x-amz-function-error"] = "Unhandled"
            error = self.faults[name].pop(0)
            return json.dumps({"errorType": error, "errorMessage": "injected fault"}).encode()
        context = FakeContext(function_name=name, invoked_function_arn=function_name)
        try:
            with sandbox:
                result = self.handlers[name](event, context)
        except Exception as exc:  # the Lambda runtime's error payload
            response_headers["x-amz-function-error"] = "Unhandled"
            result = {"errorType": type(exc).__name__, "errorMessage": str(exc)}
        return json.dumps(result).encode()


@contextlib.contextmanager
def in_process_aws(
    handlers: dict[str, Handler], *, env: dict[str, str] | None = None, time_scale: float = 0
) -> Iterator[InProcessAws]:
    """moto with the embedded engine for the block; Lambda invokes run HANDLERS (by function
    name) here. ENV is set for the block (with test credentials, and no AWS_ENDPOINT_URL);
    Wait states and Retry intervals run at TIME_SCALE (0: no sleeping)."""
    aws = InProcessAws(handlers)
    sandbox = threading.Lock()

    def invoke(
        backend: LambdaBackend,
        function_name: str,
        qualifier: str | None,
        body: Any,
        headers: Any,
        response_headers: dict[str, str],
    ) -> bytes:
        return aws._invoke(sandbox, function_name, body, response_headers)

    saved_env = dict(os.environ)
    os.environ.update({**_ENV, **(env or {})})
    os.environ.pop("AWS_ENDPOINT_URL", None)
    engine.install()
    previous_scale = virtual_time.set_scale(time_scale)
    try:
        with (
            mocked_aws(run_executions=True),
            moto_seam.step_functions_in_process(),
            moto_services.lambda_invokes_answered_by(invoke),
        ):
            yield aws
    finally:
        virtual_time.set_scale(previous_scale)
        os.environ.clear()
        os.environ.update(saved_env)
