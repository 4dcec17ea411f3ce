"""Runs pollers on background threads, one thread per poller."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Sequence
from typing import Protocol

from sluice.triggers.counters import Counters

log = logging.getLogger(__name__)


class Poller(Protocol):
    name: str
    counters: Counters

    def poll_once(self) -> int:
        """Do one unit of work; return how much was done (0 = idle)."""
        ...

    def request_stop(self) -> None:
        """Make any in-progress wait inside ``poll_once`` return early."""
        ...

    def resume(self) -> None:
        """Undo ``request_stop`` so the poller can be run again."""
        ...


class Stoppable:
    """The stop flag a poller's waits watch: `request_stop` ends them early, `resume` lets
    the poller run again."""

    def __init__(self) -> None:
        self._stop = threading.Event()

    def request_stop(self) -> None:
        self._stop.set()

    def resume(self) -> None:
        self._stop.clear()


class PollerGroup:
    """``start()`` runs each poller's ``poll_once`` in a loop on its own daemon thread,
    pausing ``idle_wait_s`` when it was idle and backing off after an error; ``stop()``
    signals all pollers and joins the threads. ``pause(name)`` stops one poller, keeping
    it (a stream poller keeps its position) until ``unpause(name)``, as a stopped pipe."""

    def __init__(
        self,
        pollers: Iterable[Poller] = (),
        *,
        idle_wait_s: float = 0.2,
        error_backoff_s: float = 1.0,
        max_error_backoff_s: float = 30.0,
    ) -> None:
        self._pollers: list[Poller] = list(pollers)
        self._idle_wait_s = idle_wait_s
        self._error_backoff_s = error_backoff_s
        self._max_error_backoff_s = max_error_backoff_s
        self._stop = threading.Event()
        self._threads: dict[str, list[threading.Thread]] = {}  # by poller name
        self._paused: set[str] = set()
        self._started = False
        self._lock = threading.Lock()

    @property
    def pollers(self) -> list[Poller]:
        with self._lock:
            return list(self._pollers)

    @property
    def running(self) -> bool:
        with self._lock:
            return self._started

    def add(self, poller: Poller) -> None:
        with self._lock:
            if any(p.name == poller.name for p in self._pollers):
                raise ValueError(f"duplicate poller name {poller.name}")
            self._pollers.append(poller)
            if self._started and poller.name not in self._paused:
                poller.resume()
                self._start_thread(poller)

    def start(self) -> None:
        with self._lock:
            if self._started:
                return
            self._started = True
            self._stop.clear()
            for poller in self._pollers:
                if poller.name not in self._paused:
                    poller.resume()
                    self._start_thread(poller)

    def pause(self, name: str) -> None:
        """Stop running the poller NAME (if any) after the batch it is delivering; without
        waiting for that batch, as StopPipe answers before the pipe is STOPPED."""
        with self._lock:
            self._paused.add(name)
            for poller in self._pollers:
                if poller.name == name:
                    poller.request_stop()

    def unpause(self, name: str) -> None:
        """Run the poller NAME again. Its new threads wait for the old ones to end first,
        so a stream shard never has two batches in flight."""
        with self._lock:
            if name not in self._paused:
                return
            self._paused.discard(name)
            if not self._started:
                return
            for poller in self._pollers:
                if poller.name == name:
                    poller.resume()
                    self._start_thread(poller)

    @property
    def paused(self) -> set[str]:
        """The pollers paused, whether or not they have ended their last batch."""
        with self._lock:
            return set(self._paused)

    @property
    def stopped(self) -> set[str]:
        """The paused pollers that have ended the batch they were delivering."""
        with self._lock:
            return {
                name
                for name in self._paused
                if not any(t.is_alive() for t in self._threads.get(name, []))
            }

    def stop(self, timeout: float = 5.0) -> None:
        with self._lock:
            self._started = False
            self._stop.set()
            for poller in self._pollers:
                poller.request_stop()
            threads = [t for ts in self._threads.values() for t in ts]
            self._threads.clear()
        deadline = time.monotonic() + timeout  # one wait for all, not one per thread
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))
            if t.is_alive():
                # Most likely blocked in a synchronous target call; it is a daemon thread.
                log.warning("poller thread %s did not stop within %.1fs", t.name, timeout)

    def stats(self) -> dict[str, dict[str, int]]:
        return {p.name: p.counters.snapshot() for p in self.pollers}

    def __enter__(self) -> PollerGroup:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _start_thread(self, poller: Poller) -> None:
        # A poller that may run several batches at once (SQS) says so with `concurrency`.
        before = self._threads.get(poller.name, [])
        started = []
        for i in range(getattr(poller, "concurrency", 1)):
            t = threading.Thread(
                target=self._loop,
                args=(poller, before),
                name=f"sluice-poller-{poller.name}-{i}",
                daemon=True,
            )
            started.append(t)
            t.start()
        self._threads[poller.name] = started

    def _loop(self, poller: Poller, before: Sequence[threading.Thread] = ()) -> None:
        for thread in before:  # a paused run of this poller, still ending its batch
            thread.join()
        backoff = self._error_backoff_s
        while not self._stop.is_set() and poller.name not in self._paused:
            try:
                done = poller.poll_once()
            except Exception:
                log.exception("poller %s failed; retrying in %.1fs", poller.name, backoff)
                poller.counters.incr("errors")
                self._stop.wait(backoff)
                backoff = min(backoff * 2, self._max_error_backoff_s)
                continue
            backoff = self._error_backoff_s
            if not done:
                # A poller that knows when it has work again waits for it (stream pollers).
                wait_idle = getattr(poller, "wait_idle", self._stop.wait)
                wait_idle(self._idle_wait_s)
