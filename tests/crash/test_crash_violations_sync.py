"""violations_sync survives SIGKILL: Violations stream -> Pipe -> Express SM -> Iceberg MERGE.

Content written before the kill reaches the lake after the restart; the MERGE is keyed
by violation id, so a batch delivered again leaves one row per violation, holding the
content last written.
"""

from __future__ import annotations

from typing import Any

import pytest
from crash_support import Crash

from devkit.violations_sync import seed_violations, violation_id
from schemas.violations_sync import VIOLATIONS_TABLE
from sluice.testing import StackProcess, wait_for
from tasks.common.lake import catalog_from_env
from tasks.common.lake_sql import duckdb_connection

SEEDED = 60


def _lake(stack: StackProcess) -> dict[str, str]:
    return {"LAKE_WAREHOUSE": str(stack.data_dir / "lake"), "LAKE_CATALOG_URI": ""}


def _titles(stack: StackProcess) -> tuple[int, dict[str, Any]]:
    """(row count, violation id -> bedrock title) of silver.violations."""
    con = duckdb_connection(catalog_from_env(_lake(stack)))
    rows = con.sql(f"SELECT violation_id, bedrock_title FROM {VIOLATIONS_TABLE}").fetchall()
    return len(rows), dict(rows)


def _write(stack: StackProcess, vids: list[str]) -> None:
    ddb, table = stack.client("dynamodb"), stack.resource("ViolationsTable")["name"]
    for vid in vids:
        item = {
            "PK": {"S": f"VIOLATION#{vid}"},
            "SK": {"S": "BEDROCK_CONTENT"},
            "title_bedrock": {"S": f"crash title {vid}"},
        }
        ddb.put_item(TableName=table, Item=item)


def _check(crash: Crash, seed: int, burst: int) -> None:
    vids = [violation_id(i) for i in range(1, burst + 1)]

    def seed_lake(stack: StackProcess) -> None:
        seed_violations(catalog_from_env(_lake(stack)), SEEDED, months=1, files_per_month=1)

    stack = crash.burst(vids, _write, seed, prepare=seed_lake)
    count, titles = wait_for(
        lambda: all((t := _titles(stack))[1].get(v) == f"crash title {v}" for v in vids) and t,
        timeout=120,
        what=f"the content of {burst} violations in the lake (killed after {crash.kill_after})",
    )
    assert count == SEEDED == len(titles)  # one row per violation: nothing duplicated


@pytest.mark.parametrize("seed", [31])
def test_a_crash_mid_burst_merges_each_content_once(crash: Crash, seed: int) -> None:
    _check(crash, seed, burst=10)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [32, 33])
def test_a_crash_mid_large_burst_merges_each_content_once(crash: Crash, seed: int) -> None:
    _check(crash, seed, burst=SEEDED)
