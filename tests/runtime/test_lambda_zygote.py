"""Workers forked from the zygote behave as freshly started ones: each sees only its own
function's environment, working directory and sys.path, never another function's state."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sluice import lambda_zygote
from sluice.lambda_runtime import FunctionSpec, LambdaRuntime, default_base_env

HANDLERS = """
import os
import sys

import boto3  # a shared library: the zygote imports it for the workers after the first

LOADED_AT_IMPORT = os.environ.get("FLAVOUR")
counter = 0


def handler(event, context):
    global counter
    counter += 1
    from helper import where  # only on this function's own sys.path

    return {
        "flavour": os.environ.get("FLAVOUR"),
        "loaded_at_import": LOADED_AT_IMPORT,
        "other": os.environ.get("OTHER_ONLY"),
        "cwd": os.getcwd(),
        "path0": sys.path[0],
        "helper": where(),
        "counter": counter,
        "name": context.function_name,
        "pid": os.getpid(),
    }
"""


def function(name: str, code_dir: Path, **env: str) -> FunctionSpec:
    return FunctionSpec(
        name=name,
        arn=f"arn:aws:lambda:us-east-1:123456789012:function:{name}",
        handler="app.handler",
        code_dir=code_dir,
        timeout=30,
        memory=128,
        environment=env,
    )


def code(root: Path, label: str) -> Path:
    directory = root / label
    directory.mkdir()
    (directory / "app.py").write_text(HANDLERS)
    (directory / "helper.py").write_text(f"def where():\n    return {label!r}\n")
    return directory


@pytest.fixture(params=["own zygote", "zygote from the template"])
def lambdas(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LambdaRuntime]:
    """A runtime whose zygote is its own process, or forked from a template (as for stacks
    forked by the stack zygote)."""
    template = None
    if request.param == "zygote from the template":
        template = lambda_zygote.start_template(default_base_env(""))
    runtime = LambdaRuntime(tmp_path / "logs", default_base_env("http://127.0.0.1:9"))
    yield runtime
    if runtime._zygote is not None:  # a worker was forked: from the zygote asked for
        assert isinstance(runtime._zygote.proc, subprocess.Popen) == (template is None)
    runtime.shutdown()
    if template is not None:
        lambda_zygote.close_template()
        assert template.wait(timeout=10) == 0


def answer(lambdas: LambdaRuntime, name: str) -> dict[str, Any]:
    result = lambdas.invoke(name, {})
    assert result.function_error is None, result.payload
    body: dict[str, Any] = json.loads(result.payload)
    return body


def test_each_forked_worker_has_its_own_functions_environment_and_code(
    lambdas: LambdaRuntime, tmp_path: Path
) -> None:
    first, second = code(tmp_path, "first"), code(tmp_path, "second")
    lambdas.deploy(
        [
            function("First", first, FLAVOUR="vanilla", OTHER_ONLY="only-first"),
            function("Second", second, FLAVOUR="mint"),
        ]
    )
    a, b = answer(lambdas, "First"), answer(lambdas, "Second")
    assert (a["flavour"], a["loaded_at_import"], a["other"]) == ("vanilla", "vanilla", "only-first")
    assert (b["flavour"], b["loaded_at_import"], b["other"]) == ("mint", "mint", None)
    assert (a["cwd"], a["path0"], a["helper"]) == (str(first), str(first), "first")
    assert (b["cwd"], b["path0"], b["helper"]) == (str(second), str(second), "second")
    assert (a["name"], b["name"]) == ("First", "Second")
    # Module state lives in one worker: the warm one keeps it, the other function never
    # sees it.
    assert answer(lambdas, "First")["counter"] == 2
    assert answer(lambdas, "Second")["counter"] == 2
    assert lambdas._zygote is not None  # they were forked, not started afresh


CLIENTS = """
import boto3

WARM = boto3.DEFAULT_SESSION is not None  # made, with botocore's data read, in the zygote


def handler(event, context):
    s3, sqs = boto3.client("s3"), boto3.client("sqs")
    return {
        "warm": WARM,
        "key": s3._request_signer._credentials.access_key,
        "region": sqs.meta.region_name,
        "endpoint": sqs.meta.endpoint_url,
    }
"""


def test_a_forked_workers_clients_take_its_own_credentials_region_and_endpoint(
    lambdas: LambdaRuntime, tmp_path: Path
) -> None:
    """boto3's default session is made in the zygote, its clients' data loaded there; a
    worker's clients still resolve the credentials, region and endpoint of its own
    function's environment, never another's or the zygote's."""
    first, second = code(tmp_path, "first"), code(tmp_path, "second")
    for directory in (first, second):
        (directory / "app.py").write_text(CLIENTS)
    lambdas.deploy(
        [
            function("First", first, AWS_ACCESS_KEY_ID="key-first"),
            function(
                "Second",
                second,
                AWS_ACCESS_KEY_ID="key-second",
                AWS_DEFAULT_REGION="eu-west-1",
                AWS_ENDPOINT_URL="http://127.0.0.1:8",
            ),
        ]
    )
    a, b = answer(lambdas, "First"), answer(lambdas, "Second")
    assert {k: a[k] for k in ("key", "region", "endpoint")} == {
        "key": "key-first",
        "region": "us-east-1",
        "endpoint": "http://127.0.0.1:9",
    }
    assert b == {
        "warm": True,  # forked once the first worker had imported boto3
        "key": "key-second",
        "region": "eu-west-1",
        "endpoint": "http://127.0.0.1:8",
    }


def test_a_runtime_whose_template_has_gone_starts_its_own_zygote(tmp_path: Path) -> None:
    template = lambda_zygote.start_template(default_base_env(""))
    template.kill()
    template.wait()
    runtime = LambdaRuntime(tmp_path / "logs", default_base_env("http://127.0.0.1:9"))
    try:
        runtime.deploy([function("Alone", code(tmp_path, "alone"), FLAVOUR="alone")])
        assert answer(runtime, "Alone")["flavour"] == "alone"
        assert runtime._zygote is not None
        assert isinstance(runtime._zygote.proc, subprocess.Popen)  # its own process
    finally:
        runtime.shutdown()
        lambda_zygote.close_template()


def test_a_function_setting_an_interpreter_variable_gets_a_fresh_interpreter(
    lambdas: LambdaRuntime, tmp_path: Path
) -> None:
    # PYTHONPATH is read when an interpreter starts: a fork of the zygote would miss it.
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "from_pythonpath.py").write_text("VALUE = 'found'\n")
    app = code(tmp_path, "app")
    (app / "app.py").write_text(
        HANDLERS + "\n\nimport from_pythonpath\nFOUND = from_pythonpath.VALUE\n"
    )
    assert not lambda_zygote.fits({"PYTHONPATH": str(extra)})
    lambdas.deploy([function("WithPath", app, FLAVOUR="x", PYTHONPATH=str(extra))])
    assert answer(lambdas, "WithPath")["helper"] == "app"


def test_without_forking_every_worker_is_a_fresh_interpreter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(lambda_zygote.FORK_ENV, "0")
    runtime = LambdaRuntime(tmp_path / "logs", default_base_env("http://127.0.0.1:9"))
    try:
        runtime.deploy([function("Plain", code(tmp_path, "plain"), FLAVOUR="plain")])
        assert answer(runtime, "Plain")["flavour"] == "plain"
        assert runtime._zygote is None
    finally:
        runtime.shutdown()
