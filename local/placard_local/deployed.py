"""`placard upload --stack` and `placard status --stack`: a sheet through a stack deployed on
AWS, found by its CloudFormation outputs, and followed from the laptop until its reports are
written. Only boto3 with the profile and region the user gives; nothing here runs a handler."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path, PurePosixPath
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, ProfileNotFound

from placard.domain.errors import PlacardError
from placard.domain.keys import campaign_pk, run_key, upload_key
from placard.domain.ledger_items import LedgerItem, Status
from placard.domain.statuses import RowStatus
from placard.reporting.csv_reports import read_errors
from placard.services.ingest import BUDGET_METADATA, REROLLS_METADATA, Upload
from placard_local.runner import RunSummary, SheetPlan

# The stack's outputs this module needs (template.yaml's Outputs), by what each names.
UPLOADS_OUTPUT, ASSETS_OUTPUT, LEDGER_OUTPUT = (
    "UploadsBucketName",
    "AssetsBucketName",
    "LedgerTableName",
)
REPORTS_OUTPUT = "ReportsQueueUrl"  # only `placard settle` needs it: its reports are rewritten
PROVIDER_PARAMETER = "Provider"
DEFAULT_PROVIDER = "draft"  # template.yaml's default, when a stack does not list the parameter
POLL_SECONDS = 5.0  # a sheet's jobs take seconds to minutes; one query and one HEAD a poll
REPORTS = ("results.csv", "index.html", "errors.csv")  # what the report function writes
RUNS = run_key("-", "", "")["sk"].removesuffix("#")  # RUN#<sheet>#<run>: every run begins so


@dataclass(frozen=True)
class DeployedStack:
    name: str
    region: str
    provider: str  # its Provider parameter: whose images it pays for
    uploads_bucket: str
    assets_bucket: str
    ledger_table: str
    session: Any = field(repr=False, compare=False)
    reports_queue: str = ""

    def client(self, service: str) -> Any:
        return self.session.client(service)


def open_stack(name: str, profile: str | None = None, region: str | None = None) -> DeployedStack:
    """The stack's names from its outputs; PlacardError naming what is missing or refused."""
    try:
        session = boto3.Session(profile_name=profile, region_name=region)
    except ProfileNotFound:
        raise PlacardError(f"--profile {profile}: no such profile in your AWS config") from None
    if not session.region_name:
        raise PlacardError(
            "--region: none given, and none configured (AWS_REGION, or the profile's region)"
        )
    try:
        found = session.client("cloudformation").describe_stacks(StackName=name)["Stacks"]
    except NoCredentialsError:
        raise PlacardError(
            "no AWS credentials found; name a profile with --profile or AWS_PROFILE"
        ) from None
    except ClientError as exc:
        raise PlacardError(
            f"--stack {name}: {exc.response['Error'].get('Message', exc)} "
            f"(region {session.region_name})"
        ) from None
    stack = found[0]
    outputs = {o["OutputKey"]: o.get("OutputValue", "") for o in stack.get("Outputs", [])}
    missing = [o for o in (UPLOADS_OUTPUT, ASSETS_OUTPUT, LEDGER_OUTPUT) if not outputs.get(o)]
    if missing:
        raise PlacardError(
            f"--stack {name}: has no output {', '.join(missing)} (status "
            f"{stack.get('StackStatus', 'unknown')}); is it a placard stack, fully deployed?"
        )
    parameters = {
        p["ParameterKey"]: p.get("ResolvedValue") or p.get("ParameterValue", "")
        for p in stack.get("Parameters", [])
    }
    return DeployedStack(
        name=name,
        region=session.region_name,
        provider=parameters.get(PROVIDER_PARAMETER) or DEFAULT_PROVIDER,
        uploads_bucket=outputs[UPLOADS_OUTPUT],
        assets_bucket=outputs[ASSETS_OUTPUT],
        ledger_table=outputs[LEDGER_OUTPUT],
        session=session,
        reports_queue=outputs.get(REPORTS_OUTPUT, ""),
    )


def aws_errors_said(action: Callable[[], int]) -> int:
    """Run a command's body; an AWS refusal (a policy, a throttle, a network) becomes one line
    naming the service's message, as any other reason nothing could run."""
    try:
        return action()
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise PlacardError(
            f"AWS refused {exc.operation_name}: {error.get('Code', '')} {error.get('Message', '')}"
        ) from None
    except BotoCoreError as exc:
        raise PlacardError(f"AWS could not be reached: {exc}") from None


# --------------------------------------------------------------------------- progress


@dataclass(frozen=True)
class RunProgress:
    """One upload of a sheet (ingest's run record): how many of its jobs have ended."""

    sheet: str  # its key in the uploads bucket
    run: str  # the S3 event's sequencer
    ended: int
    total: int | None  # None until ingest has queued every job

    @property
    def done(self) -> bool:
        return self.total is not None and self.ended >= self.total

    @property
    def order(self) -> int:
        """S3's sequencers of one key order its uploads, compared as hex numbers."""
        try:
            return int(self.run, 16)
        except ValueError:
            return -1


def runs(stack: DeployedStack, campaign: str, sheet: str = "") -> list[RunProgress]:
    """The campaign's upload runs (of one sheet when named), oldest first per sheet."""
    prefix = run_key(campaign, sheet, "")["sk"] if sheet else RUNS
    pages = (
        stack.client("dynamodb")
        .get_paginator("query")
        .paginate(
            TableName=stack.ledger_table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues={
                ":pk": {"S": campaign_pk(campaign)},
                ":prefix": {"S": prefix},
            },
            ConsistentRead=True,
        )
    )
    found = []
    for page in pages:
        for item in page.get("Items", []):
            if "job_id" in item:  # a job's end marker beside its run (keys.run_job_key)
                continue
            key, _, run = item["sk"]["S"].removeprefix(RUNS).rpartition("#")
            total = item.get("jobs_total", {}).get("N")
            ended = int(item.get("jobs_ended", {}).get("N", 0))
            found.append(RunProgress(key, run, ended, int(total) if total is not None else None))
    return sorted(found, key=lambda r: (r.sheet, r.order))


# --------------------------------------------------------------------------- upload


@dataclass(frozen=True)
class Sent:
    """A sheet put in the stack's uploads bucket, and what was there before it."""

    upload: Upload
    uploaded_at: datetime  # S3's clock: the upload's reports are written after it
    earlier_runs: frozenset[str]


def send_sheet(stack: DeployedStack, plan: SheetPlan, metadata: dict[str, str]) -> Sent:
    """The photos and masks the sheet names, then the sheet with its metadata (the same as
    `placard run` sets), as `campaigns/<campaign>/<file>`: its upload starts the pipeline."""
    s3 = stack.client("s3")
    upload = Upload.parse(upload_key(plan.campaign, plan.sheet.name))
    for name in sorted(plan.files):
        if (plan.sheet.parent / name).is_file():  # a missing one is reported by ingest, per row
            s3.upload_file(
                str(plan.sheet.parent / name), stack.uploads_bucket, upload_key(plan.campaign, name)
            )
    earlier = frozenset(r.run for r in runs(stack, upload.campaign, upload.key))
    extra = {"Metadata": metadata} if metadata else None
    s3.upload_file(str(plan.sheet), stack.uploads_bucket, upload.key, ExtraArgs=extra)
    head = s3.head_object(Bucket=stack.uploads_bucket, Key=upload.key)
    return Sent(upload, head["LastModified"], earlier)


def upload_metadata(budget: Decimal | None, rerolls: int | None) -> dict[str, str]:
    """The S3 metadata ingest reads: the campaign's budget and the re-rolls of this upload."""
    metadata = {BUDGET_METADATA: str(budget)} if budget is not None else {}
    if rerolls is not None:
        metadata[REROLLS_METADATA] = str(rerolls)
    return metadata


class NotFinished(PlacardError):
    """--timeout passed before the upload's reports were written."""


def follow(
    stack: DeployedStack,
    sent: Sent,
    on_total: Callable[[int], None] = lambda n: None,
    on_ended: Callable[[int], None] = lambda n: None,
    timeout: float | None = None,
    poll_seconds: float | None = None,
) -> RunProgress:
    """Until this upload's run has ended every job and its results.csv is newer than the
    sheet. `on_total` hears how many jobs ingest queued, `on_ended` how many more ended."""
    upload = sent.upload
    deadline = None if timeout is None else time.monotonic() + timeout
    told_total, told_ended = None, 0
    while True:
        new = [
            r for r in runs(stack, upload.campaign, upload.key) if r.run not in sent.earlier_runs
        ]
        latest = max(new, key=lambda r: r.order) if new else None
        if latest is not None:
            if latest.total is not None and latest.total != told_total:
                told_total = latest.total
                on_total(latest.total)
            if latest.ended > told_ended:
                on_ended(latest.ended - told_ended)
                told_ended = latest.ended
            if latest.done and _written_since(stack, upload, sent.uploaded_at):
                return latest
        if deadline is not None and time.monotonic() >= deadline:
            said = (
                f"{told_ended} of {told_total} jobs ended"
                if told_total is not None
                else ("ingest has not counted its jobs yet")
            )
            raise NotFinished(f"{upload.key}: not finished after {timeout:g} s ({said})")
        time.sleep(POLL_SECONDS if poll_seconds is None else poll_seconds)


def _written_since(stack: DeployedStack, upload: Upload, since: datetime) -> bool:
    try:
        head = stack.client("s3").head_object(
            Bucket=stack.assets_bucket, Key=upload.reports_prefix + "results.csv"
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey"):
            return False
        raise
    written: datetime = head["LastModified"]
    return written >= since


# --------------------------------------------------------------------------- reports


def download_reports(stack: DeployedStack, upload: Upload, out: Path) -> RunSummary:
    """The upload's reports as the stack wrote them, and the images they deliver (under
    images/), into `out`; the summary is read from results.csv."""
    s3 = stack.client("s3")
    out.mkdir(parents=True, exist_ok=True)
    bodies: dict[str, bytes] = {}
    for name in REPORTS:
        try:
            reply = s3.get_object(Bucket=stack.assets_bucket, Key=upload.reports_prefix + name)
        except ClientError as exc:
            if name == "errors.csv" and exc.response["Error"].get("Code") == "NoSuchKey":
                continue
            raise
        bodies[name] = reply["Body"].read()
    errors_csv = out / "errors.csv"
    errors_csv.unlink(missing_ok=True)
    for name, body in bodies.items():
        if name != "errors.csv" or read_errors(body):  # ingest writes one even when empty
            (out / name).write_bytes(body)

    header, rows = _results(bodies["results.csv"])
    status, images, cost = (_last(header, c) for c in ("status", "images", "cost_usd"))
    statuses = [row[status] for row in rows]
    delivered = [uri for row in rows for uri in row[images].split()]
    images_dir = out / "images"
    images_dir.mkdir(exist_ok=True)
    for uri in dict.fromkeys(delivered):  # a twin row names the same images
        key = uri.removeprefix(f"s3://{stack.assets_bucket}/")
        path = PurePosixPath(key)
        s3.download_file(
            stack.assets_bucket, key, str(images_dir / f"{path.parent.name}-{path.name}")
        )
    errors = read_errors(bodies.get("errors.csv", b""))
    return RunSummary(
        rows=len(rows),
        succeeded=statuses.count(RowStatus.SUCCEEDED),
        failed=statuses.count(RowStatus.FAILED),
        rejected=statuses.count(RowStatus.REJECTED),
        over_budget=statuses.count(RowStatus.OVER_BUDGET),
        needs_review=statuses.count(RowStatus.NEEDS_REVIEW),
        images=len(dict.fromkeys(delivered)),
        cost_usd=sum((_usd(row[cost]) for row in rows), Decimal(0)),
        out=out,
        warnings=tuple(e for said in errors.values() for e in said if e.warning),
    )


def _results(body: bytes) -> tuple[list[str], list[list[str]]]:
    lines = list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline="")))
    if not lines:
        raise PlacardError("results.csv: empty; the report function wrote nothing")
    width = len(lines[0])
    return lines[0], [line + [""] * (width - len(line)) for line in lines[1:]]


def _last(header: list[str], column: str) -> int:
    """The outcome's column: the sheet's own columns come first and may reuse its names."""
    if column not in header:
        raise PlacardError(f"results.csv: no {column!r} column; is the stack placard's?")
    return len(header) - 1 - header[::-1].index(column)


def _usd(text: str) -> Decimal:
    try:
        return Decimal(text) if text else Decimal(0)
    except InvalidOperation:
        return Decimal(0)


# --------------------------------------------------------------------------- status


@dataclass(frozen=True)
class CampaignStatus:
    campaign: str
    runs: list[RunProgress]  # each sheet's latest upload
    charged: int
    refunded: int
    in_flight: int  # reserved: a provider call under way
    held: int  # reserved, set aside: a call whose outcome is unknown, for `placard settle`
    failed: int
    cost_usd: Decimal
    budget_usd: Decimal | None
    remaining_usd: Decimal | None


def campaign_status(stack: DeployedStack, campaign: str) -> CampaignStatus:
    """Each sheet's latest upload and the campaign's ledger and budget, read without a scan."""
    from placard.aws.budgets import DynamoBudgets
    from placard.aws.ledger import DynamoLedger

    db = stack.client("dynamodb")
    latest: dict[str, RunProgress] = {}
    for run in runs(stack, campaign):  # oldest first: the last of each sheet stays
        latest[run.sheet] = run
    items = DynamoLedger(db, stack.ledger_table).campaign_items(campaign)
    budgets = DynamoBudgets(db, stack.ledger_table)
    statuses = [i.status for i in items]
    return CampaignStatus(
        campaign=campaign,
        runs=list(latest.values()),
        charged=statuses.count(Status.CHARGED),
        refunded=statuses.count(Status.REFUNDED),
        in_flight=sum(i.status is Status.RESERVED and not i.held for i in items),
        held=sum(i.held for i in items),
        failed=statuses.count(Status.FAILED),
        cost_usd=sum((i.cost_usd for i in items if i.status is Status.CHARGED), Decimal(0)),
        budget_usd=budgets.limit(campaign),
        remaining_usd=budgets.remaining(campaign),
    )


def settle_on_stack(stack: DeployedStack, campaign: str, call: str, billed: Decimal) -> LedgerItem:
    """`placard settle --stack`: services/settle.py on the stack's ledger, budgets and kept
    jobs; the upload's reports are asked of its report function, as the reconciler asks."""
    from placard.aws.budgets import DynamoBudgets
    from placard.aws.job_store import DynamoJobStore
    from placard.aws.ledger import DynamoLedger
    from placard.aws.queue import SqsReportRequests
    from placard.services.settle import Settlement

    if not stack.reports_queue:
        raise PlacardError(f"--stack {stack.name}: has no output {REPORTS_OUTPUT}, so the "
                           "reports could not be written again; deploy the stack anew")  # fmt: skip
    db = stack.client("dynamodb")
    settlement = Settlement(
        ledger=DynamoLedger(db, stack.ledger_table),
        budgets=DynamoBudgets(db, stack.ledger_table),
        kept_jobs=DynamoJobStore(db, stack.ledger_table),
        reports=SqsReportRequests(stack.client("sqs"), stack.reports_queue),
    )
    return settlement.settle(campaign, call, billed)
