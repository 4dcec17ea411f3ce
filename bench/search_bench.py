"""artist_search_sync: table change → searchable, and documents/s through the flow."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from bench.profile import breakdown, first_and_warm
from bench.stack import on_fresh_stack
from sluice.testing import StackProcess
from tasks.artist_search_sync.index.embedded import EmbeddedIndex

ARTISTS = 2000
WRITERS = 4


def run() -> str:
    return on_fresh_stack(_measure)


def _item(i: int) -> dict[str, dict[str, object]]:
    return {
        "PK": {"S": f"ARTIST#bench-{i:05d}"},
        "SK": {"S": "METADATA"},
        "artistName": {"S": f"Bench Artist {i}"},
        "locationCity": {"S": ["Leeds", "York", "Bath", "Hull"][i % 4]},
        "styles": {"L": [{"S": ["Blackwork", "Fine Line", "Realism"][i % 3]}]},
        "bio": {"S": "Custom work, walk-ins on Saturdays, vegan inks. " * 3},
        "rating": {"N": "4.5"},
        "reviewCount": {"N": str(i % 50)},
    }


def _measure(stack: StackProcess) -> str:
    cold = first_and_warm(
        stack, ("ArtistPrepareBatchFunction", []), ("ArtistSearchApiFunction", {})
    )
    ddb = stack.client("dynamodb", max_pool_connections=WRITERS * 2)
    table = stack.resource("TattooDirectoryTable")["name"]
    index = EmbeddedIndex(stack.data_dir / "search" / "artists.db")
    written: dict[str, float] = {}
    seen: dict[str, float] = {}
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            ids = index.all_ids()
            now = time.perf_counter()
            for a in ids:
                seen.setdefault(a, now)
            if len(seen) >= ARTISTS:
                done.set()
            time.sleep(0.1)

    def write(i: int) -> None:
        ddb.put_item(TableName=table, Item=_item(i))
        written[f"bench-{i:05d}"] = time.perf_counter()

    threading.Thread(target=watch, daemon=True).start()
    started = time.perf_counter()
    with ThreadPoolExecutor(WRITERS) as pool:
        list(pool.map(write, range(ARTISTS)))
    done.wait(timeout=600)
    elapsed = time.perf_counter() - started
    done.set()
    lat = sorted(seen[a] - written[a] for a in seen if a in written)
    p50, p95 = lat[len(lat) // 2] * 1000, lat[int(len(lat) * 0.95)] * 1000
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
        f"{cold}"
        f"{breakdown(stack, elapsed)}\n"
        "One stream shard is read in order, one batch of 10 at a time (per-key order kept), "
        "so throughput is bounded by one Express execution per 10 documents.\n"
    )
