"""DynamoDB: how many of an upload's jobs have ended, so the last one to end is known.

Ingest sets `jobs_total` once every job is queued; each job adds one to `jobs_ended` as it
ends, after writing a marker of its own (RUN#...#JOB#<job>) that may not exist yet, so a job
redelivered after it ended is counted once. A stop between the marker and the count leaves the
job uncounted: the reconciler counts the markers and puts that right. (Not one transaction:
moto's server hangs on TransactWriteItems, and the local cloud runs on it.) Whoever finds the
count complete first claims the reports (`reports_by`, a conditional write): exactly one job,
or ingest when every job ended before the total was set. The claimant keeps its claim on a
redelivery, since it may have stopped before asking for the reports (safe to write again).

The campaign's counters are added after the write that guards each (DynamoLedger.save's put,
a job's marker, the run's total), so a stop between the two loses a count; the reconciler
recounts them from the ledger table (`recount`; why not a transaction: domain/progress.py).
Each guard carries its time (`updated_at`, `ended_at`, `queued_at`) so the reconciler finds
the campaigns written since it last looked, and each counter write adds 1 to `writes`, so a
recount sets the counters only if no count landed meanwhile.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from placard.aws.ledger import (
    OPEN,
    OPEN_AT,
    OPEN_RUN,
    _deserialise,
    condition_failed,
    typed_key,
)
from placard.domain.jobs import Job
from placard.domain.keys import (
    IMAGES_PREFIX,
    PROGRESS_SHARDS,
    campaign_pk,
    counters_checked_key,
    progress_key,
    progress_minute_key,
    run_job_key,
    run_key,
)
from placard.domain.ledger_items import LedgerItem
from placard.domain.progress import CampaignCounts, Tally, minute_of, recounted, window_start
from placard.domain.runs import UploadRun
from placard.domain.spend import COUNTED, Spend

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

INGEST = "ingest"  # the claimant when every job had ended before the total was known
WRITES = "writes"  # every counter write adds 1: a recount's guard against a count meanwhile
STAMPS = ("updated_at", "ended_at", "queued_at")  # when a guard was written, by item kind
SCAN_EVERY = timedelta(days=1)  # the recount's scan of the table, at most this often


def stamp() -> str:
    """A guard's time, in the ledger items' format (ISO, UTC, milliseconds): they compare."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class DynamoProgress:
    def __init__(self, dynamodb: DynamoDBClient, table: str) -> None:
        self._db = dynamodb
        self.table = table

    def expect(self, run: UploadRun, jobs: int) -> bool:
        """Every job of the run is queued; True when they have all ended already."""
        before = self._db.update_item(
            TableName=self.table,
            Key=typed_key(run_key(run.campaign, run.sheet, run.run)),
            # In the ledger's open index (aws/ledger.py) until its reports are claimed
            UpdateExpression=(
                "SET jobs_total = :n, jobs_ended = if_not_exists(jobs_ended, :zero), "
                "queued_at = if_not_exists(queued_at, :now), #o = :open, "
                "#at = if_not_exists(#at, :now)"
            ),
            ExpressionAttributeNames={"#o": OPEN, "#at": OPEN_AT},
            ExpressionAttributeValues={
                ":n": {"N": str(jobs)},
                ":zero": {"N": "0"},
                ":now": {"S": stamp()},
                ":open": {"S": OPEN_RUN},
            },
            # ALL_OLD, not UPDATED_OLD: a total set again to the same number is no "updated"
            # attribute to moto, so an ingest retried after a stop would queue its jobs twice.
            ReturnValues="ALL_OLD",
        )
        if "jobs_total" not in before.get("Attributes", {}):  # not a redelivery of the upload
            self._count(run.campaign, {"queued": jobs})
        return self.claim_reports(run, INGEST)

    def job_started(self, job: Job) -> None:
        if UploadRun.of(job) is not None:  # the counters are a campaign's sheet jobs
            self._count(job.campaign, {"started": 1})

    def job_ended(self, run: UploadRun, job_id: str, state: str) -> bool:
        """True for the job whose end is the run's last; counted once per job."""
        marker = run_job_key(run.campaign, run.sheet, run.run, job_id)
        try:
            self._db.put_item(
                TableName=self.table,
                # Its status and time: the reconciler recounts the ends from the markers.
                Item={
                    **typed_key(marker),
                    "job_id": {"S": job_id},
                    "state": {"S": state},
                    "ended_at": {"S": stamp()},
                },
                ConditionExpression="attribute_not_exists(sk)",
            )
        except ClientError as exc:
            if not condition_failed(exc):
                raise
        else:
            self._db.update_item(
                TableName=self.table,
                Key=typed_key(run_key(run.campaign, run.sheet, run.run)),
                UpdateExpression="ADD jobs_ended :one",
                ExpressionAttributeValues={":one": {"N": "1"}},
            )
            self._count(run.campaign, {f"ended_{state}": 1})
            now = minute_of(datetime.now(UTC))
            self._add(progress_minute_key(run.campaign, now), {"ended": 1})
        return self.claim_reports(run, job_id)

    def charged(self, item: LedgerItem) -> None:
        """Add a newly charged ledger item to its campaign's spend (DynamoLedger.save, once
        per item: its conditional put is the guard)."""
        self._count(item.campaign, Spend.of([item]).counters())

    def counts(self, campaign: str, now: datetime) -> CampaignCounts | None:
        """One query: the recent minutes' buckets and the totals, which sort after them."""
        reply = self._db.query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk AND sk BETWEEN :since AND :sum",
            ExpressionAttributeValues={
                ":pk": {"S": progress_key(campaign)["pk"]},
                ":since": {"S": progress_minute_key(campaign, window_start(now))["sk"]},
                ":sum": {"S": progress_key(campaign, PROGRESS_SHARDS - 1)["sk"]},
            },
            ConsistentRead=True,
        )
        items = reply.get("Items", [])  # at most ten buckets, then the shards: one page
        shards = [i for i in items if i["sk"]["S"].startswith(progress_key(campaign)["sk"])]
        if not shards:
            return None
        numbers = _summed(shards)
        ended = {k.removeprefix("ended_"): int(v) for k, v in numbers.items() if k[:6] == "ended_"}
        minute = progress_minute_key(campaign, "")["sk"]
        recent = {
            i["sk"]["S"].removeprefix(minute): int(i["ended"]["N"])
            for i in items
            if i["sk"]["S"].startswith(minute)
        }
        return CampaignCounts(
            queued=int(numbers.get("queued", 0)),
            started=int(numbers.get("started", 0)),
            ended=ended,
            spend=Spend.from_counters({k: v for k, v in numbers.items() if k in COUNTED}),
            recent=recent,
        )

    def _count(self, campaign: str, amounts: Mapping[str, Decimal | int]) -> None:
        """Add to the campaign's counters, on one of their shards, drawn at random."""
        shard = random.randrange(PROGRESS_SHARDS)  # noqa: S311 (spreads writes; no secret)
        self._add(progress_key(campaign, shard), amounts)

    def _add(self, key: dict[str, str], amounts: Mapping[str, Decimal | int]) -> None:
        """One UpdateItem adding each amount to its counter (made at 0 by the first)."""
        amounts = {**amounts, WRITES: 1}
        names = {f"#c{i}": name for i, name in enumerate(amounts)}
        self._db.update_item(
            TableName=self.table,
            Key=typed_key(key),
            UpdateExpression="ADD " + ", ".join(f"{n} :v{n[2:]}" for n in names),
            ExpressionAttributeNames=names,
            ExpressionAttributeValues={
                f":v{i}": {"N": str(amount)} for i, amount in enumerate(amounts.values())
            },
        )

    def has_ended(self, run: UploadRun, job_id: str) -> bool:
        reply = self._db.get_item(
            TableName=self.table,
            Key=typed_key(run_job_key(run.campaign, run.sheet, run.run, job_id)),
            ConsistentRead=True,
        )
        return "Item" in reply

    def claim_reports(self, run: UploadRun, claimant: str) -> bool:
        """True when the run's count is complete and its reports are `claimant`'s to ask for:
        unclaimed until now, or claimed by it before."""
        try:
            self._db.update_item(
                TableName=self.table,
                Key=typed_key(run_key(run.campaign, run.sheet, run.run)),
                UpdateExpression="SET reports_by = :me REMOVE #o",
                ConditionExpression=(
                    "jobs_ended >= jobs_total "
                    "AND (attribute_not_exists(reports_by) OR reports_by = :me)"
                ),
                ExpressionAttributeNames={"#o": OPEN},
                ExpressionAttributeValues={":me": {"S": claimant}},
            )
        except ClientError as exc:
            if condition_failed(exc):
                return False
            raise
        return True

    # The reconciler's recount (services/reconcile.py).

    def written_since_check(self) -> dict[str, tuple[str, str]] | None:
        """Each campaign with a counted write (a ledger item, an end, a run's total) since the
        last check: (its first such write, its last). One scan, filtered on the server and
        eventually consistent (a write missed now is newer than any cutoff, found next time).
        None, reading nothing more, when the last scan was less than SCAN_EVERY ago: a scan
        reads the whole table, which grows with every image, and a count is lost only when a
        delivery stops between two writes, so a day's wait is the price of that rarity."""
        reply = self._db.get_item(TableName=self.table, Key=typed_key(counters_checked_key()))
        kept = reply.get("Item", {})
        scanned = kept.get("scanned_at", {}).get("S", "")
        due = datetime.now(UTC) - SCAN_EVERY
        if scanned > due.isoformat(timespec="milliseconds"):
            return None
        since = kept.get("upto", {}).get("S", "0")  # "0": never, all is later
        spans: dict[str, tuple[str, str]] = {}
        pages = self._db.get_paginator("scan").paginate(
            TableName=self.table,
            FilterExpression="begins_with(pk, :campaign) AND ("
            + " OR ".join(f"{name} >= :since" for name in STAMPS)
            + ")",
            ProjectionExpression=", ".join(("pk", *STAMPS)),
            ExpressionAttributeValues={":campaign": {"S": campaign_pk("")}, ":since": {"S": since}},
        )
        for page in pages:
            for item in page.get("Items", []):
                campaign = item["pk"]["S"].removeprefix(campaign_pk(""))
                for name in STAMPS:
                    when = item.get(name, {}).get("S", "")
                    if when >= since:
                        first, last = spans.get(campaign, (when, when))
                        spans[campaign] = (min(first, when), max(last, when))
        return spans

    def checked(self, upto: str) -> None:
        """Every campaign's counted writes before `upto` have been recounted."""
        self._db.put_item(
            TableName=self.table,
            Item={
                **typed_key(counters_checked_key()),
                "upto": {"S": upto},
                "scanned_at": {"S": stamp()},
            },
        )

    def recount(self, campaign: str, cutoff: str) -> dict[str, Decimal] | None:
        """Set the campaign's counters to what its ledger table says, where they differ; the
        counters set (empty: they agreed). None, changing nothing, while it is not quiet: a
        write at or after `cutoff` may still have its count to add, or one landed meanwhile."""
        tally, shards = Tally(), []
        pages = self._db.get_paginator("query").paginate(
            TableName=self.table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": campaign_pk(campaign)}},
            ConsistentRead=True,
        )
        for page in pages:
            for item in page.get("Items", []):
                if any(item.get(name, {}).get("S", "") >= cutoff for name in STAMPS):
                    return None
                sk = item["sk"]["S"]
                if sk.startswith(IMAGES_PREFIX):
                    tally.spend += Spend.of([LedgerItem.from_item(_deserialise(item))])
                elif sk.startswith("RUN#") and "#JOB#" in sk:  # a job's end, counted once
                    state = item.get("state", {}).get("S")
                    if state is None:  # written before ends carried their status
                        tally.ends_known = False
                    else:
                        tally.ended[state] = tally.ended.get(state, 0) + 1
                elif sk.startswith("RUN#") and "jobs_total" in item:
                    tally.queued += int(item["jobs_total"]["N"])
                elif sk.startswith(progress_key(campaign)["sk"]):
                    shards.append(item)
        stored = _summed(shards)
        stored.pop(WRITES, None)
        changes = recounted(stored, tally)
        kept = _summed([s for s in shards if s["sk"]["S"] == progress_key(campaign)["sk"]])
        # The first shard takes what the others do not hold: the sum comes to the ledger's
        ours = {name: total - (stored.get(name, 0) - kept.get(name, 0)) for name, total in
                changes.items()}  # fmt: skip
        if changes and not self._set(campaign, ours, kept.get(WRITES)):
            return None
        return changes

    def _set(self, campaign: str, values: Mapping[str, Decimal], writes: Decimal | None) -> bool:
        """Set the first shard's counters, unless a count was added to it since it was read
        (a count added to another shard meanwhile is a count the recount did not see, and is
        kept beside it)."""
        names = {f"#c{i}": name for i, name in enumerate(values)}
        given = {f":v{i}": {"N": str(value)} for i, value in enumerate(values.values())}
        try:
            self._db.update_item(
                TableName=self.table,
                Key=typed_key(progress_key(campaign)),
                UpdateExpression="SET "
                + ", ".join(f"{n} = :v{n[2:]}" for n in names)
                + f" ADD {WRITES} :one",
                ConditionExpression=f"{WRITES} = :seen"
                if writes is not None
                else f"attribute_not_exists({WRITES})",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues={
                    **given,
                    ":one": {"N": "1"},
                    **({":seen": {"N": str(writes)}} if writes is not None else {}),
                },
            )
        except ClientError as exc:
            if condition_failed(exc):
                return False
            raise
        return True


def _summed(shards: list[dict[str, Any]]) -> dict[str, Decimal]:
    """The counters of every shard, added up (a counter a shard lacks is 0 there)."""
    total: dict[str, Decimal] = {}
    for shard in shards:
        for name, value in shard.items():
            if "N" in value:
                total[name] = total.get(name, Decimal(0)) + Decimal(value["N"])
    return total
