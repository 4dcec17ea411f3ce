"""moto's `batch` package initialised when one of its names is first read, not on import.

moto's Step Functions interpreter imports `moto.batch.utils` for one enum (the Batch
integration's job states). Importing that submodule runs `moto/batch/__init__.py`, which
imports Batch's backend and with it all of EC2's: about 0.7 CPU-s, half of importing the
engine, paid by every `sluice up`, every CLI call and every test process. Deferred, the
package's submodules import as before, and its own `__init__` runs in full the first time
a name it defines is read (moto's backend lookup reads `batch_backends` when a Batch API
call is served).
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
import threading
import types
from collections.abc import Sequence

PACKAGE = "moto.batch"


class _DeferredInit(importlib.abc.Loader):
    """Creates the package with its `__path__`; runs its `__init__` on first attribute miss."""

    def __init__(self, real: importlib.abc.Loader) -> None:
        self._real = real
        self._lock = threading.RLock()

    def __getattr__(self, name: str) -> object:
        """The real loader's other methods (resource readers, `get_code`, ...)."""
        return getattr(self._real, name)

    def exec_module(self, module: types.ModuleType) -> None:
        def __getattr__(name: str) -> object:
            with self._lock:
                if module.__dict__.get("__getattr__") is __getattr__:
                    del module.__dict__["__getattr__"]
                    self._real.exec_module(module)
            try:
                return module.__dict__[name]
            except KeyError:
                raise AttributeError(
                    f"module {module.__name__!r} has no attribute {name!r}"
                ) from None

        module.__getattr__ = __getattr__  # type: ignore[method-assign]


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(
        self, name: str, path: Sequence[str] | None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if name != PACKAGE:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return spec
        spec.loader = _DeferredInit(spec.loader)
        return spec


def install() -> None:
    """Before moto's interpreter is imported (done on this module's import; a no-op when the
    package is imported already)."""
    if PACKAGE not in sys.modules and not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())


install()
