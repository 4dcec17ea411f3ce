"""The embedded Step Functions engine: moto's ASL interpreter, extended at one seam.

`install()` verifies every moto symbol the engine relies on and applies the few global
patches (sluice/engine/moto_seam.py); everything else is a subclass that the engine's own
backend and response reach: `backend.SluiceBackend` starts `execution.SluiceExecution`s,
whose `SluiceWorker` runs programs built by moto's parser and specialised by
`programs.specialise_program` (cached per definition text, `programs.program_for`) on a
`SluiceEnvironment` with virtual clocks.
"""

from __future__ import annotations

from flask import Flask

# deferred_imports first: it installs itself before anything imports moto's interpreter.
from sluice.engine import deferred_imports, moto_seam  # noqa: F401
from sluice.engine.backend import (
    MAX_INPUT_BYTES,
    NotExpress,
    backend,
    start_sync_execution,
)
from sluice.engine.mocks import MOCK_CONFIG_ENV, MockConfigError, load_mock_test_case
from sluice.template import ACCOUNT_ID, REGION

__all__ = [
    "ACCOUNT_ID",
    "MAX_INPUT_BYTES",
    "MOCK_CONFIG_ENV",
    "REGION",
    "MockConfigError",
    "NotExpress",
    "backend",
    "install",
    "load_mock_test_case",
    "serve_step_functions",
    "start_sync_execution",
]


def install() -> None:
    """Check moto and apply the global patches (idempotent); raises MotoSeamError."""
    moto_seam.install()


def serve_step_functions(app: Flask) -> None:
    """Make moto's Flask app for `stepfunctions` answer with the engine (sluice/engine/api.py)."""
    from sluice.engine import api

    api.serve(app)
