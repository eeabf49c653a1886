"""`placard run`: a sheet through the local cloud, its images and reports into a folder."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from placard import wiring
from placard.aws.ledger import DynamoLedger
from placard.aws.queue import SqsJobQueue
from placard.campaign_report import build
from placard.errors import InvalidInput
from placard.ingest import BUDGET_METADATA, Upload
from placard.jobs import Job
from placard.ledger_items import Status
from placard.local import LocalCloud
from placard.pipeline import variant_key
from placard.reports import read_errors, row_outcome
from placard.runs import UploadRun
from placard.sheets import Row, SheetDefaults, job_from_row, read_rows, upload_key
from placard.templates import default_catalogue


@dataclass(frozen=True)
class RunSummary:
    rows: int
    succeeded: int
    failed: int
    rejected: int
    over_budget: int
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
    budget: Decimal | None = None,
) -> RunSummary:
    upload = Upload.parse(f"campaigns/{campaign}/{sheet.name}")
    for name in referenced_files(sheet):
        if (sheet.parent / name).is_file():  # a missing one is reported by ingest, per row
            cloud.put_file(sheet.parent / name, upload_key(campaign, name))
    metadata = {BUDGET_METADATA: str(budget)} if budget is not None else None
    with cloud.draining(on_settled):  # workers start on the first jobs while ingest goes on
        answers = cloud.put_upload(sheet, upload.key, metadata)
        on_queued(sum(u["jobs"] for answer in answers for u in answer["uploads"]))
    return collect(cloud, out, upload)


def referenced_files(sheet: Path) -> set[str]:
    """Source images and masks a sheet names, relative to the sheet."""
    with sheet.open("rb") as raw:
        return {
            row.cells[column].strip()
            for row in read_rows(raw, sheet.name)
            for column in ("source_image", "mask")
            if row.cells.get(column, "").strip()
        }


@dataclass(frozen=True)
class EditSummary:
    status: str
    reason: str
    images: tuple[Path, ...]
    cost_usd: Decimal


def run_edit(
    cloud: LocalCloud,
    image: Path,
    cells: dict[str, str],
    out: Path,
    campaign: str,
    mask: Path | None = None,
) -> EditSummary:
    """One masked edit through the same queue and worker as a sheet's rows."""
    cells = {**cells, "source_image": f"edits/{image.name}"}
    cloud.put_file(image, upload_key(campaign, cells["source_image"]))
    if mask is not None:
        cells["mask"] = f"edits/mask-{mask.name}"
        cloud.put_file(mask, upload_key(campaign, cells["mask"]))
    defaults = SheetDefaults(campaign=campaign, upload="edit")
    job = job_from_row(Row(1, cells), default_catalogue(), defaults)
    if not isinstance(job, Job):
        raise InvalidInput(job[0].column, job[0].reason, job[0].value)
    SqsJobQueue(cloud.client("sqs"), wiring.settings().jobs_queue_url).send([job])
    cloud.drain()
    settings = wiring.settings()
    ledger = DynamoLedger(cloud.client("dynamodb"), settings.ledger_table)
    items = sorted(ledger.job_items(job.campaign, job.job_id), key=lambda i: i.image_index)
    out.mkdir(parents=True, exist_ok=True)
    saved: list[Path] = []
    s3 = cloud.client("s3")
    for item in items:
        if item.status is Status.CHARGED:
            for key, suffix in ((item.s3_key, ""), (item.raw_s3_key, ".provider")):
                if key:
                    target = out / f"{image.stem}-{job.template}-{item.image_index}{suffix}.png"
                    s3.download_file(settings.assets_bucket, key, str(target))
                    saved.append(target)
    charged = [i for i in items if i.status is Status.CHARGED]
    failed = [i for i in items if i.status is not Status.CHARGED]
    return EditSummary(
        status="succeeded" if len(charged) == job.n else "failed",
        reason=failed[0].reason if failed else "",
        images=tuple(saved),
        cost_usd=sum((i.cost_usd for i in charged), Decimal(0)),
    )


def collect(cloud: LocalCloud, out: Path, upload: Upload) -> RunSummary:
    """Images and their derivatives, results.csv, index.html and errors.csv into `out`, from
    what the cloud now holds; the pages link to the local copies."""
    settings = wiring.settings()
    s3 = cloud.client("s3")
    run = UploadRun(upload.campaign, upload.key, "local")
    found = wiring.reporter().gather(run)  # as the report function reads the upload
    rows, items, errors_body = found.rows, found.items, found.errors_csv

    out.mkdir(parents=True, exist_ok=True)
    images_dir = out / "images"
    shutil.rmtree(images_dir, ignore_errors=True)
    images_dir.mkdir()
    local_files: dict[str, str] = {}
    for row, job in rows:
        if not isinstance(job, Job):
            continue
        for item in items.get(job.job_id, ()):
            if item.status is not Status.CHARGED:
                continue
            stem = f"row{row.number:04d}-{job.template}-{item.image_index}"
            for key, name in (
                (item.s3_key, f"{stem}.png"),
                (variant_key(item.s3_key, "web"), f"{stem}.web.webp"),
                (variant_key(item.s3_key, "thumb"), f"{stem}.thumb.webp"),
            ):
                s3.download_file(settings.assets_bucket, key, str(images_dir / name))
                local_files[key] = f"images/{name}"

    reports = build(
        run,
        rows,
        items,
        uri=f"s3://{settings.assets_bucket}/{{}}".format,
        link=lambda key: local_files.get(key, ""),
    )
    (out / "results.csv").write_bytes(reports.results_csv)
    (out / "index.html").write_bytes(reports.index_html)
    errors_csv = out / "errors.csv"
    errors_csv.unlink(missing_ok=True)
    if read_errors(errors_body):
        errors_csv.write_bytes(errors_body)

    statuses = [row_outcome(job, items, uri=str, link=str)[0] for _, job in rows]
    charged = [
        i for k in items for i in items[k] if i.status is Status.CHARGED and i.s3_key in local_files
    ]
    return RunSummary(
        rows=len(rows),
        succeeded=statuses.count("succeeded"),
        failed=statuses.count("failed"),
        rejected=statuses.count("rejected"),
        over_budget=statuses.count("over_budget"),
        images=len(charged),
        cost_usd=sum((i.cost_usd for i in charged), Decimal(0)),
        out=out,
    )
