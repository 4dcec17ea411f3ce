"""Bedrock batch inference jobs (the emulator's), durable: one row per job.

A job is marked when it is created and at each status change (the emulator's
`on_change`). On restore every job comes back; one that had not ended (Submitted,
Validating, InProgress...) runs again from the start, as a job that Bedrock itself
resumes would: it reads its input again and writes the same output files. One that was
Stopping ends Stopped.
"""

from __future__ import annotations

import pickle
import threading

from sluice.bedrock_emulator import TERMINAL, BedrockEmulator, Job
from sluice.durable.rows import Rows
from sluice.durable.store import Store

ROWS = Rows("bedrock-jobs")


def changed(job: Job) -> None:
    ROWS.mark(job.job_id, lambda: pickle.dumps(job))


def restore(store: Store, emulator: BedrockEmulator) -> int:
    """Put every saved job back in EMULATOR and run again the ones that had not ended."""
    resumed = []
    for _, value in store.load(ROWS.kind):
        job: Job = pickle.loads(value)
        emulator.jobs[job.job_id] = job
        if job.status == "Stopping":
            emulator._set(job, "Stopped", "Job stopped by request")
            store.write([(ROWS.kind, job.job_id, pickle.dumps(job))])
        elif job.status not in TERMINAL:
            resumed.append(job)
    for job in resumed:
        name = f"bedrock-{job.job_id}"
        threading.Thread(target=emulator._run, args=(job,), daemon=True, name=name).start()
    return len(emulator.jobs)
