"""PlanOutput: the job's output JSONL -> byte-range chunk descriptors for the Map.

Input: ``{"jobId", "config", "job": {"jobArn", "bedrockJobId", "outputUri"}, "input": {...}}``.
Output: ``{"chunks": [{"bucket", "key", "start", "end", "index", ...}], "manifest": {...}}``.
Bedrock writes ``<output s3Uri>/<bedrock job id>/<input file>.out`` and ``manifest.json.out``.
Only descriptors travel in state; each chunk task reads its own range.
"""

from __future__ import annotations

import json
import os
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError

from schemas.bedrock_batch import FLOW, ChunkDescriptor
from tasks.bedrock_batch import jobs
from tasks.bedrock_batch.errors import ManifestMissingError
from tasks.common.powertools import lambda_handler, powertools

logger, tracer, metrics = powertools(FLOW)
CHUNK_BYTES_ENV = "OUTPUT_CHUNK_BYTES"
DEFAULT_CHUNK_BYTES = 4 * 1024 * 1024


def output_keys(output_uri: str, bedrock_job_id: str, input_uri: str) -> tuple[str, str, str]:
    """(bucket, output file key, manifest key) where Bedrock writes a job's results."""
    bucket, _, prefix = output_uri.removeprefix("s3://").partition("/")
    base = f"{prefix.rstrip('/')}/{bedrock_job_id}/"
    name = input_uri.rsplit("/", 1)[-1]
    return bucket, f"{base}{name}.out", f"{base}manifest.json.out"


@lambda_handler(logger, tracer)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    job_id, job = str(event["jobId"]), event["job"]
    bucket, key, manifest_key = output_keys(
        job["outputUri"], job["bedrockJobId"], event["input"]["inputUri"]
    )
    try:
        size = int(jobs.s3().head_object(Bucket=bucket, Key=key)["ContentLength"])
    except ClientError:
        raise ManifestMissingError(f"s3://{bucket}/{key}: the job's output is missing") from None
    try:
        manifest = json.loads(
            jobs.s3().get_object(Bucket=bucket, Key=manifest_key)["Body"].read() or b"{}"
        )
    except ClientError:
        manifest = {}
    step = int(os.environ.get(CHUNK_BYTES_ENV) or DEFAULT_CHUNK_BYTES)
    chunks = [
        ChunkDescriptor(
            jobId=job_id,
            bucket=bucket,
            key=key,
            start=start,
            end=min(start + step, size),
            index=i,
            modelId=str(event["config"]["modelId"]),
        ).model_dump()
        for i, start in enumerate(range(0, size, step))
    ]
    logger.info("output planned", extra={"jobId": job_id, "bytes": size, "chunks": len(chunks)})
    return {"chunks": chunks, "manifest": manifest}
