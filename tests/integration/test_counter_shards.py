"""A campaign's counters in shards (domain/keys.py, PROGRESS_SHARDS): each count lands on one
shard, drawn at random, so concurrent workers do not queue on one item; the counts read as the
shards' sum, and the reconciler's recount sets that sum to what the ledger says."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import boto3

from placard.aws.ledger import DynamoLedger, stored
from placard.aws.progress import DynamoProgress
from placard.domain.keys import PROGRESS_SHARDS, progress_key
from placard.domain.ledger_items import Status
from placard_local.stack import Stack
from tests.integration.test_fakes_match_adapters import item

QUIET = "9999"  # a cutoff no write comes after: the campaign is quiet


def test_counts_on_many_shards_read_as_their_sum_and_recount_to_the_ledger(
    stack: Stack,
) -> None:
    db, table = boto3.client("dynamodb"), stack.physical["LedgerTable"]
    ledger, progress = DynamoLedger(db, table), DynamoProgress(db, table)
    # Given 40 images charged, each counted on a shard of its own drawing
    for index in range(40):
        ledger.save(item("shards", "job", index, Status.CHARGED))
    # And one more charged whose count was lost (a stop between the charge and its count)
    db.put_item(TableName=table, Item=stored(item("shards", "job", 40, Status.CHARGED)))
    # When the counters are read, Then they are the shards' sum, spread over several shards
    counts = progress.counts("shards", datetime.now(UTC))
    assert counts is not None and counts.spend.images_charged == 40
    keys = {progress_key("shards", n)["sk"] for n in range(PROGRESS_SHARDS)}
    written = db.query(
        TableName=table,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :sum)",
        ExpressionAttributeValues={":pk": {"S": "CAMPAIGN#shards"}, ":sum": {"S": "PROGRESS#SUM"}},
    )["Items"]
    assert {i["sk"]["S"] for i in written} <= keys and len(written) > 1
    # When the reconciler recounts the quiet campaign
    changes = progress.recount("shards", QUIET)
    # Then the sum is the ledger's: 41 images at their price
    assert changes is not None and changes["images_charged"] == 41
    after = progress.counts("shards", datetime.now(UTC))
    assert after is not None and after.spend.images_charged == 41
    assert after.spend.cost_usd == 41 * Decimal("0.028")
    # And a second recount finds them agreeing and writes nothing
    assert progress.recount("shards", QUIET) == {}
