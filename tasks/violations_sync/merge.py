"""Merge: Normalize's changes -> one MERGE into `silver.violations`, plus the quarantine.

INSERT and MODIFY set the Bedrock columns of the violation's row; REMOVE clears them. A
change never overwrites content stored from a higher SequenceNumber, so redelivered
and redriven batches change nothing. Content for a violation the lake does not have yet is
kept in `silver.violations_unmatched` (newest per violation, with the reason) and merged
by a later batch for the same violation or by `redrive_unmatched`.

Input: `NormalizeOutput`. Output (`MergeSummary`, the execution's output)::

    {"records": 100, "changes": 97, "updated": 90, "cleared": 2, "stale": 0,
     "quarantined": 5, "unmatched_ids": ["OSHA-9", ...], "files_rewritten": 12,
     "files_added": 12, "snapshot_id": 4983..., ...}

A concurrent writer that touched the same data files makes the commit fail with
`LakeCommitConflict`; the state machine retries the task, which re-plans from the new
snapshot. The write is one overwrite snapshot of `silver.violations` per batch.

Environment: ``LAKE_WAREHOUSE`` and, in AWS, ``LAKE_CATALOG_URI`` (see `tasks.common.lake`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
from aws_lambda_powertools.metrics import MetricUnit
from pyiceberg.catalog import Catalog
from pyiceberg.table import Table

from schemas.violations_sync import (
    BEDROCK_COLUMNS,
    FLOW,
    KEY,
    UNMATCHED_REASON,
    UNMATCHED_TABLE,
    VIOLATIONS_TABLE,
    MergeSummary,
    NormalizeOutput,
    ViolationChange,
    sortable_sequence_number,
)
from schemas.violations_sync_lake import (
    UNMATCHED_SCHEMA,
    VIOLATIONS_PARTITION_SPEC,
    VIOLATIONS_SCHEMA,
    VIOLATIONS_SORT_ORDER,
)
from tasks.common.lake import (
    catalog_from_env,
    ensure_once,
    ensure_table,
    key_in,
    merge_rows,
    replace_rows,
)
from tasks.common.powertools import model_handler, powertools
from tasks.common.validation import parsed
from tasks.violations_sync.errors import InvalidChangeSetError

logger, tracer, metrics = powertools(FLOW)

VERSION_COLUMN = "bedrock_sequence_number"
UNMATCHED_IDS_SHOWN = 20


def merge(event: Any, catalog: Catalog | None = None) -> MergeSummary:
    batch = parsed(NormalizeOutput, event, InvalidChangeSetError)
    summary = MergeSummary(
        records=batch.records,
        ignored=batch.ignored,
        superseded=batch.superseded,
        changes=len(batch.changes),
        updated=0,
        cleared=0,
        stale=0,
        quarantined=0,
        unmatched_ids=[],
        files_rewritten=0,
        files_added=0,
        snapshot_id=None,
    )
    if batch.changes:
        summary = _merge(catalog or catalog_from_env(), batch.changes, summary)
    logger.info("batch merged", extra=summary.model_dump(mode="json"))
    for name, value in (
        ("RowsUpdated", summary.updated),
        ("RowsCleared", summary.cleared),
        ("ChangesStale", summary.stale),
        ("ContentQuarantined", summary.quarantined),
        ("FilesRewritten", summary.files_rewritten),
    ):
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    return summary


def _merge(catalog: Catalog, changes: list[ViolationChange], summary: MergeSummary) -> MergeSummary:
    violations, unmatched = lake_tables(catalog)
    # Content already quarantined for these violations takes part when it is newer.
    held = quarantined_changes(unmatched, [c.violation_id for c in changes])
    effective = [
        held[c.violation_id]
        if c.violation_id in held
        and int(held[c.violation_id].sequence_number) > int(c.sequence_number)
        else c
        for c in changes
    ]
    result = merge_rows(
        violations,
        change_rows(effective),
        KEY,
        BEDROCK_COLUMNS,
        version_column=VERSION_COLUMN,
        snapshot_properties={"sluice.flow": FLOW},
    )
    missing = set(result.unmatched_keys)
    keep = [c for c in effective if c.violation_id in missing and not c.clears]
    unchanged = {c.violation_id for c in keep if held.get(c.violation_id) == c}
    replace_rows(
        unmatched,
        quarantine_rows([c for c in keep if c.violation_id not in unchanged]),
        KEY,
        remove=[v for v in held if v not in unchanged],
        snapshot_properties={"sluice.flow": FLOW},
    )
    updated = set(result.updated_keys)
    cleared = sum(1 for c in effective if c.clears and c.violation_id in updated)
    if keep:
        logger.warning(
            f"content for violations not in {VIOLATIONS_TABLE} kept in {UNMATCHED_TABLE}",
            extra={"count": len(keep), "violation_ids": [c.violation_id for c in keep][:100]},
        )
    return summary.model_copy(
        update={
            "updated": len(updated) - cleared,
            "cleared": cleared,
            "stale": result.rows_stale,
            "quarantined": len(keep),
            "unmatched_ids": sorted(c.violation_id for c in keep)[:UNMATCHED_IDS_SHOWN],
            "files_rewritten": result.files_rewritten,
            "files_added": result.files_added,
            "snapshot_id": result.snapshot_id,
        }
    )


def redrive_unmatched(catalog: Catalog | None = None) -> MergeSummary:
    """Merge every quarantined change whose violation now exists; keep the rest."""
    catalog = catalog or catalog_from_env()
    _, unmatched = lake_tables(catalog)
    held = quarantined_changes(unmatched)
    batch = NormalizeOutput(
        records=len(held), ignored=0, superseded=0, changes=sorted(held.values(), key=_key)
    )
    return merge(batch.model_dump(mode="json"), catalog)


def ensure_lake_tables(catalog: Catalog) -> None:
    """Create `silver.violations` and its quarantine if they are missing (their one definition:
    the merge and the synthetic seed both create them here)."""
    ensure_table(
        catalog,
        VIOLATIONS_TABLE,
        VIOLATIONS_SCHEMA,
        VIOLATIONS_PARTITION_SPEC,
        VIOLATIONS_SORT_ORDER,
    )
    ensure_table(catalog, UNMATCHED_TABLE, UNMATCHED_SCHEMA)


def lake_tables(catalog: Catalog) -> tuple[Table, Table]:
    """`silver.violations` and its quarantine, created on first use in this process."""
    ensure_once(catalog, VIOLATIONS_TABLE, ensure_lake_tables)
    # Loaded fresh each batch: the MERGE commits against the snapshot it planned from.
    return catalog.load_table(VIOLATIONS_TABLE), catalog.load_table(UNMATCHED_TABLE)


def change_rows(changes: Iterable[ViolationChange]) -> pa.Table:
    """The key and Bedrock columns of each change; REMOVE clears all but the version."""
    changes = list(changes)
    schema = VIOLATIONS_SCHEMA.select(KEY, *BEDROCK_COLUMNS).as_arrow()
    return pa.Table.from_pylist(
        [
            {
                KEY: c.violation_id,
                "bedrock_title": c.bedrock_title,
                "bedrock_description": c.bedrock_description,
                "tags": None if c.clears else c.tags,
                "generated_at": c.generated_at,
                "attribution": c.attribution,
                VERSION_COLUMN: sortable_sequence_number(c.sequence_number),
            }
            for c in changes
        ],
        schema=schema,
    )


def quarantine_rows(changes: Iterable[ViolationChange]) -> pa.Table:
    now = datetime.now(UTC)
    return pa.Table.from_pylist(
        [
            {
                KEY: c.violation_id,
                "event_name": c.event_name,
                "sequence_number": sortable_sequence_number(c.sequence_number),
                "bedrock_title": c.bedrock_title,
                "bedrock_description": c.bedrock_description,
                "tags": c.tags,
                "generated_at": c.generated_at,
                "attribution": c.attribution,
                "reason": UNMATCHED_REASON,
                "quarantined_at": now,
            }
            for c in changes
        ],
        schema=UNMATCHED_SCHEMA.as_arrow(),
    )


def quarantined_changes(
    table: Table, violation_ids: Iterable[str] | None = None
) -> dict[str, ViolationChange]:
    """The held change per violation (all of them, or those of `violation_ids`)."""
    if table.current_snapshot() is None:
        return {}
    if violation_ids is None:
        rows = table.scan().to_arrow()
    else:
        ids = set(violation_ids)
        if not ids:
            return {}
        rows = table.scan(row_filter=key_in(KEY, ids)).to_arrow()
    held: dict[str, ViolationChange] = {}
    for row in rows.to_pylist():
        change = ViolationChange(
            violation_id=row[KEY],
            event_name=row["event_name"],
            sequence_number=row["sequence_number"].lstrip("0") or "0",
            bedrock_title=row["bedrock_title"],
            bedrock_description=row["bedrock_description"],
            tags=row["tags"],
            generated_at=row["generated_at"],
            attribution=row["attribution"],
        )
        kept = held.get(change.violation_id)
        if kept is None or int(change.sequence_number) > int(kept.sequence_number):
            held[change.violation_id] = change
    return held


def _key(change: ViolationChange) -> str:
    return change.violation_id


handler = model_handler(merge, logger, tracer, metrics)
