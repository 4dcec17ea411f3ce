"""lake_maintenance: one lake table's compaction, snapshot expiry and orphan file removal.

The execution input names the table; the rest defaults to the functions' environment
(template parameters), so the schedule rule sends only ``{"table": "pricing.sales_history"}``
and a person may override a setting for one run::

    {"table": "pricing.sales_history", "snapshotMaxAgeSeconds": 3600}

Each task passes the state on with its own section added, so the execution's output is::

    {"request": {...}, "compaction": {...}, "expiry": {...}, "orphans": {...}}
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from schemas.base import Frozen

FLOW = "lake_maintenance"
EVENT_SOURCE = "sluice.lake"
DETAIL_TYPE = "Lake Maintenance Requested"

ENV_TARGET_FILE_BYTES = "LAKE_TARGET_FILE_BYTES"
ENV_SNAPSHOT_MAX_AGE = "LAKE_SNAPSHOT_MAX_AGE_SECONDS"
ENV_ORPHAN_MIN_AGE = "LAKE_ORPHAN_MIN_AGE_SECONDS"
ENV_RETAIN_SNAPSHOTS = "LAKE_RETAIN_SNAPSHOTS"
ENV_ROUND_SECONDS = "LAKE_COMPACT_BUDGET_SECONDS"
DEFAULTS = {
    ENV_TARGET_FILE_BYTES: 128 * 1024 * 1024,
    ENV_SNAPSHOT_MAX_AGE: 7 * 24 * 3600,
    ENV_ORPHAN_MIN_AGE: 3 * 24 * 3600,
    ENV_RETAIN_SNAPSHOTS: 1,
    ENV_ROUND_SECONDS: 60,
}

TableName = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*$")
]
Seconds = Annotated[int, Field(ge=0, le=10 * 365 * 24 * 3600)]


class MaintenanceRequest(Frozen):
    """What to maintain and how; unset settings come from the environment."""

    model_config = ConfigDict(extra="forbid")

    table: TableName
    targetFileBytes: Annotated[int, Field(ge=1024 * 1024, le=1024**3)] | None = None
    snapshotMaxAgeSeconds: Seconds | None = None
    # At least a minute: a younger unreferenced file may be a running writer's, not an orphan.
    orphanMinAgeSeconds: Annotated[int, Field(ge=60, le=10 * 365 * 24 * 3600)] | None = None
    retainLast: Annotated[int, Field(ge=1, le=10_000)] | None = None
    # A compaction round starts no partition after this many seconds (0: one per round).
    compactRoundSeconds: Annotated[int, Field(ge=0, le=600)] | None = None

    def settings(self) -> Settings:
        """Every setting, from the environment where the request left it unset."""

        def env(name: str) -> int:
            return int(os.environ.get(name) or DEFAULTS[name])

        def pick(value: int | None, name: str) -> int:
            return value if value is not None else env(name)

        return Settings(
            target_file_bytes=pick(self.targetFileBytes, ENV_TARGET_FILE_BYTES),
            snapshot_max_age_seconds=pick(self.snapshotMaxAgeSeconds, ENV_SNAPSHOT_MAX_AGE),
            orphan_min_age_seconds=pick(self.orphanMinAgeSeconds, ENV_ORPHAN_MIN_AGE),
            retain_last=pick(self.retainLast, ENV_RETAIN_SNAPSHOTS),
            compact_round_seconds=pick(self.compactRoundSeconds, ENV_ROUND_SECONDS),
        )


@dataclass(frozen=True)
class Settings:
    target_file_bytes: int
    snapshot_max_age_seconds: int
    orphan_min_age_seconds: int
    retain_last: int
    compact_round_seconds: int


class Compaction(BaseModel):
    """Totals over the CompactFiles rounds of one run; `remaining` > 0 runs another round."""

    rounds: int = 0
    remaining: int = 0
    partitionsCompacted: int = 0
    filesBefore: int | None = None
    filesRewritten: int = 0
    filesAdded: int = 0
    filesAfter: int = 0
    rowsRewritten: int = 0


class Expiry(BaseModel):
    snapshotsExpired: int
    snapshotsKept: int
    filesDeleted: int
    deletion: str


class Orphans(BaseModel):
    filesScanned: int
    filesReferenced: int
    orphansRemoved: int
    orphansTooYoung: int
    deletion: str


class MaintenanceState(BaseModel):
    """The execution's state between tasks (and its output)."""

    model_config = ConfigDict(extra="forbid")

    request: MaintenanceRequest
    compaction: Compaction | None = None
    expiry: Expiry | None = None
    orphans: Orphans | None = None
