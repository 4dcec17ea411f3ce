"""One reentrant lock per live object (a moto backend, a queue), made on first use.

Weak keys: an object that is gone takes its lock with it, and a new object at the same
address gets a new lock.
"""

from __future__ import annotations

import functools
import threading
import weakref
from collections.abc import Callable
from typing import Any


class LocksByObject:
    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: weakref.WeakKeyDictionary[Any, threading.RLock] = weakref.WeakKeyDictionary()

    def of(self, owner: Any) -> threading.RLock:
        with self._guard:
            lock = self._locks.get(owner)
            if lock is None:
                lock = self._locks[owner] = threading.RLock()
            return lock

    def serialized(self, method: Callable[..., Any]) -> Callable[..., Any]:
        """METHOD, run under the lock of the object it is called on."""

        @functools.wraps(method)
        def call(owner: Any, *args: Any, **kwargs: Any) -> Any:
            with self.of(owner):
                return method(owner, *args, **kwargs)

        return call
