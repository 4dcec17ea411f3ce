"""Failures the state machine tells apart: each class name is the ASL error name (`errorType`)."""


class BedrockBatchError(Exception):
    """Base class; never raised itself."""


class InvalidBatchConfigError(BedrockBatchError):
    """The execution input is not a valid batch config; names every bad field. Not retried."""


class ManifestMissingError(BedrockBatchError):
    """A step's S3 object (manifest, output file) is not where the previous step left it."""


class BedrockThrottledError(BedrockBatchError):
    """Bedrock throttled or was briefly unavailable; retried with backoff in ASL."""


class BedrockJobRejectedError(BedrockBatchError):
    """Bedrock refused to create the job (validation, quota); not retried."""


class BedrockJobMissingError(BedrockBatchError):
    """Bedrock does not know the job (or refused the request for good); not retried."""


class ViolationsTableUnavailableError(BedrockBatchError):
    """DynamoDB kept items unprocessed after retries (throttling); retried in ASL."""
