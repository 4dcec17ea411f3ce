"""State coverage: which states, Choice branches, Retry and Catch paths executions exercised.

Coverage items come from a state machine's ASL definition, recursing into Parallel branches
and Map ``ItemProcessor``/``Iterator``:

* ``state``  - every state; exercised when it was entered;
* ``choice`` - every Choice rule (by index, with its ``Next``) and the ``Default``; exercised
  when the Choice handed over to that branch;
* ``retry``  - every Retry entry (by index, with its ``ErrorEquals``); exercised when the state
  was retried after an error that this retrier is the first to match;
* ``catch``  - every Catch entry; exercised when the state's failure was caught by it.

The evidence is the execution history (``GetExecutionHistory``), read into per-state runs by
``sluice.history.summarize``. The history does not say which Choice rule matched, only which
state came next: the rules are evaluated again on the Choice's recorded input (JSONPath rules;
every comparison operator, ``And``/``Or``/``Not``). When that is not possible (JSONata
``Condition``, ``$$`` context paths, a JSONPath beyond plain fields and indexes) or the result
disagrees with the state that followed, every rule whose ``Next`` is that state (and the
``Default`` if it is) is marked together. A Catch is found the same way: the first catcher
matching the error whose ``Next`` is the state entered afterwards, or, when the error is not
known, every catcher leading there. Error matching follows Step Functions: ``States.ALL``
matches every error but ``States.Runtime`` and ``States.DataLimitExceeded``;
``States.TaskFailed`` matches the same except ``States.Timeout``.

Paths are read from the event links (``previousEventId``), so those taken inside an earlier
attempt of a retried Parallel/Map count too, and from ``sluice.history``'s per-state runs,
which know the error that failed a Parallel/Map attempt (the Retry/Catch of containers).
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sluice.history import StateRun, summarize

ItemKind = Literal["state", "choice", "retry", "catch"]
KINDS: tuple[ItemKind, ...] = ("state", "choice", "retry", "catch")
KIND_TITLES: dict[ItemKind, str] = {
    "state": "states",
    "choice": "choice branches",
    "retry": "retries",
    "catch": "catches",
}
_UNCATCHABLE_BY_ALL = frozenset({"States.Runtime", "States.DataLimitExceeded"})


@dataclass(frozen=True)
class Item:
    """One path through a state machine that a test can exercise."""

    kind: ItemKind
    state: str
    index: int | None = None  # rule / retrier / catcher index; None for states and Default
    errors: tuple[str, ...] = ()  # Retry/Catch ErrorEquals
    next: str | None = None  # Choice rule / Default / Catch target

    @property
    def key(self) -> str:
        if self.kind == "state":
            return f"state:{self.state}"
        slot = "Default" if self.index is None else str(self.index)
        return f"{self.kind}:{self.state}#{slot}"

    @property
    def label(self) -> str:
        if self.kind == "state":
            return f"state {self.state}"
        if self.kind == "choice":
            rule = "Default" if self.index is None else f"rule {self.index}"
            return f"choice {self.state} {rule} -> {self.next}"
        errors = ", ".join(self.errors)
        if self.kind == "retry":
            return f"retry {self.state} Retry[{self.index}] ({errors})"
        return f"catch {self.state} Catch[{self.index}] ({errors}) -> {self.next}"


# -- items of a definition ------------------------------------------------------------------


def _document(definition: str | Mapping[str, Any]) -> Mapping[str, Any]:
    document = json.loads(definition) if isinstance(definition, str) else definition
    if not isinstance(document, Mapping):
        raise ValueError("a state machine definition is a JSON object")
    return document


def _states(machine: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Every (name, spec) of a definition, depth first, in definition order."""
    states = machine.get("States")
    if not isinstance(states, Mapping):
        return
    for name, spec in states.items():
        if not isinstance(spec, Mapping):
            continue
        yield name, spec
        if spec.get("Type") == "Parallel":
            for branch in spec.get("Branches") or []:
                if isinstance(branch, Mapping):
                    yield from _states(branch)
        elif spec.get("Type") == "Map":
            processor = spec.get("ItemProcessor") or spec.get("Iterator")
            if isinstance(processor, Mapping):
                yield from _states(processor)


def _errors(entry: Mapping[str, Any]) -> tuple[str, ...]:
    errors = entry.get("ErrorEquals")
    return tuple(str(e) for e in errors) if isinstance(errors, list) else ()


def machine_items(definition: str | Mapping[str, Any]) -> list[Item]:
    """The coverage items of one definition, in definition order."""
    items: list[Item] = []
    for name, spec in _states(_document(definition)):
        items.append(Item("state", name))
        if spec.get("Type") == "Choice":
            for index, rule in enumerate(spec.get("Choices") or []):
                target = rule.get("Next") if isinstance(rule, Mapping) else None
                items.append(Item("choice", name, index, next=_str(target)))
            if "Default" in spec:
                items.append(Item("choice", name, None, next=_str(spec.get("Default"))))
        for index, retrier in enumerate(spec.get("Retry") or []):
            if isinstance(retrier, Mapping):
                items.append(Item("retry", name, index, errors=_errors(retrier)))
        for index, catcher in enumerate(spec.get("Catch") or []):
            if isinstance(catcher, Mapping):
                target = _str(catcher.get("Next"))
                items.append(Item("catch", name, index, errors=_errors(catcher), next=target))
    return items


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


# -- what one execution exercised -------------------------------------------------------------


def error_matches(error_equals: Sequence[str], error: str) -> bool:
    """Whether a Retry/Catch ``ErrorEquals`` matches ``error`` (Step Functions' rules)."""
    for name in error_equals:
        if name == error:
            return True
        if name == "States.ALL" and error not in _UNCATCHABLE_BY_ALL:
            return True
        if name == "States.TaskFailed" and error not in {*_UNCATCHABLE_BY_ALL, "States.Timeout"}:
            return True
    return False


def exercised(events: Sequence[Mapping[str, Any]], definition: str | Mapping[str, Any]) -> set[str]:
    """Keys of the items (see ``Item.key``) that one execution's history exercised.

    Two readings are combined: the event links (``previousEventId``: a state entered straight
    after another's ``*StateExited``, a task re-scheduled straight after its failure), which
    see inside every attempt of a retried Parallel/Map, and ``sluice.history``'s per-state
    runs, which know the error of a failed Parallel/Map attempt.
    """
    document = _document(definition)
    specs = dict(_states(document))
    hit = _from_links(events, specs)
    _walk(summarize(events, document).states, specs, hit)
    return hit


_TASK_PREFIXES = ("Task", "LambdaFunction", "Activity")
_TASK_FAILURES = ("Failed", "TimedOut", "StartFailed", "ScheduleFailed", "SubmitFailed")


def _details(event: Mapping[str, Any] | None) -> Mapping[str, Any]:
    if event is None:
        return {}
    for key, value in event.items():
        if key.endswith("EventDetails") and isinstance(value, Mapping):
            return value
    return {}


def _failure_error(event: Mapping[str, Any] | None) -> str | None:
    """The error of a Task (or Parallel/Map) failure event; None for any other event."""
    if event is None:
        return None
    kind = str(event.get("type", ""))
    task_failure = kind.startswith(_TASK_PREFIXES) and kind.endswith(_TASK_FAILURES)
    if not task_failure and kind not in ("ParallelStateFailed", "MapStateFailed"):
        return None
    error = _details(event).get("error")
    if isinstance(error, str) and error:
        return error
    return "States.Timeout" if kind.endswith("TimedOut") else ""


def _from_links(
    events: Sequence[Mapping[str, Any]], specs: Mapping[str, Mapping[str, Any]]
) -> set[str]:
    by_id = {int(e["id"]): e for e in events}

    def before(event: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
        return by_id.get(int(event.get("previousEventId") or 0)) if event else None

    hit: set[str] = set()
    for event in events:
        kind = str(event.get("type", ""))
        name = _details(event).get("name")
        if kind.endswith("StateEntered") and isinstance(name, str):
            if name in specs:
                hit.add(Item("state", name).key)
            exited = before(event)
            source = _details(exited).get("name")
            spec = specs.get(source) if isinstance(source, str) else None
            if spec is None or not str((exited or {}).get("type", "")).endswith("StateExited"):
                continue
            assert isinstance(source, str)
            if spec.get("Type") == "Choice":
                entered = before(exited)
                raw = _details(entered).get("input") if entered is not None else None
                hit |= _choice_keys(source, spec, raw if isinstance(raw, str) else None, name)
            else:
                error = _failure_error(before(exited))
                if error is not None and spec.get("Catch"):
                    hit |= _catch_keys(source, spec, error or None, name)
        elif kind.endswith("Scheduled") and kind.startswith(_TASK_PREFIXES):
            # Scheduled straight after a failure of the same task: a retry.
            failure = before(event)
            error = _failure_error(failure)
            if error is None or not str((failure or {}).get("type", "")).startswith(_TASK_PREFIXES):
                continue
            entered = failure
            while entered is not None and not str(entered.get("type", "")).endswith("StateEntered"):
                entered = before(entered)
            state = _details(entered).get("name")
            if isinstance(state, str) and state in specs:
                hit |= _retry_keys(state, specs[state], [error or None])
    return hit


def _walk(runs: Sequence[StateRun], specs: Mapping[str, Mapping[str, Any]], hit: set[str]) -> None:
    entered = [run for run in runs if run.status != "not_reached"]
    for position, run in enumerate(entered):
        following = entered[position + 1] if position + 1 < len(entered) else None
        spec = specs.get(run.name)
        if spec is None:  # a state of another version of the definition
            continue
        hit.add(Item("state", run.name).key)
        if run.type == "Choice" and following is not None:
            hit |= _choice_keys(run.name, spec, run.input, following.name)
        # Every failed attempt that another attempt followed was retried.
        retried = [a.error for a in run.attempts[:-1] if not a.succeeded]
        hit |= _retry_keys(run.name, spec, retried)
        if run.status == "caught":
            taken = following.name if following else None
            hit |= _catch_keys(run.name, spec, run.error, taken)
        for children in run.children():
            _walk(children, specs, hit)


def _choice_keys(name: str, spec: Mapping[str, Any], raw: str | None, taken: str) -> set[str]:
    rules = [r if isinstance(r, Mapping) else {} for r in spec.get("Choices") or []]
    default = spec.get("Default")
    chosen: int | None
    try:
        value = json.loads(raw) if raw is not None else None
        matching = (i for i, rule in enumerate(rules) if choice_rule_matches(rule, value))
        chosen = next(matching, None)
    except (CannotEvaluate, ValueError, TypeError):
        chosen = -1
    if chosen is None and default == taken:
        return {Item("choice", name, None).key}
    if chosen is not None and chosen >= 0 and rules[chosen].get("Next") == taken:
        return {Item("choice", name, chosen).key}
    # Not evaluable here (or evaluated differently from the engine): every way to `taken`.
    keys = {Item("choice", name, i).key for i, r in enumerate(rules) if r.get("Next") == taken}
    if default == taken:
        keys.add(Item("choice", name, None).key)
    return keys


def _retry_keys(name: str, spec: Mapping[str, Any], errors: Sequence[str | None]) -> set[str]:
    """The retriers that retried failures with ``errors`` (None: error unknown)."""
    retriers = [r if isinstance(r, Mapping) else {} for r in spec.get("Retry") or []]
    keys: set[str] = set()
    for error in errors:
        index = None
        if error is not None:
            matching = (i for i, r in enumerate(retriers) if error_matches(_errors(r), error))
            index = next(matching, None)
        if index is None and len(retriers) == 1:
            index = 0
        if index is not None:
            keys.add(Item("retry", name, index).key)
    return keys


def _catch_keys(
    name: str, spec: Mapping[str, Any], error: str | None, taken: str | None
) -> set[str]:
    catchers = [c if isinstance(c, Mapping) else {} for c in spec.get("Catch") or []]
    if error is not None:
        for index, catcher in enumerate(catchers):
            if error_matches(_errors(catcher), error):
                if taken is None or catcher.get("Next") == taken:
                    return {Item("catch", name, index).key}
                break
    if taken is None:
        return set()
    return {Item("catch", name, i).key for i, c in enumerate(catchers) if c.get("Next") == taken}


# -- Choice rules (JSONPath) ----------------------------------------------------------------------


class CannotEvaluate(Exception):
    """A Choice rule that cannot be evaluated from the recorded input alone."""


_MISSING = object()
_PATH_TOKEN = re.compile(r"\.([A-Za-z_$@][\w$@-]*)|\[(\d+)\]|\['([^']*)'\]|\[\"([^\"]*)\"\]")


def _resolve(path: object, value: Any) -> Any:
    """A plain JSONPath (``$.a.b[0]['c']``) against ``value``; ``_MISSING`` when absent."""
    if not isinstance(path, str) or not path.startswith("$") or path.startswith("$$"):
        raise CannotEvaluate(path)
    position, current = 1, value
    while position < len(path):
        match = _PATH_TOKEN.match(path, position)
        if match is None:
            raise CannotEvaluate(path)
        position = match.end()
        name, index = match.group(1, 2)
        quoted = match.group(3) if match.group(3) is not None else match.group(4)
        key = name if name is not None else quoted
        if key is not None:
            if not isinstance(current, dict) or key not in current:
                return _MISSING
            current = current[key]
        else:
            assert index is not None
            if not isinstance(current, list) or int(index) >= len(current):
                return _MISSING
            current = current[int(index)]
    return current


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _timestamp(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _wildcard(pattern: str, text: str) -> bool:
    parts = re.split(r"(\\\\|\\\*|\*)", pattern)
    regex = "".join(
        ".*" if part == "*" else re.escape(part[1:] if part in ("\\\\", "\\*") else part)
        for part in parts
    )
    return re.fullmatch(regex, text, flags=re.DOTALL) is not None


_COMPARE = {
    "Equals": lambda a, b: a == b,
    "LessThan": lambda a, b: a < b,
    "GreaterThan": lambda a, b: a > b,
    "LessThanEquals": lambda a, b: a <= b,
    "GreaterThanEquals": lambda a, b: a >= b,
}


def choice_rule_matches(rule: Mapping[str, Any], value: Any) -> bool:
    """Whether a JSONPath Choice rule holds for ``value``; ``CannotEvaluate`` when unknowable
    here (no ``Variable``, a context or complex path, a missing variable, an odd operator)."""
    if "And" in rule:
        return all(choice_rule_matches(r, value) for r in rule["And"])
    if "Or" in rule:
        return any(choice_rule_matches(r, value) for r in rule["Or"])
    if "Not" in rule:
        return not choice_rule_matches(rule["Not"], value)
    if "Variable" not in rule:
        raise CannotEvaluate("no Variable (JSONata Condition?)")
    variable = _resolve(rule["Variable"], value)
    if "IsPresent" in rule:
        return (variable is not _MISSING) == bool(rule["IsPresent"])
    if variable is _MISSING:
        raise CannotEvaluate("missing Variable is a runtime error")
    operators = [k for k in rule if k not in ("Variable", "Next", "Comment")]
    if len(operators) != 1:
        raise CannotEvaluate(operators)
    operator = operators[0]
    expected = rule[operator]
    type_checks = {
        "IsNull": variable is None,
        "IsNumeric": _is_number(variable),
        "IsString": isinstance(variable, str),
        "IsBoolean": isinstance(variable, bool),
        "IsTimestamp": _timestamp(variable) is not None,
    }
    if operator in type_checks:
        return type_checks[operator] == bool(expected)
    if operator.endswith("Path"):
        operator = operator.removesuffix("Path")
        expected = _resolve(expected, value)
        if expected is _MISSING:
            raise CannotEvaluate("missing comparison path")
    if operator == "StringMatches":
        return isinstance(variable, str) and _wildcard(str(expected), variable)
    if operator == "BooleanEquals":
        return isinstance(variable, bool) and variable == expected
    for family, check in (("String", str), ("Numeric", None), ("Timestamp", None)):
        if not operator.startswith(family):
            continue
        compare = _COMPARE.get(operator.removeprefix(family))
        if compare is None:
            raise CannotEvaluate(operator)
        if family == "String":
            ok = isinstance(variable, check) and isinstance(expected, check)  # type: ignore[arg-type]
            return ok and bool(compare(variable, expected))
        if family == "Numeric":
            ok = _is_number(variable) and _is_number(expected)
            return ok and bool(compare(variable, expected))
        left, right = _timestamp(variable), _timestamp(expected)
        return left is not None and right is not None and bool(compare(left, right))
    raise CannotEvaluate(operator)


# -- aggregation -------------------------------------------------------------------------------


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


def floor(name: str, threshold: float, floors: Mapping[str, float] | None = None) -> float:
    """The minimum percent for machine ``name``: its first matching pattern, else ``threshold``."""
    for pattern, value in (floors or {}).items():
        if fnmatch.fnmatchcase(name, pattern):
            return value
    return threshold


# -- collecting from an endpoint ---------------------------------------------------------------


def collect(sfn: Any, *, workers: int = 8, only: set[str] | None = None) -> CoverageReport:
    """Coverage of every state machine (or those whose ARN is in `only`) and its executions
    behind a Step Functions client.

    Express executions are included where the engine lists them (moto keeps them like
    Standard ones; AWS itself has no ListExecutions or history for Express).
    """
    report = CoverageReport(stacks=1)
    machines: list[dict[str, Any]] = []
    for page in sfn.get_paginator("list_state_machines").paginate():
        machines += page["stateMachines"]
    if only is not None:
        machines = [m for m in machines if m["stateMachineArn"] in only]
    jobs: list[tuple[str, str, str]] = []
    for machine in machines:
        name, arn = machine["name"], machine["stateMachineArn"]
        try:
            definition = sfn.describe_state_machine(stateMachineArn=arn)["definition"]
            report.machine(name).add_definition(definition)
            for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=arn):
                jobs += [(name, definition, e["executionArn"]) for e in page["executions"]]
        except Exception as exc:  # one unreadable machine must not hide the others
            report.problems.append(f"{name}: {type(exc).__name__}: {exc}")

    def one(job: tuple[str, str, str]) -> tuple[str, set[str] | None, str | None]:
        name, definition, arn = job
        try:
            events: list[dict[str, Any]] = []
            for page in sfn.get_paginator("get_execution_history").paginate(executionArn=arn):
                events += page["events"]
            return name, exercised(events, definition), None
        except Exception as exc:
            return name, None, f"{arn}: {type(exc).__name__}: {exc}"

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for name, keys, problem in pool.map(one, jobs):
            if keys is not None:
                report.machine(name).add_exercised(keys)
            if problem is not None:
                report.problems.append(problem)
    return report
