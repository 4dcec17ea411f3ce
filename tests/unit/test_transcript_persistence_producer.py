"""The BDA output-tree producer: layout, order, content the flow accepts or rejects."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import ValidationError

from devkit.transcript_persistence import default_job_id, sample_result, write_job_output
from schemas.transcript_persistence import BdaCustomOutput, parse_result_key
from sluice.testing import in_process_aws

REGION = "us-east-1"
BUCKET = "outputs"
JOB = "10b5e546-5e92-43a3-b6f5-9631c1a5e6a7"
PREFIX = f"transcription-outputs/call-001/{JOB}/"


class RecordingS3:
    """Only what the producer calls, in call order."""

    def __init__(self) -> None:
        self.puts: list[tuple[str, str, bytes]] = []

    def put_object(self, *, Bucket: str, Key: str, Body: bytes, **_: Any) -> dict[str, Any]:
        self.puts.append((Bucket, Key, Body))
        return {}


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    with in_process_aws({}) as moto:
        client = moto.client("s3")
        client.create_bucket(Bucket=BUCKET)
        yield client


def _json(s3: Any, key: str) -> Any:
    return json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())


def test_tree_is_written_in_bda_order() -> None:
    s3 = RecordingS3()

    keys = write_job_output(s3, BUCKET, "call-001", job_id=JOB)  # type: ignore[arg-type]

    assert keys == [
        f"{PREFIX}0/.s3_access_check",
        f"{PREFIX}0/standard_output/0/result.json",
        f"{PREFIX}0/custom_output/0/result.json",
        f"{PREFIX}job_metadata.json",
    ]
    assert [key for _, key, _ in s3.puts] == keys
    assert s3.puts[0][2] == b""


def test_objects_are_what_bda_writes(s3: Any) -> None:
    keys = write_job_output(s3, BUCKET, "call-001", job_id=JOB)

    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert sorted(listed) == sorted(keys)
    custom = BdaCustomOutput.model_validate(_json(s3, keys[2]))
    assert custom.matched_blueprint.name == "ConversationalAnalytics"
    assert custom.inference_result.topics and custom.inference_result.call_summary
    standard = _json(s3, keys[1])
    assert standard["metadata"]["semantic_modality"] == "AUDIO"
    words = [item["content"] for item in standard["audio_items"]]
    assert " ".join(words) == standard["audio"]["transcript"]["representation"]["text"]
    assert standard["statistics"]["word_count"] == len(words)
    metadata = _json(s3, keys[3])
    segment = metadata["output_metadata"][0]["segment_metadata"][0]
    assert metadata["job_id"] == JOB
    assert segment == {
        "standard_output_path": f"s3://{BUCKET}/{keys[1]}",
        "custom_output_path": f"s3://{BUCKET}/{keys[2]}",
        "custom_output_status": "MATCH",
    }
    assert parse_result_key(keys[2]).call_id == "call-001"


def test_defaults_are_deterministic_per_call() -> None:
    first, again, other = RecordingS3(), RecordingS3(), RecordingS3()

    keys = write_job_output(first, BUCKET, "call-001")  # type: ignore[arg-type]
    write_job_output(again, BUCKET, "call-001")  # type: ignore[arg-type]
    write_job_output(other, BUCKET, "call-002")  # type: ignore[arg-type]

    assert first.puts == again.puts
    assert parse_result_key(keys[2]).job_id == default_job_id("call-001")
    assert default_job_id("call-001") != default_job_id("call-002")
    assert [p[1] for p in first.puts] != [p[1] for p in other.puts]


def test_given_result_is_written_verbatim(s3: Any) -> None:
    result = sample_result("call-001")
    result["inference_result"]["topics"] = ["custom topic"]

    keys = write_job_output(s3, BUCKET, "call-001", job_id=JOB, result=result)

    assert _json(s3, keys[2]) == result


def test_malformed_result_lacks_the_summary(s3: Any) -> None:
    keys = write_job_output(s3, BUCKET, "call-001", job_id=JOB, malformed=True)

    with pytest.raises(ValidationError, match=r"inference_result\.call_summary"):
        BdaCustomOutput.model_validate(_json(s3, keys[2]))
