"""transcript_persistence schemas: BDA result validation, key layout, the stored record."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from devkit.transcript_persistence import s3_event_record
from schemas.transcript_persistence import (
    BatchResponse,
    BdaCustomOutput,
    CallRecording,
    InvalidResultKey,
    InvalidSequencer,
    MessageOutcome,
    S3Notification,
    decode_s3_key,
    epoch_millis,
    parse_result_key,
    sequencer_order,
)
from schemas.validation import describe_validation_error


def _result(**inference: Any) -> dict[str, Any]:
    return {
        "metadata": {"dominant_asset_language": "EN", "generative_output_language": "DEFAULT"},
        "matched_blueprint": {
            "arn": "arn:aws:bedrock:us-east-1:123456789012:blueprint/d68b41863f94",
            "name": "ConversationalAnalytics",
            "confidence": 1.0,
        },
        "inference_result": {
            "topics": ["art", "culture"],
            "call_categories": ["General inquiries", "Other"],
            "call_summary": "The speaker talks about art.",
            **inference,
        },
    }


def _errors(document: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as info:
        BdaCustomOutput.model_validate(document)
    return describe_validation_error(info.value)


def test_observed_bda_output_validates_and_keeps_extra_fields() -> None:
    document = _result(sentiment="neutral")
    document["explainability_info"] = [{"topics": {"confidence": 0.9}}]

    parsed = BdaCustomOutput.model_validate(document)

    assert parsed.matched_blueprint.name == "ConversationalAnalytics"
    assert parsed.inference_result.topics == ["art", "culture"]
    assert parsed.inference_result.call_categories == ["General inquiries", "Other"]
    assert parsed.inference_result.call_summary == "The speaker talks about art."
    assert parsed.model_dump()["inference_result"]["sentiment"] == "neutral"


def test_camel_case_blueprint_fields_are_read_too() -> None:
    document = _result()
    document["inference_result"] = {
        "topics": ["billing"],
        "callCategories": ["Billing"],
        "callSummary": "Late fee waived.",
    }

    parsed = BdaCustomOutput.model_validate(document).inference_result

    assert (parsed.call_categories, parsed.call_summary) == (["Billing"], "Late fee waived.")


def test_missing_summary_is_named() -> None:
    document = _result()
    del document["inference_result"]["call_summary"]

    assert _errors(document) == "inference_result.call_summary: Field required"


def test_wrong_types_name_every_field() -> None:
    message = _errors(_result(topics="art", call_categories=["ok", 3]))

    assert "inference_result.topics: Input should be a valid list" in message
    assert "inference_result.call_categories.1: Input should be a valid string" in message


def test_blueprint_confidence_out_of_range_is_named() -> None:
    document = _result()
    document["matched_blueprint"]["confidence"] = 1.5

    assert _errors(document).startswith("matched_blueprint.confidence:")


def test_missing_matched_blueprint_is_named() -> None:
    document = _result()
    del document["matched_blueprint"]

    assert _errors(document) == "matched_blueprint: Field required"


JOB = "10b5e546-5e92-43a3-b6f5-9631c1a5e6a7"
KEY = f"transcription-outputs/call-001/{JOB}/0/custom_output/0/result.json"


def test_result_key_layout_parses() -> None:
    parsed = parse_result_key(KEY)

    assert parsed.call_id == "call-001"
    assert parsed.job_id == JOB
    assert parsed.asset_index == 0
    assert parsed.key == KEY


@pytest.mark.parametrize(
    "key",
    [
        "transcription-outputs/call-001/job/0/standard_output/0/result.json",
        "transcription-outputs/call-001//job/0/custom_output/0/result.json",
        "transcription-outputs/call-001/0/custom_output/0/result.json",
        "other/call-001/job/0/custom_output/0/result.json",
        "transcription-outputs/call-001/job/0/custom_output/0/result.json.bak",
    ],
)
def test_keys_outside_the_layout_are_rejected(key: str) -> None:
    with pytest.raises(InvalidResultKey, match="is not transcription-outputs/"):
        parse_result_key(key)


@pytest.mark.parametrize(
    ("call_id", "field"),
    [(" leading-space", "call_id"), ("ctrl\x01char", "call_id"), ("x" * 129, "call_id")],
)
def test_call_ids_outside_the_pattern_are_named(call_id: str, field: str) -> None:
    key = f"transcription-outputs/{call_id}/job-1/0/custom_output/0/result.json"

    with pytest.raises(InvalidResultKey, match=f"{field}: String should match pattern"):
        parse_result_key(key)


@pytest.mark.parametrize(
    ("raw", "decoded"),
    [
        ("transcription-outputs/call+001/r.json", "transcription-outputs/call 001/r.json"),
        ("a%2Bb", "a+b"),
        ("caf%C3%A9", "café"),
        ("%E9%9F%B3%E5%A3%B0", "音声"),
        ("call%2541", "call%41"),
        ("plain-key_1.json", "plain-key_1.json"),
    ],
)
def test_event_keys_are_decoded_exactly_once(raw: str, decoded: str) -> None:
    assert decode_s3_key(raw) == decoded


def test_double_encoded_call_id_is_decoded_exactly_once() -> None:
    # `call%2541` is the notification form of the literal key segment `call%41`.
    key = decode_s3_key("transcription-outputs/call%2541/job/0/custom_output/0/result.json")

    assert parse_result_key(key).call_id == "call%41"


@pytest.mark.parametrize("call_id", ["call 001", "café", "+1 (555) 0100", "-leading"])
def test_call_ids_from_telephony_systems_are_accepted(call_id: str) -> None:
    key = f"transcription-outputs/{call_id}/job-1/0/custom_output/0/result.json"

    assert parse_result_key(key).call_id == call_id


def test_event_time_becomes_exact_epoch_millis() -> None:
    record = s3_event_record("b", "k", event_time="2025-01-10T00:20:00.123Z")
    notification = S3Notification.model_validate({"Records": [record]})

    assert notification.Records[0].event_time_ms == 1736468400123
    assert epoch_millis(datetime(2025, 1, 10, 0, 20, tzinfo=UTC)) == 1736468400000


def test_naive_event_time_is_rejected() -> None:
    with pytest.raises(ValidationError, match=r"Records\.0\.eventTime"):
        S3Notification.model_validate(
            {"Records": [s3_event_record("b", "k", event_time="2025-01-10T00:20:00")]}
        )


def test_call_recording_round_trips_through_dynamodb_json() -> None:
    recording = CallRecording(
        callId="call-001",
        timestamp=1736468400000,
        topics=["art", "culture"],
        callCategories=[],
        callSummary="Summary.",
        s3Key=KEY,
    )

    item = recording.to_dynamodb_item()

    assert item == {
        "hash": {"S": "call-001"},
        "callId": {"S": "call-001"},
        "timestamp": {"N": "1736468400000"},
        "topics": {"L": [{"S": "art"}, {"S": "culture"}]},
        "callCategories": {"L": []},
        "callSummary": {"S": "Summary."},
        "s3Key": {"S": KEY},
    }
    assert CallRecording.from_dynamodb_item(item) == recording


def test_outcomes_and_batch_response_reject_empty_identifiers() -> None:
    with pytest.raises(ValidationError, match="messageId"):
        MessageOutcome.model_validate({"messageId": "", "outcome": "FAILED"})
    with pytest.raises(ValidationError, match=r"batchItemFailures\.0\.itemIdentifier"):
        BatchResponse.model_validate({"batchItemFailures": [{"itemIdentifier": ""}]})


@pytest.mark.parametrize(
    ("earlier", "later"),
    [
        ("0055AED6DCD90281E5", "0055AED6DCD90281E6"),
        # S3's rule: right-pad the shorter with zeros, then compare: "1" is "10", after "0F".
        ("0F", "1"),
        ("0055AED6DCD90281E5", "0055AED6DCD90281E50001"),
        ("0055aed6dcd90281e5", "0055AED6DCD90281E6"),  # case does not matter
        (None, "01"),  # no sequencer (not from S3) sorts first
    ],
)
def test_sequencer_order_is_s3s_order_as_plain_string_order(
    earlier: str | None, later: str
) -> None:
    assert sequencer_order(earlier) < sequencer_order(later)
    assert len(sequencer_order(earlier)) == len(sequencer_order(later)) == 64


@pytest.mark.parametrize("bad", ["", "XYZ", "0x55", "A" * 65])
def test_a_sequencer_that_is_not_short_hex_is_refused(bad: str) -> None:
    with pytest.raises(InvalidSequencer):
        sequencer_order(bad)
