"""Function packages for Lambda, built without Docker: what `sam build` runs for each function.

Every function in the template has ``Metadata: BuildMethod: makefile``, so `sam build`
calls ``make build-<LogicalId>``, which runs ``python -m sluice.package stage``. A package
holds exactly what the handler imports:

- **its modules**: the handler's module and every first-party module (``tasks``,
  ``schemas``) it imports, found by reading the imports (``if TYPE_CHECKING:`` blocks
  excluded). A handler that reaches the local runtime (``sluice``) is refused.
- **one dependency group** (``infra/requirements/<group>.txt``, pinned): the smallest group
  that provides every third-party module those files import. Wheels are taken for the
  python3.12 runtime on Amazon Linux 2023 (manylinux up to glibc 2.34, x86_64), never
  built here; a group is installed once per lock and hard-linked into each package.
- minus what ``infra/requirements/trim.txt`` lists (parts of wheels no handler uses).

boto3 and botocore are not packaged: the Lambda runtime provides them, and so does the
local runtime for built packages (`sluice up --built`).

    python -m sluice.package stage infra/template.yaml TranscriptLoadResultFunction OUT_DIR
    python -m sluice.package report .aws-sam/build     # sizes against the 250 MB limit
    python -m sluice.package install                    # install every group (once per lock)
    python -m sluice.package lock                       # re-pin every group
"""

from __future__ import annotations

import ast
import fnmatch
import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sluice.lambda_runtime import RUNTIME_PROVIDED, provide_runtime_libs
from sluice.template import load_template

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = ROOT / "infra" / "requirements"
DEPS_CACHE = ROOT / "build" / "deps"
FIRST_PARTY = ("tasks", "schemas")
FORBIDDEN = ("sluice",)
# AWS's limit on a function's unzipped code, layers included: 250 MiB.
LAMBDA_UNZIPPED_LIMIT = 262_144_000
PYTHON_VERSION = "3.12"
PLATFORMS = (
    "manylinux_2_34_x86_64",
    "manylinux_2_28_x86_64",
    "manylinux_2_17_x86_64",
    "manylinux2014_x86_64",
)


class PackageError(Exception):
    """The package cannot be built as asked; the message names the function and the cause."""


@dataclass(frozen=True)
class Closure:
    modules: tuple[str, ...]  # first-party modules, dotted
    third_party: frozenset[str]  # top-level names the modules import


def module_file(module: str, root: Path = ROOT) -> Path | None:
    path = root.joinpath(*module.split("."))
    if (path / "__init__.py").is_file():
        return path / "__init__.py"
    if path.with_suffix(".py").is_file():
        return path.with_suffix(".py")
    return None


def _imports(tree: ast.Module) -> Iterable[str]:
    """Absolute module names the code imports at run time (TYPE_CHECKING blocks skipped)."""
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(child) for stmt in node.body for child in ast.walk(stmt))
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def closure(handler_module: str, root: Path = ROOT) -> Closure:
    """The first-party modules a handler needs and the third-party names they import."""
    seen: set[str] = set()
    third: set[str] = set()
    todo = [handler_module]
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        path = module_file(module, root)
        if path is None:
            continue  # `from pkg import name` where name is not a module
        seen.add(module)
        parts = module.split(".")
        todo.extend(".".join(parts[:i]) for i in range(1, len(parts)))
        for name in _imports(ast.parse(path.read_text(), str(path))):
            top = name.split(".")[0]
            if top in FORBIDDEN:
                raise PackageError(f"{module} imports {name}: the local runtime is not deployed")
            if top in FIRST_PARTY:
                todo.append(name)
            elif top not in sys.stdlib_module_names and top != "__future__":
                third.add(top)
    if handler_module not in seen:
        raise PackageError(f"no module {handler_module} under {root}")
    return Closure(tuple(sorted(seen)), frozenset(third))


# -- dependency groups ---------------------------------------------------------------------


def groups() -> list[str]:
    return sorted(p.stem for p in REQUIREMENTS.glob("*.txt") if p.stem != "trim")


def _lock_digest(group: str) -> str:
    data = (REQUIREMENTS / f"{group}.txt").read_bytes() + (REQUIREMENTS / "trim.txt").read_bytes()
    return hashlib.sha256(data).hexdigest()[:12]


def installed_deps(group: str) -> Path:
    """The group's wheels installed (and trimmed) once per lock, for every package to share."""
    target = DEPS_CACHE / f"{group}-{_lock_digest(group)}"
    if (target / ".complete").exists():
        return target
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    platform_args = [arg for p in PLATFORMS for arg in ("--platform", p)]
    print(f"installing dependency group {group} for python{PYTHON_VERSION} x86_64", flush=True)
    subprocess.run(
        [
            sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
            "--target", str(partial), "--no-deps", "--only-binary=:all:",
            "--python-version", PYTHON_VERSION, "--implementation", "cp", *platform_args,
            "--requirement", str(REQUIREMENTS / f"{group}.txt"),
        ],
        check=True,
    )  # fmt: skip
    trim(partial)
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    # Its size, for choose_group: every function's staging would walk the site otherwise.
    (target / ".complete").write_text(f"{_size(target)}\n")
    return target


def trim_patterns() -> list[str]:
    lines = (REQUIREMENTS / "trim.txt").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def trim(site: Path) -> None:
    """Remove what trim.txt lists: globs relative to the installed site, each with a reason."""
    patterns = trim_patterns()
    for path in sorted(site.rglob("*"), reverse=True):
        rel = path.relative_to(site).as_posix()
        if any(fnmatch.fnmatchcase(rel, p) for p in patterns) and path.exists():
            shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()


def provided(site: Path) -> set[str]:
    """Top-level importable names in an installed site."""
    names = set()
    for entry in site.iterdir():
        if entry.name.endswith((".dist-info", ".data")) or entry.name.startswith("."):
            continue
        names.add(entry.name.split(".")[0])
    return names


def choose_group(function: str, needs: frozenset[str]) -> tuple[str, Path]:
    """The smallest group that provides every third-party name the function imports."""
    wanted = needs - set(RUNTIME_PROVIDED)
    candidates = []
    for group in groups():
        site = installed_deps(group)
        if wanted <= provided(site):
            recorded = (site / ".complete").read_text().strip()
            candidates.append((int(recorded) if recorded else _size(site), group, site))
    if not candidates:
        raise PackageError(
            f"{function}: no dependency group in {REQUIREMENTS.relative_to(ROOT)} provides "
            f"{', '.join(sorted(wanted))}"
        )
    _, group, site = min(candidates)
    return group, site


# -- staging and reporting -------------------------------------------------------------------


def stage(template_path: Path, logical_id: str, out: Path) -> dict[str, object]:
    """Write one function's package into `out` (sam build's ARTIFACTS_DIR)."""
    template = load_template(template_path)
    resource = template.resources.get(logical_id)
    if resource is None or resource.type != "AWS::Serverless::Function":
        raise PackageError(f"{logical_id} is not a function in {template_path}")
    handler = resource.prop("Handler")
    if not isinstance(handler, str) or "." not in handler:
        raise PackageError(f"{logical_id}: Handler {handler!r} is not module.function")
    found = closure(handler.rsplit(".", 1)[0])
    group, site = choose_group(logical_id, found.third_party)
    out.mkdir(parents=True, exist_ok=True)
    shutil.copytree(site, out, copy_function=os.link, dirs_exist_ok=True)
    (out / ".complete").unlink(missing_ok=True)
    for module in found.modules:
        source = module_file(module)
        assert source is not None
        dest = out / source.relative_to(ROOT)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, dest)
    manifest: dict[str, object] = {
        "function": logical_id,
        "handler": handler,
        "group": group,
        "modules": list(found.modules),
        "imports": sorted(found.third_party),
    }
    (out / "sluice-package.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"{logical_id}: {len(found.modules)} modules + group {group}", flush=True)
    return manifest


def _size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


# Run by `imports_alone` in a bare interpreter (-I -S): each job's package and the runtime's
# libraries go first on sys.path (the package is the working directory, as /var/task is on
# Lambda), its handler module is imported, and the error (or null) is printed as one marked
# JSON line. The modules that differ between packages (the handler's, the first-party ones)
# are dropped before the next job; the dependency modules stay, as every package of one
# group holds the same files (hard links of one install).
_IMPORT_CHECK = """
import importlib, json, os, sys
MARK, runtime_libs, first_party, jobs = json.loads(sys.argv[1])
for package, module in jobs:
    os.chdir(package)
    sys.path[:0] = [package, runtime_libs]
    try:
        importlib.import_module(module)
        error = None
    except BaseException as exc:
        error = (type(exc).__name__ + ": " + str(exc)).strip().splitlines()[-1]
    del sys.path[:2]
    own = {*first_party, module.split(".")[0]}
    for name in [name for name in sys.modules if name.split(".")[0] in own]:
        del sys.modules[name]
    importlib.invalidate_caches()
    print(MARK, json.dumps(error), flush=True)
"""
_IMPORT_MARK = "sluice-import-check:"


def imports_alone(jobs: list[tuple[Path, str]], runtime_libs: Path) -> list[str | None]:
    """Import each (package, handler) as Lambda would: this Python with only the package and
    the runtime's libraries on sys.path. Per job: None if it imports, else the error's last
    line. The jobs share one interpreter: give it packages of one dependency group only."""
    modules = [(str(package), handler.rsplit(".", 1)[0]) for package, handler in jobs]
    argument = json.dumps([_IMPORT_MARK, str(runtime_libs), FIRST_PARTY, modules])
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", _IMPORT_CHECK, argument],
        capture_output=True,
        text=True,
    )
    # Marked lines only: a handler may print as it is imported.
    results: list[str | None] = [
        json.loads(line.removeprefix(_IMPORT_MARK))
        for line in done.stdout.splitlines()
        if line.startswith(_IMPORT_MARK)
    ]
    # The interpreter died part-way (a crash in an extension): the rest are not known.
    last = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
    return results + [last] * (len(jobs) - len(results))


def report(build_dir: Path) -> int:
    """Print each package's unzipped size against the limit and whether its handler imports
    from the package alone; 1 if any is over the limit or fails to import, else 0."""
    build_dir = build_dir.resolve()
    manifests = [json.loads(p.read_text()) for p in sorted(build_dir.glob("*/sluice-package.json"))]
    if not manifests:
        print(f"no packages under {build_dir}: run make package", file=sys.stderr)
        return 1
    runtime_libs = provide_runtime_libs(build_dir.parent / "lambda-runtime" / "python")
    by_group: dict[str, list[dict[str, Any]]] = {}
    for manifest in manifests:
        by_group.setdefault(manifest["group"], []).append(manifest)
    errors: dict[str, str | None] = {}
    for members in by_group.values():
        jobs = [(build_dir / m["function"], m["handler"]) for m in members]
        errors.update(
            zip([m["function"] for m in members], imports_alone(jobs, runtime_libs), strict=True)
        )
    print(f"{'function':34} {'group':7} {'unzipped':>9}  {'of 250 MiB':>10}  handler import")
    failed = 0
    for manifest in manifests:
        size = _size(build_dir / manifest["function"])
        error = errors[manifest["function"]]
        share = "OVER" if size > LAMBDA_UNZIPPED_LIMIT else f"{size / LAMBDA_UNZIPPED_LIMIT:.0%}"
        failed += size > LAMBDA_UNZIPPED_LIMIT or error is not None
        print(
            f"{manifest['function']:34} {manifest['group']:7} {size / 2**20:5.1f} MiB  {share:>10}"
            f"  {error or 'ok'}"
        )
    return 1 if failed else 0


# The distributions of RUNTIME_PROVIDED: pinned by the runtime, never packaged.
RUNTIME_DISTRIBUTIONS = (
    "boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "urllib3", "six"
)  # fmt: skip


def lock() -> None:
    """Re-pin every group for the Lambda platform, at the versions the laptop runs."""
    skip = [arg for name in RUNTIME_DISTRIBUTIONS for arg in ("--no-emit-package", name)]
    for source in sorted(REQUIREMENTS.glob("*.in")):
        subprocess.run(
            [
                str(Path(sys.executable).with_name("uv")), "pip", "compile", str(source),
                "--python-version", PYTHON_VERSION, "--python-platform", "x86_64-manylinux_2_28",
                "--constraint", str(ROOT / "requirements.lock"),
                "--custom-compile-command", "make lock", "--quiet", *skip,
                "--output-file", str(source.with_suffix(".txt")),
            ],
            check=True,
        )  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    try:
        if args[:1] == ["stage"] and len(args) == 4:
            stage(Path(args[1]), args[2], Path(args[3]))
            return 0
        if args[:1] == ["report"] and len(args) == 2:
            return report(Path(args[1]))
        if args == ["install"]:
            for group in groups():
                installed_deps(group)
            return 0
        if args == ["lock"]:
            lock()
            return 0
    except PackageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
