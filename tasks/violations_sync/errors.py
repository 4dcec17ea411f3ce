"""Failures the state machine tells apart: each class name is the ASL error name (`errorType`).

`LakeCommitConflict` (raised by `tasks.common.lake`, not re-exported here: Normalize imports
this module and must not pull in the lake) is retried with backoff and jitter; the rest fail
the execution at once, so the Pipe retries the batch and finally dead-letters it.
"""


class ViolationsSyncError(Exception):
    """Base class; never raised itself."""


class PoisonRecordError(ViolationsSyncError):
    """A stream record cannot be decoded (names the record and the field); never retried."""


class InvalidChangeSetError(ViolationsSyncError):
    """Merge got something other than Normalize's output; a wiring bug, never retried."""


__all__ = [
    "InvalidChangeSetError",
    "PoisonRecordError",
    "ViolationsSyncError",
]
