"""`make package`: what goes into a function's package, and the size check."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sluice import package
from sluice.package import LAMBDA_UNZIPPED_LIMIT, PackageError, closure, report


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_the_closure_follows_first_party_imports_and_skips_type_checking(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "tasks/__init__.py": "",
            "tasks/flow/__init__.py": "",
            "tasks/flow/step.py": (
                "from typing import TYPE_CHECKING\n"
                "import json\n"
                "from aws_lambda_powertools import Logger\n"
                "from schemas.flow import Model\n"
                "from tasks.flow import jobs\n"
                "if TYPE_CHECKING:\n"
                "    from mypy_boto3_s3 import S3Client\n"
                "    from tasks.flow import typing_only\n"
            ),
            "tasks/flow/jobs.py": "import boto3\n",
            "tasks/flow/typing_only.py": "import pyarrow\n",
            "tasks/flow/unused.py": "import duckdb\n",
            "schemas/__init__.py": "",
            "schemas/flow.py": "import pydantic\nclass Model: ...\n",
        },
    )
    found = closure("tasks.flow.step", tmp_path)
    assert found.modules == (
        "schemas",
        "schemas.flow",
        "tasks",
        "tasks.flow",
        "tasks.flow.jobs",
        "tasks.flow.step",
    )
    assert found.third_party == {"aws_lambda_powertools", "boto3", "pydantic"}


def test_a_handler_that_reaches_the_local_runtime_is_refused(tmp_path: Path) -> None:
    write(tmp_path, {"tasks/__init__.py": "", "tasks/bad.py": "from sluice.testing import x\n"})
    with pytest.raises(PackageError, match=r"tasks\.bad imports sluice\.testing"):
        closure("tasks.bad", tmp_path)


def test_an_unknown_handler_module_is_named(tmp_path: Path) -> None:
    with pytest.raises(PackageError, match=r"no module tasks\.nowhere"):
        closure("tasks.nowhere", tmp_path)


def test_no_group_providing_an_import_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(package, "groups", lambda: ["tiny"])
    monkeypatch.setattr(package, "installed_deps", lambda group: Path("/nonexistent"))
    monkeypatch.setattr(package, "provided", lambda site: {"pydantic"})
    with pytest.raises(PackageError, match=r"StepFunction: no dependency group .* provides duckdb"):
        package.choose_group("StepFunction", frozenset({"pydantic", "duckdb", "boto3"}))


def test_trim_removes_only_what_trim_txt_lists(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "pyarrow/libarrow_flight.so.2600": "x",
            "pyarrow/_flight.cpython-312-x86_64-linux-gnu.so": "x",
            "pyarrow/include/arrow/api.h": "x",
            "pyarrow/libarrow.so.2600": "x",
            "pyarrow/libarrow_python.so.2600": "x",
            "pyarrow/libarrow_python.so.2600.1.0": "x",
            "pyarrow/parquet/__init__.py": "x",
        },
    )
    package.trim(tmp_path)
    left = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert left == [
        "pyarrow/libarrow.so.2600",
        "pyarrow/libarrow_python.so.2600",
        "pyarrow/parquet/__init__.py",
    ]


def package_dir(build: Path, name: str, code: str, size: int = 0) -> Path:
    write(
        build,
        {
            f"{name}/app.py": code,
            f"{name}/sluice-package.json": json.dumps(
                {"function": name, "group": "g", "handler": "app.handler"}
            ),
        },
    )
    if size:
        with (build / name / "blob").open("wb") as blob:
            blob.truncate(size)  # sparse: the size counts, the disk is not used
    return build / name


def report_of(build: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, str]]:
    """report()'s exit status, and its line for each function (after the header)."""
    status = report(build)
    lines = capsys.readouterr().out.splitlines()[1:]
    return status, {line.split()[0]: line for line in lines}


def test_the_report_fails_a_package_over_lambdas_limit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    build = tmp_path / ".aws-sam" / "build"
    package_dir(build, "SmallFunction", "def handler(e, c): ...\n", 1000)
    huge = package_dir(build, "HugeFunction", "def handler(e, c): ...\n", LAMBDA_UNZIPPED_LIMIT + 1)
    assert report(build) == 1
    assert "OVER" in next(line for line in capsys.readouterr().out.splitlines() if "Huge" in line)
    (huge / "blob").unlink()
    assert report(build) == 0


def test_the_report_fails_a_handler_that_needs_what_its_package_lacks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """pydantic is installed here, but not in the package: as on Lambda, the import fails."""
    build = tmp_path / ".aws-sam" / "build"
    package_dir(build, "NeedsBoto3Function", "import boto3\ndef handler(e, c): ...\n")
    package_dir(build, "NeedsPydanticFunction", "import pydantic\ndef handler(e, c): ...\n")
    status, lines = report_of(build, capsys)
    assert status == 1
    assert lines["NeedsBoto3Function"].endswith("ok")
    assert lines["NeedsPydanticFunction"].endswith(
        "ModuleNotFoundError: No module named 'pydantic'"
    )


def test_handlers_checked_together_see_only_their_own_package(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Packages of one group are imported in one interpreter: a first-party module that only
    the first package holds must not let the second one's handler import (nor may what a
    handler prints as it loads be taken for a result)."""
    build = tmp_path / ".aws-sam" / "build"
    write(build, {"AFunction/tasks/__init__.py": "", "AFunction/tasks/shared.py": "X = 1\n"})
    package_dir(
        build, "AFunction", "from tasks.shared import X\nprint('null')\ndef handler(e, c): ...\n"
    )
    package_dir(build, "BFunction", "from tasks.shared import X\ndef handler(e, c): ...\n")
    status, lines = report_of(build, capsys)
    assert status == 1
    assert lines["AFunction"].endswith("ok")
    assert lines["BFunction"].endswith("ModuleNotFoundError: No module named 'tasks'")
