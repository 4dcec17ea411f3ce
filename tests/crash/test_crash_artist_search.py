"""artist_search_sync survives SIGKILL: stream -> Pipe (filter) -> Express SM -> index.

Every artist of the burst must end with exactly one index document holding its last
write (documents are keyed by artist id, so a redelivered batch rewrites the same one),
and removed artists must have none.
"""

from __future__ import annotations

import pytest
from crash_support import Crash

from sluice.testing import StackProcess, wait_for
from tasks.artist_search_sync.index.embedded import EmbeddedIndex


def _item(artist_id: str) -> dict[str, dict[str, object]]:
    return {
        "PK": {"S": f"ARTIST#{artist_id}"},
        "SK": {"S": "METADATA"},
        "artistName": {"S": f"Artist {artist_id}"},
        "locationCity": {"S": "Leeds"},
        "styles": {"L": [{"S": "blackwork"}]},
        "rating": {"N": "4.5"},
        "reviewCount": {"N": "12"},
    }


def _write(stack: StackProcess, events: list[str]) -> None:
    """`put:ID` writes an artist, `del:ID` removes it."""
    ddb, table = stack.client("dynamodb"), stack.resource("TattooDirectoryTable")["name"]
    for event in events:
        op, artist_id = event.split(":")
        if op == "put":
            ddb.put_item(TableName=table, Item=_item(artist_id))
        else:
            key = {"PK": {"S": f"ARTIST#{artist_id}"}, "SK": {"S": "METADATA"}}
            ddb.delete_item(TableName=table, Key=key)


def _check(crash: Crash, seed: int, burst: int) -> None:
    artists = [f"c{seed}a{i:03d}" for i in range(burst)]
    removed = set(artists[::5])
    events = [f"put:{a}" for a in artists] + [f"del:{a}" for a in sorted(removed)]
    stack = crash.burst(events, _write, seed)
    index = EmbeddedIndex(crash.data_dir / "search" / "artists.db")

    def settled() -> bool:
        return all(
            (index.get(a) is None) == (a in removed)
            and (a in removed or getattr(index.get(a), "name", None) == f"Artist {a}")
            for a in artists
        )

    wait_for(settled, timeout=90, what=f"the index in step (killed after {crash.kill_after})")
    # The table itself kept every write acknowledged before the crash.
    table = stack.resource("TattooDirectoryTable")["name"]
    pages = stack.client("dynamodb").get_paginator("scan").paginate(TableName=table)
    kept = {i["PK"]["S"] for p in pages for i in p["Items"] if i["PK"]["S"].startswith("ARTIST#")}
    assert kept == {f"ARTIST#{a}" for a in artists if a not in removed}


@pytest.mark.parametrize("seed", [11])
def test_a_crash_mid_burst_leaves_the_index_in_step(crash: Crash, seed: int) -> None:
    _check(crash, seed, burst=15)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [12, 13, 14])
def test_a_crash_mid_large_burst_leaves_the_index_in_step(crash: Crash, seed: int) -> None:
    _check(crash, seed, burst=120)
