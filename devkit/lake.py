"""The local lake: `<data dir>/lake`, where the template points the lake functions'
LAKE_WAREHOUSE when the `LakeWarehouse` parameter is empty (as locally)."""

from __future__ import annotations

from pathlib import Path

import duckdb
from pyiceberg.catalog import Catalog

from sluice.devkit import Lake
from tasks.common.lake import CATALOG_DB, catalog_from_env
from tasks.common.lake_sql import duckdb_connection


def lake_env(warehouse: Path) -> dict[str, str]:
    """The lake functions' environment for the local lake at WAREHOUSE."""
    return {"LAKE_WAREHOUSE": str(warehouse), "LAKE_CATALOG_URI": ""}


def lake_catalog(warehouse: Path) -> Catalog:
    return catalog_from_env(lake_env(warehouse))


def lake_connection(warehouse: Path) -> duckdb.DuckDBPyConnection:
    """DuckDB with every table of the lake at WAREHOUSE as a view (``silver.violations``)."""
    return duckdb_connection(lake_catalog(warehouse))


def connect(warehouse: Path) -> duckdb.DuckDBPyConnection | None:
    if not (warehouse / CATALOG_DB).exists():
        return None
    return lake_connection(warehouse)


LAKE = Lake(connect=connect)
