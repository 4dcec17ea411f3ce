"""pytest plugin: state coverage of the state machines the tests ran (`--sluice-coverage`).

Every `sluice.testing.StackProcess` is read just before it stops (through
`sluice.testing.BEFORE_STOP`): its state machines, their definitions and every execution's
history, through the public Step Functions API. Coverage is merged per state machine name
over all stacks, printed in the terminal summary and written as `coverage.json` and
`coverage.md` to `--sluice-coverage-dir` (ini `sluice_coverage_dir`, default
`build/sluice-coverage`). With a threshold (`--sluice-coverage-fail-under` or ini
`sluice_coverage_fail_under`, percent per state machine), a session whose tests passed fails
when a state machine is below it. Under pytest-xdist (`-n`) each worker reads its own stacks and
hands its coverage to the controller, which merges them and applies the thresholds once.
A session that is one part of a larger run (`--sluice-coverage-part NAME`: make test's suite
and its built-package tests) writes its coverage as a part instead, and `python -m
sluice.coverage merge` applies the thresholds to the parts' sum (`sluice.coverage.merge`).
"""

from __future__ import annotations

import json
import pickle
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from sluice import stack_zygote, testing
from sluice.coverage import CoverageReport, collect
from sluice.coverage.merge import part_file
from sluice.coverage.report import parse_floors, write_report

DEFAULT_DIR = "build/sluice-coverage"


class Collector:
    """Coverage gathered from the stacks of one session."""

    def __init__(self) -> None:
        self.report = CoverageReport()
        self.seconds = 0.0  # spent reading stacks
        self._lock = threading.Lock()

    def collect_stack(self, stack: testing.StackProcess) -> None:
        try:
            stack.gateway.get("/_sluice/health")  # a stack that never came up has nothing
        except Exception:
            return
        started = time.monotonic()
        try:
            # The template's machines: a test's own probes made with CreateStateMachine (say,
            # a Catch that must not match) are not the application's paths.
            resources = stack.gateway.stack().get("resources", {}).values()
            deployed = {r["arn"] for r in resources if r["type"] in _STATE_MACHINE_TYPES}
            found = collect(stack.client("stepfunctions"), only=deployed)
        except Exception as exc:
            found = CoverageReport(problems=[f"stack on port {stack.port}: {exc}"])
        self.add(found, time.monotonic() - started)

    def add(self, report: CoverageReport, seconds: float) -> None:
        with self._lock:
            self.report.merge(report)
            self.seconds += seconds


_STATE_MACHINE_TYPES = ("AWS::Serverless::StateMachine", "AWS::StepFunctions::StateMachine")
_COLLECTOR = pytest.StashKey[Collector]()
_THRESHOLD = pytest.StashKey[float]()
_FLOORS = pytest.StashKey[dict[str, float]]()
_FAILED = pytest.StashKey[str]()
_WORKER_OUTPUT = "sluice_coverage"  # key of an xdist worker's report in its workeroutput


def collector(config: pytest.Config) -> Collector | None:
    """The session's collector, or None without --sluice-coverage."""
    return config.stash.get(_COLLECTOR, None)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("sluice-coverage", "Sluice state coverage")
    group.addoption(
        "--sluice-coverage",
        action="store_true",
        default=False,
        help="report which states, Choice branches, Retry and Catch paths the tests exercised",
    )
    group.addoption(
        "--sluice-coverage-fail-under",
        type=float,
        default=None,
        metavar="PERCENT",
        help="fail when a state machine's coverage is below PERCENT "
        "(default: ini sluice_coverage_fail_under)",
    )
    group.addoption(
        "--sluice-coverage-dir",
        default=None,
        metavar="DIR",
        help=f"where coverage.json and coverage.md go (default: ini sluice_coverage_dir, "
        f"else {DEFAULT_DIR})",
    )
    group.addoption(
        "--sluice-coverage-part",
        default=None,
        metavar="NAME",
        help="this session is one part of a run (make test's suite and its built-package "
        "tests): write its coverage as part-NAME.json, no threshold; `python -m "
        "sluice.coverage merge DIR NAME...` adds the parts up and applies the thresholds",
    )
    parser.addini(
        "sluice_coverage_fail_under",
        "with --sluice-coverage: minimum coverage percent of every state machine (0 = none)",
        default="0",
    )
    parser.addini(
        "sluice_coverage_fail_under_machines",
        "with --sluice-coverage: per-machine minimum percent, one 'NAME-PATTERN = PERCENT' a "
        "line (fnmatch; first match wins; overrides sluice_coverage_fail_under)",
        type="linelist",
        default=[],
    )
    parser.addini(
        "sluice_coverage_dir", "directory for the state coverage JSON and Markdown", default=""
    )


def _threshold(config: pytest.Config) -> float:
    option = config.getoption("sluice_coverage_fail_under")
    if option is not None:
        return float(option)
    raw = str(config.getini("sluice_coverage_fail_under") or "0")
    try:
        return float(raw)
    except ValueError:
        raise pytest.UsageError(f"sluice_coverage_fail_under: not a number: {raw!r}") from None


def _floors(config: pytest.Config) -> dict[str, float]:
    try:
        return parse_floors(config.getini("sluice_coverage_fail_under_machines"))
    except ValueError as exc:
        raise pytest.UsageError(f"sluice_coverage_fail_under_machines: {exc}") from None


def pytest_configure(config: pytest.Config) -> None:
    if not config.getoption("sluice_coverage"):
        return
    config.stash[_THRESHOLD] = _threshold(config)
    # An explicit --sluice-coverage-fail-under applies to every machine.
    explicit = config.getoption("sluice_coverage_fail_under") is not None
    config.stash[_FLOORS] = {} if explicit else _floors(config)
    found = Collector()
    config.stash[_COLLECTOR] = found
    testing.BEFORE_STOP.append(found.collect_stack)


def pytest_unconfigure(config: pytest.Config) -> None:
    # Waited for here, not at exit (pytest-xdist's workers may skip atexit): the forked
    # stacks' CPU then counts in make test's figures.
    stack_zygote.close()
    found = collector(config)
    if found is not None and found.collect_stack in testing.BEFORE_STOP:
        testing.BEFORE_STOP.remove(found.collect_stack)


def _output_dir(config: pytest.Config) -> Path:
    raw = config.getoption("sluice_coverage_dir") or config.getini("sluice_coverage_dir")
    path = Path(str(raw or DEFAULT_DIR))
    return path if path.is_absolute() else config.rootpath / path


def _is_xdist_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """pytest-xdist controller: a worker finished; add the coverage of its stacks."""
    found = collector(node.config)
    output = getattr(node, "workeroutput", None) or {}  # none when the worker crashed
    if found is not None and _WORKER_OUTPUT in output:
        report, seconds = pickle.loads(output[_WORKER_OUTPUT])
        found.add(report, seconds)


@pytest.hookimpl(trylast=True)  # after the runner tears session fixtures (and stacks) down
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    found = collector(config)
    if found is None:
        return
    if _is_xdist_worker(config):  # the controller merges, reports and applies thresholds
        output = config.workeroutput  # type: ignore[attr-defined]
        output[_WORKER_OUTPUT] = pickle.dumps((found.report, found.seconds))
        return
    out = _output_dir(config)
    part = config.getoption("sluice_coverage_part")
    if part:  # thresholds wait for the other parts (python -m sluice.coverage merge)
        out.mkdir(parents=True, exist_ok=True)
        (out / part_file(part)).write_text(json.dumps(found.report.to_json()) + "\n")
        return
    threshold, floors = config.stash[_THRESHOLD], config.stash[_FLOORS]
    message = write_report(found.report, out, threshold, floors)
    if message is not None:
        config.stash[_FAILED] = message
        if session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    found = collector(config)
    if found is None or _is_xdist_worker(config):
        return
    report = found.report
    write = terminalreporter.write_line
    terminalreporter.section("Sluice state coverage")
    if not report.machines:
        write("no stack was stopped during this session: nothing to report")
    else:
        write(f"{report.headline()}, read in {found.seconds:.1f} s")
        for line in report.text().splitlines():
            write(line)
    part = config.getoption("sluice_coverage_part")
    if part:
        out = _output_dir(config)
        write(f"part {part!r} written to {out / part_file(part)}; thresholds apply to the parts")
        write(f"merged: python -m sluice.coverage merge {out} PART...")
        return
    write(f"written to {_output_dir(config)}/coverage.{{json,md}}")
    message = config.stash.get(_FAILED, None)
    if message is not None:
        write(f"FAIL {message}", red=True, bold=True)
