"""artist_search_sync: table change → searchable, and documents/s through the flow."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from bench.latency import percentile, watch
from bench.profile import CpuClock, breakdown, first_and_warm, process_cpu_s
from devkit.artist_search_sync import numbered_artist_item
from sluice.testing import StackProcess, wait_for
from tasks.artist_search_sync.index.embedded import EmbeddedIndex

ARTISTS = 2000
WRITERS = 4
BACKLOG = 2000  # changes written while the pipe is stopped (StopPipe), then StartPipe


def measure(stack: StackProcess) -> str:
    cold = first_and_warm(
        stack, ("ArtistPrepareBatchFunction", []), ("ArtistSearchApiFunction", {})
    )
    ddb = stack.client("dynamodb", max_pool_connections=WRITERS * 2)
    table = stack.resource("TattooDirectoryTable")["name"]
    index = EmbeddedIndex(stack.data_dir / "search" / "artists.db")
    written: dict[str, float] = {}
    seen: dict[str, float] = {}
    done = threading.Event()

    def write(i: int, tag: str = "bench") -> None:
        ddb.put_item(TableName=table, Item=numbered_artist_item(i, tag))
        written[f"{tag}-{i:05d}"] = time.perf_counter()

    watch(index.all_ids, seen, done, interval=0.1, expected=ARTISTS)
    cpu = CpuClock(stack)
    started = time.perf_counter()
    with ThreadPoolExecutor(WRITERS) as pool:
        list(pool.map(write, range(ARTISTS)))
    writing = time.perf_counter() - started
    done.wait(timeout=600)
    elapsed = time.perf_counter() - started
    done.set()
    lat = [seen[a] - written[a] for a in seen if a in written]
    p50, p95 = percentile(lat, 0.5) * 1000, percentile(lat, 0.95) * 1000
    print(f"{len(seen)} documents, {len(seen) / elapsed:.1f}/s, p50 {p50:.0f} ms")
    where = breakdown(stack, elapsed, cpu, ARTISTS, "document")  # before the backlog's
    backlog = _backlog(stack, write, index)
    return (
        "\n## artist_search_sync: table change → searchable document\n\n"
        f"{ARTISTS} artist items written by {WRITERS} threads into `TattooDirectory`; "
        "the clock stops when the document is in the embedded index (polled every 100 ms). "
        "Local Pipe: batch 10, window 1 s (production: 5 s).\n\n"
        "| figure | value |\n|---|---|\n"
        f"| documents indexed | {len(seen)} of {ARTISTS} |\n"
        f"| documents/s through the flow | {len(seen) / elapsed:.1f} |\n"
        f"| end-to-end latency p50 / p95 | {p50:.0f} / {p95:.0f} ms |\n"
        f"| wall time | {elapsed:.1f} s |\n"
        f"| of which writing the items (the source) | {writing:.1f} s "
        f"({ARTISTS / writing:.0f} items/s) |\n"
        f"{backlog}"
        f"{cold}"
        f"{where}\n"
        "The stream has one shard (moto's) and the pipe's ParallelizationFactor is the "
        "template's default (1): one batch of 10 in flight. While the items are being "
        "written the flow keeps up with the writers, so that rate is theirs; the backlog "
        "rows are the flow's own: the pipe stopped (`StopPipe`), "
        f"{BACKLOG} more items written, then `StartPipe`, its clock running from StartPipe "
        "to the last document in the index (polled every 50 ms).\n"
    )


def _backlog(stack: StackProcess, write: Callable[..., None], index: EmbeddedIndex) -> str:
    """The rows of a backlog written while the pipe was stopped, drained once started."""
    pipes = stack.client("pipes")
    name = stack.resource("ArtistSearchPipe")["name"]
    pipes.stop_pipe(Name=name)
    wait_for(
        lambda: name in stack.gateway.get("/_sluice/stats")["stopped_pipes"],
        what=f"{name} stopped",
    )
    with ThreadPoolExecutor(WRITERS) as pool:
        list(pool.map(lambda i: write(i, "backlog"), range(BACKLOG)))
    seen: dict[str, float] = {}
    done = threading.Event()
    cpu_before = process_cpu_s(stack.proc.pid)
    started = time.perf_counter()
    pipes.start_pipe(Name=name)
    watch(
        lambda: [a for a in index.all_ids() if a.startswith("backlog-")],
        seen,
        done,
        interval=0.05,
        expected=BACKLOG,
    )
    done.wait(timeout=600)
    done.set()
    drain_s = max(seen.values(), default=started) - started
    lat = [t - started for t in seen.values()]
    p50, p95 = percentile(lat, 0.5) * 1000, percentile(lat, 0.95) * 1000
    stack_cpu = process_cpu_s(stack.proc.pid) - cpu_before
    print(f"backlog: {len(seen)} documents in {drain_s:.2f} s, {len(seen) / drain_s:.1f}/s")
    return (
        f"| backlog of {BACKLOG} released at once (`StartPipe`): documents indexed | "
        f"{len(seen)} of {BACKLOG} |\n"
        f"| backlog: documents/s (StartPipe → last document) | {len(seen) / drain_s:.1f} |\n"
        f"| backlog: time from StartPipe to a document, p50 / p95 | {p50:.0f} / {p95:.0f} ms |\n"
        f"| backlog: the stack's CPU per document | {stack_cpu / BACKLOG * 1000:.2f} ms |\n"
    )
