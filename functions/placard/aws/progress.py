"""DynamoDB: how many of an upload's jobs have ended, so the last one to end is known.

Ingest sets `jobs_total` once every job is queued; each job adds one to `jobs_ended` as it
ends, after writing a marker of its own (RUN#...#JOB#<job>) that may not exist yet, so a job
redelivered after it ended is counted once. A stop between the marker and the count leaves the
job uncounted: the reconciler counts the markers and puts that right. (Not one transaction:
moto's server hangs on TransactWriteItems, and the local cloud runs on it.) Whoever finds the
count complete first claims the reports (`reports_by`, a conditional write): exactly one job,
or ingest when every job ended before the total was set. The claimant keeps its claim on a
redelivery, since it may have stopped before asking for the reports (safe to write again).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from placard.aws.ledger import condition_failed, typed_key
from placard.domain.jobs import Job
from placard.domain.keys import progress_key, progress_minute_key, run_job_key, run_key
from placard.domain.ledger_items import LedgerItem
from placard.domain.progress import CampaignCounts, minute_of, window_start
from placard.domain.runs import UploadRun
from placard.domain.spend import COUNTED, Spend

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

INGEST = "ingest"  # the claimant when every job had ended before the total was known


class DynamoProgress:
    def __init__(self, dynamodb: DynamoDBClient, table: str) -> None:
        self._db = dynamodb
        self.table = table

    def expect(self, run: UploadRun, jobs: int) -> bool:
        """Every job of the run is queued; True when they have all ended already."""
        before = self._db.update_item(
            TableName=self.table,
            Key=typed_key(run_key(run.campaign, run.sheet, run.run)),
            UpdateExpression="SET jobs_total = :n, jobs_ended = if_not_exists(jobs_ended, :zero)",
            ExpressionAttributeValues={":n": {"N": str(jobs)}, ":zero": {"N": "0"}},
            ReturnValues="UPDATED_OLD",
        )
        if "jobs_total" not in before.get("Attributes", {}):  # not a redelivery of the upload
            self._add(progress_key(run.campaign), {"queued": jobs})
        return self.claim_reports(run, INGEST)

    def job_started(self, job: Job) -> None:
        if UploadRun.of(job) is not None:  # the counters are a campaign's sheet jobs
            self._add(progress_key(job.campaign), {"started": 1})

    def job_ended(self, run: UploadRun, job_id: str, state: str) -> bool:
        """True for the job whose end is the run's last; counted once per job."""
        marker = run_job_key(run.campaign, run.sheet, run.run, job_id)
        try:
            self._db.put_item(
                TableName=self.table,
                Item={**typed_key(marker), "job_id": {"S": job_id}},
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
            self._add(progress_key(run.campaign), {f"ended_{state}": 1})
            now = minute_of(datetime.now(UTC))
            self._add(progress_minute_key(run.campaign, now), {"ended": 1})
        return self.claim_reports(run, job_id)

    def charged(self, item: LedgerItem) -> None:
        """Add a newly charged ledger item to its campaign's spend (DynamoLedger.save, once
        per item: its conditional put is the guard)."""
        self._add(progress_key(item.campaign), Spend.of([item]).counters())

    def counts(self, campaign: str, now: datetime) -> CampaignCounts | None:
        """One query: the recent minutes' buckets and the totals, which sort after them."""
        reply = self._db.query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk AND sk BETWEEN :since AND :sum",
            ExpressionAttributeValues={
                ":pk": {"S": progress_key(campaign)["pk"]},
                ":since": {"S": progress_minute_key(campaign, window_start(now))["sk"]},
                ":sum": {"S": progress_key(campaign)["sk"]},
            },
            ConsistentRead=True,
        )
        items = reply.get("Items", [])  # at most ten buckets, then the totals: one page
        if not items or items[-1]["sk"]["S"] != progress_key(campaign)["sk"]:
            return None
        totals = items[-1]
        numbers = {k: Decimal(v["N"]) for k, v in totals.items() if "N" in v}
        ended = {k.removeprefix("ended_"): int(v) for k, v in numbers.items() if k[:6] == "ended_"}
        minute = progress_minute_key(campaign, "")["sk"]
        recent = {i["sk"]["S"].removeprefix(minute): int(i["ended"]["N"]) for i in items[:-1]}
        return CampaignCounts(
            queued=int(numbers.get("queued", 0)),
            started=int(numbers.get("started", 0)),
            ended=ended,
            spend=Spend.from_counters({k: v for k, v in numbers.items() if k in COUNTED}),
            recent=recent,
        )

    def _add(self, key: dict[str, str], amounts: Mapping[str, Decimal | int]) -> None:
        """One UpdateItem adding each amount to its counter (made at 0 by the first)."""
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
                UpdateExpression="SET reports_by = :me",
                ConditionExpression=(
                    "jobs_ended >= jobs_total "
                    "AND (attribute_not_exists(reports_by) OR reports_by = :me)"
                ),
                ExpressionAttributeValues={":me": {"S": claimant}},
            )
        except ClientError as exc:
            if condition_failed(exc):
                return False
            raise
        return True
