"""Bedrock batch inference, locally: the control-plane REST API boto3's `bedrock` client calls.

Answers CreateModelInvocationJob (``POST /model-invocation-job``), GetModelInvocationJob
(``GET /model-invocation-job/{jobIdentifier}``), ListModelInvocationJobs
(``GET /model-invocation-jobs``) and StopModelInvocationJob
(``POST /model-invocation-job/{jobIdentifier}/stop``). moto has no such operations, so the
gateway hands every request signed for ``bedrock`` on these paths to this emulator.

A job runs in a background thread as on AWS: Submitted -> InProgress -> Completed (or Failed,
Stopped). It reads the input JSONL from S3 through the gateway, applies Bedrock's validation
(a minimum record count per job), runs a deterministic local model and writes
``<output s3Uri>/<jobId>/<input file name>.out`` and ``manifest.json.out`` in Bedrock's format.

Knobs (environment of `sluice up`, or ``POST /_sluice/bedrock/config`` with the same names
in camelCase): ``SLUICE_BEDROCK_MIN_RECORDS`` (default 100, as on AWS),
``SLUICE_BEDROCK_SUBMIT_DELAY`` / ``SLUICE_BEDROCK_RUN_DELAY`` (seconds, default 1 / 2),
``SLUICE_BEDROCK_MALFORMED_EVERY`` / ``SLUICE_BEDROCK_ERROR_EVERY`` (every Nth record gets a
malformed output / a record error; 0 = never). A prompt containing ``[[malformed]]`` or
``[[record-error]]`` gets one too, and ``malformedRecordIds`` / ``errorRecordIds`` in the
config endpoint name records directly.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, unquote

from sluice.bedrock_inference import infer

StartResponse = Callable[..., Any]
REGION = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
ACCOUNT = "123456789012"
TERMINAL = ("Completed", "PartiallyCompleted", "Failed", "Stopped", "Expired")
CONFIG_PATH = "/_sluice/bedrock"
# The identifier may be the job's ARN, which contains "/" (WSGI hands the path decoded).
_JOB_PATH = re.compile(r"^/model-invocation-job/(?P<id>.+?)(?P<stop>/stop)?$")
_NAME = re.compile(r"^[a-zA-Z0-9]{1,63}(-*[a-zA-Z0-9+\-.]){0,63}$")


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z" if value else None


def _env_float(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        return default


@dataclass
class EmulatorConfig:
    minRecords: int = int(_env_float("SLUICE_BEDROCK_MIN_RECORDS", 100))
    submitDelay: float = _env_float("SLUICE_BEDROCK_SUBMIT_DELAY", 1.0)
    runDelay: float = _env_float("SLUICE_BEDROCK_RUN_DELAY", 2.0)
    malformedEvery: int = int(_env_float("SLUICE_BEDROCK_MALFORMED_EVERY", 0))
    errorEvery: int = int(_env_float("SLUICE_BEDROCK_ERROR_EVERY", 0))
    malformedRecordIds: set[str] = field(default_factory=set)
    errorRecordIds: set[str] = field(default_factory=set)

    def update(self, values: dict[str, Any]) -> None:
        for name, value in values.items():
            if name in ("malformedRecordIds", "errorRecordIds"):
                setattr(self, name, set(value or ()))
            elif name in ("minRecords", "malformedEvery", "errorEvery"):
                setattr(self, name, int(value))
            elif name in ("submitDelay", "runDelay"):
                setattr(self, name, float(value))
            else:
                raise ValueError(f"unknown setting {name}")

    def public(self) -> dict[str, Any]:
        return {k: sorted(v) if isinstance(v, set) else v for k, v in self.__dict__.items()}


@dataclass
class Job:
    job_id: str
    name: str
    model_id: str
    role_arn: str
    input_uri: str
    output_uri: str
    token: str | None
    timeout_hours: int
    status: str = "Submitted"
    message: str | None = None
    submit_time: datetime = field(default_factory=_now)
    last_modified: datetime = field(default_factory=_now)
    end_time: datetime | None = None
    counts: dict[str, int] = field(default_factory=dict)
    stop_requested: bool = False

    @property
    def arn(self) -> str:
        return f"arn:aws:bedrock:{REGION}:{ACCOUNT}:model-invocation-job/{self.job_id}"

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "jobArn": self.arn,
            "jobName": self.name,
            "modelId": self.model_id,
            "roleArn": self.role_arn,
            "status": self.status,
            "submitTime": _iso(self.submit_time),
            "lastModifiedTime": _iso(self.last_modified),
            "inputDataConfig": {
                "s3InputDataConfig": {"s3Uri": self.input_uri, "s3InputFormat": "JSONL"}
            },
            "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": self.output_uri}},
            "timeoutDurationInHours": self.timeout_hours,
            "modelInvocationType": "InvokeModel",
        }
        if self.token:
            out["clientRequestToken"] = self.token
        if self.message:
            out["message"] = self.message
        if self.end_time:
            out["endTime"] = _iso(self.end_time)
        out.update(self.counts)
        return out


def _split_s3(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://"):
        raise ValueError(f"not an S3 URI: {uri}")
    bucket, _, key = uri[5:].partition("/")
    return bucket, key


class BedrockEmulator:
    """WSGI app for the Bedrock batch control plane (see the module docstring)."""

    def __init__(self, endpoint: str, s3_client: Any | None = None) -> None:
        self.endpoint = endpoint
        self.config = EmulatorConfig()
        self.jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._s3 = s3_client
        # Told of each job created or changed (a durable stack saves it: sluice/durable/).
        self.on_change: Callable[[Job], None] | None = None

    # -- routing -------------------------------------------------------------------------

    @staticmethod
    def handles(environ: dict[str, Any]) -> bool:
        path: str = environ.get("PATH_INFO", "")
        if path.startswith(CONFIG_PATH):
            return True
        signed_for_bedrock = "/bedrock/aws4_request" in environ.get("HTTP_AUTHORIZATION", "")
        return signed_for_bedrock and path.startswith("/model-invocation-job")

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path: str = environ.get("PATH_INFO", "")
        method: str = environ["REQUEST_METHOD"]
        try:
            if path.startswith(CONFIG_PATH):
                return self._config(method, environ, start_response)
            if path == "/model-invocation-job" and method == "POST":
                return self._ok(start_response, self.create(self._json_body(environ)))
            if path == "/model-invocation-jobs" and method == "GET":
                query = {k: v[-1] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
                return self._ok(start_response, self.list_jobs(query))
            match = _JOB_PATH.match(path)
            if match and method == "GET" and not match["stop"]:
                return self._ok(start_response, self.get(unquote(match["id"])))
            if match and method == "POST" and match["stop"]:
                self.stop(unquote(match["id"]))
                return self._ok(start_response, {})
            return self._error(start_response, 404, "UnknownOperationException", path)
        except LookupError as exc:
            return self._error(start_response, 404, "ResourceNotFoundException", str(exc))
        except ConflictError as exc:
            return self._error(start_response, 409, "ConflictException", str(exc))
        except ValueError as exc:
            return self._error(start_response, 400, "ValidationException", str(exc))

    @staticmethod
    def _json_body(environ: dict[str, Any]) -> dict[str, Any]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            raise ValueError("request body is not JSON") from None
        if not isinstance(body, dict):
            raise ValueError("request body is not a JSON object")
        return body

    @staticmethod
    def _ok(start_response: StartResponse, body: Any) -> list[bytes]:
        data = json.dumps(body).encode()
        start_response(
            "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
        )
        return [data]

    @staticmethod
    def _error(start_response: StartResponse, status: int, code: str, message: str) -> list[bytes]:
        data = json.dumps({"message": message}).encode()
        start_response(
            f"{status} Error",
            [
                ("Content-Type", "application/json"),
                ("x-amzn-ErrorType", f"{code}:"),
                ("Content-Length", str(len(data))),
            ],
        )
        return [data]

    def _config(
        self, method: str, environ: dict[str, Any], start_response: StartResponse
    ) -> Iterable[bytes]:
        if method == "POST":
            self.config.update(self._json_body(environ))
        return self._ok(
            start_response,
            {"config": self.config.public(), "jobs": [j.describe() for j in self.jobs.values()]},
        )

    # -- operations ------------------------------------------------------------------------

    def create(self, req: dict[str, Any]) -> dict[str, Any]:
        for name in ("jobName", "roleArn", "modelId", "inputDataConfig", "outputDataConfig"):
            if not req.get(name):
                raise ValueError(f"1 validation error detected: {name} must not be null")
        if not _NAME.match(str(req["jobName"])):
            raise ValueError(f"jobName {req['jobName']!r} does not match the required pattern")
        try:
            input_uri = req["inputDataConfig"]["s3InputDataConfig"]["s3Uri"]
            output_uri = req["outputDataConfig"]["s3OutputDataConfig"]["s3Uri"]
            _split_s3(input_uri), _split_s3(output_uri)
        except (KeyError, TypeError) as exc:
            raise ValueError(f"inputDataConfig/outputDataConfig: missing {exc}") from None
        token = req.get("clientRequestToken")
        with self._lock:
            for job in self.jobs.values():
                if token and job.token == token:
                    return {"jobArn": job.arn}  # idempotent retry of the same request
                if job.name == req["jobName"]:
                    raise ConflictError(f"a job named {req['jobName']} already exists")
            job_id = hashlib.sha256(f"{uuid.uuid4()}".encode()).hexdigest()[:12]
            job = Job(
                job_id=job_id,
                name=str(req["jobName"]),
                model_id=str(req["modelId"]),
                role_arn=str(req["roleArn"]),
                input_uri=input_uri,
                output_uri=output_uri,
                token=token,
                timeout_hours=int(req.get("timeoutDurationInHours") or 24),
            )
            self.jobs[job_id] = job
        if self.on_change is not None:
            self.on_change(job)
        threading.Thread(
            target=self._run, args=(job,), daemon=True, name=f"bedrock-{job_id}"
        ).start()
        return {"jobArn": job.arn}

    def _find(self, identifier: str) -> Job:
        job_id = identifier.rsplit("/", 1)[-1]
        job = self.jobs.get(job_id)
        if job is None:
            raise LookupError(f"The specified job {identifier} was not found")
        return job

    def get(self, identifier: str) -> dict[str, Any]:
        return self._find(identifier).describe()

    def list_jobs(self, query: dict[str, str]) -> dict[str, Any]:
        jobs = sorted(self.jobs.values(), key=lambda j: j.submit_time)
        if query.get("sortOrder", "Descending") == "Descending":
            jobs.reverse()
        if query.get("statusEquals"):
            jobs = [j for j in jobs if j.status == query["statusEquals"]]
        if query.get("nameContains"):
            jobs = [j for j in jobs if query["nameContains"] in j.name]
        start = int(query.get("nextToken") or 0)
        size = int(query.get("maxResults") or 1000)
        page = jobs[start : start + size]
        out: dict[str, Any] = {"invocationJobSummaries": [j.describe() for j in page]}
        if start + size < len(jobs):
            out["nextToken"] = str(start + size)
        return out

    def stop(self, identifier: str) -> None:
        job = self._find(identifier)
        with self._lock:
            if job.status in TERMINAL:
                raise ValidationErrorState(f"job {job.job_id} is already {job.status}")
            job.stop_requested = True
            self._set(job, "Stopping")

    # -- the job itself ------------------------------------------------------------------------

    def _set(self, job: Job, status: str, message: str | None = None) -> None:
        job.status, job.last_modified = status, _now()
        if message is not None:
            job.message = message
        if status in TERMINAL:
            job.end_time = job.last_modified
        if self.on_change is not None:
            self.on_change(job)

    def _sleep(self, job: Job, delay: str) -> bool:
        """Sleep the configured DELAY (`submitDelay`, `runDelay`), waking early when the job
        is stopped; False when it was stopped. The delay is read as it runs, so a test can
        hold a job in progress and then let it finish by setting the delay to 0."""
        start = time.monotonic()
        while (left := start + float(getattr(self.config, delay)) - time.monotonic()) > 0:
            if job.stop_requested:
                return False
            time.sleep(min(0.05, left))
        return not job.stop_requested

    def _stopped(self, job: Job) -> None:
        with self._lock:
            self._set(job, "Stopped", "Job stopped by request")

    def _s3_client(self) -> Any:
        if self._s3 is None:
            from sluice.aws_client import client

            self._s3 = client(self.endpoint, "s3")
        return self._s3

    def _run(self, job: Job) -> None:
        try:
            self._execute(job)
        except Exception as exc:  # anything unexpected fails the job, as a service fault would
            with self._lock:
                self._set(job, "Failed", f"Internal error: {type(exc).__name__}: {exc}")

    def _execute(self, job: Job) -> None:
        if not self._sleep(job, "submitDelay"):
            return self._stopped(job)
        with self._lock:
            self._set(job, "Validating")
        s3 = self._s3_client()
        bucket, key = _split_s3(job.input_uri)
        try:
            body = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
        except Exception as exc:
            with self._lock:
                self._set(job, "Failed", f"Unable to read input file {job.input_uri}: {exc}")
            return
        lines = [line for line in body.splitlines() if line.strip()]
        if len(lines) < self.config.minRecords:
            with self._lock:
                self._set(
                    job,
                    "Failed",
                    f"Input file {job.input_uri} contains {len(lines)} records, fewer than the "
                    f"minimum of {self.config.minRecords} records required for a batch "
                    "inference job.",
                )
            return
        with self._lock:
            self._set(job, "InProgress")
            job.counts = {"totalRecordCount": len(lines), "processedRecordCount": 0}
        if not self._sleep(job, "runDelay"):
            return self._stopped(job)
        out_lines, counts = infer(self.config, job.model_id, lines)
        out_bucket, out_prefix = _split_s3(job.output_uri.rstrip("/") + "/")
        base = f"{out_prefix}{job.job_id}/"
        s3.put_object(
            Bucket=out_bucket,
            Key=f"{base}{key.rsplit('/', 1)[-1]}.out",
            Body=("\n".join(out_lines) + "\n").encode(),
        )
        s3.put_object(
            Bucket=out_bucket, Key=f"{base}manifest.json.out", Body=json.dumps(counts).encode()
        )
        with self._lock:
            job.counts = {k: v for k, v in counts.items() if k.endswith("RecordCount")}
            self._set(job, "Completed")


class ConflictError(Exception):
    """A job with this name exists (and the request carried another client token)."""


class ValidationErrorState(ValueError):
    """The job is in a state that does not allow the operation."""
