"""The parts of one test run added up before the thresholds apply.

`make test` runs the flows' `built` tests once, from the packages `make package` built, while
the rest of the suite runs from source; each session writes its coverage as a part
(`pytest --sluice-coverage-part NAME`), and `python -m sluice.coverage merge DIR NAME...`
holds their sum to the thresholds in pyproject.toml, as one session's coverage would be.
"""

from __future__ import annotations

import json
import sys
import tomllib
from pathlib import Path
from typing import Any

from sluice.coverage.report import CoverageReport, parse_floors, write_report


class MergeError(Exception):
    """A part or the thresholds cannot be read: the message says which and why."""


def part_file(name: str) -> str:
    return f"part-{name}.json"


def merged(out: Path, names: list[str]) -> CoverageReport:
    report = CoverageReport()
    for name in names:
        path = out / part_file(name)
        try:
            report.merge(CoverageReport.from_json(json.loads(path.read_text())))
        except FileNotFoundError:
            raise MergeError(f"no part {name!r}: {path} does not exist") from None
        except (ValueError, KeyError, TypeError) as exc:
            raise MergeError(f"part {name!r} ({path}) is not a coverage part: {exc!r}") from None
    return report


def thresholds(pyproject: Path) -> tuple[float, dict[str, float]]:
    """pytest's ini options in PYPROJECT: the default minimum and the per-machine floors."""
    try:
        options: dict[str, Any] = tomllib.loads(pyproject.read_text())["tool"]["pytest"]
        options = options["ini_options"]
        threshold = float(options.get("sluice_coverage_fail_under", 0))
        floors = parse_floors(options.get("sluice_coverage_fail_under_machines", []))
    except (OSError, KeyError, ValueError, tomllib.TOMLDecodeError) as exc:
        raise MergeError(f"no coverage thresholds in {pyproject}: {exc!r}") from None
    return threshold, floors


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[0] != "merge":
        print("usage: python -m sluice.coverage merge DIR PART...", file=sys.stderr)
        return 2
    out, names = Path(argv[1]), argv[2:]
    try:
        report = merged(out, names)
        threshold, floors = thresholds(Path("pyproject.toml"))
    except MergeError as exc:
        print(f"sluice.coverage: {exc}", file=sys.stderr)
        return 2
    message = write_report(report, out, threshold, floors)
    print(f"Sluice state coverage of {' + '.join(names)}: {report.headline()}")
    print(report.text())
    print(f"written to {out}/coverage.{{json,md}}")
    if message is not None:
        print(f"FAIL {message}")
        return 1
    return 0
