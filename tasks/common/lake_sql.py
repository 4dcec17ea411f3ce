"""DuckDB over the lake: every Iceberg table as a view named like ``silver.violations``.

For people and tests (`sluice sql`, the demo, assertions on lake contents). No Lambda
function imports this module, so no function package ships DuckDB.

Example::

    duckdb_connection(catalog_from_env()).sql("SELECT count(*) FROM silver.violations")
"""

from __future__ import annotations

from urllib.parse import urlparse

import duckdb
from pyiceberg.catalog import Catalog
from pyiceberg.table import Table


def duckdb_connection(
    catalog: Catalog, connection: duckdb.DuckDBPyConnection | None = None
) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with every lake table as a view named like ``silver.violations``.

    Each view is the table's current snapshot: local data files without delete files are
    read in place with ``read_parquet``; anything else (object storage, merge-on-read
    deletes written by other engines) is scanned through pyiceberg into Arrow first.
    """
    con = connection if connection is not None else duckdb.connect()
    for namespace in catalog.list_namespaces():
        for identifier in catalog.list_tables(namespace):
            register_table(con, catalog.load_table(identifier))
    return con


def register_table(con: duckdb.DuckDBPyConnection, table: Table) -> str:
    """Create or replace the view of one table; returns its qualified name."""
    *namespace, name = table.name()
    schema_name = ".".join(namespace) or "main"
    view = f"{_quote(schema_name)}.{_quote(name)}"
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {_quote(schema_name)}")
    tasks = list(table.scan().plan_files())
    paths = [_local_path(t.file.file_path) for t in tasks]
    if tasks and all(paths) and not any(t.delete_files for t in tasks):
        files = ", ".join(_literal(str(p)) for p in paths)
        source = f"read_parquet([{files}], union_by_name = true, hive_partitioning = false)"
    else:
        source = _quote(f"__lake__{schema_name}.{name}")
        con.register(source.strip('"'), table.scan().to_arrow())
    con.execute(f"CREATE OR REPLACE VIEW {view} AS SELECT * FROM {source}")
    return f"{schema_name}.{name}"


def _local_path(location: str) -> str | None:
    parsed = urlparse(location)
    if parsed.scheme == "file":
        return parsed.path
    return location if parsed.scheme == "" else None


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
