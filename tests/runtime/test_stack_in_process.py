"""A stack run inside another process, as `sluice demo` runs one, gives back to the
collector what it froze once it stops: the process then ends cleanly, with nothing it
imported left uncollected (DuckDB's bindings report any such object as leaked at exit)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sluice.testing import free_port

FIXTURE = Path(__file__).resolve().parent / "fixture" / "template.yaml"

PROGRAM = """
import sys
from pathlib import Path

import duckdb

from sluice.stack import LocalStack

duckdb.connect().sql("SELECT 1").fetchall()
stack = LocalStack(Path(sys.argv[1]), port=int(sys.argv[2]), data_dir=Path(sys.argv[3]))
stack.start()
stack.stop()
print("stopped")
"""


def test_a_process_that_ran_a_stack_exits_without_leaked_objects(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM, str(FIXTURE), str(free_port()), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        env={"SLUICE_PREWARM": "0", "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().endswith("stopped")
    assert "leaked" not in done.stderr, done.stderr[-2000:]
