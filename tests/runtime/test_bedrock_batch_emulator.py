"""The local Bedrock batch emulator, driven by boto3's own `bedrock` client over HTTP."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from werkzeug.serving import make_server

from schemas.bedrock_batch import SelectedViolation, input_record, parse_generated
from sluice.bedrock_emulator import BedrockEmulator
from sluice.testing import free_port, wait_for

MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
ROLE = "arn:aws:iam::123456789012:role/bedrock-batch"


class FakeS3:
    """The two calls the emulator makes, in memory."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], bytes] = {}

    def get_object(self, Bucket: str, Key: str) -> dict[str, Any]:
        import io

        if (Bucket, Key) not in self.objects:
            raise KeyError(f"s3://{Bucket}/{Key}")
        return {"Body": io.BytesIO(self.objects[(Bucket, Key)])}

    def put_object(self, Bucket: str, Key: str, Body: bytes) -> None:
        self.objects[(Bucket, Key)] = Body


@pytest.fixture
def emulator() -> Iterator[tuple[BedrockEmulator, FakeS3, Any]]:
    s3 = FakeS3()
    port = free_port()
    emu = BedrockEmulator(f"http://127.0.0.1:{port}", s3_client=s3)
    emu.config.update({"minRecords": 3, "submitDelay": 0.2, "runDelay": 0.3})
    server = make_server("127.0.0.1", port, emu, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    client = boto3.client(
        "bedrock",
        endpoint_url=f"http://127.0.0.1:{port}",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 1}),
    )
    yield emu, s3, client
    server.shutdown()


def write_input(s3: FakeS3, n: int, marker: str = "") -> str:
    lines = []
    for i in range(n):
        v = SelectedViolation(
            violation_id=f"VIO-{i:08d}",
            agency="OSHA",
            violation_type="Serious",
            company="Acme Roofing LLC",
            fine_amount=1234.5,
            description="Acme was cited under 1926.501: missing fall protection."
            + (marker if i == 1 else ""),
        )
        lines.append(json.dumps(input_record(MODEL, v)))
    s3.put_object(
        "b", "bedrock-batches/input/job-1/input.jsonl", ("\n".join(lines) + "\n").encode()
    )
    return "s3://b/bedrock-batches/input/job-1/input.jsonl"


def create(client: Any, input_uri: str, name: str = "job-1", token: str | None = None) -> str:
    kwargs: dict[str, Any] = {}
    if token:
        kwargs["clientRequestToken"] = token
    arn: str = client.create_model_invocation_job(
        jobName=name,
        roleArn=ROLE,
        modelId=MODEL,
        inputDataConfig={"s3InputDataConfig": {"s3Uri": input_uri}},
        outputDataConfig={"s3OutputDataConfig": {"s3Uri": "s3://b/bedrock-batches/output/job-1/"}},
        **kwargs,
    )["jobArn"]
    return arn


def finished(client: Any, arn: str) -> dict[str, Any]:
    return wait_for(
        lambda: (
            (j := client.get_model_invocation_job(jobIdentifier=arn))["status"]
            in ("Completed", "Failed", "Stopped")
            and j
        ),
        timeout=10,
        what="the job to end",
    )


def test_lifecycle_and_output_format(emulator: tuple[BedrockEmulator, FakeS3, Any]) -> None:
    _, s3, client = emulator
    arn = create(client, write_input(s3, 5, marker=" [[malformed]]"))
    assert arn.startswith("arn:aws:bedrock:us-east-1:123456789012:model-invocation-job/")
    seen = {client.get_model_invocation_job(jobIdentifier=arn)["status"]}
    deadline = time.time() + 10
    while "Completed" not in seen and time.time() < deadline:
        seen.add(client.get_model_invocation_job(jobIdentifier=arn)["status"])
        time.sleep(0.02)
    assert {"Submitted", "InProgress", "Completed"} <= seen
    job = client.get_model_invocation_job(jobIdentifier=arn.rsplit("/", 1)[-1])
    assert job["totalRecordCount"] == 5 and job["successRecordCount"] == 5
    assert job["endTime"] >= job["submitTime"]

    job_id = arn.rsplit("/", 1)[-1]
    out = s3.objects[("b", f"bedrock-batches/output/job-1/{job_id}/input.jsonl.out")]
    records = [json.loads(line) for line in out.decode().splitlines()]
    assert [r["recordId"] for r in records] == [f"VIO-{i:08d}" for i in range(5)]
    assert all(set(r) == {"recordId", "modelInput", "modelOutput"} for r in records)
    content = parse_generated(records[0]["modelOutput"])
    assert content.title.startswith("OSHA Serious violation") and "osha" in content.tags
    with pytest.raises(ValueError):
        parse_generated(records[1]["modelOutput"])  # the [[malformed]] record
    manifest = json.loads(
        s3.objects[("b", f"bedrock-batches/output/job-1/{job_id}/manifest.json.out")]
    )
    assert manifest["totalRecordCount"] == 5 and manifest["errorRecordCount"] == 0
    assert manifest["inputTokenCount"] > 0


def output(s3: FakeS3, job: dict[str, Any]) -> str:
    job_id = job["jobArn"].rsplit("/", 1)[-1]
    return s3.objects[("b", f"bedrock-batches/output/job-1/{job_id}/input.jsonl.out")].decode()


def test_record_errors_and_deterministic_model(
    emulator: tuple[BedrockEmulator, FakeS3, Any],
) -> None:
    emu, s3, client = emulator
    emu.config.update({"errorRecordIds": ["VIO-00000002"]})
    first = finished(client, create(client, write_input(s3, 4), name="a"))
    assert first["errorRecordCount"] == 1 and first["successRecordCount"] == 3
    lines = [json.loads(line) for line in output(s3, first).splitlines()]
    assert lines[2]["error"]["errorCode"] == 400 and "modelOutput" not in lines[2]
    emu.config.update({"errorRecordIds": []})
    second = finished(client, create(client, write_input(s3, 4), name="b"))
    out2 = output(s3, second)
    assert json.loads(out2.splitlines()[0])["modelOutput"] == lines[0]["modelOutput"]


def test_too_few_records_fails_the_job(emulator: tuple[BedrockEmulator, FakeS3, Any]) -> None:
    _, s3, client = emulator
    job = finished(client, create(client, write_input(s3, 2)))
    assert job["status"] == "Failed"
    assert "fewer than the minimum of 3 records" in job["message"]


def test_stop_list_idempotency_and_errors(emulator: tuple[BedrockEmulator, FakeS3, Any]) -> None:
    emu, s3, client = emulator
    emu.config.update({"runDelay": 5})
    uri = write_input(s3, 3)
    arn = create(client, uri, name="stop-me", token="tok-1")
    assert create(client, uri, name="stop-me", token="tok-1") == arn  # same token, same job
    with pytest.raises(ClientError) as err:
        create(client, uri, name="stop-me", token="tok-2")
    assert err.value.response["Error"]["Code"] == "ConflictException"
    client.stop_model_invocation_job(jobIdentifier=arn)
    assert finished(client, arn)["status"] == "Stopped"
    listed = client.list_model_invocation_jobs(statusEquals="Stopped")["invocationJobSummaries"]
    assert [j["jobArn"] for j in listed] == [arn]
    with pytest.raises(ClientError) as err:
        client.get_model_invocation_job(jobIdentifier="abcdefabcdef")
    assert err.value.response["Error"]["Code"] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as err:
        client.create_model_invocation_job(
            jobName="bad name!",
            roleArn=ROLE,
            modelId=MODEL,
            inputDataConfig={"s3InputDataConfig": {"s3Uri": uri}},
            outputDataConfig={"s3OutputDataConfig": {"s3Uri": "s3://b/o/"}},
        )
    assert err.value.response["Error"]["Code"] == "ValidationException"


def test_routing_only_takes_bedrock_signed_requests() -> None:
    signed = "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/bedrock/aws4_request, ..."
    s3_signed = signed.replace("/bedrock/", "/s3/")
    assert BedrockEmulator.handles(
        {"PATH_INFO": "/model-invocation-job", "HTTP_AUTHORIZATION": signed}
    )
    assert not BedrockEmulator.handles(
        {"PATH_INFO": "/model-invocation-job", "HTTP_AUTHORIZATION": s3_signed}
    )
    assert not BedrockEmulator.handles({"PATH_INFO": "/model-invocation-jobs"})
    assert BedrockEmulator.handles({"PATH_INFO": "/_sluice/bedrock"})
