"""`placard run`: a sheet through the local cloud, its images and reports into a folder."""

from __future__ import annotations

import logging
import re
import shutil
import tempfile
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from placard import bootstrap
from placard.aws.ledger import DynamoLedger
from placard.aws.queue import SqsJobQueue
from placard.domain.errors import InvalidInput, PlacardError
from placard.domain.jobs import Job, Mode, parse_campaign
from placard.domain.keys import derivative_key, review_key, upload_key
from placard.domain.ledger_items import Status
from placard.domain.runs import UploadRun
from placard.domain.statuses import JobState, RowStatus
from placard.domain.templates import default_catalogue
from placard.reporting.campaign import build
from placard.reporting.csv_reports import read_errors, row_outcome
from placard.services.ingest import BUDGET_METADATA, REROLLS_METADATA, Upload
from placard.sheets.reader import Row, RowError, read_rows
from placard.sheets.rows import SheetDefaults, job_from_row
from placard_local import state
from placard_local.cloud import LocalCloud


@dataclass(frozen=True)
class RunSummary:
    rows: int
    succeeded: int
    failed: int
    rejected: int
    over_budget: int
    needs_review: int  # delivered, but their words failed every proof: a person must look
    images: int
    cost_usd: Decimal
    out: Path
    warnings: tuple[RowError, ...] = ()  # columns no template used: said, not failed

    @property
    def exit_status(self) -> int:
        return 0 if self.succeeded == self.rows else 1


log = logging.getLogger(__name__)
# What `placard run` writes into --out; a folder holding them for another run is not reused.
RESULTS = ("images", "results.csv", "errors.csv", "index.html")
RUN_MARK = ".placard-run"  # names the campaign and sheet whose results the folder holds


@dataclass(frozen=True)
class SheetPlan:
    """A sheet checked before the local cloud starts: nothing is spent on one that cannot run."""

    sheet: Path
    campaign: str
    rows: int
    files: frozenset[str]  # source images and masks it names, relative to the sheet


def plan_sheet(sheet: Path, campaign: str | None) -> SheetPlan:
    """Read the whole sheet once; raises PlacardError (naming the file) when nothing can run."""
    if not sheet.is_file():
        what = "is a folder, not a sheet" if sheet.is_dir() else "no such file"
        raise PlacardError(f"{sheet}: {what}")
    name = campaign_for(sheet, campaign)
    rows, files = 0, set[str]()
    try:
        with sheet.open("rb") as raw:
            for row in read_rows(raw, sheet.name):
                rows += 1
                files.update(row.cells.get(c, "").strip() for c in ("source_image", "mask"))
    except OSError as exc:
        raise PlacardError(f"{sheet}: cannot be read ({exc.strerror or exc})") from exc
    if not rows:
        raise PlacardError(f"{sheet.name}: no rows below the header row; nothing to run")
    return SheetPlan(sheet, name, rows, frozenset(files - {""}))


def campaign_for(sheet: Path, given: str | None) -> str:
    """--campaign as given, or one made from the sheet's file name ("Summer Sale é.csv" ->
    "Summer-Sale-e")."""
    if given is not None:
        try:
            return parse_campaign(given)
        except InvalidInput as exc:
            raise PlacardError(f"--campaign {given!r}: {exc.reason}") from None
    ascii_name = unicodedata.normalize("NFKD", sheet.stem).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", ascii_name).strip("-._")[:63].rstrip("-._")
    if not slug:
        raise PlacardError(
            f"{sheet.name}: no campaign name can be made from this file name; "
            "name one with --campaign NAME (letters, digits, '.', '_' or '-')"
        )
    return slug


def claim_out(out: Path, plan: SheetPlan) -> None:
    """Make sure `out` can take this run's results before anything is spent. A folder that
    holds another run's results (or files of those names placard did not write) is refused:
    the run would replace them."""
    this_run = f"{plan.campaign}/{plan.sheet.name}"
    mark = out / RUN_MARK
    if out.is_dir():
        previous = mark.read_text(encoding="utf-8").strip() if mark.is_file() else None
        found = [name for name in RESULTS if (out / name).exists()]
        if found and previous != this_run:
            held = f"the results of {previous}" if previous else ", ".join(found)
            raise PlacardError(
                f"--out {out}: already holds {held}, which this run would replace; "
                "choose another folder or empty this one"
            )
    writable_folder(out)
    mark.write_text(this_run + "\n", encoding="utf-8")


def writable_folder(out: Path) -> None:
    """Create `out` if need be and prove a file can be written there."""
    if out.exists() and not out.is_dir():
        raise PlacardError(f"--out {out}: is a file; name a folder (it is made if missing)")
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as exc:
        raise PlacardError(f"--out {out}: cannot write there ({exc.strerror or exc})") from exc


def run_sheet(
    cloud: LocalCloud,
    plan: SheetPlan,
    out: Path,
    on_queued: Callable[[int], None] = lambda n: None,
    on_settled: Callable[[int], None] = lambda n: None,
    budget: Decimal | None = None,
    rerolls: int | None = None,
) -> RunSummary:
    sheet, campaign = plan.sheet, plan.campaign
    upload = Upload.parse(upload_key(campaign, sheet.name))
    for name in plan.files:
        if (sheet.parent / name).is_file():  # a missing one is reported by ingest, per row
            cloud.put_file(sheet.parent / name, upload_key(campaign, name))
    metadata = {BUDGET_METADATA: str(budget)} if budget is not None else {}
    if rerolls is not None:
        metadata[REROLLS_METADATA] = str(rerolls)
    with cloud.draining(on_settled):  # workers start on the first jobs while ingest goes on
        try:
            answers = cloud.put_upload(sheet, upload.key, metadata)
        except Exception as exc:  # the jobs it queued still run, and every row is reported
            log.warning(
                "%s: ingest stopped (%s); rows it did not queue have no outcome", sheet, exc
            )
            answers = []
        on_queued(sum(u["jobs"] for answer in answers for u in answer["uploads"]))
    summary = collect(cloud, out, upload)
    state.save(cloud, out)  # for `placard review`: the local cloud ends with this command
    return summary


def run_upload(out: Path, campaign: str | None) -> Upload:
    """The sheet whose results `out` holds (as `placard run` marked it), in `campaign` when
    given; PlacardError when `out` holds no run."""
    mark = out / RUN_MARK
    if not mark.is_file():
        raise PlacardError(
            f"{out}: holds no results of `placard run` ({RUN_MARK} is missing); name the "
            "folder a run wrote with --out"
        )
    ran, _, sheet = mark.read_text(encoding="utf-8").strip().partition("/")
    return Upload.parse(upload_key(campaign_for(Path(sheet), campaign or ran), sheet))


@dataclass(frozen=True)
class ReviewSummary:
    said: tuple[str, ...]  # the decisions applied, then each row that could not be
    errors: int
    run: RunSummary  # the results as they stand after the re-rolls were made


def review_sheet(cloud: LocalCloud, results: Path, out: Path, upload: Upload) -> ReviewSummary:
    """A reviewed results sheet through the same route as an upload to
    campaigns/<campaign>/review/, on the local cloud `placard run` left in `out`; the
    re-rolls it asks for are made, and `out` gets the results anew."""
    state.restore(cloud, out)
    key = review_key(upload.campaign, results.name)
    with cloud.draining():
        answers = cloud.put_upload(results, key)
    outcomes = [u["review"] for answer in answers for u in answer["uploads"]]
    summary = collect(cloud, out, upload)
    state.save(cloud, out)
    return ReviewSummary(
        said=tuple(line for o in outcomes for line in o["said"]),
        errors=sum(len(o["errors"]) for o in outcomes),
        run=summary,
    )


@dataclass(frozen=True)
class EditSummary:
    status: JobState  # succeeded or failed
    reason: str
    images: tuple[Path, ...]
    cost_usd: Decimal


@dataclass(frozen=True)
class EditPlan:
    """One edit, checked before the local cloud starts."""

    job: Job
    image: Path
    mask: Path | None


def plan_edit(
    image: Path, cells: dict[str, str], campaign: str, mask: Path | None = None
) -> EditPlan:
    """The edit's job, with its photo, mask or box checked here as the worker would check them
    (placard.imaging.edits.prepare_edit); raises InvalidInput naming the field, before any
    upload."""
    from placard.imaging import edits  # lazy: Pillow only for edits

    cells = {**cells, "source_image": f"edits/{image.name}"}
    if mask is not None:
        cells["mask"] = f"edits/mask-{mask.name}"
    defaults = SheetDefaults(campaign=campaign, upload="edit")
    job = job_from_row(Row(1, cells), default_catalogue(), defaults)
    if not isinstance(job, Job):
        first = job[0]
        raise InvalidInput(first.column, first.reason, first.value)
    if job.mode is not Mode.EDIT:
        raise InvalidInput("template", f"{job.template} makes new images; name an edit template")
    files = {"source_image": image, **({"mask": mask} if mask is not None else {})}
    data = {}
    for field, path in files.items():
        try:
            data[field] = path.read_bytes()
        except OSError as exc:
            raise InvalidInput(field, f"{path} cannot be read ({exc.strerror or exc})") from exc
    edits.prepare_edit(data["source_image"], size=job.size, mask=data.get("mask"), box=job.mask_box)
    return EditPlan(job, image, mask)


def run_edit(cloud: LocalCloud, plan: EditPlan, out: Path) -> EditSummary:
    """One masked edit through the same queue and worker as a sheet's rows."""
    job, image = plan.job, plan.image
    assert job.source_image is not None  # plan_edit named it
    cloud.put_file(image, job.source_image)
    if plan.mask is not None and job.mask is not None:
        cloud.put_file(plan.mask, job.mask)
    settings = bootstrap.parts().settings
    SqsJobQueue(cloud.client("sqs"), settings.jobs_queue_url).send([job])
    cloud.drain()
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
    reasons = [i.reason for i in failed if i.reason] or ["no outcome was recorded for this edit"]
    return EditSummary(
        status=JobState.SUCCEEDED if len(charged) == job.n else JobState.FAILED,
        reason="" if len(charged) == job.n else reasons[0],
        images=tuple(saved),
        cost_usd=sum((i.cost_usd for i in charged), Decimal(0)),
    )


def _download(s3: Any, bucket: str, key: str, target: Path) -> bool:
    """False (and a warning) when the object is not there: one row's missing file must not
    stop the reports of every row."""
    try:
        s3.download_file(bucket, key, str(target))
    except ClientError as exc:
        log.warning("%s: not downloaded (%s)", key, exc)
        return False
    return True


def collect(cloud: LocalCloud, out: Path, upload: Upload) -> RunSummary:
    """Images and their derivatives, results.csv, index.html and errors.csv into `out`, from
    what the cloud now holds; the pages link to the local copies."""
    parts = bootstrap.parts()
    settings = parts.settings
    s3 = cloud.client("s3")
    run = UploadRun(upload.campaign, upload.key, "local")
    found = parts.reporter.gather(run)  # as the report function reads the upload
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
            if item.status is not Status.CHARGED or item.s3_key in local_files:
                continue  # a twin row's job: its images are already here, named by the first
            if not item.s3_key:
                continue  # a lost call, charged at its estimate: it left no image
            again = f"-{item.attempt}" if item.attempt > 1 else ""  # a re-roll keeps its own
            stem = f"row{row.number:04d}-{job.template}-{item.image_index}{again}"
            if not _download(s3, settings.assets_bucket, item.s3_key, images_dir / f"{stem}.png"):
                continue
            local_files[item.s3_key] = f"images/{stem}.png"
            for variant, suffix in (("web", "web.webp"), ("thumb", "thumb.webp")):
                key, name = derivative_key(item.s3_key, variant), f"{stem}.{suffix}"
                # A derivative that was never made: the page shows the original instead.
                made = _download(s3, settings.assets_bucket, key, images_dir / name)
                local_files[key] = f"images/{name}" if made else local_files[item.s3_key]

    reports = build(
        run,
        rows,
        items,
        uri=f"s3://{settings.assets_bucket}/{{}}".format,
        link=lambda key: local_files.get(key, ""),
    )
    (out / "results.csv").write_bytes(reports.results_csv)
    for stale in out.glob("page-*.html"):  # an earlier, larger run's pages
        stale.unlink()
    for name, html in reports.pages.items():  # index.html, and its pages past 500 rows (#17)
        (out / name).write_bytes(html)
    errors_csv = out / "errors.csv"
    errors_csv.unlink(missing_ok=True)
    said = read_errors(errors_body)
    if said:
        errors_csv.write_bytes(errors_body)

    statuses = [row_outcome(job, items, uri=str, link=str).status for _, job in rows]
    charged = [
        i for k in items for i in items[k] if i.status is Status.CHARGED and i.s3_key in local_files
    ]
    return RunSummary(
        rows=len(rows),
        succeeded=statuses.count(RowStatus.SUCCEEDED),
        failed=statuses.count(RowStatus.FAILED),
        rejected=statuses.count(RowStatus.REJECTED),
        over_budget=statuses.count(RowStatus.OVER_BUDGET),
        needs_review=statuses.count(RowStatus.NEEDS_REVIEW),
        images=len(charged),
        cost_usd=sum((i.cost_usd for i in charged), Decimal(0)),
        out=out,
        warnings=tuple(e for errors in said.values() for e in errors if e.warning),
    )
