"""`sluice sql` and `sluice seed`: the lake under a stack's data directory."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from sluice import devkit
from sluice.cli_format import JsonOpt, out, print_json, print_table
from sluice.client import STACK_FILE, SluiceError, UsageError, catalogue_flows

DataDirOpt = Annotated[
    Path, typer.Option(help="The stack's data directory (the lake is its lake/ folder).")
]


def lake_connection(data_dir: Path) -> Any:
    """DuckDB over the lake of the stack whose data directory is DATA_DIR: its tables as views
    (``silver.violations``), and the tables its flows declare (`Flow.lake_tables`) that no
    write has created yet as empty ones, so a fresh stack's lake can be queried at once."""
    import duckdb

    warehouse = data_dir / "lake"
    lake = devkit.lake()
    con = lake.connect(warehouse) if lake is not None else None
    stack_file = data_dir / STACK_FILE
    if con is None:
        if not stack_file.exists():
            raise SluiceError(
                f"no lake at {warehouse} (start a stack with --data-dir {data_dir} first)"
            )
        con = duckdb.connect()
    flows = devkit.flows()
    if stack_file.exists():  # the stack's flows; else (a seeded lake alone) every flow's
        deployed = catalogue_flows(json.loads(stack_file.read_text()))
        flows = [f for f in flows if f.name in deployed]
    for flow in flows:
        for name, schema in (flow.lake_tables() if flow.lake_tables else {}).items():
            namespace, _, table = name.rpartition(".")
            namespace = namespace or "main"
            exists = con.execute(
                "SELECT 1 FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
                [namespace, table],
            ).fetchall()
            if not exists:
                con.register("__sluice_empty__", schema.empty_table())
                con.execute(f"CREATE SCHEMA IF NOT EXISTS {_quote(namespace)}")
                con.execute(
                    f"CREATE TABLE {_quote(namespace)}.{_quote(table)} AS "
                    "SELECT * FROM __sluice_empty__"
                )
                con.unregister("__sluice_empty__")
    return con


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def sql(
    query: str, data_dir: DataDirOpt = Path(".sluice"), limit: int = 50, json_: JsonOpt = False
) -> None:
    """Run DuckDB SQL over the lake's Iceberg tables (e.g. silver.violations)."""
    import duckdb

    con = lake_connection(data_dir)
    try:
        result = con.sql(query)
    except duckdb.Error as exc:
        raise SluiceError(f"SQL failed: {str(exc).splitlines()[0]}") from None
    if result is None:
        if json_:
            print_json([])
        else:
            out.print("ok")
        return
    data = result.to_arrow_table()
    rows = data.slice(0, limit).to_pylist()
    if json_:
        print_json(rows)
        return
    table = Table(caption=f"{data.num_rows} row(s)")
    for name in data.column_names:
        table.add_column(name)
    for row in rows:
        table.add_row(*(str(v) for v in row.values()))
    print_table(table)


def seed(
    flow: Annotated[str, typer.Argument(help="A registered flow with a lake seed.")],
    rows: int = 100_000,
    data_dir: DataDirOpt = Path(".sluice"),
    seed: int = 7,
) -> None:
    """Load ROWS deterministic rows into FLOW's lake tables (replacing their rows)."""
    found = devkit.flow(flow)
    seeded = [f.name for f in devkit.flows() if f.seed is not None]
    if found is None or found.seed is None:
        raise UsageError(f"no lake seed for {flow!r} (flows with one: {', '.join(seeded)})")
    (data_dir / "lake").mkdir(parents=True, exist_ok=True)
    with out.status(f"seeding {rows} rows for {flow}"):
        summary = found.seed(data_dir, rows, seed)
    out.print(summary, highlight=False)
