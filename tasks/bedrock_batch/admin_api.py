"""The admin API of bedrock_batch (API Gateway HTTP API, payload v2, IAM-authorized).

- ``POST /admin/bedrock/batch`` ``{"config": {...}}``: starts a job's execution; answers
  ``{"jobId", "executionArn", "estimate", "violationCount", "status": "Starting"}``.
- ``POST /admin/bedrock/batch/estimate``: the same selection as a dry run; writes nothing.
- ``GET /admin/bedrock/batch/jobs``: the job records, newest first.
- ``GET /admin/bedrock/batch/{jobId}``: one job's record (or, before the state machine has
  recorded it, its execution's status); 404 for an unknown job.

A bad body is a 400 naming every bad field. The body is read here, not bound to a model by
Powertools' validation: a job needs an explicit ``config`` although the model defaults it,
and a body that is not JSON (or not UTF-8) has its own answer. ``GET
/admin/bedrock/batch/openapi.json`` is the API's OpenAPI document.
"""

from __future__ import annotations

import functools
import json
import os
import secrets
from http import HTTPStatus
from typing import Any

import boto3
from aws_lambda_powertools.event_handler import Response
from pydantic import TypeAdapter, ValidationError

from schemas.bedrock_batch import (
    FLOW,
    ExecutionInput,
    JobId,
    new_job_id,
)
from schemas.validation import field_errors
from tasks.bedrock_batch import jobs
from tasks.bedrock_batch.select_violations import describe, select
from tasks.common.http_api import bad_request, http_app, http_handler, json_response
from tasks.common.powertools import powertools

logger, tracer, metrics = powertools(FLOW)
app = http_app("/admin/bedrock/batch/openapi.json", "Bedrock batch admin")
STATE_MACHINE_ENV = "STATE_MACHINE_ARN"
_JOB_ID = TypeAdapter(JobId)


@functools.cache
def sfn() -> Any:
    return boto3.client("stepfunctions")


_CONFIG_REQUIRED = {
    "field": "config",
    "message": 'required: a job needs an explicit config ({"config": {}} for the defaults)',
}


def _body(*, require_config: bool) -> tuple[ExecutionInput | None, Response[Any] | None]:
    """The request's ExecutionInput, or the 400 to answer. With REQUIRE_CONFIG an empty body
    or one without `config` is refused: a job runs only on a config someone wrote."""
    try:
        raw = app.current_event.decoded_body
    except ValueError:  # a binary (base64) body that is not UTF-8 text
        return None, bad_request([{"field": "<body>", "message": "not UTF-8 text"}])
    if not raw or not raw.strip():
        if require_config:
            return None, bad_request([_CONFIG_REQUIRED])
        raw = "{}"
    try:
        payload = json.loads(raw)
    except json.JSONDecodeError:
        return None, bad_request([{"field": "<body>", "message": "not JSON"}])
    if require_config and isinstance(payload, dict) and "config" not in payload:
        return None, bad_request([_CONFIG_REQUIRED])
    try:
        return ExecutionInput.model_validate(payload), None
    except ValidationError as exc:
        return None, bad_request(field_errors(exc))


def _execution_arn(job_id: str) -> str:
    """A job's execution is named by its jobId."""
    return os.environ[STATE_MACHINE_ENV].replace(":stateMachine:", ":execution:") + f":{job_id}"


@app.post("/admin/bedrock/batch/estimate")
def estimate_job() -> Response[Any]:
    parsed, error = _body(require_config=False)  # writes nothing: {} estimates the defaults
    if parsed is None:
        return error  # type: ignore[return-value]
    selection = describe(select(parsed.config), parsed.config)
    return json_response(
        HTTPStatus.OK,
        {
            "message": selection.message,
            "violationCount": selection.violationCount,
            "estimate": selection.estimate.model_dump(),
            "dryRun": True,
        },
    )


@app.post("/admin/bedrock/batch")
def create_job() -> Response[Any]:
    """Start a job. The body needs an explicit ``config`` (an empty body is a 400, not a job
    with default limits). A jobId already used is a 409, except for the identical request
    while that job's execution still runs, which answers with that job."""
    parsed, error = _body(require_config=True)
    if parsed is None:
        return error  # type: ignore[return-value]
    selection = describe(select(parsed.config), parsed.config)
    job_id = parsed.jobId or new_job_id(jobs.now(), secrets.token_hex(6))
    try:
        # One execution per job, named by its jobId, so StartExecution's rules decide a
        # repeated jobId: the identical request while that execution runs answers with it
        # (a retried POST is idempotent); a different config, or a job that has ended, is
        # ExecutionAlreadyExists, answered 409. Nothing is written before this call.
        started = sfn().start_execution(
            stateMachineArn=os.environ[STATE_MACHINE_ENV],
            name=job_id,
            input=json.dumps({"config": parsed.config.model_dump(mode="json"), "jobId": job_id}),
        )
    except sfn().exceptions.ExecutionAlreadyExists:
        return json_response(
            HTTPStatus.CONFLICT,
            {
                "message": f"batch job {job_id} already exists with another config or has "
                f"ended; GET /admin/bedrock/batch/{job_id} shows it, a new jobId starts another",
                "jobId": job_id,
                "executionArn": _execution_arn(job_id),
            },
        )
    logger.info("batch execution started", extra={"jobId": job_id})
    return json_response(
        HTTPStatus.OK,
        {
            "message": "batch job started" if selection.violationCount else selection.message,
            "jobId": job_id,
            "executionArn": started["executionArn"],
            "violationCount": selection.violationCount,
            "estimate": selection.estimate.model_dump(),
            "dryRun": parsed.config.dryRun,
            "status": "Starting",
        },
    )


@app.get("/admin/bedrock/batch/jobs")
def list_jobs() -> Response[Any]:
    found: list[dict[str, Any]] = []
    for page in jobs.dynamodb().get_paginator("scan").paginate(TableName=jobs.jobs_table()):
        found += [jobs.plain(item) for item in page.get("Items", [])]
    found.sort(key=lambda j: str(j.get("createdAt", "")), reverse=True)
    return json_response(HTTPStatus.OK, {"jobs": found, "count": len(found)})


@app.get("/admin/bedrock/batch/<job_id>")
def get_job(job_id: str) -> Response[Any]:
    try:
        job_id = _JOB_ID.validate_python(job_id)
    except ValidationError as exc:
        return bad_request([{"field": "jobId", "message": e["msg"]} for e in exc.errors()])
    record = jobs.get_job(job_id)
    if record is not None:
        return json_response(HTTPStatus.OK, record)
    # Not recorded yet: the execution may still be selecting violations.
    arn = _execution_arn(job_id)
    try:
        execution = sfn().describe_execution(executionArn=arn)
    except sfn().exceptions.ExecutionDoesNotExist:
        return json_response(HTTPStatus.NOT_FOUND, {"message": f"no batch job {job_id}"})
    return json_response(
        HTTPStatus.OK,
        {
            "jobId": job_id,
            "status": "Preparing" if execution["status"] == "RUNNING" else execution["status"],
            "executionArn": arn,
            "output": json.loads(execution.get("output") or "null"),
        },
    )


handler = http_handler(app, logger, tracer)
