"""Session-scoped local stacks. Every test talks to them through public AWS APIs."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

from sluice.testing import StackProcess, project_stack

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "runtime" / "fixture"

# `--sluice-coverage` (sluice/pytest_plugin.py); pytester runs the plugin's own inner sessions.
pytest_plugins = ("sluice.pytest_plugin", "pytester")


def pytest_collection_finish(session: pytest.Session) -> None:
    """The collected modules and what they imported (moto, pyiceberg, hypothesis) live as
    long as the test process: frozen, no full collection walks them again, and young
    collections run every 10,000 allocations instead of 700. In a worker's heap each full
    collection took about 0.3 s; the four workers spent 20 CPU-s of their 118 collecting,
    10 since."""
    gc.freeze()
    gc.set_threshold(10_000, *gc.get_threshold()[1:])


def pytest_unconfigure(config: pytest.Config) -> None:
    """Collectable again for the interpreter's last collection: frozen, DuckDB's bindings
    report their types and functions as leaked at exit."""
    gc.unfreeze()


@pytest.fixture(scope="session", autouse=True)
def _no_prewarm() -> Iterator[None]:
    """Test stacks start each function's worker on first use: warming twenty handlers in the
    background of every stack the suite starts costs more CPU than the tests' own work
    (3.7 CPU-s a project stack). tests/runtime/test_runtime_prewarm.py starts a stack with
    the default, so the prewarm itself stays tested."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SLUICE_PREWARM", "0")
        yield


@pytest.fixture(scope="session")
def fixture_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackProcess]:
    """The runtime's own test stack (tests/runtime/fixture): tiny functions and machines.
    Virtual time at 0: its tests assert which retries ran, not how long they waited (the
    waits themselves are tested on tests/runtime/test_virtual_time.py's stack)."""
    stack = StackProcess(
        FIXTURE / "template.yaml",
        tmp_path_factory.mktemp("fixture-stack"),
        env={"SFN_MOCK_CONFIG": str(FIXTURE / "MockConfigFile.json")},
        time_scale=0,
    )
    yield stack
    stack.stop()


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackProcess]:
    """The project's real template with its samconfig `local` parameters (SLUICE_BUILT=1:
    its built packages)."""
    stack = project_stack(ROOT, tmp_path_factory.mktemp("stack"))
    yield stack
    stack.stop()
