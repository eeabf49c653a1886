"""`placard reconcile` and `placard redrive`, on the local cloud a run left in its folder
(restored and saved again as `placard review` does it, local/placard_local/state.py).

The saved local cloud holds buckets and tables, not queues: locally, reconcile settles
reservations and asks for missing reports; the dead-letter part and redrive act on whatever
the restored cloud's queues hold. On AWS the ReconcileFunction runs on a schedule, and a
dead-letter queue is redriven with SQS's message move task (placard.aws.redrive).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from placard.aws.redrive import move_by_hand
from placard.domain.errors import PlacardError
from placard_local import state
from placard_local.cloud import LocalCloud, local_cloud
from placard_local.runner import collect, reviewed_upload

RECONCILE_FUNCTION = "ReconcileFunction"
OK, SOME_LEFT = 0, 1


def add_commands(commands: Any) -> None:
    """The two subcommands, on the `placard` parser's subparsers."""
    reconcile = commands.add_parser(
        "reconcile", help="settle what a crash left behind, on the local cloud of a run"
    )
    reconcile.add_argument("--out", type=Path, required=True, help="the folder a run wrote")
    redrive = commands.add_parser(
        "redrive", help="send a dead-letter queue's messages back to their queue, on a run's cloud"
    )
    redrive.add_argument("queue", help="jobs, proofs, derivatives, reports or callbacks")
    redrive.add_argument("--out", type=Path, required=True, help="the folder a run wrote")


def run(args: argparse.Namespace) -> int:
    """Exit status: 0 when nothing is left for a person, 1 when some reservation is."""
    upload = reviewed_upload(args.out, None)
    with local_cloud() as cloud:
        state.restore(cloud, args.out)
        with cloud.draining():  # the reports it asks for are written before it ends
            if args.command == "reconcile":
                said, left = _reconcile(cloud)
            else:
                said, left = _redrive(cloud, args.queue), 0
        collect(cloud, args.out, upload)
        state.save(cloud, args.out)
    for line in said:
        print(line)
    return SOME_LEFT if left else OK


def _reconcile(cloud: LocalCloud) -> tuple[list[str], int]:
    done: dict[str, Any] = cloud.invoke(cloud.functions[RECONCILE_FUNCTION], scheduled_event())
    said = [
        f"charged {len(done['charged'])} stored images, released {len(done['released'])} "
        f"reservations never sent, ended {len(done['ended'])} dead-lettered jobs, delivered "
        f"{len(done['unchecked'])} unread rounds unchecked, told {len(done['ingests'])} failed "
        f"ingests, asked for {len(done['reports'])} reports"
    ]
    said += [f"left, outcome unknown: {line}" for line in done["unknown"]]
    said += [f"left in a dead-letter queue: {line}" for line in done["left"]]
    return said, len(done["unknown"])


def _redrive(cloud: LocalCloud, name: str) -> list[str]:
    dead, source = dead_letter_queue(cloud, name)
    moved = move_by_hand(
        cloud.client("sqs"), cloud.stack.physical[dead], cloud.stack.physical[source]
    )
    return [f"redrove {moved} messages from {dead} to {source}"]


def dead_letter_queue(cloud: LocalCloud, name: str) -> tuple[str, str]:
    """(dead-letter queue, the queue it serves) by the served queue's short name."""
    if name.lower() == "ingest":  # its dead letters are S3 events, which no queue takes back
        raise PlacardError(
            "ingest's failures are S3 events, not a queue's messages: upload the sheet again "
            "once the cause is fixed (the reconciler wrote why in its errors.csv)"
        )
    queues = cloud.stack.of_type("AWS::SQS::Queue")
    for logical_id, resource in queues.items():
        redrive = resource.get("Properties", {}).get("RedrivePolicy") or {}
        target = redrive.get("deadLetterTargetArn", {}).get("Fn::GetAtt", [""])[0]
        if logical_id.lower() == f"{name.lower()}queue" and target:
            return str(target), logical_id
    served = sorted(
        q.removesuffix("Queue").lower()
        for q, r in queues.items()
        if r.get("Properties", {}).get("RedrivePolicy")
    )
    raise PlacardError(f"queue {name!r} has no dead-letter queue; use one of {', '.join(served)}")


def scheduled_event() -> dict[str, Any]:
    """What EventBridge's schedule hands the function (it reads none of it)."""
    return {"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}
