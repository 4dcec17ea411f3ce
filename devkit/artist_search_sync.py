"""artist_search_sync's devkit: artists written to the tattoo directory table, and its demo."""

from __future__ import annotations

import random
import uuid
from typing import TYPE_CHECKING, Any

from sluice.devkit import DemoContext, DemoResult, Flow, http_json, http_status
from sluice.testing import wait_for

if TYPE_CHECKING:
    from sluice.client import Gateway

ARTISTS = [
    ("a-101", "Mara Quill", "Leeds", ["Fine Line", "Botanical"]),
    ("a-102", "Otto Vance", "York", ["Blackwork"]),
    ("a-103", "June Okafor", "Leeds", ["Neo Traditional", "Blackwork"]),
    ("a-104", "Sol Reyes", "Bath", ["Realism"]),
]
FIRST_NAMES = ("Ada", "Bram", "Cleo", "Dev", "Esme", "Finn", "Greta", "Hugo", "Iris", "Jonah")
LAST_NAMES = ("Marsh", "Holloway", "Achebe", "Lindqvist", "Moreau", "Tanaka", "Byrne", "Costa")
CITIES = ("Leeds", "York", "Bath", "Bristol", "Manchester", "Glasgow")
STYLES = ("Fine Line", "Blackwork", "Realism", "Neo Traditional", "Botanical", "Japanese")


def artist_item(artist_id: str, name: str, city: str, styles: list[str]) -> dict[str, Any]:
    """An artist's METADATA item in the directory table, as the directory app writes it."""
    return {
        "PK": {"S": f"ARTIST#{artist_id}"},
        "SK": {"S": "METADATA"},
        "artistName": {"S": name},
        "locationCity": {"S": city},
        "styles": {"L": [{"S": s} for s in styles]},
        "rating": {"N": "4.7"},
        "reviewCount": {"N": "31"},
    }


def numbered_artist_item(i: int, tag: str) -> dict[str, Any]:
    """Artist number I of a load run (id ``TAG-0000I``), with a bio, in one of four cities."""
    return {
        **artist_item(
            f"{tag}-{i:05d}",
            f"{tag.title()} Artist {i}",
            ["Leeds", "York", "Bath", "Hull"][i % 4],
            [["Blackwork", "Fine Line", "Realism"][i % 3]],
        ),
        "bio": {"S": "Custom work, walk-ins on Saturdays, vegan inks. " * 3},
        "rating": {"N": "4.5"},
        "reviewCount": {"N": str(i % 50)},
    }


def produce(g: Gateway, count: int) -> str:
    """COUNT new artists in the directory table, each with a city and one to three styles."""
    table = g.resource_name("TattooDirectoryTable")
    ddb = g.client("dynamodb")
    rng = random.Random()
    for _ in range(count):
        name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
        styles = rng.sample(STYLES, rng.randint(1, 3))
        item = artist_item(f"a-{uuid.uuid4().hex[:8]}", name, rng.choice(CITIES), styles)
        ddb.put_item(TableName=table, Item=item)
    return f"wrote {count} artist(s) to {table}"


def demo(ctx: DemoContext) -> DemoResult:
    """Artists change in the directory table; the search index follows."""
    g, console = ctx.gateway, ctx.console
    console.rule("artist_search_sync: DynamoDB stream → Pipe (filter) → Express SM → index")
    table = g.resource_name("TattooDirectoryTable")
    ddb = g.client("dynamodb")
    for artist_id, name, city, styles in ARTISTS:
        ddb.put_item(TableName=table, Item=artist_item(artist_id, name, city, styles))
    ddb.put_item(  # another item type in the same table: filtered out by the Pipe
        TableName=table, Item={"PK": {"S": "STUDIO#s-1"}, "SK": {"S": "METADATA"}}
    )
    ddb.put_item(TableName=table, Item=artist_item("a-102", "Otto Vance", "Leeds", ["Blackwork"]))
    ddb.delete_item(TableName=table, Key={"PK": {"S": "ARTIST#a-104"}, "SK": {"S": "METADATA"}})
    console.print("  4 artists written, Otto Vance moved to Leeds, Sol Reyes removed, 1 studio")

    def leeds_blackwork(expected: int) -> list[str] | None:
        """The names found, once there are EXPECTED (0: whatever there are)."""
        body = http_json(g.url + "/artists/search?style=blackwork&city=leeds")
        names = [r["artist"]["name"] for r in body.get("results", [])]
        return names if len(names) == expected or not expected else None

    with console.status("waiting for the index"):
        names = wait_for(lambda: leeds_blackwork(2), timeout=60, what="the index to follow")
    console.print(f"  GET /artists/search?style=blackwork&city=leeds → {', '.join(names)}")

    # A stopped pipe leaves the changes in the stream; started, it delivers them in order.
    pipes, pipe = g.client("pipes"), g.resource_name("ArtistSearchPipe")
    pipes.stop_pipe(Name=pipe)
    wait_for(lambda: _pipe_state(g, pipe) == "STOPPED", timeout=60, what=f"{pipe} stopped")
    ddb.put_item(TableName=table, Item=artist_item("a-105", "Ines Park", "Leeds", ["Blackwork"]))
    found = len(leeds_blackwork(0) or [])
    console.print(f"  pipe stopped, Ines Park written to the table → the search finds {found}")
    pipes.start_pipe(Name=pipe)
    with console.status("waiting for the started pipe"):
        names = wait_for(lambda: leeds_blackwork(3), timeout=60, what="the waiting change")
    console.print(f"  pipe started, the waiting change indexed → {', '.join(names)}")
    api = {
        "/artists/search?q=mara": http_status(g.url + "/artists/search?q=mara"),
        "/artists/search?limit=0": http_status(g.url + "/artists/search?limit=0&q=x"),
    }
    for path, status in api.items():
        console.print(f"  GET {path} → {status}")
    return DemoResult(written="4 documents indexed", api=api)


def _pipe_state(g: Gateway, name: str) -> str:
    return str(next(p["state"] for p in g.get("/_sluice/pipes") if p["name"] == name))


FLOW = Flow(
    name="artist_search_sync",
    produce=produce,
    demo=demo,
    demo_order=20,
)
