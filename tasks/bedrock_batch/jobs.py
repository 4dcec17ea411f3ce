"""What the tasks share: AWS clients, the environment, and the BedrockBatchJobs record."""

from __future__ import annotations

import functools
import json
import os
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import boto3
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.config import Config

from schemas.bedrock_batch import JOB_SK, JOB_TTL_SECONDS, SelectedViolation

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.service_resource import Table
    from mypy_boto3_s3 import S3Client

BUCKET_ENV = "BATCH_BUCKET"
JOBS_TABLE_ENV = "BATCH_JOBS_TABLE"
VIOLATIONS_TABLE_ENV = "VIOLATIONS_TABLE"
ROLE_ENV = "BEDROCK_ROLE_ARN"

_SERIALIZER = TypeSerializer()
_DESERIALIZER = TypeDeserializer()


@functools.cache
def s3() -> S3Client:
    return boto3.client("s3")


@functools.cache
def dynamodb() -> DynamoDBClient:
    return boto3.client("dynamodb")


def violations_table() -> Table:
    """The Violations table as a boto3 resource, for its batch writer."""
    return boto3.resource("dynamodb").Table(os.environ[VIOLATIONS_TABLE_ENV])


@functools.cache
def bedrock() -> Any:
    # Retries are the state machine's (Retry with backoff); one quick retry here for blips.
    return boto3.client("bedrock", config=Config(retries={"max_attempts": 2, "mode": "standard"}))


def bucket() -> str:
    return os.environ[BUCKET_ENV]


def jobs_table() -> str:
    return os.environ[JOBS_TABLE_ENV]


def now() -> datetime:
    return datetime.now(UTC)


def iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def job_key(job_id: str) -> dict[str, Any]:
    return {"PK": {"S": f"JOB#{job_id}"}, "SK": {"S": JOB_SK}}


def _to_dynamodb(value: Any) -> Any:
    # Floats are not DynamoDB numbers; round-trip through JSON into Decimals.
    return _SERIALIZER.serialize(json.loads(json.dumps(value), parse_float=Decimal))


def put_job(job_id: str, attributes: dict[str, Any], created: datetime) -> None:
    """The job record as first written (overwrites: a retried submit writes the same)."""
    item = {name: _to_dynamodb(value) for name, value in attributes.items() if value is not None}
    item.update(job_key(job_id))
    item["jobId"] = {"S": job_id}
    item["createdAt"] = {"S": iso(created)}
    item["ttl"] = {"N": str(int(created.timestamp()) + JOB_TTL_SECONDS)}
    dynamodb().put_item(TableName=jobs_table(), Item=item)


def update_job(job_id: str, attributes: dict[str, Any]) -> None:
    names = {f"#a{i}": name for i, name in enumerate(attributes)}
    values = {f":v{i}": _to_dynamodb(value) for i, value in enumerate(attributes.values())}
    dynamodb().update_item(
        TableName=jobs_table(),
        Key=job_key(job_id),
        UpdateExpression="SET " + ", ".join(f"#a{i} = :v{i}" for i in range(len(attributes))),
        ExpressionAttributeNames=names,
        ExpressionAttributeValues=values,
    )


def plain(item: dict[str, Any]) -> dict[str, Any]:
    """A DynamoDB item as JSON-able Python (numbers as int/float)."""

    def fix(value: Any) -> Any:
        if isinstance(value, Decimal):
            return int(value) if value == value.to_integral_value() else float(value)
        if isinstance(value, dict):
            return {k: fix(v) for k, v in value.items()}
        if isinstance(value, list | set):
            return [fix(v) for v in value]
        return value

    return {k: fix(_DESERIALIZER.deserialize(v)) for k, v in item.items()}


def get_job(job_id: str) -> dict[str, Any] | None:
    item = (
        dynamodb()
        .get_item(TableName=jobs_table(), Key=job_key(job_id), ConsistentRead=True)
        .get("Item")
    )
    return plain(item) if item else None


def role_arn() -> str:
    return os.environ[ROLE_ENV]


def read_manifest(key: str) -> list[SelectedViolation]:
    """The violations SelectViolations wrote for a job (one JSON line each)."""
    body = s3().get_object(Bucket=bucket(), Key=key)["Body"].read().decode()
    return [SelectedViolation.model_validate_json(line) for line in body.splitlines() if line]
