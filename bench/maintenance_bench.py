"""lake_maintenance: `pricing.sales_history` after 10,000 sales, before and after the flow.

The table is written with the lake loader's own rows and data file writer, in the batches
the local loader makes (the sales bench measured 11.8 sales/s with a 1 s window: about 12
sales a batch, one file per partition a batch touches). To keep the suite short the batches
are committed 84 at a time (the loader commits each), so the file count is the loader's and
the snapshot count is not. Then the flow runs through its rule on a fresh stack, and a
DuckDB query is timed before and after (median of REPEATS, the view's file planning included,
as `sluice sql` does it).
"""

from __future__ import annotations

import os
import statistics
import time
from datetime import UTC, datetime

import pyarrow as pa
from pyiceberg.catalog import Catalog

from devkit.lake_maintenance import sale_records, start_through_the_rule
from devkit.sale_dual_write import lake_warehouse
from schemas.sale_dual_write import LAKE_TABLE, lake_row
from schemas.sale_dual_write_lake import LAKE_SCHEMA
from sluice.testing import StackProcess
from tasks.common.lake import catalog_from_env, write_files
from tasks.common.lake_sql import duckdb_connection
from tasks.sale_dual_write.load_lake_batch import lake_table

SALES = 10_000
LOADER_BATCH = 12
BATCHES_PER_COMMIT = 84
REPEATS = 5
QUERY = (
    f"SELECT year, month, count(*) AS sales, round(avg(sold_price), 2) AS avg_price "
    f"FROM {LAKE_TABLE} WHERE tenant_id = 'bench-tenant' GROUP BY ALL ORDER BY ALL"
)


def _progress(message: str) -> None:
    print(f"  lake_maintenance: {message}", flush=True)


def _write_sales(catalog: Catalog) -> float:
    started = time.perf_counter()
    records = sale_records("bench-tenant", range(SALES))
    now = datetime.now(UTC)
    batches = [
        pa.Table.from_pylist(
            [lake_row(r, now) for r in records[i : i + LOADER_BATCH]], schema=LAKE_SCHEMA.as_arrow()
        )
        for i in range(0, SALES, LOADER_BATCH)
    ]
    for i in range(0, len(batches), BATCHES_PER_COMMIT):
        write_files(lake_table(catalog), batches[i : i + BATCHES_PER_COMMIT])
    return time.perf_counter() - started


def _query_seconds(catalog: Catalog) -> tuple[float, float, list[tuple[object, ...]]]:
    """Median seconds to open the lake in DuckDB (plan files, create views) and to run QUERY."""
    opens, queries, result = [], [], []
    for _ in range(REPEATS):
        started = time.perf_counter()
        con = duckdb_connection(catalog)
        opened = time.perf_counter()
        result = con.sql(QUERY).fetchall()
        queries.append(time.perf_counter() - opened)
        opens.append(opened - started)
    return statistics.median(opens), statistics.median(queries), result


def _files(catalog: Catalog) -> tuple[int, int]:
    table = catalog.load_table(LAKE_TABLE)
    return sum(1 for _ in table.scan().plan_files()), len(table.metadata.snapshots)


def measure(stack: StackProcess) -> str:
    load = os.getloadavg()[0]
    catalog = catalog_from_env({"LAKE_WAREHOUSE": str(lake_warehouse(stack.gateway))})
    _progress(f"writing {SALES} sales in loader batches of {LOADER_BATCH}")
    write_s = _write_sales(catalog)
    files_before, snapshots_before = _files(catalog)
    open_before, query_before, rows_before = _query_seconds(catalog)
    _progress(f"{files_before} files; running the flow through its rule")

    started = time.perf_counter()
    arn = start_through_the_rule(stack.gateway, LAKE_TABLE, timeout=60)
    run = stack.execution(arn, timeout=1800)
    flow_s = time.perf_counter() - started
    load_after = os.getloadavg()[0]
    if run.status != "SUCCEEDED":
        raise RuntimeError(f"maintenance {run.status}: {run.error} {run.cause}")
    files_after, snapshots_after = _files(catalog)
    open_after, query_after, rows_after = _query_seconds(catalog)
    if rows_after != rows_before:
        raise RuntimeError("the query's answer changed across maintenance")
    out = run.output
    _progress(f"{files_before} -> {files_after} files in {flow_s:.1f} s")
    return (
        "\n## lake_maintenance: `pricing.sales_history` after 10,000 sales\n\n"
        f"{SALES:,} sales of one tenant (sale dates over 11 months, 1024-float embeddings) "
        f"written with the lake loader's rows and file writer in batches of {LOADER_BATCH} "
        f"(what the local loader's 1 s window gathers at the 11.8 sales/s measured above), "
        f"{BATCHES_PER_COMMIT} batches a commit ({write_s:.0f} s). Then a "
        "`Lake Maintenance Requested` event runs the table's rule and the flow on a fresh "
        f"stack. The query: `{QUERY}`, median of {REPEATS}; opening = DuckDB views over the "
        "table's current files (pyiceberg plans them), as `sluice sql` does. Load average "
        f"(1 min) when the suite started: {load:.1f}, when the flow ended: {load_after:.1f} "
        "(2 cores shared with other work: the seconds are inflated, the file counts are not).\n\n"
        "| figure | before | after |\n|---|---|---|\n"
        f"| data files | {files_before:,} | {files_after:,} |\n"
        f"| snapshots | {snapshots_before} | {snapshots_after} |\n"
        f"| open the lake in DuckDB, median s | {open_before:.2f} | {open_after:.2f} |\n"
        f"| query, median s | {query_before:.3f} | {query_after:.3f} |\n\n"
        f"The flow took {flow_s:.1f} s from the event to its end: "
        f"{out['compaction']['rounds']} compaction round(s), "
        f"{out['compaction']['filesRewritten']:,} files rewritten into "
        f"{out['compaction']['filesAdded']} ({out['compaction']['partitionsCompacted']} "
        f"partitions), {out['expiry']['snapshotsExpired']} snapshots expired, "
        f"{out['expiry']['filesDeleted']:,} unreferenced files deleted, "
        f"{out['orphans']['orphansRemoved']} orphans removed. The query's answer is the same "
        "before and after (checked).\n"
    )
