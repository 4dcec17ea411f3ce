"""The lake's catalog configuration, table creation, DuckDB views and file writing."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pyarrow as pa
import pytest
from pyiceberg.catalog.rest import RestCatalog
from pyiceberg.schema import Schema
from pyiceberg.types import NestedField, StringType

from devkit.violations_sync import month_files, seed_violations, violation_rows
from schemas.sale_dual_write import LAKE_TABLE
from schemas.violations_sync import (
    UNMATCHED_TABLE,
    VIOLATIONS_TABLE,
)
from schemas.violations_sync_lake import (
    UNMATCHED_SCHEMA,
    VIOLATIONS_PARTITION_SPEC,
    VIOLATIONS_SCHEMA,
    VIOLATIONS_SORT_ORDER,
)
from tasks.common.lake import (
    LakeConfigError,
    catalog_from_env,
    catalog_properties,
    ensure_table,
    write_files,
)
from tasks.common.lake import catalog as lake_catalog
from tasks.common.lake.catalog import CATALOG_CACHE_SIZE
from tasks.common.lake_sql import duckdb_connection
from tasks.sale_dual_write.load_lake_batch import lake_table

BUCKET_ARN = "arn:aws:s3tables:us-east-1:123456789012:bucket/sluice-lake"
ENDPOINT = "https://s3tables.us-east-1.amazonaws.com/iceberg"


def test_local_catalog_keeps_its_database_inside_the_warehouse(tmp_path: Path) -> None:
    props = catalog_properties({"LAKE_WAREHOUSE": str(tmp_path / "lake")})
    assert props == {
        "type": "sql",
        "uri": f"sqlite:///{tmp_path / 'lake' / 'catalog.db'}",
        "warehouse": (tmp_path / "lake").as_uri(),
    }
    assert catalog_properties({"LAKE_WAREHOUSE": (tmp_path / "lake").as_uri()}) == props


def test_s3_tables_is_the_rest_catalog_signed_for_s3tables() -> None:
    props = catalog_properties(
        {"LAKE_WAREHOUSE": BUCKET_ARN, "LAKE_CATALOG_URI": ENDPOINT, "AWS_REGION": "us-east-1"}
    )
    assert props == {
        "type": "rest",
        "uri": ENDPOINT,
        "warehouse": BUCKET_ARN,
        "rest.sigv4-enabled": "true",
        "rest.signing-name": "s3tables",
        "rest.signing-region": "us-east-1",
    }


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({}, "LAKE_WAREHOUSE is not set"),
        ({"LAKE_WAREHOUSE": BUCKET_ARN, "LAKE_CATALOG_URI": ENDPOINT}, "AWS_REGION"),
        (
            {"LAKE_WAREHOUSE": "sluice-lake", "LAKE_CATALOG_URI": ENDPOINT, "AWS_REGION": "x"},
            "table bucket ARN",
        ),
        ({"LAKE_WAREHOUSE": "/tmp/x", "LAKE_CATALOG_URI": "thrift://hive"}, "must be"),
        ({"LAKE_WAREHOUSE": "s3://bucket/lake"}, "needs LAKE_CATALOG_URI"),
    ],
)
def test_bad_configuration_is_named(environ: dict[str, str], message: str) -> None:
    with pytest.raises(LakeConfigError, match=message):
        catalog_properties(environ)


def test_the_rest_catalog_is_built_from_the_same_properties(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: dict[str, str] = {}

    def fake_init(self: RestCatalog, name: str, **properties: str) -> None:
        seen.update(properties, name=name)

    monkeypatch.setattr(RestCatalog, "__init__", fake_init)
    lake_catalog._catalog.cache_clear()
    catalog = catalog_from_env(
        {"LAKE_WAREHOUSE": BUCKET_ARN, "LAKE_CATALOG_URI": ENDPOINT, "AWS_REGION": "eu-west-1"}
    )
    lake_catalog._catalog.cache_clear()
    assert isinstance(catalog, RestCatalog)
    assert seen["rest.signing-region"] == "eu-west-1" and seen["name"] == "sluice"


def test_catalog_is_reused_per_configuration(tmp_path: Path) -> None:
    env = {"LAKE_WAREHOUSE": str(tmp_path / "lake")}
    assert catalog_from_env(env) is catalog_from_env(dict(env))
    assert (tmp_path / "lake" / "catalog.db").exists()


def test_ensure_table_is_idempotent_and_adds_missing_columns(tmp_path: Path) -> None:
    catalog = catalog_from_env({"LAKE_WAREHOUSE": str(tmp_path / "lake")})
    first = ensure_table(catalog, "silver.things", Schema(NestedField(1, "id", StringType())))
    again = ensure_table(catalog, "silver.things", Schema(NestedField(1, "id", StringType())))
    assert first.metadata.table_uuid == again.metadata.table_uuid
    assert len(again.metadata.schemas) == 1

    wider = Schema(NestedField(1, "id", StringType()), NestedField(2, "note", StringType()))
    evolved = ensure_table(catalog, "silver.things", wider)
    assert [f.name for f in evolved.schema().fields] == ["id", "note"]


def test_ensure_table_wins_or_loses_the_namespace_race_without_failing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two loaders ensuring the first table of a new lake at once: both find no namespace,
    the other creates it, then this one's insert is refused. The catalog raises its
    database's error then (the SQL catalog: an IntegrityError), not "already exists"; the
    table is still ensured, as it is when this writer loses the table's own race."""
    catalog = catalog_from_env({"LAKE_WAREHOUSE": str(tmp_path / "lake")})
    exists = catalog.namespace_exists
    looked: list[str | tuple[str, ...]] = []

    def looked_before_the_other_writer_created_it(namespace: str | tuple[str, ...]) -> bool:
        if not looked:
            looked.append(namespace)
            catalog.create_namespace(namespace)  # the other writer, between check and insert
            return False
        return exists(namespace)

    monkeypatch.setattr(catalog, "namespace_exists", looked_before_the_other_writer_created_it)
    table = ensure_table(catalog, "silver.raced", Schema(NestedField(1, "id", StringType())))

    assert looked == [("silver",)]
    assert catalog.load_table("silver.raced").metadata.table_uuid == table.metadata.table_uuid


def test_ensure_table_still_fails_when_the_namespace_cannot_be_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog = catalog_from_env({"LAKE_WAREHOUSE": str(tmp_path / "lake")})

    def refused(namespace: str, properties: object = None) -> None:
        raise PermissionError("catalog refused the namespace")

    monkeypatch.setattr(catalog, "create_namespace", refused)
    with pytest.raises(PermissionError, match="catalog refused the namespace"):
        ensure_table(catalog, "silver.refused", Schema(NestedField(1, "id", StringType())))


def test_duckdb_views_are_named_schema_dot_table(tmp_path: Path) -> None:
    catalog = catalog_from_env({"LAKE_WAREHOUSE": str(tmp_path / "lake")})
    seed_violations(catalog, 1_000, months=3, files_per_month=2)

    con = duckdb_connection(catalog)

    views = con.sql(
        "SELECT table_schema || '.' || table_name FROM information_schema.tables "
        "WHERE table_type = 'VIEW' AND table_schema = 'silver' ORDER BY 1"
    ).fetchall()
    assert views == [(VIOLATIONS_TABLE,), (UNMATCHED_TABLE,)]
    assert con.sql(f"SELECT count(*) FROM {VIOLATIONS_TABLE}").fetchall() == [(1_000,)]
    # The empty quarantine still has its columns; no hive partition column is invented.
    assert con.sql(f"SELECT count(*) FROM {UNMATCHED_TABLE}").fetchall() == [(0,)]
    columns = [c for (c, *_) in con.sql(f"DESCRIBE {VIOLATIONS_TABLE}").fetchall()]
    assert columns == [f.name for f in VIOLATIONS_SCHEMA.fields]
    unmatched = [c for (c, *_) in con.sql(f"DESCRIBE {UNMATCHED_TABLE}").fetchall()]
    assert unmatched == [f.name for f in UNMATCHED_SCHEMA.fields]


def test_write_files_splits_a_chunk_by_partition(tmp_path: Path) -> None:
    catalog = catalog_from_env({"LAKE_WAREHOUSE": str(tmp_path / "lake")})
    table = ensure_table(
        catalog, VIOLATIONS_TABLE, VIOLATIONS_SCHEMA, VIOLATIONS_PARTITION_SPEC,
        VIOLATIONS_SORT_ORDER,
    )  # fmt: skip
    rows = violation_rows(300, months=3, start=date(2025, 11, 1))

    write_files(table, [rows])

    files = list(catalog.load_table(VIOLATIONS_TABLE).scan().plan_files())
    months = sorted(str(f.file.partition) for f in files)
    assert len(files) == 3 and len(set(months)) == 3
    assert sum(f.file.record_count for f in files) == 300
    assert all("violation_month=202" in f.file.file_path for f in files)


def test_write_files_replace_drops_the_old_files(tmp_path: Path) -> None:
    catalog = catalog_from_env({"LAKE_WAREHOUSE": str(tmp_path / "lake")})
    table = ensure_table(catalog, "silver.plain", Schema(NestedField(1, "id", StringType())))
    write_files(table, [pa.table({"id": ["a", "b"]})])
    write_files(catalog.load_table("silver.plain"), [pa.table({"id": ["c"]})], replace=True)
    assert catalog.load_table("silver.plain").scan().to_arrow()["id"].to_pylist() == ["c"]


def test_seed_is_deterministic_and_writes_several_files_per_month(tmp_path: Path) -> None:
    assert violation_rows(500, seed=1).equals(violation_rows(500, seed=1))
    assert not violation_rows(500, seed=1).equals(violation_rows(500, seed=2))
    rows = violation_rows(2_000, months=4)
    ids = rows["violation_id"].to_pylist()
    dates = rows["violation_date"].to_pylist()
    assert ids == sorted(ids) and dates == sorted(dates)  # ids follow time
    assert len(month_files(rows, 3)) == 12

    catalog = catalog_from_env({"LAKE_WAREHOUSE": str(tmp_path / "lake")})
    seed_violations(catalog, 2_000, months=4, files_per_month=3)
    table = seed_violations(catalog, 2_000, months=4, files_per_month=3)  # re-seeding replaces
    files = list(table.scan().plan_files())
    assert len(files) == 12
    assert sum(f.file.record_count for f in files) == 2_000


def test_every_new_warehouse_gets_its_tables_after_the_catalog_cache_turned_over(
    tmp_path: Path,
) -> None:
    """A process writing to more warehouses than the catalog cache keeps (tests, benches)
    created the table only for the first ones: a dropped catalog's address, reused by a new
    catalog, was taken for the dropped one's (NoSuchTableError on the first batch)."""
    for n in range(3 * CATALOG_CACHE_SIZE):
        catalog = catalog_from_env({"LAKE_WAREHOUSE": str(tmp_path / f"lake{n}")})
        assert lake_table(catalog).name() == tuple(LAKE_TABLE.split("."))
