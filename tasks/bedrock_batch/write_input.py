"""WriteInput: the selection manifest -> `bedrock-batches/input/{jobId}/input.jsonl`.

One record per violation: ``{"recordId": "<violation id>", "modelInput": {...prompt...}}``.
Output: ``{"inputUri": "s3://.../input.jsonl", "outputUri": "s3://.../output/{jobId}/",
"records": 1000}``. Rewriting the same object on a retry is harmless.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from schemas.bedrock_batch import FLOW, INPUT_PREFIX, OUTPUT_PREFIX, input_record
from tasks.bedrock_batch import jobs
from tasks.bedrock_batch.errors import ManifestMissingError
from tasks.common.powertools import lambda_handler, powertools

logger, tracer, metrics = powertools(FLOW)


@lambda_handler(logger, tracer)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    job_id = str(event["jobId"])
    model_id = str(event["config"]["modelId"])
    key = event["selection"].get("manifestKey")
    if not key:
        raise ManifestMissingError(f"{job_id}: the selection has no manifest")
    try:
        rows = jobs.read_manifest(str(key))
    except jobs.s3().exceptions.NoSuchKey:
        raise ManifestMissingError(f"s3://{jobs.bucket()}/{key} does not exist") from None
    input_key = f"{INPUT_PREFIX}/{job_id}/input.jsonl"
    body = "".join(json.dumps(input_record(model_id, r)) + "\n" for r in rows)
    jobs.s3().put_object(Bucket=jobs.bucket(), Key=input_key, Body=body.encode())
    logger.info("input written", extra={"key": input_key, "records": len(rows)})
    return {
        "inputUri": f"s3://{jobs.bucket()}/{input_key}",
        "outputUri": f"s3://{jobs.bucket()}/{OUTPUT_PREFIX}/{job_id}/",
        "records": len(rows),
    }
