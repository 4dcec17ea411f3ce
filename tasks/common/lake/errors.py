"""Lake failures; each class name is the ASL error name a state machine can match."""


class LakeError(Exception):
    """Base class of lake failures."""


class LakeConfigError(LakeError):
    """The lake's environment variables are missing or inconsistent."""


class LakeCommitConflict(LakeError):
    """Another writer changed the files this commit replaces; re-plan and retry.

    The class name is the ASL error name a state machine retries with backoff.
    """
