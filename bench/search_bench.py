"""artist_search_sync: table change → searchable, and documents/s through the flow."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from bench.latency import percentile, watch
from bench.profile import CpuClock, breakdown, first_and_warm
from devkit.artist_search_sync import numbered_artist_item
from sluice.testing import StackProcess
from tasks.artist_search_sync.index.embedded import EmbeddedIndex

ARTISTS = 2000
WRITERS = 4


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

    def write(i: int) -> None:
        ddb.put_item(TableName=table, Item=numbered_artist_item(i, "bench"))
        written[f"bench-{i:05d}"] = time.perf_counter()

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
        f"{cold}"
        f"{breakdown(stack, elapsed, cpu, ARTISTS, 'document')}\n"
        "The stream has one shard (moto's) and the pipe's ParallelizationFactor is the "
        "template's default (1): one batch of 10 in flight. The flow cannot index faster "
        "than the items are written.\n"
    )
