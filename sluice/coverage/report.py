"""Coverage added up: per state machine over every stack and execution, and over a test run,
with thresholds (a default and per-machine floors) and text/Markdown/JSON summaries."""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sluice.coverage.exercised import exercised
from sluice.coverage.items import KIND_TITLES, KINDS, Item, ItemKind, machine_items


@dataclass
class MachineCoverage:
    """Coverage of one state machine (by name), merged over every stack and execution."""

    name: str
    items: dict[str, Item] = field(default_factory=dict)
    hits: dict[str, int] = field(default_factory=dict)
    executions: int = 0

    def add_definition(self, definition: str | Mapping[str, Any]) -> None:
        for item in machine_items(definition):
            self.items.setdefault(item.key, item)
            self.hits.setdefault(item.key, 0)

    def add_execution(
        self, events: Sequence[Mapping[str, Any]], definition: str | Mapping[str, Any]
    ) -> None:
        self.add_definition(definition)
        self.add_exercised(exercised(events, definition))

    def add_exercised(self, keys: Iterable[str]) -> None:
        self.executions += 1
        for key in keys:
            if key in self.items:
                self.hits[key] += 1

    def merge(self, other: MachineCoverage) -> None:
        for key, item in other.items.items():
            self.items.setdefault(key, item)
            self.hits[key] = self.hits.get(key, 0) + other.hits.get(key, 0)
        self.executions += other.executions

    def counts(self, kind: ItemKind | None = None) -> tuple[int, int]:
        keys = [k for k, item in self.items.items() if kind is None or item.kind == kind]
        return sum(1 for k in keys if self.hits.get(k)), len(keys)

    @property
    def percent(self) -> float:
        covered, total = self.counts()
        return 100.0 * covered / total if total else 100.0

    @property
    def missing(self) -> list[Item]:
        return [item for key, item in self.items.items() if not self.hits.get(key)]

    @classmethod
    def from_json(cls, name: str, document: Mapping[str, Any]) -> MachineCoverage:
        """The coverage `to_json` wrote (another run's part, merged before the thresholds)."""
        machine = cls(name, executions=int(document["executions"]))
        for entry in document["items"]:
            item = Item(
                entry["kind"], entry["state"], entry["index"], tuple(entry["errors"]), entry["next"]
            )
            machine.items[entry["key"]] = item
            machine.hits[entry["key"]] = int(entry["hits"])
        return machine

    def to_json(self) -> dict[str, Any]:
        return {
            "executions": self.executions,
            "percent": round(self.percent, 1),
            "summary": {
                KIND_TITLES[kind]: dict(zip(("covered", "total"), self.counts(kind), strict=True))
                for kind in KINDS
            },
            "items": [
                {
                    "key": key,
                    "kind": item.kind,
                    "state": item.state,
                    "index": item.index,
                    "errors": list(item.errors),
                    "next": item.next,
                    "label": item.label,
                    "hits": self.hits.get(key, 0),
                }
                for key, item in self.items.items()
            ],
            "missing": [item.label for item in self.missing],
        }


@dataclass
class CoverageReport:
    machines: dict[str, MachineCoverage] = field(default_factory=dict)
    stacks: int = 0
    problems: list[str] = field(default_factory=list)  # collection failures, for the summary

    def machine(self, name: str) -> MachineCoverage:
        return self.machines.setdefault(name, MachineCoverage(name))

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> CoverageReport:
        machines = {
            name: MachineCoverage.from_json(name, machine)
            for name, machine in document["machines"].items()
        }
        return cls(machines, int(document["stacks"]), list(document["problems"]))

    def merge(self, other: CoverageReport) -> None:
        for name, machine in other.machines.items():
            self.machine(name).merge(machine)
        self.stacks += other.stacks
        self.problems += other.problems

    def below(
        self, threshold: float, floors: Mapping[str, float] | None = None
    ) -> list[MachineCoverage]:
        """Machines under their minimum percent, worst first: the first ``floors`` pattern
        (fnmatch, on the machine name) that matches, else ``threshold``."""
        low = [m for m in self.machines.values() if m.percent < floor(m.name, threshold, floors)]
        return sorted(low, key=lambda m: (m.percent, m.name))

    def totals(self) -> tuple[int, int]:
        pairs = [m.counts() for m in self.machines.values()]
        return sum(c for c, _ in pairs), sum(t for _, t in pairs)

    def headline(self) -> str:
        covered, total = self.totals()
        percent = 100.0 * covered / total if total else 100.0
        return f"{self.stacks} stack(s), {covered}/{total} paths exercised ({percent:.1f}%)"

    def to_json(
        self, threshold: float | None = None, floors: Mapping[str, float] | None = None
    ) -> dict[str, Any]:
        covered, total = self.totals()
        below = self.below(threshold or 0, floors) if threshold or floors else []
        return {
            "stacks": self.stacks,
            "threshold": threshold,
            "machine_thresholds": dict(floors or {}),
            "total": {
                "covered": covered,
                "total": total,
                "percent": round(100.0 * covered / total, 1) if total else 100.0,
            },
            "below_threshold": [m.name for m in below],
            "machines": {name: self.machines[name].to_json() for name in sorted(self.machines)},
            "problems": self.problems,
        }

    def table(self) -> list[list[str]]:
        """Header and one row per machine: executions, covered/total per kind, percent."""
        rows = [["state machine", "executions", *(KIND_TITLES[k] for k in KINDS), "covered"]]
        for name in sorted(self.machines):
            machine = self.machines[name]
            cells = ["{}/{}".format(*machine.counts(kind)) for kind in KINDS]
            rows.append([name, str(machine.executions), *cells, f"{machine.percent:.1f}%"])
        return rows

    def text(self) -> str:
        rows = self.table()
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        lines = [
            "  ".join(
                cell.ljust(width) if i == 0 else cell.rjust(width)
                for i, (cell, width) in enumerate(zip(row, widths, strict=True))
            )
            for row in rows
        ]
        missing = [(name, self.machines[name].missing) for name in sorted(self.machines)]
        if any(items for _, items in missing):
            lines += ["", "not exercised:"]
            for name, items in missing:
                if items:
                    lines.append(f"  {name}")
                    lines += [f"    {item.label}" for item in items]
        lines += [f"problem: {p}" for p in self.problems]
        return "\n".join(lines)

    def markdown(
        self, threshold: float | None = None, floors: Mapping[str, float] | None = None
    ) -> str:
        rows = self.table()
        lines = ["# Sluice state coverage", ""]
        lines.append("| " + " | ".join(rows[0]) + " |")
        lines.append("|" + "|".join(["---"] + ["---:"] * (len(rows[0]) - 1)) + "|")
        lines += ["| " + " | ".join(row) + " |" for row in rows[1:]]
        if threshold or floors:
            below = self.below(threshold or 0, floors)
            verdict = ", ".join(m.name for m in below) if below else "none"
            own = "".join(f", {name} {value:g}%" for name, value in (floors or {}).items())
            lines += [
                "",
                f"Threshold: {threshold or 0:g}% per state machine{own}; below: {verdict}.",
            ]
        for name in sorted(self.machines):
            items = self.machines[name].missing
            if items:
                lines += ["", f"## {name}: not exercised", ""]
                lines += [f"- {item.label}" for item in items]
        if self.problems:
            lines += ["", "## Problems", ""] + [f"- {p}" for p in self.problems]
        return "\n".join(lines) + "\n"


def parse_floors(lines: Iterable[str]) -> dict[str, float]:
    """Per-machine minimums from 'NAME-PATTERN = PERCENT' lines; ValueError naming a bad one."""
    floors: dict[str, float] = {}
    for line in lines:
        pattern, sep, value = str(line).rpartition("=")
        try:
            if not sep or not pattern.strip():
                raise ValueError
            floors[pattern.strip()] = float(value)
        except ValueError:
            raise ValueError(f"expected 'NAME = PERCENT', got {line!r}") from None
    return floors


def failure_message(
    report: CoverageReport, threshold: float, floors: Mapping[str, float] | None = None
) -> str | None:
    """Why the run fails, or None when every machine reaches its minimum (``threshold``, or its
    entry in ``floors``)."""
    below = report.below(threshold, floors)
    if not below:
        return None
    if not floors:
        names = ", ".join(f"{m.name} ({m.percent:.1f}%)" for m in below)
        return f"Sluice state coverage below {threshold:g}%: {names}"
    names = ", ".join(
        f"{m.name} ({m.percent:.1f}% < {floor(m.name, threshold, floors):g}%)" for m in below
    )
    return f"Sluice state coverage below the minimum: {names}"


def write_report(
    report: CoverageReport, out: Path, threshold: float, floors: Mapping[str, float]
) -> str | None:
    """coverage.json and coverage.md into OUT; the failure message, if any machine is below."""
    out.mkdir(parents=True, exist_ok=True)
    document = report.to_json(threshold, floors)
    (out / "coverage.json").write_text(json.dumps(document, indent=2) + "\n")
    (out / "coverage.md").write_text(report.markdown(threshold, floors))
    return failure_message(report, threshold, floors)


def floor(name: str, threshold: float, floors: Mapping[str, float] | None = None) -> float:
    """The minimum percent for machine ``name``: its first matching pattern, else ``threshold``."""
    for pattern, value in (floors or {}).items():
        if fnmatch.fnmatchcase(name, pattern):
            return value
    return threshold
