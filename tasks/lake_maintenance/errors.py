"""Failures the state machine tells apart: each class name is the ASL error name.

`LakeCommitConflict` (from `tasks.common.lake`) is retried with backoff and jitter; an
invalid request fails the execution at once, naming what is wrong, with nothing written.
"""


class InvalidMaintenanceRequest(Exception):
    """The input names no existing lake table, or a setting is out of range; never retried."""


__all__ = ["InvalidMaintenanceRequest"]
