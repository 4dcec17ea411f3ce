"""moto's batch package, deferred (sluice/engine/deferred_imports.py): importing the engine
does not import Batch's and EC2's backends, and Batch still works once it is used."""

from __future__ import annotations

import subprocess
import sys
import textwrap

CHECK = textwrap.dedent(
    """
    import sys
    import sluice.engine, sluice.stack
    from sluice import engine
    engine.install()
    assert "moto.batch.models" not in sys.modules and "moto.ec2" not in sys.modules, "eager"

    import boto3, moto.batch
    from moto import mock_aws
    with mock_aws():
        batch = boto3.client("batch", region_name="us-east-1")
        assert batch.describe_compute_environments()["computeEnvironments"] == []
    from moto.batch.models import batch_backends
    assert moto.batch.batch_backends is batch_backends
    try:
        moto.batch.no_such_name
    except AttributeError as exc:
        assert "no_such_name" in str(exc)
    else:
        raise AssertionError("a missing name was found")
    print("ok")
    """
)


def test_the_engine_imports_without_batch_and_batch_loads_when_used() -> None:
    result = subprocess.run(
        [sys.executable, "-c", CHECK], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
