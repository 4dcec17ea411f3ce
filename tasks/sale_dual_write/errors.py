"""Failures the state machines tell apart: each class name is the ASL error name (`errorType`)."""


class SaleDualWriteError(Exception):
    """Base class; never raised itself."""


class InvalidSaleEventError(SaleDualWriteError):
    """The event is not a valid `carousel.product.sold` event; names every bad field.

    Not retried: the execution fails at validation and nothing is written.
    """


class InvalidLakeBatchError(SaleDualWriteError):
    """The loader got something other than a Pipe batch of SQS records."""


class SalesTableUnavailableError(SaleDualWriteError):
    """DynamoDB kept some keys unprocessed after retries (throttling); retried in ASL."""
