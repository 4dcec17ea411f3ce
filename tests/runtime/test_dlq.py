"""Dead-letter queues holding more than one ReceiveMessage page (10): `sluice dlq list`,
`GET /_sluice/dlq/NAME` and the console show every message, and `sluice dlq redrive` /
`POST /_sluice/dlq/NAME/redrive` move every one.

Expected values from the SQS documentation: a queue's RedrivePolicy moves a message to its
DLQ once it has been received `maxReceiveCount` times
(https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-dead-letter-queues.html),
and `ApproximateReceiveCount` is "the number of times a message has been received across
all queues but not deleted"
(https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_ReceiveMessage.html),
so a dead-lettered message shows `maxReceiveCount` (3 here). Looking at a DLQ is not a
delivery: listing it must not change that number.
"""

from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path
from typing import Any

from sluice.testing import StackProcess, module_stack

HERE = Path(__file__).resolve().parent
MAX_RECEIVES = 3  # maxReceiveCount of every source queue in dlq/template.yaml
COUNT = 25

dlq_stack = module_stack(HERE / "dlq" / "template.yaml")


def queue(stack: StackProcess, logical_id: str) -> dict[str, Any]:
    return stack.resource(logical_id)


def dead_letter(stack: StackProcess, pair: str, count: int = COUNT) -> list[dict[str, Any]]:
    """Send COUNT messages to PAIR's source queue and receive them until SQS has moved every
    one to PAIR's DLQ. Returns the bodies sent."""
    sqs = stack.client("sqs")
    source, dlq = queue(stack, f"{pair}Queue")["url"], queue(stack, f"{pair}Dlq")["url"]
    bodies = [{"pair": pair, "order": i} for i in range(count)]
    for start in range(0, count, 10):
        sqs.send_message_batch(
            QueueUrl=source,
            Entries=[
                {
                    "Id": str(b["order"]),
                    "MessageBody": json.dumps(b),
                    "MessageAttributes": {
                        "order": {"DataType": "Number", "StringValue": str(b["order"])}
                    },
                }
                for b in bodies[start : start + 10]
            ],
        )
    # Each receive (visibility 0) counts once for up to 10 messages; a message already
    # received maxReceiveCount times is moved to the DLQ instead of being returned.
    for _ in range((MAX_RECEIVES + 1) * (count // 10 + 1) + 5):
        sqs.receive_message(QueueUrl=source, MaxNumberOfMessages=10, VisibilityTimeout=0)
        if depth(stack, dlq) == (count, 0):
            return bodies
    raise AssertionError(f"{pair}: SQS moved {depth(stack, dlq)} messages to the DLQ")


def depth(stack: StackProcess, url: str) -> tuple[int, int]:
    """(visible, in flight) messages of the queue at URL."""
    attributes = stack.client("sqs").get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return (
        int(attributes["ApproximateNumberOfMessages"]),
        int(attributes["ApproximateNumberOfMessagesNotVisible"]),
    )


def drain(stack: StackProcess, url: str) -> list[dict[str, Any]]:
    """Every message of the queue at URL, received once each (and kept hidden)."""
    sqs = stack.client("sqs")
    out: list[dict[str, Any]] = []
    while got := sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=300, MessageAttributeNames=["All"]
    ).get("Messages"):
        out += got
    return out


def test_listing_shows_every_message_with_its_receive_count_unchanged(
    dlq_stack: StackProcess,
) -> None:
    bodies = dead_letter(dlq_stack, "Orders")
    dlq = queue(dlq_stack, "OrdersDlq")

    first = dlq_stack.gateway.get(f"/_sluice/dlq/{dlq['name']}")
    assert sorted((m["body"] for m in first), key=lambda b: b["order"]) == bodies
    assert [m["receiveCount"] for m in first] == [MAX_RECEIVES] * COUNT
    # Listed again: the same messages, the same counts (the listing's receives are not
    # deliveries), and all of them visible again for whoever reads the queue next.
    second = dlq_stack.gateway.get(f"/_sluice/dlq/{dlq['name']}")
    assert {m["messageId"]: m["receiveCount"] for m in second} == {
        m["messageId"]: MAX_RECEIVES for m in first
    }
    assert depth(dlq_stack, dlq["url"]) == (COUNT, 0)

    listing = dlq_stack.cli("dlq", "list", dlq["name"])
    assert listing.returncode == 0, listing.stderr
    shown = re.findall(r"^(\S+)  received (\d+)x$", listing.stdout, flags=re.MULTILINE)
    assert sorted(shown) == sorted((m["messageId"], str(MAX_RECEIVES)) for m in first)

    overview = {q["name"]: q for q in dlq_stack.gateway.get("/_sluice/dlq")}
    assert overview[dlq["name"]]["depth"] == COUNT

    with urllib.request.urlopen(f"{dlq_stack.gateway.url}/console/dlqs", timeout=30) as page:
        html = page.read().decode()
    section = html.split(f'data-queue="{dlq["name"]}"', 1)[1].split("</section>", 1)[0]
    assert section.count('<tr class="message">') == COUNT
    assert all(m["messageId"] in section for m in first)

    # Still nothing changed for SQS's own consumers: each message is there, received
    # MAX_RECEIVES times plus the listings, visible.
    assert len(drain(dlq_stack, dlq["url"])) == COUNT


def test_cli_redrive_moves_every_message_back_to_its_source_queue(
    dlq_stack: StackProcess,
) -> None:
    bodies = dead_letter(dlq_stack, "Returns")
    dlq, source = queue(dlq_stack, "ReturnsDlq"), queue(dlq_stack, "ReturnsQueue")

    redrive = dlq_stack.cli("dlq", "redrive", dlq["name"])
    assert redrive.returncode == 0, redrive.stderr
    assert f"redriven {COUNT} message(s) from {dlq['name']}" in redrive.stdout

    assert depth(dlq_stack, dlq["url"]) == (0, 0)
    assert dlq_stack.gateway.get(f"/_sluice/dlq/{dlq['name']}") == []
    back = drain(dlq_stack, source["url"])
    assert sorted((json.loads(m["Body"]) for m in back), key=lambda b: b["order"]) == bodies
    # Message attributes travel with the message, as SQS's own DLQ redrive keeps them.
    assert all(
        m["MessageAttributes"]["order"]["StringValue"] == str(json.loads(m["Body"])["order"])
        for m in back
    )


def test_http_redrive_answers_how_many_moved(dlq_stack: StackProcess) -> None:
    bodies = dead_letter(dlq_stack, "Refunds")
    dlq, source = queue(dlq_stack, "RefundsDlq"), queue(dlq_stack, "RefundsQueue")

    result = dlq_stack.gateway.post(f"/_sluice/dlq/{dlq['name']}/redrive")
    assert result == {"queue": dlq["name"], "redriven": COUNT, "failed": []}
    assert depth(dlq_stack, dlq["url"]) == (0, 0)
    assert depth(dlq_stack, source["url"]) == (len(bodies), 0)


def test_messages_that_cannot_go_back_stay_in_the_dlq_and_are_reported(
    dlq_stack: StackProcess,
) -> None:
    count = 12
    dead_letter(dlq_stack, "Lost", count)
    dlq, source = queue(dlq_stack, "LostDlq"), queue(dlq_stack, "LostQueue")
    dlq_stack.client("sqs").delete_queue(QueueUrl=source["url"])
    before = dlq_stack.gateway.get(f"/_sluice/dlq/{dlq['name']}")

    result = dlq_stack.gateway.post(f"/_sluice/dlq/{dlq['name']}/redrive")
    assert result["redriven"] == 0
    assert sorted(f["messageId"] for f in result["failed"]) == sorted(
        m["messageId"] for m in before
    )
    assert all("NonExistentQueue" in f["error"] for f in result["failed"])

    redrive = dlq_stack.cli("dlq", "redrive", dlq["name"])
    assert redrive.returncode == 1
    assert f"redriven 0 message(s) from {dlq['name']}" in redrive.stdout
    assert redrive.stdout.count("not redriven") == count

    # Each is still there, visible, and its receive count is what SQS gave it.
    assert depth(dlq_stack, dlq["url"]) == (count, 0)
    after = dlq_stack.gateway.get(f"/_sluice/dlq/{dlq['name']}")
    assert {m["messageId"]: m["receiveCount"] for m in after} == {
        m["messageId"]: MAX_RECEIVES for m in before
    }
