"""`placard reconcile`, `placard redrive` and `placard settle`, on the local cloud a run left
in its folder (restored and saved again as `placard review` does it,
local/placard_local/state.py); `placard settle --stack` on a deployed stack.

The saved local cloud holds buckets and tables, not queues: locally, reconcile settles
reservations and asks for missing reports; the dead-letter part and redrive act on whatever
the restored cloud's queues hold. On AWS the ReconcileFunction runs on a schedule, and a
dead-letter queue is redriven with SQS's message move task (placard.aws.redrive).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from placard import bootstrap
from placard.aws.redrive import move_by_hand
from placard.domain.errors import PlacardError
from placard.domain.ledger_items import LedgerItem
from placard.reporting.contact_sheet import usd
from placard_local import state
from placard_local.cloud import LocalCloud, local_cloud
from placard_local.runner import collect, run_upload

RECONCILE_FUNCTION = "ReconcileFunction"
OK, SOME_LEFT = 0, 1


def add_commands(
    commands: Any,
    amount: Callable[[str], Decimal],
    aws_options: Callable[[argparse.ArgumentParser], None],
) -> None:
    """The subcommands, on the `placard` parser's subparsers (`amount` parses USD,
    `aws_options` adds --profile and --region)."""
    reconcile = commands.add_parser(
        "reconcile", help="settle what a crash left behind, on the local cloud of a run"
    )
    reconcile.add_argument("--out", type=Path, required=True, help="the folder a run wrote")
    redrive = commands.add_parser(
        "redrive", help="send a dead-letter queue's messages back to their queue, on a run's cloud"
    )
    redrive.add_argument("queue", help="jobs, proofs, derivatives, reports or callbacks")
    redrive.add_argument("--out", type=Path, required=True, help="the folder a run wrote")
    settle = commands.add_parser(
        "settle", help="settle a call of unknown outcome from what the provider's bill shows"
    )
    settle.add_argument("campaign")
    settle.add_argument(
        "call", help="the call as `placard reconcile` names it: JOB#IMAGE#ATTEMPT#RESERVED_AT"
    )
    settle.add_argument(
        "--billed", type=amount, required=True,
        help="USD the provider billed for it; 0 when the bill does not show it",
    )  # fmt: skip
    where = settle.add_mutually_exclusive_group(required=True)
    where.add_argument("--out", type=Path, help="the folder a run wrote")
    where.add_argument("--stack", help="a deployed stack's name")
    aws_options(settle)


def run(args: argparse.Namespace) -> int:
    """Exit status: 0 when nothing is left for a person, 1 when some reservation is."""
    if args.command == "settle" and args.stack:
        from placard_local.deployed import aws_errors_said, open_stack, settle_on_stack

        def on_stack() -> int:
            stack = open_stack(args.stack, args.profile, args.region)
            print(said_settled(settle_on_stack(stack, args.campaign, args.call, args.billed)))
            return OK

        return aws_errors_said(on_stack)
    upload = run_upload(args.out, None)
    with local_cloud() as cloud:
        state.restore(cloud, args.out)
        with cloud.draining():  # the reports it asks for are written before it ends
            if args.command == "reconcile":
                said, left = _reconcile(cloud)
            elif args.command == "settle":
                said, left = [_settle(args.campaign, args.call, args.billed)], 0
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
    if done["unknown"]:
        said.append("settle each from the provider's bill: placard settle CAMPAIGN CALL "
                    "--billed USD --out DIR (0 when the bill does not show it)")  # fmt: skip
    said += [f"left in a dead-letter queue: {line}" for line in done["left"]]
    return said, len(done["unknown"])


def _settle(campaign: str, call: str, billed: Decimal) -> str:
    return said_settled(bootstrap.parts().settlement.settle(campaign, call, billed))


def said_settled(item: LedgerItem) -> str:
    return f"settled {item.campaign} call {item.job_id}#{item.image_index}#{item.attempt}: " \
           f"{item.status.value}, {usd(item.cost_usd)}"  # fmt: skip


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
