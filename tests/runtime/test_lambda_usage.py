"""LambdaRuntime's usage totals: the figures Lambda bills, per function."""

from __future__ import annotations

import math
from pathlib import Path

from sluice.lambda_runtime import FunctionSpec, LambdaRuntime, default_base_env

HANDLER = """
import time

def handler(event, context):
    if event.get("fail"):
        raise ValueError("no")
    deadline = time.process_time() + event.get("cpu", 0)
    while time.process_time() < deadline:
        pass
    time.sleep(event.get("sleep", 0))
    return {"ok": True}
"""


def test_usage_adds_billed_milliseconds_and_gb_seconds_per_function(tmp_path: Path) -> None:
    (tmp_path / "usage_fn.py").write_text(HANDLER)
    spec = FunctionSpec(
        name="UsageFunction",
        arn="arn:aws:lambda:us-east-1:123456789012:function:UsageFunction",
        handler="usage_fn.handler",
        code_dir=tmp_path,
        timeout=10,
        memory=512,
        environment={},
    )
    runtime = LambdaRuntime(tmp_path / "logs", default_base_env("http://127.0.0.1:1"))
    runtime.deploy([spec])
    try:
        results = [
            runtime.invoke("UsageFunction", {"sleep": 0.05}),
            runtime.invoke("UsageFunction", {"cpu": 0.05}),
            runtime.invoke("UsageFunction", {"fail": True}),
        ]
        assert [r.function_error for r in results] == [None, None, "Unhandled"]
        (usage,) = runtime.usage()
        records = list(runtime.records)
    finally:
        runtime.shutdown()

    assert all(isinstance(r.billed_ms, int) for r in records)  # Lambda rounds up to 1 ms
    assert records[0].billed_ms >= 50 and records[1].billed_ms >= 50
    assert records[1].cpu_ms >= 45 > records[0].cpu_ms
    assert all(r.memory_mb == 512 for r in records)
    assert usage.function == "UsageFunction" and usage.memory_mb == 512
    assert (usage.invocations, usage.errors) == (3, 1)
    assert usage.error_types == {"ValueError": 1}
    assert usage.billed_ms == sum(r.billed_ms for r in records)
    assert usage.gb_seconds == 0.5 * usage.billed_ms / 1000
    # Billed time is the handler's run: never more than the invoke as the caller saw it.
    assert usage.billed_ms <= math.ceil(usage.duration_ms) + len(records)
    assert usage.as_dict()["gb_seconds"] == usage.gb_seconds
