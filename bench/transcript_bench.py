"""transcript_persistence end to end: object written → record readable, for 1,000 uploads."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bench.latency import percentile, read_back, watch
from bench.profile import CpuClock, breakdown, first_and_warm
from devkit.transcript_persistence import write_job_output
from schemas.transcript_persistence import RESULT_KEY_PREFIX
from sluice.testing import StackProcess, wait_for

UPLOADS = 1000
WRITERS = 8
BACKLOG = 1000  # results whose notifications are held, then released at once
# Reading back every record not yet seen every 50 ms, as the run above does, would be 200
# BatchGetItem calls a second against the stack while the backlog drains.
DRAIN_POLL_S = 0.5


def measure(stack: StackProcess) -> str:
    cold = first_and_warm(
        stack, ("TranscriptLoadResultFunction", {}), ("TranscriptAnalyticsApiFunction", {})
    )
    s3 = stack.client("s3", max_pool_connections=WRITERS * 2)
    ddb = stack.client("dynamodb")
    bucket = stack.resource("TranscriptBucket")["name"]
    table = stack.resource("CallRecordingsTable")["name"]
    written: dict[str, float] = {}
    seen: dict[str, float] = {}
    done = threading.Event()

    def arrived() -> list[str]:
        pending = {c: {"hash": {"S": c}} for c in list(written) if c not in seen}
        return read_back(ddb, table, pending, "hash")

    def upload(i: int) -> None:
        call_id = f"bench-{i:05d}"
        write_job_output(s3, bucket, call_id)
        written[call_id] = time.perf_counter()  # the notifying object is written by now

    watch(arrived, seen, done, interval=0.05, expected=UPLOADS)
    started = time.perf_counter()
    with ThreadPoolExecutor(WRITERS) as pool:
        list(pool.map(upload, range(UPLOADS)))
    done.wait(timeout=600)
    elapsed = time.perf_counter() - started
    latencies = [seen[c] - written[c] for c in seen]
    missing = UPLOADS - len(seen)
    p50, p95 = percentile(latencies, 0.5), percentile(latencies, 0.95)
    print(f"{len(seen)} records, p50 {p50:.2f} s, p95 {p95:.2f} s, {len(seen) / elapsed:.1f}/s")
    drained, drain_s, drain_p50, drain_p95, drain_cpu = _drain(stack, s3, ddb, bucket, table)
    print(f"backlog: {drained} records in {drain_s:.1f} s, {drained / drain_s:.1f}/s")
    return (
        "\n## transcript_persistence: S3 object written → DynamoDB record readable\n\n"
        f"{UPLOADS} BDA output trees (4 objects each) written by {WRITERS} threads; the "
        "latency clock starts when `custom_output/0/result.json` has been written and stops "
        "when the record is first read back (polled every 50 ms). Local parameters: Pipe "
        "batch size 10, window 0 s. The latency stays well under a second: the flow keeps "
        "up with the writers, so this throughput is the rate the writers upload at. The "
        f"flow's own rate is the backlog's: {BACKLOG} more trees written while their "
        "notifications are held back (`StackProcess.hold_s3_notifications`), then all "
        "released to the queue at once; its clock runs from the release to the last record "
        f"read back (polled every {DRAIN_POLL_S * 1000:.0f} ms).\n\n"
        "| figure | value |\n|---|---|\n"
        f"| records persisted | {len(seen)} of {UPLOADS} (missing {missing}) |\n"
        f"| latency p50 | {p50 * 1000:.0f} ms |\n"
        f"| latency p95 | {p95 * 1000:.0f} ms |\n"
        f"| throughput, as fast as the writers upload | {len(seen) / elapsed:.1f} records/s |\n"
        f"| wall time | {elapsed:.1f} s |\n"
        f"| backlog of {BACKLOG} released at once: records persisted | {drained} of {BACKLOG} |\n"
        f"| backlog: throughput (release → last record) | {drained / drain_s:.1f} records/s |\n"
        f"| backlog: time from the release to a record, p50 / p95 | {drain_p50 * 1000:.0f} / "
        f"{drain_p95 * 1000:.0f} ms |\n"
        f"{cold}"
        f"{breakdown(stack, elapsed)}"
        f"\nThe backlog's {drain_cpu.strip()}\n\n"
        "The seed reports 3-7 s from Bedrock completion to DynamoDB on AWS (S3 → SQS → Lambda "
        "with 20 s long polling and batch size 1). Locally there is no network hop and the "
        "Pipe polls continuously, so these figures measure the runtime and the flow's own "
        "work, not AWS's delivery delays.\n"
    )


def _drain(
    stack: StackProcess, s3: Any, ddb: Any, bucket: str, table: str
) -> tuple[int, float, float, float, str]:
    """The flow's own rate, not the writers': BACKLOG results written with their
    notifications held, then released at once. Returns the records persisted, the seconds
    from the release to the last of them, the p50 and p95 of each one's time, and the CPU
    spent from the release to the last record."""
    call_ids = [f"backlog-{i:05d}" for i in range(BACKLOG)]
    stack.hold_s3_notifications(bucket, f"{RESULT_KEY_PREFIX}backlog-")
    seen: dict[str, float] = {}
    done = threading.Event()
    try:
        with ThreadPoolExecutor(WRITERS) as pool:
            list(pool.map(lambda c: write_job_output(s3, bucket, c), call_ids))
        wait_for(
            lambda: len(stack.held_s3_notifications()) == BACKLOG,
            timeout=120,
            what=f"{BACKLOG} held notifications",
        )
        keys = {c: {"hash": {"S": c}} for c in call_ids}
        watch(
            lambda: read_back(ddb, table, {c: k for c, k in keys.items() if c not in seen}, "hash"),
            seen, done, interval=DRAIN_POLL_S, expected=BACKLOG,
        )  # fmt: skip
        cpu = CpuClock(stack)
        released = time.perf_counter()
        stack.release_s3_notifications()
    finally:
        stack.clear_s3_notifications()
    done.wait(timeout=600)
    done.set()
    times = [t - released for t in seen.values()]
    last = max(times, default=float("nan"))
    spent = cpu.summary(len(seen), "record", time.perf_counter() - released)
    return len(seen), last, percentile(times, 0.5), percentile(times, 0.95), spent
