"""One lock (or condition) per live object (a moto backend, a queue), made on first use.

Weak keys: an object that is gone takes its lock with it, and a new object at the same
address gets a new lock.
"""

from __future__ import annotations

import functools
import threading
import weakref
from collections.abc import Callable
from typing import Any


class PerObject[T]:
    """One MAKE() per live object."""

    def __init__(self, make: Callable[[], T]) -> None:
        self._make = make
        self._guard = threading.Lock()
        self._made: weakref.WeakKeyDictionary[Any, T] = weakref.WeakKeyDictionary()

    def of(self, owner: Any) -> T:
        with self._guard:
            made = self._made.get(owner)
            if made is None:
                made = self._made[owner] = self._make()
            return made

    def all(self) -> list[T]:
        with self._guard:
            return list(self._made.values())


class LocksByObject(PerObject[threading.RLock]):
    def __init__(self) -> None:
        super().__init__(threading.RLock)

    def serialized(self, method: Callable[..., Any]) -> Callable[..., Any]:
        """METHOD, run under the lock of the object it is called on."""

        @functools.wraps(method)
        def call(owner: Any, *args: Any, **kwargs: Any) -> Any:
            with self.of(owner):
                return method(owner, *args, **kwargs)

        return call
