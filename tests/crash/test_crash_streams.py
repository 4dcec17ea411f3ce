"""A DynamoDB stream pipe across a crash: records written before the kill are delivered
after the restart (none lost), and the pipe resumes after its last finished batch: only
the batch in flight at the kill can be delivered twice (at least once, as on AWS)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from sluice.testing import StackProcess, wait_for

TEMPLATE = Path(__file__).resolve().parent / "fixture" / "template.yaml"
BATCH = 5  # the pipe's BatchSize


def _put(stack: StackProcess, keys: list[str]) -> None:
    ddb, table = stack.client("dynamodb"), stack.resource("SourceTable")["name"]
    for key in keys:
        ddb.put_item(TableName=table, Item={"PK": {"S": key}})


def _deliveries(stack: StackProcess) -> dict[str, int]:
    ddb, table = stack.client("dynamodb"), stack.resource("DeliveredTable")["name"]
    pages = ddb.get_paginator("scan").paginate(TableName=table, ConsistentRead=True)
    return {i["PK"]["S"]: int(i["deliveries"]["N"]) for p in pages for i in p["Items"]}


@pytest.mark.parametrize("seed", [7])
def test_stream_pipe_resumes_after_its_last_batch(tmp_path: Path, seed: int) -> None:
    data_dir, burst = tmp_path / "stack", 40
    keys = [f"ITEM#{seed}-{i:03d}" for i in range(burst)]
    kill_after = random.Random(seed).randrange(BATCH * 3, burst - BATCH)
    stack = StackProcess(TEMPLATE, data_dir)
    try:
        _put(stack, keys[:kill_after])
        # Some batches finished before the kill, so a restart that re-read the whole
        # stream would deliver them again.
        wait_for(lambda: len(_deliveries(stack)) >= BATCH * 2, what="two batches")
    finally:
        stack.kill()

    stack = StackProcess(TEMPLATE, data_dir)
    try:
        _put(stack, keys[kill_after:])
        counts = wait_for(
            lambda: len(d := _deliveries(stack)) == burst and d,
            timeout=60,
            what=f"every record delivered (killed after {kill_after})",
        )
        assert sorted(counts) == keys
        assert sum(counts.values()) <= burst + BATCH, counts
    finally:
        stack.stop()


def test_a_stopped_pipe_stays_stopped_across_a_crash_then_delivers_everything_once(
    tmp_path: Path,
) -> None:
    data_dir, name = tmp_path / "stack", "sluice-count-pipe"
    keys = [f"ITEM#stopped-{i:03d}" for i in range(2 * BATCH)]
    stack = StackProcess(TEMPLATE, data_dir)
    try:
        stack.client("pipes").stop_pipe(Name=name)  # answered once it is on disk
        _put(stack, keys[:BATCH])
    finally:
        stack.kill()

    stack = StackProcess(TEMPLATE, data_dir)
    try:
        pipes = stack.client("pipes")
        assert pipes.describe_pipe(Name=name)["DesiredState"] == "STOPPED"
        wait_for(
            lambda: stack.gateway.get("/_sluice/stats")["stopped_pipes"] == [name],
            what="the pipe stopped after the restart",
        )
        _put(stack, keys[BATCH:])
        assert _deliveries(stack) == {}
        pipes.start_pipe(Name=name)
        counts = wait_for(
            lambda: len(d := _deliveries(stack)) == len(keys) and d,
            what="the records written while stopped, before and after the crash",
        )
        assert counts == dict.fromkeys(keys, 1)
    finally:
        stack.stop()
