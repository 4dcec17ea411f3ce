"""SelectViolations: a scan of `silver.violations` -> count, estimate and an S3 manifest.

Input: ``{"jobId", "config"}``. Output (`Selection`)::

    {"violationCount": 1000, "estimate": {...}, "manifestKey": "bedrock-batches/manifests/
     batch-.../selection.jsonl", "message": "1000 violations selected"}

Violations that already have Bedrock content are skipped; the rest are filtered, ordered by
priority and capped by maxViolations and by what maxSpendUSD buys. The selected rows go to
the manifest (one JSON line each), never into state: a large job's rows exceed 256 KB. A
dry run or an empty selection writes nothing.

The scan is pyiceberg's (partition pruning on the date range) and the filter, priority tier
and order are Arrow compute, with SQL's semantics (a NULL never matches a filter; NULLs sort
last). DuckDB would do the same in SQL, but with pyarrow it would push the package past
Lambda's 250 MB.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import NoSuchTableError

from schemas.bedrock_batch import (
    FLOW,
    HIGH_FINE,
    HIGH_TYPES,
    MANIFEST_PREFIX,
    MEDIUM_FINE,
    MEDIUM_TYPES,
    PRIORITY_TIERS,
    SELECT_COLUMNS,
    BatchConfig,
    SelectedViolation,
    Selection,
    affordable,
    estimate,
)
from schemas.violations_sync import VIOLATIONS_TABLE
from tasks.bedrock_batch import jobs
from tasks.common.lake import catalog_from_env
from tasks.common.powertools import lambda_handler, powertools

logger, tracer, metrics = powertools(FLOW)
NO_VIOLATIONS = "no violations to process"


@lambda_handler(logger, tracer, metrics)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    config = BatchConfig.model_validate(event["config"])
    job_id = str(event["jobId"])
    logger.append_keys(jobId=job_id)
    rows = select(config)
    selection = describe(rows, config)
    if rows and not config.dryRun:
        key = f"{MANIFEST_PREFIX}/{job_id}/selection.jsonl"
        body = "".join(r.model_dump_json() + "\n" for r in rows)
        jobs.s3().put_object(Bucket=jobs.bucket(), Key=key, Body=body.encode())
        selection.manifestKey = key
    metrics.add_metric(name="ViolationsSelected", unit=MetricUnit.Count, value=len(rows))
    logger.info(selection.message, extra={"estimate": selection.estimate.model_dump()})
    return selection.model_dump(mode="json")


def describe(rows: list[SelectedViolation], config: BatchConfig) -> Selection:
    n = len(rows)
    message = NO_VIOLATIONS if n == 0 else f"{n} violations selected"
    return Selection(violationCount=n, estimate=estimate(n, config.modelId), message=message)


def select(config: BatchConfig, catalog: Catalog | None = None) -> list[SelectedViolation]:
    """The job's violations, highest priority first."""
    catalog = catalog or catalog_from_env()
    try:
        table = catalog.load_table(VIOLATIONS_TABLE)
    except NoSuchTableError:
        logger.warning(f"{VIOLATIONS_TABLE} does not exist yet")
        return []
    scan = table.scan(row_filter=_pushdown(config), selected_fields=SELECT_COLUMNS)
    rows = scan.to_arrow()
    rows = rows.append_column("tier", _tier(rows))
    rows = rows.filter(_keep(rows, config))
    rows = rows.sort_by(
        [
            ("tier", "descending"),
            ("fine_amount", "descending"),
            ("violation_date", "descending"),
            ("violation_id", "ascending"),
        ]
    ).slice(0, affordable(config))
    out = []
    for row in rows.to_pylist():
        if row.get("fine_amount") is not None:
            row["fine_amount"] = float(row["fine_amount"])
        out.append(SelectedViolation.model_validate(row))
    return out


def _pushdown(config: BatchConfig) -> str:
    """What pyiceberg can evaluate against partitions and file statistics (dates are
    validated `date`s, so the expression holds no free text)."""
    parts = ["bedrock_title IS NULL"]
    dates = config.filters.dateRange
    if dates and dates.start:
        parts.append(f"violation_date >= '{dates.start.isoformat()}'")
    if dates and dates.end:
        parts.append(f"violation_date <= '{dates.end.isoformat()}'")
    return " AND ".join(parts)


def _is_true(mask: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    """SQL's WHERE: a NULL condition does not select the row."""
    return pc.fill_null(mask, False)


def _tier(rows: pa.Table) -> pa.ChunkedArray:
    """3 high, 2 medium, 1 low: by violation type, or by fine when the type says less."""
    kind, fine = rows["violation_type"], rows["fine_amount"]
    high = pc.or_kleene(pc.is_in(kind, pa.array(HIGH_TYPES)), pc.greater_equal(fine, HIGH_FINE))
    medium = pc.or_kleene(
        pc.is_in(kind, pa.array(MEDIUM_TYPES)), pc.greater_equal(fine, MEDIUM_FINE)
    )
    return pc.if_else(_is_true(high), 3, pc.if_else(_is_true(medium), 2, 1))


def _keep(rows: pa.Table, config: BatchConfig) -> pa.ChunkedArray:
    f = config.filters
    mask = pc.greater_equal(rows["tier"], PRIORITY_TIERS[config.limits.priority])
    if f.minFineAmount is not None:
        mask = pc.and_(mask, _is_true(pc.greater_equal(rows["fine_amount"], f.minFineAmount)))
    if f.maxFineAmount is not None:
        mask = pc.and_(mask, _is_true(pc.less_equal(rows["fine_amount"], f.maxFineAmount)))
    if f.agencies:
        agency = pc.utf8_upper(rows["agency"])
        mask = pc.and_(mask, _is_true(pc.is_in(agency, pa.array(list(f.agencies)))))
    if f.violationTypes:
        kind = pc.utf8_lower(rows["violation_type"])
        wanted = pa.array([t.lower() for t in f.violationTypes])
        mask = pc.and_(mask, _is_true(pc.is_in(kind, wanted)))
    return mask
