"""RemoveOrphanFiles: files in the table's folders that no metadata references and that are
older than `orphanMinAgeSeconds` (a crashed writer's files, old metadata versions) deleted.

Input and output: `MaintenanceState`, with `orphans` added. Commits nothing, so it never
conflicts; files younger than the minimum age may be a running writer's and are kept.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from pyiceberg.catalog import Catalog

from schemas.lake_maintenance import FLOW, MaintenanceState, Orphans
from tasks.common.lake.housekeeping import remove_orphan_files as remove
from tasks.common.powertools import model_handler, powertools
from tasks.lake_maintenance.state import as_model, load

logger, tracer, metrics = powertools(FLOW)


def remove_orphan_files(event: Any, catalog: Catalog | None = None) -> MaintenanceState:
    state, table = load(event, catalog)
    min_age = state.request.settings().orphan_min_age_seconds
    cutoff = datetime.now(UTC) - timedelta(seconds=min_age)
    result = remove(table, cutoff)
    state.orphans = as_model(Orphans, result)
    logger.info("orphan files removed", extra=state.orphans.model_dump())
    metrics.add_metric(name="OrphansRemoved", unit=MetricUnit.Count, value=result.orphans_removed)
    return state


handler = model_handler(remove_orphan_files, logger, tracer, metrics)
