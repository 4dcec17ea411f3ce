"""EmbeddedIndex: SQLite FTS5 on disk — ranking, filters, deletes, faults, concurrent writers."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from schemas.artist_search_sync import ArtistSearchDocument
from tasks.artist_search_sync.index import SearchIndex, SearchIndexError, SearchIndexUnavailable
from tasks.artist_search_sync.index.backends import search_index_from_env
from tasks.artist_search_sync.index.embedded import EmbeddedIndex
from tasks.artist_search_sync.index.opensearch import OpenSearchIndex

ROOT = Path(__file__).resolve().parents[2]


def doc(artist_id: str, name: str, **fields: Any) -> ArtistSearchDocument:
    return ArtistSearchDocument.model_validate({"artistId": artist_id, "name": name, **fields})


CATALOG = [
    doc("jo", "Jo Blackwork", styles=["blackwork"], city="Leeds", cityKey="leeds", rating=4.2),
    doc(
        "sam",
        "Sam Reed",
        styles=["fine-line", "blackwork"],
        city="Leeds",
        cityKey="leeds",
        bio="Delicate fine line work, some blackwork flash.",
        rating=4.9,
    ),
    doc("ana", "Ana Lima", styles=["japanese"], city="York", cityKey="york", rating=4.5),
    doc("kai", "Kai", styles=["realism"], city="Manchester", cityKey="manchester"),
    doc(
        "mo",
        "Mo Koi",
        styles=["japanese", "neo-traditional"],
        city="York",
        cityKey="york",
        studioName="Koi Garden Tattoo",
        bio="Large Japanese back pieces: koi, dragons.",
        rating=4.8,
        reviewCount=120,
    ),
    doc(
        "lu",
        "Lu Dots",
        styles=["dotwork"],
        city="Leeds",
        cityKey="leeds",
        rating=4.8,
        reviewCount=7,
    ),
]


@pytest.fixture
def index(tmp_path: Path) -> Iterator[EmbeddedIndex]:
    embedded = EmbeddedIndex(tmp_path / "index" / "artists.db")
    embedded.bulk(CATALOG, [])
    yield embedded
    embedded.close()


def ids(hits: list[Any]) -> list[str]:
    return [hit.artist_id for hit in hits]


def test_is_a_search_index() -> None:
    assert issubclass(EmbeddedIndex, SearchIndex)
    assert issubclass(OpenSearchIndex, SearchIndex)


def test_ranks_a_name_match_above_a_bio_match(index: EmbeddedIndex) -> None:
    hits = index.search("blackwork", None, None, 10)
    # Name (weight 10) beats style (5) beats bio (1); "sam" has both style and bio.
    assert ids(hits) == ["jo", "sam"]
    assert hits[0].score > hits[1].score > 0
    assert hits[0].document == CATALOG[0]


def test_every_word_must_match_and_stems_and_case_do_not_matter(index: EmbeddedIndex) -> None:
    assert ids(index.search("KOI dragon", None, None, 10)) == ["mo"]
    assert ids(index.search("koi realism", None, None, 10)) == []
    assert set(ids(index.search("Japanese", None, None, 10))) == {"mo", "ana"}


def test_filters_are_exact_and_normalized(index: EmbeddedIndex) -> None:
    assert ids(index.search(None, "Blackwork", None, 10)) == ["sam", "jo"]  # by rating
    assert ids(index.search(None, None, "LEEDS", 10)) == ["sam", "lu", "jo"]
    assert ids(index.search(None, "Neo Traditional", "york", 10)) == ["mo"]
    assert ids(index.search("dragons", None, "York", 1)) == ["mo"]
    assert ids(index.search("dragons", None, "Leeds", 1)) == []
    assert ids(index.search(None, "black", None, 10)) == []
    hits = index.search(None, None, "york", 10)
    assert [h.score for h in hits] == [0.0, 0.0]


def test_filter_only_results_order_by_rating_then_reviews(index: EmbeddedIndex) -> None:
    # mo and lu share 4.8; mo has more reviews; kai has no rating and comes last.
    assert ids(index.search(None, None, "leeds", 2)) == ["sam", "lu"]
    everyone = index.search(None, None, None, 100)
    assert ids(everyone) == ["sam", "mo", "lu", "ana", "jo", "kai"]


def test_query_text_is_never_fts_syntax(index: EmbeddedIndex) -> None:
    for q in ['"', "koi*", "NEAR(koi dragon)", "koi OR realism", "-koi", "a:b", "'); DROP"]:
        index.search(q, None, None, 10)
    assert ids(index.search("koi OR realism", None, None, 10)) == []  # OR is a word here
    assert index.search("!!! ???", None, None, 10) == []


def test_upsert_replaces_text_filters_and_document(index: EmbeddedIndex) -> None:
    moved = doc("jo", "Jo Linework", styles=["fine-line"], city="York", cityKey="york")
    result = index.bulk([moved], [])

    assert result.upserted == 1
    assert ids(index.search("blackwork", None, None, 10)) == ["sam"]
    assert ids(index.search("linework", None, "york", 10)) == ["jo"]
    assert "jo" not in ids(index.search(None, "blackwork", None, 10))
    assert index.get("jo") == moved
    assert index.count() == len(CATALOG)


def test_delete_removes_everywhere_and_a_missing_document_is_not_an_error(
    index: EmbeddedIndex,
) -> None:
    result = index.bulk([], ["mo", "nobody"])

    assert (result.deleted, result.not_found, result.failures) == (1, 1, ())
    assert index.get("mo") is None
    assert ids(index.search("koi", None, None, 10)) == []
    assert ids(index.search(None, "neo-traditional", None, 10)) == []
    assert index.count() == len(CATALOG) - 1
    assert index.all_ids() == {d.artistId for d in CATALOG} - {"mo"}


def test_an_id_in_both_lists_is_refused_and_nothing_is_written(index: EmbeddedIndex) -> None:
    with pytest.raises(ValueError, match="once"):
        index.bulk([doc("new", "New")], ["new"])
    assert index.get("new") is None


def test_the_index_survives_reopening(index: EmbeddedIndex, tmp_path: Path) -> None:
    reopened = EmbeddedIndex(index.path)
    try:
        assert reopened.all_ids() == {d.artistId for d in CATALOG}
        assert ids(reopened.search("koi", None, None, 5)) == ["mo"]
    finally:
        reopened.close()


def test_a_locked_database_is_transient(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    index = EmbeddedIndex(path, busy_timeout=0.05)
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        with pytest.raises(SearchIndexUnavailable, match="locked"):
            index.bulk([CATALOG[0]], [])
        other.execute("ROLLBACK")
        assert index.bulk([CATALOG[0]], []).upserted == 1
    finally:
        other.close()
        index.close()


WRITER = textwrap.dedent(
    """
    import sys
    from schemas.artist_search_sync import ArtistSearchDocument
    from tasks.artist_search_sync.index.embedded import EmbeddedIndex

    path, prefix, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
    index = EmbeddedIndex(path)
    for n in range(rounds):
        upserts = [
            ArtistSearchDocument(
                artistId=f"{prefix}-{n}-{k}", name=f"Writer {prefix}", styles=["dotwork"]
            )
            for k in range(4)
        ]
        # Also rewrite a shared artist and delete this writer's previous round.
        upserts.append(ArtistSearchDocument(artistId="shared", name=f"Last {prefix}", styles=[]))
        deletes = [f"{prefix}-{n - 1}-0"] if n else []
        index.bulk(upserts, deletes)
    print("done")
    """
)


def test_two_processes_write_the_same_index_concurrently(tmp_path: Path) -> None:
    path = tmp_path / "shared" / "artists.db"
    rounds = 150
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path), prefix, str(rounds)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for prefix in ("p1", "p2")
    ]
    reader = None
    try:
        # Read while they write: WAL readers never block and never see half a bulk.
        seen: list[int] = []
        while any(w.poll() is None for w in writers):
            if path.exists():
                reader = reader or EmbeddedIndex(path)
                seen.append(reader.count())
        for writer in writers:
            out, err = writer.communicate(timeout=60)
            assert writer.returncode == 0, err
            assert out.strip() == "done"
    finally:
        for writer in writers:
            if writer.poll() is None:
                writer.kill()

    final = EmbeddedIndex(path)
    try:
        # Each writer keeps 3 of 4 docs per round, plus its last round's first doc; one "shared".
        expected = {f"{p}-{n}-{k}" for p in ("p1", "p2") for n in range(rounds) for k in (1, 2, 3)}
        expected |= {f"{p}-{rounds - 1}-0" for p in ("p1", "p2")} | {"shared"}
        assert final.all_ids() == expected
        assert final.count() == len(expected)
        assert len(final.search(None, "dotwork", None, 100)) == 100
        assert len(final.search("writer p1", None, None, 100)) == 100
        shared = final.get("shared")
        assert shared is not None and shared.name in ("Last p1", "Last p2")
        assert all(0 <= n <= len(expected) + 2 for n in seen)
    finally:
        final.close()
        if reader is not None:
            reader.close()


def test_backend_selection_by_configuration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEARCH_BACKEND", "embedded")
    monkeypatch.setenv("SEARCH_INDEX_PATH", str(tmp_path / "env.db"))
    embedded = search_index_from_env()
    assert isinstance(embedded, EmbeddedIndex)
    assert embedded.bulk([CATALOG[0]], []).upserted == 1

    monkeypatch.delenv("SEARCH_INDEX_PATH")
    with pytest.raises(SearchIndexError, match="SEARCH_INDEX_PATH"):
        search_index_from_env()

    monkeypatch.setenv("SEARCH_BACKEND", "opensearch")
    monkeypatch.setenv("OPENSEARCH_ENDPOINT", "https://abc123.eu-west-2.aoss.amazonaws.com")
    monkeypatch.setenv("OPENSEARCH_INDEX", "artists-v1")
    monkeypatch.setenv("AWS_REGION", "eu-west-2")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    remote = search_index_from_env()
    assert isinstance(remote, OpenSearchIndex)
    assert remote.index == "artists-v1"

    monkeypatch.setenv("SEARCH_BACKEND", "elastic")
    with pytest.raises(SearchIndexError, match="embedded, opensearch"):
        search_index_from_env()
