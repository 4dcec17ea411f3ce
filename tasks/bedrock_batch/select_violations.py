"""SelectViolations: DuckDB over `silver.violations` -> count, estimate and an S3 manifest.

Input: ``{"jobId", "config"}``. Output (`Selection`)::

    {"violationCount": 1000, "estimate": {...}, "manifestKey": "bedrock-batches/manifests/
     batch-.../selection.jsonl", "message": "1000 violations selected"}

Violations that already have Bedrock content are skipped; the rest are filtered, ordered by
priority and capped by maxViolations and by what maxSpendUSD buys. The selected rows go to
the manifest (one JSON line each), never into state: a large job's rows exceed 256 KB. A
dry run or an empty selection writes nothing.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import NoSuchTableError

from schemas.bedrock_batch import (
    FLOW,
    MANIFEST_PREFIX,
    BatchConfig,
    SelectedViolation,
    Selection,
    affordable,
    estimate,
    selection_sql,
)
from schemas.violations_sync import VIOLATIONS_TABLE
from tasks.bedrock_batch import jobs
from tasks.common.lake import catalog_from_env, register_table

logger = Logger(service=FLOW)
metrics = Metrics(namespace=f"Sluice/{FLOW}", service=FLOW)
NO_VIOLATIONS = "no violations to process"


@metrics.log_metrics
@logger.inject_lambda_context
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
    import duckdb

    catalog = catalog or catalog_from_env()
    try:
        table = catalog.load_table(VIOLATIONS_TABLE)
    except NoSuchTableError:
        logger.warning(f"{VIOLATIONS_TABLE} does not exist yet")
        return []
    con = duckdb.connect()
    view = register_table(con, table)
    cursor = con.execute(selection_sql(view, config, affordable(config)))
    names = [d[0] for d in cursor.description or []]
    rows = []
    for values in cursor.fetchall():
        row = dict(zip(names, values, strict=True))
        if row.get("fine_amount") is not None:
            row["fine_amount"] = float(row["fine_amount"])
        rows.append(SelectedViolation.model_validate(row))
    return rows


def read_manifest(key: str) -> list[SelectedViolation]:
    body = jobs.s3().get_object(Bucket=jobs.bucket(), Key=key)["Body"].read().decode()
    return [
        SelectedViolation.model_validate(json.loads(line)) for line in body.splitlines() if line
    ]
