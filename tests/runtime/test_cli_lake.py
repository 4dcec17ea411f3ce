"""`sluice seed violations_sync` and `sluice sql` over a local lake."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def sluice(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sluice", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )


def test_seed_then_query_the_lake(tmp_path: Path) -> None:
    seeded = sluice("seed", "violations_sync", "--rows", "1200", "--data-dir", str(tmp_path))
    assert seeded.returncode == 0, seeded.stderr
    assert "1200 rows" in seeded.stdout
    result = sluice(
        "sql",
        "--data-dir",
        str(tmp_path),
        "SELECT count(*) AS n, count(DISTINCT violation_id) AS ids FROM silver.violations",
    )
    assert result.returncode == 0, result.stderr
    assert "1200" in result.stdout and "1 row(s)" in result.stdout


def test_sql_errors_are_one_line(tmp_path: Path) -> None:
    missing = sluice("sql", "--data-dir", str(tmp_path), "SELECT 1")
    assert missing.returncode != 0 and "no lake at" in missing.stderr
    sluice("seed", "violations_sync", "--rows", "10", "--data-dir", str(tmp_path))
    bad = sluice("sql", "--data-dir", str(tmp_path), "SELEC nonsense")
    assert bad.returncode != 0
    assert "SQL failed" in bad.stderr and "Traceback" not in bad.stderr
