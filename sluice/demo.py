"""`sluice demo`: a fresh local stack, each flow driven through its real trigger, a summary."""

from __future__ import annotations

import json
import shutil
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from sluice.cli_format import cause_message as _message
from sluice.client import Gateway
from sluice.history import summarize
from sluice.producers.bedrock import demo_bedrock_batch
from sluice.producers.sales import demo_sale_dual_write
from sluice.producers.transcripts import write_job_output
from sluice.render_history import render
from sluice.stack import LocalStack
from sluice.testing import wait_for

DATA_DIR = Path(".sluice/demo")


def run_demo(*, port: int, serve: bool, console: Console) -> None:
    shutil.rmtree(DATA_DIR, ignore_errors=True)
    with console.status("starting the local stack and deploying infra/template.yaml"):
        stack = LocalStack(port=port, data_dir=DATA_DIR)
        catalogue = stack.start()
    console.print(
        f"[green]stack up[/] at {stack.endpoint}: "
        f"{len(catalogue['resources'])} resources, {len(catalogue['pipes'])} pipes, "
        f"{len(catalogue['routes'])} HTTP routes"
    )
    g = Gateway(stack.endpoint)
    try:
        results = [
            transcript_persistence(g, console),
            artist_search_sync(g, console),
            violations_sync(g, console, stack.gateway.data_dir),
            demo_bedrock_batch(g, console, stack.gateway.data_dir),
            demo_sale_dual_write(g, console),
        ]
        summary(g, results, console)
        if serve:
            console.print(
                f"\nServing at {stack.endpoint} (console at {stack.endpoint}/console)."
                " Ctrl-C to stop."
            )
            threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        stack.stop()


def transcript_persistence(g: Gateway, console: Console) -> dict[str, Any]:
    """Four Bedrock Data Automation jobs land in S3; one has a malformed result."""
    console.rule("transcript_persistence: S3 → SQS → Pipe → Express state machine → DynamoDB")
    stack = g.stack()["resources"]
    bucket, table = stack["TranscriptBucket"]["name"], stack["CallRecordingsTable"]["name"]
    dlq = stack["TranscriptDLQ"]["name"]
    s3, ddb = g.client("s3"), g.client("dynamodb")
    good = ["call-1001", "call-1002", "call 1003 (transfer)"]
    started = time.time()
    for call_id in good:
        keys = write_job_output(s3, bucket, call_id)
        console.print(f"  wrote {len(keys)} BDA output objects for [bold]{call_id}[/]")
    write_job_output(s3, bucket, "call-1004", malformed=True)
    console.print("  wrote a malformed result for [bold]call-1004[/]")

    def stored() -> list[str] | None:
        found = [
            c for c in good if ddb.get_item(TableName=table, Key={"hash": {"S": c}}).get("Item")
        ]
        return found if len(found) == len(good) else None

    with console.status("waiting for the records"):
        wait_for(stored, timeout=60, what="the three call records")
    console.print(f"  3 records in {table} after {time.time() - started:.1f} s")
    with console.status("call-1004 is retried by SQS (3 receives), then dead-lettered"):
        [dead] = wait_for(
            lambda: g.get(f"/_sluice/dlq/{dlq}"), timeout=90, what="the malformed message"
        )
    reason = dead["reason"] or {}
    console.print(
        f"  [red]call-1004 → {dlq}[/] after {reason.get('failedDeliveries')} deliveries: "
        f"{reason.get('error')}: {_message(reason.get('cause'))}"
    )
    api = {}
    for call_id in (good[2], "call-9999", " bad"):
        path = "/analytics/" + urllib.parse.quote(call_id)
        api[path] = http_status(g.url + path)
    for path, status in api.items():
        console.print(f"  GET {path} → {status}")
    failed_run = failed_execution(g, "transcript_persistence")
    return {
        "flow": "transcript_persistence",
        "written": f"{len(good)} call records",
        "dead_lettered": 1,
        "api": api,
        "failed_run": failed_run,
    }


def violations_sync(g: Gateway, console: Console, data_dir: Path) -> dict[str, Any]:
    """Bedrock content lands on violations in DynamoDB; the lake rows follow."""
    from sluice.lake_seed import seed_violations, violation_id
    from tasks.common.lake import catalog_from_env
    from tasks.common.lake_sql import duckdb_connection

    console.rule("violations_sync: DynamoDB stream → Pipe → Express SM → Iceberg MERGE")
    lake = {"LAKE_WAREHOUSE": str(data_dir / "lake"), "LAKE_CATALOG_URI": ""}
    with console.status("seeding silver.violations with 20,000 violations"):
        seed_violations(catalog_from_env(lake), 20_000)
    console.print("  silver.violations seeded: 20,000 rows, partitioned by month")
    table = g.stack()["resources"]["ViolationsTable"]["name"]
    ddb = g.client("dynamodb")
    ids = [violation_id(n) for n in (42, 4242, 17_001)]
    for n, vid in enumerate(ids):
        ddb.put_item(
            TableName=table,
            Item={
                "PK": {"S": f"VIOLATION#{vid}"},
                "SK": {"S": "BEDROCK_CONTENT"},
                "title_bedrock": {"S": f"Summary {n + 1}"},
                "tags": {"S": "safety"} if n == 0 else {"L": [{"S": "fine"}, {"S": "repeat"}]},
            },
        )
    ddb.put_item(
        TableName=table,
        Item={
            "PK": {"S": "VIOLATION#VIO-NOT-IN-LAKE"},
            "SK": {"S": "BEDROCK_CONTENT"},
            "title_bedrock": {"S": "content for an unknown violation"},
        },
    )
    console.print("  Bedrock content written for 3 violations and 1 unknown violation id")
    quoted = ", ".join(f"'{v}'" for v in ids)
    query = (
        "SELECT violation_id, agency, bedrock_title, tags FROM silver.violations "
        f"WHERE violation_id IN ({quoted}) AND bedrock_title IS NOT NULL ORDER BY 1"
    )

    def merged() -> list[dict[str, Any]] | None:
        con = duckdb_connection(catalog_from_env(lake))
        found = con.sql(query).to_arrow_table().to_pylist()
        quarantined = con.sql("SELECT count(*) AS n FROM silver.violations_unmatched")
        return found if len(found) == 3 and quarantined.fetchall() == [(1,)] else None

    with console.status("waiting for the MERGE (1 s batching window locally)"):
        found = wait_for(merged, timeout=60, what="the merged rows")
    for row in found:
        console.print(
            f"  {row['violation_id']} {row['agency']}: {row['bedrock_title']} tags={row['tags']}"
        )
    console.print("  VIO-NOT-IN-LAKE kept in silver.violations_unmatched (counted, not lost)")
    console.print(
        f'  try: sluice sql --data-dir {DATA_DIR} "SELECT agency, count(*) FROM silver.violations'
        ' WHERE bedrock_title IS NOT NULL GROUP BY 1"'
    )
    return {
        "flow": "violations_sync",
        "written": "3 rows merged, 1 quarantined",
        "dead_lettered": 0,
        "api": {},
        "failed_run": None,
    }


ARTISTS = [
    ("a-101", "Mara Quill", "Leeds", ["Fine Line", "Botanical"]),
    ("a-102", "Otto Vance", "York", ["Blackwork"]),
    ("a-103", "June Okafor", "Leeds", ["Neo Traditional", "Blackwork"]),
    ("a-104", "Sol Reyes", "Bath", ["Realism"]),
]


def artist_search_sync(g: Gateway, console: Console) -> dict[str, Any]:
    """Artists change in the directory table; the search index follows."""
    console.rule("artist_search_sync: DynamoDB stream → Pipe (filter) → Express SM → index")
    table = g.stack()["resources"]["TattooDirectoryTable"]["name"]
    ddb = g.client("dynamodb")
    for artist_id, name, city, styles in ARTISTS:
        ddb.put_item(TableName=table, Item=_artist_item(artist_id, name, city, styles))
    ddb.put_item(  # another item type in the same table: filtered out by the Pipe
        TableName=table, Item={"PK": {"S": "STUDIO#s-1"}, "SK": {"S": "METADATA"}}
    )
    ddb.put_item(TableName=table, Item=_artist_item("a-102", "Otto Vance", "Leeds", ["Blackwork"]))
    ddb.delete_item(TableName=table, Key={"PK": {"S": "ARTIST#a-104"}, "SK": {"S": "METADATA"}})
    console.print("  4 artists written, Otto Vance moved to Leeds, Sol Reyes removed, 1 studio")

    def leeds_blackwork() -> list[str] | None:
        body = http_json(g.url + "/artists/search?style=blackwork&city=leeds")
        names = [r["artist"]["name"] for r in body.get("results", [])]
        return names if len(names) == 2 else None

    with console.status("waiting for the index"):
        names = wait_for(leeds_blackwork, timeout=60, what="the index to follow the table")
    console.print(f"  GET /artists/search?style=blackwork&city=leeds → {', '.join(names)}")
    api = {
        "/artists/search?q=mara": http_status(g.url + "/artists/search?q=mara"),
        "/artists/search?limit=0": http_status(g.url + "/artists/search?limit=0&q=x"),
    }
    for path, status in api.items():
        console.print(f"  GET {path} → {status}")
    return {
        "flow": "artist_search_sync",
        "written": "3 documents indexed",
        "dead_lettered": 0,
        "api": api,
        "failed_run": None,
    }


def _artist_item(artist_id: str, name: str, city: str, styles: list[str]) -> dict[str, Any]:
    return {
        "PK": {"S": f"ARTIST#{artist_id}"},
        "SK": {"S": "METADATA"},
        "artistName": {"S": name},
        "locationCity": {"S": city},
        "styles": {"L": [{"S": s} for s in styles]},
        "rating": {"N": "4.7"},
        "reviewCount": {"N": "31"},
    }


def http_json(url: str) -> Any:
    try:
        with urllib.request.urlopen(url, timeout=30) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return json.loads(exc.read() or b"{}")


def http_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=30) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def failed_execution(g: Gateway, flow: str) -> str | None:
    """The newest execution of FLOW that failed or reported a failed item."""
    sfn = g.client("stepfunctions")
    for e in sorted(
        sfn.list_executions(stateMachineArn=g.flow_arn(flow))["executions"],
        key=lambda e: e["startDate"],
        reverse=True,
    ):
        desc = sfn.describe_execution(executionArn=e["executionArn"])
        if desc["status"] == "FAILED" or json.loads(desc.get("output") or "{}").get(
            "batchItemFailures"
        ):
            return str(e["executionArn"])
    return None


def summary(g: Gateway, results: list[dict[str, Any]], console: Console) -> None:
    console.rule("summary")
    sfn = g.client("stepfunctions")
    table = Table(title="what happened")
    for col in ("flow", "executions", "written", "dead-lettered", "API answers"):
        table.add_column(col, no_wrap=col == "flow")
    for r in results:
        statuses = Counter(
            e["status"]
            for e in sfn.list_executions(stateMachineArn=g.flow_arn(r["flow"]))["executions"]
        )
        table.add_row(
            r["flow"],
            ", ".join(f"{n} {s.lower()}" for s, n in sorted(statuses.items())),
            r["written"],
            str(r["dead_lettered"]),
            " ".join(str(s) for s in r["api"].values()),
        )
    console.print(table)
    for r in results:
        if r.get("failed_run"):
            console.print(f"\n[bold]{r['flow']}[/]: the run that reported a failed item")
            events = sfn.get_execution_history(executionArn=r["failed_run"], maxResults=1000)
            definition = sfn.describe_state_machine_for_execution(executionArn=r["failed_run"])[
                "definition"
            ]
            render(summarize(events["events"], definition), console)
