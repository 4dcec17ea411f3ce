"""Workers start ahead of need: when deployed, and while a burst grows the pool.

A prewarmed function's first invoke finds its handler imported (no Init Duration, as on a
provisioned environment); deploying does not wait for the imports.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from sluice import lambda_runtime
from sluice.lambda_runtime import FunctionSpec, LambdaRuntime, default_base_env
from sluice.waiting import wait_for

FIXTURE = Path(__file__).resolve().parent / "fixture"
NAME = "SlowImportFunction"


def slow_import(name: str, import_s: float, imports: Path, timeout: float = 30) -> FunctionSpec:
    return FunctionSpec(
        name=name,
        arn=f"arn:aws:lambda:us-east-1:123456789012:function:{name}",
        handler="slow_import.handler",
        code_dir=FIXTURE,
        timeout=timeout,
        memory=128,
        environment={"SLOW_IMPORT_SECONDS": str(import_s), "SLOW_IMPORT_LOG": str(imports)},
    )


def prewarmed(tmp_path: Path, import_s: float) -> tuple[LambdaRuntime, Path]:
    imports = tmp_path / "imports"
    imports.mkdir()
    lambdas = LambdaRuntime(tmp_path / "logs", default_base_env("http://127.0.0.1:9"), prewarm=True)
    lambdas.deploy([slow_import(NAME, import_s, imports)])
    return lambdas, imports


def import_spans(imports: Path) -> list[tuple[float, float]]:
    return [(float(b), float(e)) for b, e in (f.read_text().split() for f in imports.iterdir())]


def in_background(lambdas: LambdaRuntime, event: dict[str, Any]) -> threading.Thread:
    thread = threading.Thread(target=lambdas.invoke, args=(NAME, event), daemon=True)
    thread.start()
    return thread


def test_deploy_imports_the_handler_in_the_background_before_the_first_invoke(
    tmp_path: Path,
) -> None:
    lambdas, imports = prewarmed(tmp_path, import_s=1.0)
    deployed = time.time()
    try:
        wait_for(lambda: lambdas.warm(NAME) == 1, what="a prewarmed worker")
        assert lambdas.workers() == {NAME: {"idle": 1, "starting": 0, "running": 0}}
        [(_, imported)] = import_spans(imports)
        assert imported > deployed  # deploy returned while the import was still running
        asked = time.time()
        result = lambdas.invoke(NAME, {})
        assert result.function_error is None, result.payload
        assert lambdas.records[-1].init_ms is None  # no Init inside the first invoke
        assert len(import_spans(imports)) == 1 and imported < asked
    finally:
        lambdas.shutdown()


def test_an_invoke_during_the_prewarm_import_takes_that_worker(tmp_path: Path) -> None:
    lambdas, imports = prewarmed(tmp_path, import_s=1.0)
    try:
        wait_for(lambda: lambdas.workers()[NAME]["starting"] == 1, what="the prewarm import")
        result = lambdas.invoke(NAME, {})
        assert result.function_error is None, result.payload
        assert len(import_spans(imports)) == 1  # one import, not a second cold start
    finally:
        lambdas.shutdown()


def test_a_burst_starts_the_next_worker_before_an_invoke_needs_it(tmp_path: Path) -> None:
    lambdas, imports = prewarmed(tmp_path, import_s=0.2)
    gate = tmp_path / "gate"
    held = {"gate": str(gate)}
    try:
        wait_for(lambda: lambdas.warm(NAME) == 1, what="a prewarmed worker")
        # One invoke at a time starts nothing ahead: A takes the prewarmed worker, B (while
        # A is held) starts its own.
        a = in_background(lambdas, held)
        wait_for(lambda: lambdas.warm(NAME) == 0, what="A holding the worker")
        b = in_background(lambdas, held)
        wait_for(lambda: len(import_spans(imports)) == 2, what="B's cold start")
        gate.touch()
        a.join(30)
        b.join(30)
        assert lambdas.warm(NAME) == 2 and len(import_spans(imports)) == 2
        gate.unlink()

        # C and D held in flight together: D takes the last idle worker while C runs, so a
        # third worker is started and imported before any invoke asks for it.
        c = in_background(lambdas, held)
        wait_for(lambda: lambdas.warm(NAME) == 1, what="C holding a worker")
        d = in_background(lambdas, held)
        wait_for(lambda: len(import_spans(imports)) == 3, what="a worker started ahead")
        wait_for(lambda: lambdas.warm(NAME) == 1, what="the worker started ahead, idle")
        assert c.is_alive() and d.is_alive()
        gate.touch()
        c.join(30)
        d.join(30)
        assert lambdas.warm(NAME) == 3
    finally:
        gate.touch()
        lambdas.shutdown()


def test_a_slow_prewarm_import_gives_its_start_slot_back_and_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One start slot and two functions importing for 1.5 s each. A provisioned
    # environment's Init limit (scaled down to 0.3 s) is not a reason to throw an import
    # away on a loaded host: the slot goes back, the second import starts while the first
    # still runs, and both workers are kept.
    monkeypatch.setattr(lambda_runtime, "PROVISIONED_INIT_TIMEOUT_S", 0.3)
    imports = tmp_path / "imports"
    imports.mkdir()
    lambdas = LambdaRuntime(
        tmp_path / "logs", default_base_env("http://127.0.0.1:9"), max_cold_starts=1, prewarm=True
    )
    lambdas.deploy([slow_import(name, 1.5, imports, timeout=0.2) for name in ("First", "Second")])
    try:
        wait_for(lambda: lambdas.warm("First") == lambdas.warm("Second") == 1, what="both kept")
        [(_, ended_first), (began_second, _)] = sorted(import_spans(imports))
        assert began_second < ended_first  # the second import did not wait for the first to finish
        assert lambdas.invoke("Second", {}).function_error is None
        assert lambdas.records[-1].init_ms is None
    finally:
        lambdas.shutdown()
