"""transcript_persistence: the shapes that flow from a BDA result.json to the CallRecordings table.

Bedrock Data Automation (BDA) writes one output tree per transcription job::

    transcription-outputs/{callId}/{jobId}/job_metadata.json
    transcription-outputs/{callId}/{jobId}/0/.s3_access_check
    transcription-outputs/{callId}/{jobId}/0/standard_output/0/result.json
    transcription-outputs/{callId}/{jobId}/0/custom_output/0/result.json   <- S3 notifies on this

The custom output holds the call-analytics blueprint's answer (topics, categories, summary).
S3 notifies SQS, a Pipe hands the batch to the state machine, and each message becomes at
most one `CallRecording` keyed by callId.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal
from urllib.parse import unquote_plus

from aws_lambda_powertools.utilities.parser.models import (
    S3Model,
    S3RecordModel,
    S3SqsEventNotificationRecordModel,
    SqsRecordModel,
)
from aws_lambda_powertools.utilities.parser.models.s3 import S3Message, S3Object
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from pydantic import (
    AliasChoices,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    Json,
    NonNegativeInt,
    StringConstraints,
    TypeAdapter,
    ValidationError,
)

from schemas.base import Frozen
from schemas.validation import describe_validation_error

FLOW = "transcript_persistence"

# One pattern for the key layout, the stored record and the API path: an id that passes
# here can always be looked up again over HTTP. Call ids come from telephony systems and
# may hold spaces, `+`, parentheses or non-ASCII letters; only what cannot be one path
# segment (slashes, backslashes, control characters) or starts with a space is refused.
CALL_ID_PATTERN = r"^[^\s/\\\x00-\x1f\x7f][^/\\\x00-\x1f\x7f]{0,127}$"
CallId = Annotated[str, StringConstraints(pattern=CALL_ID_PATTERN)]
JobId = Annotated[str, StringConstraints(pattern=CALL_ID_PATTERN)]

RESULT_KEY_PREFIX = "transcription-outputs/"
RESULT_KEY_SUFFIX = "/custom_output/0/result.json"
_RESULT_KEY = re.compile(
    r"^transcription-outputs/(?P<call_id>[^/]+)/(?P<job_id>[^/]+)/(?P<asset>\d+)"
    r"/custom_output/0/result\.json$"
)

TEST_EVENT = "s3:TestEvent"


# -- S3 keys -------------------------------------------------------------------------


class InvalidResultKey(ValueError):
    """The object key is not a custom-output result.json of the transcription layout."""


class ResultKey(Frozen):
    """Where one custom-output result lives, and whose call it is."""

    call_id: CallId
    job_id: JobId
    asset_index: NonNegativeInt = 0

    @property
    def job_prefix(self) -> str:
        return f"{RESULT_KEY_PREFIX}{self.call_id}/{self.job_id}/"

    @property
    def key(self) -> str:
        return f"{self.job_prefix}{self.asset_index}/custom_output/0/result.json"


def decode_s3_key(raw: str) -> str:
    """An event notification's key as stored: S3 form-encodes it (`+` is a space, `%2B` a plus).

    Apply exactly once; decoding twice turns a literal `%41` in a key into `A`.
    """
    return unquote_plus(raw, encoding="utf-8", errors="strict")


def parse_result_key(key: str) -> ResultKey:
    """Split an already-decoded key into callId and jobId, or raise `InvalidResultKey`."""
    match = _RESULT_KEY.match(key)
    if match is None:
        raise InvalidResultKey(
            f"key {key!r} is not {RESULT_KEY_PREFIX}{{callId}}/{{jobId}}/{{n}}{RESULT_KEY_SUFFIX}"
        )
    try:
        return ResultKey(
            call_id=match["call_id"], job_id=match["job_id"], asset_index=int(match["asset"])
        )
    except ValidationError as exc:
        raise InvalidResultKey(f"key {key!r}: {describe_validation_error(exc)}") from exc


# -- S3 sequencer ------------------------------------------------------------------------

# S3's `sequencer` orders the events of one key: hexadecimal, and to compare two, right-pad
# the shorter with zeros, then compare as strings (notification-content-structure). Padding
# every sequencer to one width makes DynamoDB's string comparison that same comparison.
SEQUENCER_WIDTH = 64
_SEQUENCER = re.compile(rf"^[0-9A-Fa-f]{{1,{SEQUENCER_WIDTH}}}$")


class InvalidSequencer(ValueError):
    """The notification's sequencer is not hexadecimal, or longer than SEQUENCER_WIDTH."""


def sequencer_order(sequencer: str | None) -> str:
    """SEQUENCER as a string whose order is S3's order for one key: upper case, right-padded
    with zeros to SEQUENCER_WIDTH. An event without one (not from S3) sorts first."""
    if sequencer is None:
        return "0" * SEQUENCER_WIDTH
    if not _SEQUENCER.fullmatch(sequencer):
        raise InvalidSequencer(
            f"sequencer {sequencer!r} is not 1 to {SEQUENCER_WIDTH} hexadecimal digits"
        )
    return sequencer.upper().ljust(SEQUENCER_WIDTH, "0")


# -- BDA custom output (result.json) -----------------------------------------------


class MatchedBlueprint(BaseModel):
    model_config = ConfigDict(extra="allow")

    arn: str = Field(min_length=1)
    name: str = Field(min_length=1)
    confidence: float = Field(ge=0.0, le=1.0)
    version: str | None = None


class CustomOutputMetadata(BaseModel):
    model_config = ConfigDict(extra="allow")

    asset_id: str | int | None = None
    semantic_modality: str | None = None
    dominant_asset_language: str | None = None
    generative_output_language: str | None = None


class CallAnalytics(BaseModel):
    """The call-analytics blueprint's fields.

    BDA names inference fields after the blueprint's properties; this blueprint has been
    seen with snake_case (`call_summary`) and camelCase (`callSummary`), so both are read.
    """

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    topics: list[str]
    call_categories: list[str] = Field(
        validation_alias=AliasChoices("call_categories", "callCategories")
    )
    call_summary: str = Field(validation_alias=AliasChoices("call_summary", "callSummary"))


class BdaCustomOutput(BaseModel):
    """`custom_output/0/result.json` of an audio job matched to the call-analytics blueprint."""

    model_config = ConfigDict(extra="allow")

    matched_blueprint: MatchedBlueprint
    inference_result: CallAnalytics
    metadata: CustomOutputMetadata | None = None
    document_class: dict[str, Any] | None = None
    explainability_info: list[dict[str, Any]] | None = None


# -- S3 event notifications (the SQS message body) ------------------------------------
# Powertools' models of the documented notification structure, tightened where this flow
# relies on more: an event time with its zone, an object, and at least one record.


class S3TestEvent(BaseModel):
    """Sent once by S3 when the notification is configured; acknowledged and ignored."""

    model_config = ConfigDict(extra="allow")

    Service: str
    Event: Literal["s3:TestEvent"]
    Time: str | None = None
    Bucket: str


class S3NotificationEntity(S3Message):
    object: S3Object  # every object event names its object


class S3NotificationRecord(S3RecordModel):
    eventTime: AwareDatetime
    s3: S3NotificationEntity

    @property
    def event_time_ms(self) -> int:
        return epoch_millis(self.eventTime)


class S3Notification(S3Model):
    Records: list[S3NotificationRecord] = Field(min_length=1)  # type: ignore[assignment]


class S3NotificationMessage(S3SqsEventNotificationRecordModel):
    """An SQS record whose body is an S3 event notification."""

    body: Json[S3Notification]


def epoch_millis(moment: datetime) -> int:
    """Exact integer milliseconds (float timestamps lose the last digit on some values)."""
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)


# -- The stored record -----------------------------------------------------------------

_SERIALIZER = TypeSerializer()
_DESERIALIZER = TypeDeserializer()

HASH_KEY = "hash"
# The stored record's S3 sequencer (`sequencer_order`), read only by the conditional put.
SEQUENCER_ATTRIBUTE = "s3Sequencer"


class CallRecording(BaseModel):
    """One item of the CallRecordings table (hash key `hash` = callId)."""

    callId: CallId
    timestamp: NonNegativeInt = Field(description="eventTime of the S3 notification, epoch ms")
    topics: list[str]
    callCategories: list[str]
    callSummary: str
    s3Key: str = Field(min_length=1)

    def to_item(self) -> dict[str, Any]:
        return {HASH_KEY: self.callId, **self.model_dump()}

    def to_dynamodb_item(self) -> dict[str, Any]:
        """The item in DynamoDB JSON, as the direct `dynamodb:putItem` integration needs it."""
        return {name: _SERIALIZER.serialize(value) for name, value in self.to_item().items()}

    @classmethod
    def from_dynamodb_item(cls, item: dict[str, Any]) -> CallRecording:
        plain = {name: _DESERIALIZER.deserialize(value) for name, value in item.items()}
        plain.pop(HASH_KEY, None)
        return cls.model_validate(plain)


# -- Task inputs and outputs -------------------------------------------------------------


class LoadResultOutput(BaseModel):
    """What LoadResult hands the state machine: a conditional put to make, or a skip."""

    messageId: str
    action: Literal["PUT", "SKIP"]
    reason: str | None = None
    callId: str | None = None
    item: dict[str, Any] | None = Field(default=None, description="DynamoDB JSON")
    expressionAttributeValues: dict[str, Any] | None = Field(
        default=None, description="DynamoDB JSON values for the put's ConditionExpression"
    )


Outcome = Literal["STORED", "SUPERSEDED", "SKIPPED", "FAILED"]


class MessageOutcome(BaseModel):
    """One Map iteration's result: what happened to one SQS message."""

    model_config = ConfigDict(extra="allow")

    messageId: str = Field(min_length=1)
    outcome: Outcome
    error: dict[str, Any] | None = Field(default=None, description="the Catch's Error/Cause")


class BatchItemFailure(BaseModel):
    itemIdentifier: str = Field(min_length=1)


class BatchResponse(BaseModel):
    """Pipes' partial batch response: only these messages return to the queue."""

    batchItemFailures: list[BatchItemFailure]


# -- Execution input -------------------------------------------------------------------

# What the Pipe hands the state machine (and what the console validates a hand-started
# execution against): the batch of SQS records, as a JSON array. Pipes never send an empty
# batch, so one record at least.
ExecutionInput: TypeAdapter[list[SqsRecordModel]] = TypeAdapter(
    Annotated[list[SqsRecordModel], Field(min_length=1)]
)
