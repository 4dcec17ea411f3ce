"""transcript_persistence's devkit: a transcription job's Bedrock Data Automation output
tree, written as BDA does, and the flow's demo.

The transcript_persistence flow starts from S3's notification for the custom output, so
writing these objects to the stack's bucket is all a run needs::

    write_job_output(s3, "sluice-transcripts-123456789012", "call-001")
    # transcription-outputs/call-001/<jobId>/0/.s3_access_check
    # transcription-outputs/call-001/<jobId>/0/standard_output/0/result.json
    # transcription-outputs/call-001/<jobId>/0/custom_output/0/result.json   <- notifies
    # transcription-outputs/call-001/<jobId>/job_metadata.json

Everything is derived from the callId, so the same call always yields the same objects.
"""

from __future__ import annotations

import copy
import hashlib
import json
import time
import urllib.parse
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from schemas.transcript_persistence import RESULT_KEY_PREFIX
from sluice.cli_format import cause_message
from sluice.devkit import DemoContext, DemoResult, Flow, failed_execution, http_status
from sluice.testing import wait_for

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from sluice.client import Gateway

BLUEPRINT_ARN = "arn:aws:bedrock:us-east-1:123456789012:blueprint/d68b41863f94"
BLUEPRINT_NAME = "ConversationalAnalytics"
_JOB_NAMESPACE = uuid.UUID("5b0d7c52-7f3e-4d4c-9a51-2f1c0e6a9b10")

# Four sample calls (topics, categories, summary, three lines); a callId picks one.
_CALLS: list[dict[str, Any]] = json.loads(
    (Path(__file__).parent / "transcript_calls.json").read_text(encoding="utf-8")
)


def default_job_id(call_id: str) -> str:
    return str(uuid.uuid5(_JOB_NAMESPACE, call_id))


def _sample(call_id: str) -> dict[str, Any]:
    digest = hashlib.sha256(call_id.encode("utf-8")).digest()
    return _CALLS[digest[0] % len(_CALLS)]


def sample_result(call_id: str) -> dict[str, Any]:
    """The custom output BDA writes for the call-analytics blueprint (as observed in AWS)."""
    call = _sample(call_id)
    return {
        "metadata": {
            "asset_id": "0",
            "semantic_modality": "AUDIO",
            "dominant_asset_language": "EN",
            "generative_output_language": "DEFAULT",
        },
        "matched_blueprint": {"arn": BLUEPRINT_ARN, "name": BLUEPRINT_NAME, "confidence": 1.0},
        "inference_result": {
            "topics": list(call["topics"]),
            "call_categories": list(call["call_categories"]),
            "call_summary": call["call_summary"],
        },
    }


def _standard_output(bucket: str, call_id: str) -> dict[str, Any]:
    call = _sample(call_id)
    items: list[dict[str, Any]] = []
    segments: list[dict[str, Any]] = []
    clock = 400
    for segment_index, line in enumerate(call["lines"]):
        start, indices = clock, []
        for word in line.split():
            indices.append(len(items))
            duration = 120 + 30 * len(word)
            items.append(
                {
                    "item_index": len(items),
                    "audio_segment_index": segment_index,
                    "content": word,
                    "start_timestamp_millis": clock,
                    "end_timestamp_millis": clock + duration,
                }
            )
            clock += duration + 40
        segments.append(
            {
                "start_timestamp_millis": start,
                "end_timestamp_millis": clock,
                "segment_index": segment_index,
                "type": "TRANSCRIPT",
                "text": line,
                "speaker": {"speaker_label": f"spk_{segment_index % 2}"},
                "channel": {"channel_label": "ch_0"},
                "audio_item_indices": indices,
                "language": "EN",
            }
        )
        clock += 600
    transcript = " ".join(call["lines"])
    return {
        "metadata": {
            "asset_id": "0",
            "semantic_modality": "AUDIO",
            "s3_bucket": bucket,
            "s3_key": f"raw-audio/{call_id}.wav",
            "sample_rate": 8000,
            "bitrate": 256000,
            "number_of_channels": 1,
            "codec": "pcm_s16le",
            "duration_millis": clock,
            "format": "wav",
            "dominant_asset_language": "EN",
            "generative_output_language": "DEFAULT",
        },
        "audio": {
            "summary": call["call_summary"],
            "transcript": {"representation": {"text": transcript}},
            "topics": [
                {
                    "topic_index": 0,
                    "start_timestamp_millis": 0,
                    "end_timestamp_millis": clock,
                    "summary": call["call_summary"],
                    "transcript": {"representation": {"text": transcript}},
                    "audio_segment_indices": list(range(len(segments))),
                }
            ],
        },
        "audio_items": items,
        "audio_segments": segments,
        "statistics": {"word_count": len(items), "topic_count": 1},
    }


def s3_event_record(
    bucket: str,
    key: str,
    *,
    event_name: str = "ObjectCreated:Put",
    event_time: str = "2026-01-10T00:20:00.000Z",
    sequencer: str = "0055AED6DCD90281E5",
    region: str = "us-east-1",
) -> dict[str, Any]:
    """One record of an S3 event notification, as AWS documents its structure (KEY as S3
    sends it: URL-encoded)."""
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": region,
        "eventTime": event_time,
        "eventName": event_name,
        "userIdentity": {"principalId": "AWS:AROAEXAMPLE:bedrock"},
        "requestParameters": {"sourceIPAddress": "10.0.0.1"},
        "responseElements": {
            "x-amz-request-id": "C3D13FE58DE4C810",
            "x-amz-id-2": "FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5",
        },
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "bedrock-output",
            "bucket": {
                "name": bucket,
                "ownerIdentity": {"principalId": "A3NL1KOZZKExample"},
                "arn": f"arn:aws:s3:::{bucket}",
            },
            "object": {
                "key": key,
                "size": 817,
                "eTag": "d41d8cd98f00b204e9800998ecf8427e",
                "sequencer": sequencer,
            },
        },
    }


def notified_bucket(s3: Any, sqs: Any, bucket: str, queue: str) -> tuple[str, str]:
    """BUCKET and QUEUE, created, with the S3 -> SQS notification of result.json writes the
    template configures (for tests on moto in-process); answers the queue's URL and ARN."""
    s3.create_bucket(Bucket=bucket)
    queue_url = sqs.create_queue(QueueName=queue)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    rules = [
        {"Name": "prefix", "Value": RESULT_KEY_PREFIX},
        {"Name": "suffix", "Value": "/custom_output/0/result.json"},
    ]
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "QueueArn": queue_arn,
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {"Key": {"FilterRules": rules}},
                }
            ]
        },
    )
    return str(queue_url), str(queue_arn)


def _put_json(s3: S3Client, bucket: str, key: str, document: dict[str, Any]) -> None:
    body = json.dumps(document, indent=2, ensure_ascii=False).encode("utf-8")
    s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")


def write_job_output(
    s3: S3Client,
    bucket: str,
    call_id: str,
    *,
    job_id: str | None = None,
    result: dict[str, Any] | None = None,
    malformed: bool = False,
) -> list[str]:
    """Write one job's output tree in BDA's order; return the keys written.

    `result` replaces the custom output; `malformed=True` drops its `call_summary`, so
    persisting it fails validation naming that field. `call_id` is not validated here, so
    tests can write keys the flow must reject.
    """
    job_id = job_id or default_job_id(call_id)
    job_prefix = f"{RESULT_KEY_PREFIX}{call_id}/{job_id}/"
    access_check_key = f"{job_prefix}0/.s3_access_check"
    standard_key = f"{job_prefix}0/standard_output/0/result.json"
    custom_key = f"{job_prefix}0/custom_output/0/result.json"
    metadata_key = f"{job_prefix}job_metadata.json"

    custom = copy.deepcopy(result) if result is not None else sample_result(call_id)
    if malformed:
        inference = custom.setdefault("inference_result", {})
        for name in ("call_summary", "callSummary"):
            inference.pop(name, None)

    # BDA checks it can write before it starts the job.
    s3.put_object(Bucket=bucket, Key=access_check_key, Body=b"")
    _put_json(s3, bucket, standard_key, _standard_output(bucket, call_id))
    _put_json(s3, bucket, custom_key, custom)
    _put_json(
        s3,
        bucket,
        metadata_key,
        {
            "job_id": job_id,
            "job_status": "PROCESSED",
            "semantic_modality": "AUDIO",
            "output_metadata": [
                {
                    "asset_id": 0,
                    "asset_input_path": {"s3_bucket": bucket, "s3_key": f"raw-audio/{call_id}.wav"},
                    "segment_metadata": [
                        {
                            "standard_output_path": f"s3://{bucket}/{standard_key}",
                            "custom_output_path": f"s3://{bucket}/{custom_key}",
                            "custom_output_status": "MATCH",
                        }
                    ],
                }
            ],
        },
    )
    return [access_check_key, standard_key, custom_key, metadata_key]


def produce(g: Gateway, count: int) -> str:
    """COUNT finished jobs, each under a new callId, in the stack's transcript bucket."""
    bucket = g.resource_name("TranscriptBucket")
    s3 = g.client("s3")
    batch = uuid.uuid4().hex[:8]
    for n in range(count):
        write_job_output(s3, bucket, f"call-{batch}-{n + 1:04d}")
    return f"wrote the BDA output of {count} call(s) to s3://{bucket}/{RESULT_KEY_PREFIX}"


def demo(ctx: DemoContext) -> DemoResult:
    """Four Bedrock Data Automation jobs land in S3; one has a malformed result."""
    g, console = ctx.gateway, ctx.console
    console.rule("transcript_persistence: S3 → SQS → Pipe → Express state machine → DynamoDB")
    bucket, table = g.resource_name("TranscriptBucket"), g.resource_name("CallRecordingsTable")
    dlq = g.resource_name("TranscriptDLQ")
    s3, ddb = g.client("s3"), g.client("dynamodb")
    good = ["call-1001", "call-1002", "call 1003 (transfer)"]
    started = time.time()
    for call_id in good:
        keys = write_job_output(s3, bucket, call_id)
        console.print(f"  wrote {len(keys)} BDA output objects for [bold]{call_id}[/]")
    write_job_output(s3, bucket, "call-1004", malformed=True)
    console.print("  wrote a malformed result for [bold]call-1004[/]")

    def stored() -> list[str] | None:
        found = [
            c for c in good if ddb.get_item(TableName=table, Key={"hash": {"S": c}}).get("Item")
        ]
        return found if len(found) == len(good) else None

    with console.status("waiting for the records"):
        wait_for(stored, timeout=60, what="the three call records")
    console.print(f"  3 records in {table} after {time.time() - started:.1f} s")
    with console.status("call-1004 is retried by SQS (3 receives), then dead-lettered"):
        [dead] = wait_for(
            lambda: g.get(f"/_sluice/dlq/{dlq}"), timeout=90, what="the malformed message"
        )
    reason = dead["reason"] or {}
    console.print(
        f"  [red]call-1004 → {dlq}[/] after {reason.get('failedDeliveries')} deliveries: "
        f"{reason.get('error')}: {cause_message(reason.get('cause'))}"
    )
    api = {}
    for call_id in (good[2], "call-9999", " bad"):
        path = "/analytics/" + urllib.parse.quote(call_id)
        api[path] = http_status(g.url + path)
    for path, status in api.items():
        console.print(f"  GET {path} → {status}")
    return DemoResult(
        written=f"{len(good)} call records",
        dead_lettered=1,
        api=api,
        failed_run=failed_execution(g, FLOW.name),
    )


FLOW = Flow(
    name="transcript_persistence",
    produce=produce,
    demo=demo,
    demo_order=10,
    execution_input="schemas.transcript_persistence:ExecutionInput",
)
