"""Lambda's Init phase is not part of the invoke: a slow import does not eat the Timeout.

On AWS the handler module is imported in the Init phase, which has its own 10 s limit; the
function's Timeout covers the invoke only. An init that runs past 10 s is run again inside
the first invoke, under the function's Timeout.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

from sluice import lambda_runtime
from sluice.lambda_runtime import FunctionSpec, LambdaRuntime, default_base_env

FIXTURE = Path(__file__).resolve().parent / "fixture"


def runtime(tmp_path: Path, **options: Any) -> LambdaRuntime:
    return LambdaRuntime(tmp_path / "logs", default_base_env("http://127.0.0.1:9"), **options)


def slow_function(import_s: float, timeout: float, **env: str) -> FunctionSpec:
    return FunctionSpec(
        name="SlowImportFunction",
        arn="arn:aws:lambda:us-east-1:123456789012:function:SlowImportFunction",
        handler="slow_import.handler",
        code_dir=FIXTURE,
        timeout=timeout,
        memory=128,
        environment={"SLOW_IMPORT_SECONDS": str(import_s), **env},
    )


def answer(result: lambda_runtime.InvokeResult) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(result.payload)
    return body


def test_a_slow_import_does_not_count_against_the_function_timeout(tmp_path: Path) -> None:
    lambdas = runtime(tmp_path)
    lambdas.deploy([slow_function(import_s=1.5, timeout=1)])
    try:
        cold = lambdas.invoke("SlowImportFunction", {"seconds": 0.2})
        assert cold.function_error is None, cold.payload
        # The handler starts with (nearly) all of its 1 s: the 1.5 s import was Init.
        assert 800 < answer(cold)["remaining_ms"] <= 1000
        [record] = lambdas.records
        assert record.init_ms is not None and record.init_ms >= 1500
        assert 200 <= record.duration_ms < 1000

        warm = lambdas.invoke("SlowImportFunction", {"seconds": 0})
        assert warm.function_error is None
        assert lambdas.records[-1].init_ms is None  # the same worker: no Init
    finally:
        lambdas.shutdown()


def test_the_timeout_still_runs_from_when_the_event_is_sent(tmp_path: Path) -> None:
    lambdas = runtime(tmp_path)
    lambdas.deploy([slow_function(import_s=1.0, timeout=1)])
    try:
        result = lambdas.invoke("SlowImportFunction", {"seconds": 5})
        assert result.function_error == "Unhandled"
        assert answer(result)["errorType"] == "Sandbox.Timedout"
        assert "Task timed out after 1.00 seconds" in answer(result)["errorMessage"]
        assert 1000 <= lambdas.records[-1].duration_ms < 2000
        # The killed worker is replaced: the next invoke starts a new one and succeeds.
        again = lambdas.invoke("SlowImportFunction", {"seconds": 0})
        assert again.function_error is None
        assert lambdas.records[-1].init_ms is not None
    finally:
        lambdas.shutdown()


def test_an_init_past_its_limit_goes_on_under_the_function_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lambda_runtime, "INIT_TIMEOUT_S", 0.5)
    lambdas = runtime(tmp_path)
    lambdas.deploy(
        [
            slow_function(import_s=1.0, timeout=2),
            FunctionSpec(**{**vars(slow_function(3.0, 1)), "name": "TooSlow"}),
        ]
    )
    try:
        # 0.5 s of Init, then the rest of the import and the handler within the 2 s Timeout.
        assert lambdas.invoke("SlowImportFunction", {}).function_error is None
        # 0.5 s of Init, then 1 s of Timeout: the 3 s import never finishes.
        too_slow = lambdas.invoke("TooSlow", {})
        assert answer(too_slow)["errorType"] == "Sandbox.Timedout"
    finally:
        lambdas.shutdown()


def test_cold_starts_are_bounded_and_every_invoke_is_served(tmp_path: Path) -> None:
    imports = tmp_path / "imports"
    imports.mkdir()
    lambdas = runtime(tmp_path, max_cold_starts=2)
    lambdas.deploy([slow_function(0.5, 1, SLOW_IMPORT_LOG=str(imports))])
    results: list[lambda_runtime.InvokeResult] = []

    def call() -> None:
        results.append(lambdas.invoke("SlowImportFunction", {"seconds": 0.3}))

    threads = [threading.Thread(target=call) for _ in range(8)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
    finally:
        lambdas.shutdown()
    assert len(results) == 8
    assert [r.function_error for r in results] == [None] * 8
    spans = [tuple(map(float, f.read_text().split())) for f in imports.iterdir()]
    assert 2 <= len(spans) < 8  # waiting invokes took workers that came free
    for began, _ in spans:  # never more than 2 imports at once
        assert sum(1 for b, e in spans if b <= began < e) <= 2
