"""`placard run`: a sheet through the local cloud, its images and reports into a folder."""

from __future__ import annotations

import shutil
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from placard import wiring
from placard.aws.ledger import DynamoLedger
from placard.ingest import Upload
from placard.jobs import Job
from placard.ledger_items import LedgerItem, Status
from placard.local import LocalCloud
from placard.reports import results_report, row_outcome
from placard.sheets import SheetDefaults, job_from_row, read_rows
from placard.templates import default_catalogue


@dataclass(frozen=True)
class RunSummary:
    rows: int
    succeeded: int
    failed: int
    rejected: int
    images: int
    cost_usd: Decimal
    out: Path

    @property
    def exit_status(self) -> int:
        return 0 if self.succeeded == self.rows else 1


def run_sheet(
    cloud: LocalCloud,
    sheet: Path,
    out: Path,
    campaign: str,
    on_queued: Callable[[int], None] = lambda n: None,
    on_settled: Callable[[int], None] = lambda n: None,
) -> RunSummary:
    upload = Upload.parse(f"campaigns/{campaign}/{sheet.name}")
    cloud.put_upload(sheet, upload.key)
    settings = wiring.settings()
    sqs = cloud.client("sqs")
    queued = sqs.get_queue_attributes(
        QueueUrl=settings.jobs_queue_url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]["ApproximateNumberOfMessages"]
    on_queued(int(queued))
    cloud.drain(on_settled)
    return collect(cloud, sheet, out, upload)


def collect(cloud: LocalCloud, sheet: Path, out: Path, upload: Upload) -> RunSummary:
    """Images, results.csv and errors.csv into `out`, from what the cloud now holds."""
    settings = wiring.settings()
    s3 = cloud.client("s3")
    ledger = DynamoLedger(cloud.client("dynamodb"), settings.ledger_table)
    items: dict[str, list[LedgerItem]] = defaultdict(list)
    for item in ledger.campaign_items(upload.campaign):
        items[item.job_id].append(item)
    catalogue = default_catalogue()
    defaults = SheetDefaults(campaign=upload.campaign, upload=upload.name)
    with sheet.open("rb") as raw:
        parsed = [
            (row, job_from_row(row, catalogue, defaults)) for row in read_rows(raw, sheet.name)
        ]

    out.mkdir(parents=True, exist_ok=True)
    images_dir = out / "images"
    shutil.rmtree(images_dir, ignore_errors=True)
    images_dir.mkdir()
    local_files: dict[str, str] = {}
    for row, job in parsed:
        if not isinstance(job, Job):
            continue
        for item in items.get(job.job_id, ()):
            if item.status is Status.CHARGED:
                name = f"row{row.number:04d}-{job.template}-{item.image_index}.png"
                s3.download_file(settings.assets_bucket, item.s3_key, str(images_dir / name))
                local_files[item.s3_key] = f"images/{name}"

    uri = f"s3://{settings.assets_bucket}/{{}}".format
    report = results_report(
        parsed, items, uri=lambda i: uri(i.s3_key), link=lambda i: local_files.get(i.s3_key, "")
    )
    (out / "results.csv").write_bytes(report.to_bytes())

    errors_csv = out / "errors.csv"
    errors_csv.unlink(missing_ok=True)
    errors = s3.get_object(Bucket=settings.assets_bucket, Key=upload.reports_prefix + "errors.csv")
    body = errors["Body"].read()
    if body.count(b"\n") > 1:
        errors_csv.write_bytes(body)

    statuses = [
        row_outcome(job, items, uri=lambda i: "", link=lambda i: "")[0] for _, job in parsed
    ]
    charged = [
        i for k in items for i in items[k] if i.status is Status.CHARGED and i.s3_key in local_files
    ]
    return RunSummary(
        rows=len(parsed),
        succeeded=statuses.count("succeeded"),
        failed=statuses.count("failed"),
        rejected=statuses.count("rejected"),
        images=len(charged),
        cost_usd=sum((i.cost_usd for i in charged), Decimal(0)),
        out=out,
    )
