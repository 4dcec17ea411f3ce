"""CompactFiles: one round of rewriting each partition's small files into target-size files.

Input and output: `MaintenanceState`; the output's `compaction` adds this round to the
totals, and `remaining` > 0 makes the state machine run another round (a round starts no
partition after `compactRoundSeconds`, LAKE_COMPACT_BUDGET_SECONDS by default).

Each partition is one commit; a concurrent commit to the same partition raises
`LakeCommitConflict`, which the state machine retries: the retry re-plans from the new
snapshot, so partitions committed before the conflict are not redone and no row is lost
or doubled.
"""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from pyiceberg.catalog import Catalog

from schemas.lake_maintenance import FLOW, Compaction, MaintenanceState
from tasks.common.lake.compact import compact
from tasks.common.powertools import model_handler, powertools
from tasks.lake_maintenance.state import data_files, load

logger, tracer, metrics = powertools(FLOW)


def compact_files(event: Any, catalog: Catalog | None = None) -> MaintenanceState:
    state, table = load(event, catalog)
    totals = state.compaction or Compaction(filesBefore=data_files(table))
    settings = state.request.settings()
    result = compact(
        table,
        settings.target_file_bytes,
        deadline=time.monotonic() + settings.compact_round_seconds,
        snapshot_properties={"sluice.flow": FLOW, "sluice.operation": "compaction"},
    )
    state.compaction = Compaction(
        rounds=totals.rounds + 1,
        partitionsCompacted=totals.partitionsCompacted + result.partitions_compacted,
        filesRewritten=totals.filesRewritten + result.files_rewritten,
        filesAdded=totals.filesAdded + result.files_added,
        rowsRewritten=totals.rowsRewritten + result.rows_rewritten,
        remaining=result.remaining,
        filesBefore=totals.filesBefore,
        filesAfter=data_files(table),
    )
    logger.info("compaction round", extra=state.compaction.model_dump())
    metrics.add_metric(name="FilesRewritten", unit=MetricUnit.Count, value=result.files_rewritten)
    return state


handler = model_handler(compact_files, logger, tracer, metrics)
