"""Session-scoped local stacks. Every test talks to them through public AWS APIs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sluice import long_lived
from sluice.testing import StackProcess, project_stack

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "runtime" / "fixture"

# `--sluice-coverage` (sluice/pytest_plugin.py); pytester runs the plugin's own inner sessions.
pytest_plugins = ("sluice.pytest_plugin", "pytester")


# Test directories whose modules share session-scoped stacks, run by one xdist worker as one
# unit: the console's modules share two stacks and a Chromium, which each worker running
# one of them would otherwise start again (about 15 CPU-s a worker).
ONE_WORKER = ("tests/console/",)


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    if config.getoption("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class SharedStacksScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            shared = next((d for d in ONE_WORKER if nodeid.startswith(d)), None)
            return shared or super()._split_scope(nodeid)

    return SharedStacksScheduling(config, log)


def pytest_collection_finish(session: pytest.Session) -> None:
    """The collected modules and what they imported (moto, pyiceberg, hypothesis) live as
    long as the test process."""
    long_lived.settle()


def pytest_unconfigure(config: pytest.Config) -> None:
    long_lived.release()


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
