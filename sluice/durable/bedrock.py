"""Bedrock batch inference jobs (the emulator's), durable: one row per job.

A job is marked when it is created and at each status change. On restore every job comes
back; one that had not ended (Submitted, Validating, InProgress...) runs again from the
start, as a job that Bedrock itself resumes would: it reads its input again and writes
the same output files. One that was Stopping ends Stopped.
"""

from __future__ import annotations

import functools
import pickle
import threading
from collections.abc import Callable
from typing import Any

from sluice.bedrock_emulator import TERMINAL, BedrockEmulator, Job
from sluice.durable.journal import Journal
from sluice.durable.store import Store

KIND = "bedrock-jobs"
_journal: Journal | None = None


def _mark(job: Job) -> None:
    if _journal is not None:
        _journal.mark(KIND, job.job_id, lambda: pickle.dumps(job))


def _set(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def call(self: BedrockEmulator, job: Job, *args: Any, **kwargs: Any) -> Any:
        result = method(self, job, *args, **kwargs)
        _mark(job)
        return result

    return call


def _create(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def call(self: BedrockEmulator, req: dict[str, Any]) -> Any:
        result = method(self, req)
        job = self.jobs.get(str(result["jobArn"]).rsplit("/", 1)[-1])
        if job is not None:
            _mark(job)
        return result

    return call


def install(journal: Journal) -> None:
    global _journal
    _journal = journal
    if getattr(BedrockEmulator.create, "_sluice_durable", False):
        return
    BedrockEmulator._set = _set(BedrockEmulator._set)  # type: ignore[method-assign]
    BedrockEmulator.create = _create(BedrockEmulator.create)  # type: ignore[method-assign]
    BedrockEmulator.create._sluice_durable = True  # type: ignore[attr-defined]


def restore(store: Store, emulator: BedrockEmulator) -> int:
    """Put every saved job back in EMULATOR and run again the ones that had not ended."""
    resumed = []
    for _, value in store.load(KIND):
        job: Job = pickle.loads(value)
        emulator.jobs[job.job_id] = job
        if job.status == "Stopping":
            emulator._set(job, "Stopped", "Job stopped by request")
            store.write([(KIND, job.job_id, pickle.dumps(job))])
        elif job.status not in TERMINAL:
            resumed.append(job)
    for job in resumed:
        name = f"bedrock-{job.job_id}"
        threading.Thread(target=emulator._run, args=(job,), daemon=True, name=name).start()
    return len(emulator.jobs)
