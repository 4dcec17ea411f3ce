"""ExpireSnapshots: the table's snapshots older than `snapshotMaxAgeSeconds` removed (the
newest `retainLast` and branch/tag heads kept), and the files only they referenced deleted.

Input and output: `MaintenanceState`, with `expiry` added. One metadata commit; a
concurrent commit raises `LakeCommitConflict`, which the state machine retries.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from pyiceberg.catalog import Catalog

from schemas.lake_maintenance import FLOW, Expiry, MaintenanceState
from tasks.common.lake.housekeeping import expire_snapshots as expire
from tasks.common.powertools import model_handler, powertools
from tasks.lake_maintenance.state import as_model, load

logger, tracer, metrics = powertools(FLOW)


def expire_snapshots(event: Any, catalog: Catalog | None = None) -> MaintenanceState:
    state, table = load(event, catalog)
    settings = state.request.settings()
    cutoff = datetime.now(UTC) - timedelta(seconds=settings.snapshot_max_age_seconds)
    result = expire(table, cutoff, settings.retain_last)
    state.expiry = as_model(Expiry, result)
    logger.info("snapshots expired", extra=state.expiry.model_dump())
    metrics.add_metric(
        name="SnapshotsExpired", unit=MetricUnit.Count, value=result.snapshots_expired
    )
    return state


handler = model_handler(expire_snapshots, logger, tracer, metrics)
