"""A sheet in the uploads bucket becomes jobs on the queue and, for bad rows, errors.csv."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

from placard.domain.errors import InvalidInput
from placard.domain.jobs import Job, parse_campaign
from placard.domain.keys import parse_upload_key, reports_prefix, upload_name
from placard.domain.ledger_items import Status
from placard.domain.money import parse_usd
from placard.domain.ports import (
    AssetStore,
    Budgets,
    JobQueue,
    Ledger,
    Progress,
    ReportRequests,
    UploadStore,
)
from placard.domain.proofs import MAX_REROLLS
from placard.domain.runs import UploadRun
from placard.domain.templates import Catalogue
from placard.reporting.csv_reports import add_error, errors_report
from placard.services.uploads import missing_files
from placard.sheets.reader import MAX_ROWS, Row, RowError, SheetError, check_rows, read_rows
from placard.sheets.rows import SheetDefaults, jobs_from_rows

BUDGET_METADATA = "budget-usd"  # x-amz-meta-budget-usd on the uploaded sheet
REROLLS_METADATA = "rerolls"  # x-amz-meta-rerolls: re-rolls of a failed proof, per upload
HOLDING = (Status.CHARGED, Status.RESERVED)  # what a budget counts as gone


def parse_rerolls(value: str) -> int:
    """An upload's or a command's re-rolls: a whole number, 0..MAX_REROLLS."""
    text = value.strip()
    if not (text.isascii() and text.isdigit()) or int(text) > MAX_REROLLS:
        raise InvalidInput("rerolls", f"must be a whole number from 0 to {MAX_REROLLS}", value)
    return int(text)


@dataclass(frozen=True)
class Upload:
    """`campaigns/<campaign>/<file>` in the uploads bucket."""

    key: str
    campaign: str
    filename: str

    @property
    def name(self) -> str:
        return upload_name(self.filename)

    @property
    def reports_prefix(self) -> str:
        return reports_prefix(self.campaign, self.filename)

    @classmethod
    def parse(cls, key: str) -> Upload:
        campaign, filename = parse_upload_key(key)
        return cls(key, parse_campaign(campaign), filename)


@dataclass(frozen=True)
class IngestReport:
    upload: Upload
    jobs: int
    errors: int  # rows that failed (a sheet that cannot be read counts one)
    errors_key: str
    warnings: int = 0  # columns no template used: in errors.csv, but no row failed by them


@dataclass
class Ingest:
    catalogue: Catalogue
    uploads: UploadStore
    assets: AssetStore
    queue: JobQueue
    ledger: Ledger
    budgets: Budgets
    progress: Progress
    reports: ReportRequests
    max_rows: int = MAX_ROWS  # a longer sheet is refused before any of its rows is queued

    def __post_init__(self) -> None:
        # Many rows of a sheet name the same photo: look each file up once per upload.
        self._exists = lru_cache(maxsize=4096)(self.uploads.exists)

    def _missing_files(self, job: Job) -> list[RowError]:
        row = int(job.origin.get("row", 0))
        return [
            RowError(row, error.field, str(error.value), f"{error.reason}; upload it first")
            for error in missing_files(job, self._exists)
        ]

    def run(self, key: str, run_id: str) -> IngestReport:
        """`run_id` names this upload of the sheet (the S3 event's sequencer)."""
        upload = Upload.parse(key)
        run = UploadRun(upload.campaign, upload.key, run_id)
        report = errors_report()
        origin: dict[str, object] = {"sheet": run.sheet, "run": run.run}

        failed: set[int] = set()
        warnings = read = 0

        def add(error: RowError) -> None:
            nonlocal warnings
            add_error(report, error)
            if error.warning:
                warnings += 1
            else:
                failed.add(error.row)

        def counted(rows: Iterator[Row]) -> Iterator[Row]:
            nonlocal read
            for read, row in enumerate(rows, start=1):  # noqa: B007 (read is the count)
                yield row

        def jobs() -> Iterator[Job]:
            sent: set[str] = set()  # two identical rows are one job: queued once
            try:
                metadata = self.uploads.metadata(upload.key)  # one HEAD for both
                rerolls = _rerolls(metadata)
                if rerolls is not None:
                    origin["rerolls"] = rerolls  # the proof function's policy for its jobs
                if (
                    self._set_budget(upload, metadata)
                    or self.budgets.limit(upload.campaign) is not None
                ):
                    origin["budget"] = True  # its workers reserve before each call
                defaults = SheetDefaults(upload.campaign, upload.name, origin=origin)
                with self.uploads.open(upload.key) as raw:
                    check_rows(raw, upload.filename, max_rows=self.max_rows)
                    for outcome in jobs_from_rows(
                        counted(read_rows(raw, upload.filename, max_rows=self.max_rows)),
                        self.catalogue,
                        defaults,
                    ):
                        if isinstance(outcome, RowError):
                            add(outcome)
                            continue
                        missing = self._missing_files(outcome)
                        for error in missing:
                            add(error)
                        if not missing and outcome.job_id not in sent:
                            sent.add(outcome.job_id)
                            yield outcome
                if read == 0:
                    raise SheetError(f"{upload.filename}: has a header but no rows below it")
            except SheetError as exc:
                add(RowError(0, "", upload.filename, str(exc)))

        def refused(job: Job, reason: str) -> None:
            # Every outcome is said (docs/design.md, invariant 1): the row, not the sheet.
            row = int(job.origin.get("row", 0))
            add(
                RowError(
                    row, "", job.job_id,
                    f"the job was not queued ({reason}); upload the sheet again to run it "
                    "(jobs already made are not made or charged again)",
                )
            )  # fmt: skip

        self._exists.cache_clear()
        sent = self.queue.send(jobs(), refused)
        errors_key = upload.reports_prefix + "errors.csv"
        self.assets.put_report(errors_key, report.to_bytes(), "text/csv; charset=utf-8")
        if self.progress.expect(run, sent):  # no jobs, or every one already ended
            self.reports.send(run)
        return IngestReport(upload, sent, len(failed), errors_key, warnings)

    def _set_budget(self, upload: Upload, metadata: dict[str, str]) -> bool:
        """Apply the budget the upload carries, if any; True when it carried one."""
        given = metadata.get(BUDGET_METADATA)
        if given is None:
            return False
        limit = parse_usd(given)
        if limit is None:
            raise SheetError(
                f"upload metadata {BUDGET_METADATA}: {given!r} is not an amount of USD"
            )
        spent = sum(
            (
                i.cost_usd
                for i in self.ledger.campaign_items(upload.campaign)
                if i.status in HOLDING
            ),
            Decimal(0),
        )
        self.budgets.set_limit(upload.campaign, limit, spent)
        return True


def _rerolls(metadata: dict[str, str]) -> int | None:
    """The upload's `rerolls` metadata, 0..MAX_REROLLS; None when it carries none."""
    given = metadata.get(REROLLS_METADATA)
    if given is None:
        return None
    try:
        return parse_rerolls(given)
    except InvalidInput as exc:
        raise SheetError(f"upload metadata {REROLLS_METADATA}: {exc.reason}") from None
