"""bedrock_batch: selection over 1M violations, and output processing records/s."""

from __future__ import annotations

import statistics
import time
from typing import Any

from bench.stack import on_fresh_stack
from devkit.violations_sync import seed_violations
from schemas.bedrock_batch import BatchConfig
from sluice.testing import StackProcess
from tasks.bedrock_batch.select_violations import select
from tasks.common.lake import catalog_from_env

ROWS = 1_000_000
JOB = 20_000
SELECTIONS: dict[str, dict[str, Any]] = {
    "no filters, cap 10,000": {"limits": {"maxViolations": 10_000}},
    "OSHA, fine ≥ $5,000, 2025": {
        "filters": {
            "agencies": ["OSHA"],
            "minFineAmount": 5000,
            "dateRange": {"start": "2025-01-01", "end": "2025-12-31"},
        },
        "limits": {"maxViolations": 10_000},
    },
    "high priority, $5 budget": {"limits": {"priority": "high", "maxSpendUSD": 5}},
}


def run() -> str:
    # The lake MERGE of the job's content is not what is measured here; output chunks at
    # the production size.
    overrides = {
        "ViolationsPipeBatchSize": "10000",
        "ViolationsPipeBatchingWindow": "300",
        "BedrockOutputChunkBytes": str(4 * 1024 * 1024),
    }
    return on_fresh_stack(_measure, overrides=overrides)


def _measure(stack: StackProcess) -> str:
    catalog = catalog_from_env(
        {"LAKE_WAREHOUSE": str(stack.data_dir / "lake"), "LAKE_CATALOG_URI": ""}
    )
    started = time.perf_counter()
    seed_violations(catalog, ROWS)
    seeded_s = time.perf_counter() - started
    print(f"seeded {ROWS} violations in {seeded_s:.1f} s")
    rows = []
    for label, raw in SELECTIONS.items():
        config = BatchConfig.model_validate(raw)
        times, count = [], 0
        for _ in range(3):
            t = time.perf_counter()
            count = len(select(config, catalog))
            times.append(time.perf_counter() - t)
        rows.append(f"| {label} | {count:,} | {statistics.median(times) * 1000:.0f} ms |")
        print(f"selection {label}: {count} in {statistics.median(times):.2f} s")

    execution = stack.run(
        "bedrock_batch",
        {"config": {"limits": {"maxViolations": JOB}, "pollIntervalSeconds": 1}},
        timeout=600,
    )
    assert execution.status == "SUCCEEDED", (execution.error, execution.cause)
    process = execution.state("ProcessOutput")
    assert process.entered and process.exited
    seconds = (process.exited - process.entered).total_seconds()
    processed = execution.output["stats"]["processed"]
    total = execution.story.duration.total_seconds() if execution.story.duration else 0.0
    print(f"output processing: {processed} records in {seconds:.1f} s")
    return (
        "\n## bedrock_batch: selection and output processing\n\n"
        f"`silver.violations` seeded with {ROWS:,} synthetic violations "
        f"({seeded_s:.1f} s), 24 month partitions. Selection is the flow's own "
        "(Arrow compute over pyiceberg's scan, pruned by month; skips violations with content, "
        "orders by priority tier, fine and date, caps by count and budget); median of 3.\n\n"
        "| selection | violations | time |\n|---|---|---|\n" + "\n".join(rows) + "\n\n"
        f"A {JOB:,}-violation job through the local Bedrock emulator:\n\n"
        "| figure | value |\n|---|---|\n"
        f"| output records processed (validated, written to `Violations`) | {processed:,} |\n"
        f"| output processing (the `ProcessOutput` Map) | {seconds:.1f} s, "
        f"{processed / seconds:.0f} records/s |\n"
        f"| whole execution (select → submit → poll → process → finish) | {total:.1f} s |\n"
    )
