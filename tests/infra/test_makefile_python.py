"""Which interpreter `make` makes the environments with: the optimised build of `make
fast-python` when there is one, and an environment made by another interpreter is made
again (README, "Which Python"). Checked with `make -n` on a scratch environment path."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent


def _fake_fast_python(home: Path) -> Path:
    """An 'optimised build' under `home`: the running Python 3.12 by another path."""
    python = home / "python-3.12.3-pgo-lto" / "bin" / "python3.12"
    python.parent.mkdir(parents=True)
    python.symlink_to(sys._base_executable)
    return python


def _planned(home: Path, venv: Path) -> str:
    """What `make demo` would run, with `home` as SLUICE_PYTHON_HOME and `venv` as .venv."""
    env = {k: v for k, v in os.environ.items() if k not in ("PY", "MAKEFLAGS", "MAKELEVEL")}
    done = subprocess.run(
        ["make", "-n", "--no-print-directory", "-C", str(ROOT), f"VENV={venv}", "demo"],
        env={**env, "SLUICE_PYTHON_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _made_with(venv: Path, python: str) -> None:
    venv.mkdir()
    (venv / ".installed").write_text(python + "\n")
    newer = max((ROOT / f).stat().st_mtime for f in ("requirements.lock", "pyproject.toml")) + 1
    os.utime(venv / ".installed", (newer, newer))


def test_the_optimised_build_makes_the_environment(tmp_path: Path) -> None:
    fast = _fake_fast_python(tmp_path / "home")
    venv = tmp_path / "venv"
    plan = _planned(tmp_path / "home", venv)
    assert f"{fast} -m venv --clear {venv}" in plan
    assert f'echo "{fast}" >{venv}/.installed' in plan


def test_an_environment_made_by_that_build_is_kept(tmp_path: Path) -> None:
    fast = _fake_fast_python(tmp_path / "home")
    venv = tmp_path / "venv"
    _made_with(venv, str(fast))
    plan = _planned(tmp_path / "home", venv)
    assert "-m venv" not in plan
    assert f"{venv}/bin/sluice demo" in plan


def test_an_environment_made_by_another_interpreter_is_made_again(tmp_path: Path) -> None:
    fast = _fake_fast_python(tmp_path / "home")
    venv = tmp_path / "venv"
    _made_with(venv, "/usr/local/bin/python3.12")
    plan = _planned(tmp_path / "home", venv)
    assert f"{fast} -m venv --clear {venv}" in plan


def test_without_the_optimised_build_the_first_python_found_makes_it(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    plan = _planned(tmp_path / "no-build-here", venv)
    made = [line for line in plan.splitlines() if f"-m venv --clear {venv}" in line]
    assert len(made) == 1
    assert "no-build-here" not in made[0]
    python = made[0].split()[0]
    found = subprocess.run(
        [python, "-c", "import sys; print(sys.version_info[:2])"],
        text=True,
        capture_output=True,
        check=True,
    )
    assert found.stdout.strip() == "(3, 12)"
