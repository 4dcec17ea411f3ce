"""`make bench`: run the benchmarks and write bench/report.md.

`python -m bench SUITE …` reruns some suites; each suite's section is kept in
bench/results/<suite>.md, so the report always holds the latest run of every suite.
`python -m bench --report-only` rebuilds the report from those files, as after editing
one of the hand-written comparisons there.
"""

from __future__ import annotations

import argparse
import os
import platform
import sysconfig
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from bench import (
    bedrock_bench,
    cost_bench,
    lake_bench,
    maintenance_bench,
    runtime_bench,
    sales_bench,
    search_bench,
    transcript_bench,
)
from bench.stack import BURST_OVERRIDES, on_fresh_stack

REPORT = Path(__file__).parent / "report.md"
RESULTS = Path(__file__).parent / "results"
# A suite's `measure(stack)` runs on a fresh project stack of its own; a `run()` sets up
# anything else itself (other templates or overrides, or no stack at all).
SUITES: dict[str, Callable[[], str]] = {
    "runtime": runtime_bench.run,
    "transcript_persistence": partial(
        on_fresh_stack, transcript_bench.measure, overrides=BURST_OVERRIDES
    ),
    "violations_sync": lake_bench.run,
    "sale_dual_write": partial(on_fresh_stack, sales_bench.measure, overrides=BURST_OVERRIDES),
    "lake_maintenance": partial(on_fresh_stack, maintenance_bench.measure),
    "artist_search_sync": partial(on_fresh_stack, search_bench.measure),
    "bedrock_batch": bedrock_bench.run,
    "cost": cost_bench.run,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("suites", nargs="*", default=list(SUITES), help=", ".join(SUITES))
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="rebuild the report from bench/results/ without running a suite "
        "(after editing a hand-written section)",
    )
    args = parser.parse_args()
    unknown = set(args.suites) - set(SUITES)
    if unknown:
        parser.error(f"unknown suite(s): {', '.join(sorted(unknown))}")
    RESULTS.mkdir(exist_ok=True)
    for name in [] if args.report_only else args.suites:
        print(f"== {name}", flush=True)
        stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        text = SUITES[name]() + f"\n_Measured {stamp}, Python {interpreter()}._\n"
        (RESULTS / f"{name}.md").write_text(text)
    header = (
        "# Sluice benchmark report\n\n"
        f"Written by `make bench` on {platform.machine()} with "
        f"{len(os.sched_getaffinity(0))} CPU(s). Each section names the Python it was "
        "measured on: a build without PGO and LTO (pyenv's default) spends a fifth to a "
        'half more CPU on the same work (README, "Which Python").\n'
    )
    sections = [(RESULTS / f"{n}.md").read_text() for n in SUITES if (RESULTS / f"{n}.md").exists()]
    # Written by hand, kept across runs: comparisons of runs made before and after a change.
    sections += [p.read_text() for p in sorted(RESULTS.glob("*.md")) if p.stem not in SUITES]
    REPORT.write_text(header + "\n".join(sections))
    print(f"wrote {REPORT}")


def interpreter() -> str:
    """This Python's version and whether it was built with profile-guided and link-time
    optimisation, which moves every CPU figure here by a fifth or more."""
    flags = str(sysconfig.get_config_var("CONFIG_ARGS") or "")
    optimised = "--enable-optimizations" in flags and "--with-lto" in flags
    build = "PGO and LTO" if optimised else "built without PGO/LTO"
    return f"{platform.python_version()} ({build})"


if __name__ == "__main__":
    main()
