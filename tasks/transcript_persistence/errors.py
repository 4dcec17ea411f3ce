"""Failures the state machine tells apart: each class name is the ASL error name (`errorType`).

None of them is retried inside an execution: the Map's Catch reports the message as a
batch item failure, SQS redelivers it, and after maxReceiveCount it lands in the DLQ.
"""


class TranscriptPersistenceError(Exception):
    """Base class; never raised itself."""


class MalformedEventError(TranscriptPersistenceError):
    """The SQS record, or the S3 event notification in its body, is not the expected shape."""


class InvalidResultKeyError(TranscriptPersistenceError):
    """The notified key does not follow `transcription-outputs/{callId}/{jobId}/...` layout."""


class ResultNotFoundError(TranscriptPersistenceError):
    """The notified result.json no longer exists (deleted before it was processed)."""


class MalformedResultError(TranscriptPersistenceError):
    """result.json is not JSON, or not the call-analytics blueprint's output; names the field."""
