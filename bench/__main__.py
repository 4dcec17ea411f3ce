"""`make bench`: run the benchmarks and write bench/report.md."""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

from bench import lake_bench, runtime_bench, transcript_bench

REPORT = Path(__file__).parent / "report.md"
SUITES = {
    "runtime": runtime_bench.run,
    "transcript_persistence": transcript_bench.run,
    "violations_sync": lake_bench.run,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("suites", nargs="*", default=list(SUITES), help=", ".join(SUITES))
    args = parser.parse_args()
    sections = []
    for name in args.suites:
        print(f"== {name}", flush=True)
        sections.append(SUITES[name]())
    header = (
        "# Sluice benchmark report\n\n"
        f"Generated {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())} by `make bench` on "
        f"{platform.machine()} with {len(__import__('os').sched_getaffinity(0))} CPU(s), "
        f"Python {platform.python_version()}.\n"
    )
    REPORT.write_text(header + "\n".join(sections))
    print(f"wrote {REPORT}")


if __name__ == "__main__":
    main()
