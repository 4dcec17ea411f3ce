"""moto's services answered without Flask's framing answer exactly as moto's server does."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto.moto_api._internal import mock_random
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.test import EnvironBuilder

from sluice import engine, wsgi_client
from sluice.engine.moto_dispatch import DirectDispatch, JsonRequest, ServerRequest

# Never contacted: requests are answered by the application in process.
ENDPOINT = "http://127.0.0.1:1"
# Values that differ between two runs of the same calls are left out of the comparison
# (Content-Length varies with the digits of a time; it is checked against the body instead).
VOLATILE_HEADERS = {
    "date",
    "x-amzn-requestid",
    "x-amz-request-id",
    "x-amz-id-2",
    "x-amz-crc32",
    "content-length",
}

Answer = tuple[str, list[tuple[str, bytes]], bytes]
# Times in bodies and headers (ISO 8601, epoch seconds, HTTP dates) are masked as well.
_TIMES = re.compile(
    rb"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(\.\d+)?(\+00:00|Z)?|\b1\d{9}(\.\d+)?\b"
    rb"|\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT"
)


def _untimed(value: Any) -> bytes:
    return _TIMES.sub(
        b"<time>",
        json.dumps(value, default=str).encode() if not isinstance(value, bytes) else value,
    )


def _record(answers: list[Answer], method: str, status: str, headers: Any, body: bytes) -> None:
    length = [v for k, v in headers if k.lower() == "content-length"]
    if method != "HEAD":  # HEAD: the length of what GET would answer
        assert length in ([str(len(body))], []), "Content-Length is the body's"
    kept = sorted(
        (k.lower(), _untimed(v.encode())) for k, v in headers if k.lower() not in VOLATILE_HEADERS
    )
    answers.append((status.split(" ", 1)[0], kept, _untimed(body)))


def _recorded(app: Any, answers: list[Answer]) -> Callable[..., Any]:
    def recording(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        seen: dict[str, Any] = {}

        def start(status: str, headers: list[tuple[str, str]], *exc: Any) -> Any:
            seen["status"], seen["headers"] = status, headers
            return start_response(status, headers, *exc)

        body = b"".join(app(environ, start))
        _record(answers, environ["REQUEST_METHOD"], seen["status"], seen["headers"], body)
        return [body]

    return recording


class _AnsweredInProcess:
    """DirectDispatch as the gateway's clients in this process reach it (wsgi_client.run
    calls its `answer`); what it does not route goes to moto's Flask app, as __call__ does."""

    def __init__(self, app: Any, answers: list[Answer]) -> None:
        self._direct, self._answers = DirectDispatch(app), answers
        self._fallback = _recorded(app, answers)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        raise AssertionError("a client in process is answered through answer()")

    def answer(self, environ: dict[str, Any]) -> tuple[int, Any, bytes]:
        answered = self._direct.answer(environ)
        if answered is None:
            return wsgi_client.run_wsgi(self._fallback, environ)
        status, headers, content = answered
        method = environ["REQUEST_METHOD"]
        _record(self._answers, method, str(status), list(headers.items()), content)
        return answered


def _calls(app: Any) -> list[Any]:
    """The same calls of five services, each a success and a failure, as a user makes them."""

    def client(service: str) -> Any:
        new_client: Any = boto3.client  # its overloads want a literal service name
        made = new_client(
            service,
            endpoint_url=ENDPOINT,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        return wsgi_client.answered_by(made, lambda: app)

    outcomes: list[Any] = []

    def call(method: Callable[..., Any], **kwargs: Any) -> None:
        try:
            result = method(**kwargs)
        except ClientError as exc:
            outcomes.append(
                ("error", exc.response["Error"], exc.response["ResponseMetadata"]["HTTPStatusCode"])
            )
            return
        result.pop("ResponseMetadata", None)
        body = result.pop("Body", None)
        outcomes.append(("ok", _untimed(result), body and body.read()))

    sqs, ddb, s3 = client("sqs"), client("dynamodb"), client("s3")
    sfn, events = client("stepfunctions"), client("events")
    call(sqs.create_queue, QueueName="orders")
    url = f"{ENDPOINT}/123456789012/orders"
    call(sqs.send_message, QueueUrl=url, MessageBody="hello")
    call(sqs.receive_message, QueueUrl=url, MaxNumberOfMessages=10)
    call(sqs.get_queue_url, QueueName="missing")
    call(
        ddb.create_table,
        TableName="items",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    call(ddb.put_item, TableName="items", Item={"pk": {"S": "a"}, "n": {"N": "1"}})
    call(ddb.get_item, TableName="items", Key={"pk": {"S": "a"}})
    call(ddb.put_item, TableName="items", Item={"pk": {"S": ""}})
    call(ddb.get_item, TableName="missing", Key={"pk": {"S": "a"}})
    call(s3.create_bucket, Bucket="lake")
    call(s3.put_object, Bucket="lake", Key="a/b c.json", Body=b"{}")
    call(s3.head_object, Bucket="lake", Key="a/b c.json")
    call(s3.get_object, Bucket="lake", Key="a/b c.json")
    call(s3.list_objects_v2, Bucket="lake", Prefix="a/")
    call(s3.get_object, Bucket="lake", Key="missing")
    call(s3.head_object, Bucket="lake", Key="missing")
    call(
        sfn.create_state_machine,
        name="m",
        definition=json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}),
        roleArn="arn:aws:iam::123456789012:role/r",
    )
    call(sfn.list_state_machines)
    call(sfn.describe_execution, executionArn="arn:aws:states:us-east-1:123456789012:execution:m:x")
    call(events.put_rule, Name="r", EventPattern=json.dumps({"source": ["s"]}))
    call(events.describe_rule, Name="missing")
    return outcomes


def _run(
    app_of: Callable[[Any], Any], recorder: Callable[[Any, list[Answer]], Any] = _recorded
) -> tuple[list[Any], list[Answer]]:
    """The calls against a fresh moto (its backends reset, its identifiers reseeded)."""
    flask_app = DomainDispatcherApplication(create_backend_app)
    wsgi_client.run(flask_app, EnvironBuilder(method="POST", path="/moto-api/reset").get_environ())
    mock_random.seed(7)
    answers: list[Answer] = []
    return _calls(recorder(app_of(flask_app), answers)), answers


@pytest.fixture(autouse=True)
def _engine_installed() -> Iterator[None]:
    """The engine installed; moto's identifiers drawn afterwards as if never reseeded."""
    engine.install()
    state = mock_random.getstate()
    yield
    mock_random.setstate(state)


def test_direct_dispatch_answers_every_call_as_moto_server_does() -> None:
    through_flask, flask_answers = _run(lambda app: app)
    direct, direct_answers = _run(DirectDispatch)
    assert [o[0] for o in through_flask].count("error") == 7  # the failures did fail
    assert direct == through_flask
    assert direct_answers == flask_answers


def test_a_client_in_process_is_answered_as_moto_server_answers_over_wsgi() -> None:
    """The gateway's own clients (the engine's tasks, the triggers' pollers) get DirectDispatch's
    answer without WSGI's framing, their JSON requests read from the body they hold: the
    same outcomes, statuses, headers and bodies as through moto's Flask app."""
    through_flask, flask_answers = _run(lambda app: app)
    in_process, answers = _run(lambda app: app, _AnsweredInProcess)
    assert in_process == through_flask
    assert answers == flask_answers
    assert len(answers) == len(flask_answers) > 20


@pytest.mark.parametrize(
    ("base_url", "query"),
    [("http://127.0.0.1:4566", ""), ("http://localhost:80", ""), ("https://h:443", "a=1")],
)
def test_a_json_request_reads_as_moto_servers_request(base_url: str, query: str) -> None:
    """A JSON API call, read from its body, shows moto what moto's server request shows:
    URL (the host without a default port, the query), body, form, values and headers."""

    def environ() -> dict[str, Any]:
        built: dict[str, Any] = EnvironBuilder(
            method="POST",
            base_url=base_url,
            path="/",
            query_string=query,
            headers={"X-Amz-Target": "DynamoDB_20120810.PutItem"},
            content_type="application/x-amz-json-1.0",
            data=b'{"TableName": "t"}',
        ).get_environ()
        return built

    server = ServerRequest(environ())
    json_request = JsonRequest.of(environ())
    assert isinstance(json_request, JsonRequest)
    for read in ("raw_url", "data", "form", "files", "values", "path", "content_type"):
        assert getattr(json_request, read) == getattr(server, read), read
    assert dict(json_request.headers) == dict(server.headers)
