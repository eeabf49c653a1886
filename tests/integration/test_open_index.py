"""The reconciler finds reservations in the ledger's open index, never by scanning the table:
its cost follows what is left to settle, not the ledger's size (issue #16)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import boto3

from placard import bootstrap
from placard.aws.ledger import OPEN, OPEN_AT, OPEN_RESERVED, DynamoLedger, stored
from placard.aws.reconcile import DynamoStranded
from placard.domain.ledger_items import LedgerItem, Status

LONG_AGO = "2026-01-01T00:00:00.000+00:00"
CUTOFF = "2026-06-01T00:00:00.000+00:00"


def item(job_id: str, status: Status, updated_at: str = LONG_AGO) -> LedgerItem:
    return LedgerItem(
        campaign="spring", job_id=job_id, image_index=0, template="storefront-sign",
        template_version="v1", provider="prospolabs", model="prospo-1", quality="medium",
        size="1536x1024", unit_price=Decimal("0.028"), cost_usd=Decimal("0.028"),
        status=status, created_at=updated_at, updated_at=updated_at,
    )  # fmt: skip


def operations(client: Any) -> list[str]:
    """The operations the client sends from now on."""
    sent: list[str] = []
    client.meta.events.register(
        "before-call.dynamodb.*", lambda model, **_: sent.append(model.name)
    )
    return sent


def test_stale_reservations_are_read_from_the_open_index(parts: bootstrap.Parts) -> None:
    # Given a ledger of charged images, a reservation left long ago, one still recent,
    # and one that was reserved long ago and settled since
    db = boto3.client("dynamodb")
    table = parts.settings.ledger_table
    ledger = DynamoLedger(db, table)
    for n in range(30):
        ledger.save(item(f"done-{n}", Status.CHARGED))
    ledger.reserve([item("stranded", Status.RESERVED)])
    ledger.reserve([item("recent", Status.RESERVED, updated_at="2026-12-01T00:00:00.000+00:00")])
    ledger.reserve([item("settled", Status.RESERVED)])
    ledger.save(item("settled", Status.CHARGED))
    sent = operations(db)
    # When the reconciler asks for what was reserved before the cutoff
    found = DynamoStranded(db, table).reserved_before(CUTOFF)
    # Then it gets the stranded one alone, having queried the index and read it back
    assert [i.job_id for i in found] == ["stranded"]
    assert found[0].status is Status.RESERVED
    assert "Scan" not in sent
    assert sent == ["Query", "BatchGetItem"]


def test_what_the_index_still_lists_but_the_table_settled_is_not_returned(
    parts: bootstrap.Parts,
) -> None:
    # Given an item the index still lists as open (it lags the table) that is charged
    db = boto3.client("dynamodb")
    table = parts.settings.ledger_table
    opened = {OPEN: {"S": OPEN_RESERVED}, OPEN_AT: {"S": LONG_AGO}}
    lagging = {**stored(item("raced", Status.CHARGED)), **opened}
    db.put_item(TableName=table, Item=lagging)
    # When the reconciler asks for what was reserved before the cutoff
    found = DynamoStranded(db, table).reserved_before(CUTOFF)
    # Then the table's word counts: nothing is left to settle
    assert found == []
