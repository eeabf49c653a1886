"""An upload's reports once its jobs have ended: results.csv and index.html, the contact sheet.

The same code writes them to S3 on Lambda (links are presigned URLs) and into `placard run`'s
folder (links are relative paths).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from pathlib import PurePosixPath
from typing import IO

from placard.domain.attempts import ImageAttempts
from placard.domain.jobs import Job
from placard.domain.keys import derivative_key
from placard.domain.ledger_items import LedgerItem, Status
from placard.domain.ports import AssetStore, Ledger, UploadStore
from placard.domain.proofs import Verdict
from placard.domain.runs import UploadRun
from placard.domain.spend import Spend
from placard.domain.templates import Catalogue
from placard.reporting.contact_sheet import Attempt, Entry, Shot, contact_sheet
from placard.reporting.csv_reports import (
    images_of,
    read_errors,
    results_report,
    row_outcome,
    same_job_note,
    same_job_rows,
)
from placard.sheets.reader import Row, RowError, SheetError, read_rows
from placard.sheets.rows import CONTROL_COLUMNS, SheetDefaults, job_from_row

logger = logging.getLogger(__name__)
Parsed = Job | Sequence[RowError]


def parsed_rows(
    sheet: IO[bytes], filename: str, run: UploadRun, errors_csv: bytes, catalogue: Catalogue
) -> list[tuple[Row, Parsed]]:
    """Each row with what ingest made of it: its job, or the errors errors.csv holds for it."""
    rejected = read_errors(errors_csv)
    defaults = SheetDefaults(campaign=run.campaign, upload=PurePosixPath(filename).stem)
    return [
        (row, rejected.get(row.number) or job_from_row(row, catalogue, defaults))
        for row in read_rows(sheet, filename)
    ]


def by_job(items: Sequence[LedgerItem]) -> dict[str, list[LedgerItem]]:
    grouped: dict[str, list[LedgerItem]] = defaultdict(list)
    for item in items:
        grouped[item.job_id].append(item)
    return grouped


@dataclass(frozen=True)
class Reports:
    results_csv: bytes
    index_html: bytes


def build(
    run: UploadRun,
    rows: Sequence[tuple[Row, Parsed]],
    items_by_job: Mapping[str, Sequence[LedgerItem]],
    uri: Callable[[str], str],
    link: Callable[[str], str],
) -> Reports:
    """`uri` and `link` turn an asset key into its S3 URI and into an href."""
    link = cache(link)  # both reports link each original: presign it once (about 1 ms)
    results = results_report(
        rows, items_by_job, uri=lambda i: uri(i.s3_key), link=lambda i: link(i.s3_key)
    )
    twins = same_job_rows(rows)
    entries = [
        _entry(row, parsed, items_by_job, link, twins.get(row.number, 0)) for row, parsed in rows
    ]
    upload = PurePosixPath(run.sheet).stem
    return Reports(results.to_bytes(), contact_sheet(run.campaign, upload, entries))


def _entry(
    row: Row,
    parsed: Parsed,
    items_by_job: Mapping[str, Sequence[LedgerItem]],
    link: Callable[[str], str],
    same_as: int = 0,
) -> Entry:
    outcome = row_outcome(parsed, items_by_job, uri=str, link=str)  # the note has its own line
    # The earlier row counts the cost, and its estimate
    cost, spend = (Decimal(0), Spend()) if same_as else (outcome.cost_usd, outcome.spend)
    if isinstance(parsed, Job):
        template = parsed.template
        copy = dict(parsed.variables)
        images = images_of(items_by_job.get(parsed.job_id, ()))
    else:
        template = row.cells.get("template", "")
        copy = {k: v for k, v in row.cells.items() if k not in CONTROL_COLUMNS and v}
        images = []
    shots = [_shot(image, i, link) for image in images if (i := image.delivered) is not None]
    note = same_job_note(same_as) if same_as else ""
    return Entry(
        row.number, outcome.status, template, copy, cost, outcome.reason, shots, note, spend
    )


def _shot(image: ImageAttempts, delivered: LedgerItem, link: Callable[[str], str]) -> Shot:
    """The delivered attempt's links, proof and review, and every other attempt's original."""
    proof = delivered.proved
    others = [
        Attempt(
            item.attempt,
            item.proof,
            link(item.s3_key) if item.status is Status.CHARGED and item.s3_key else "",
        )
        for item in image.items
        if item is not delivered
    ]
    return Shot(
        thumbnail=link(derivative_key(delivered.s3_key, "thumb")),
        web=link(derivative_key(delivered.s3_key, "web")),
        original=link(delivered.s3_key),
        verdict=proof.verdict if proof else Verdict.UNCHECKED,
        fields=proof.fields if proof else (),
        attempt=delivered.attempt,
        others=others,
        review=delivered.review_state,
        review_note=delivered.review_note,
    )


@dataclass(frozen=True)
class Gathered:
    rows: list[tuple[Row, Parsed]]
    items: dict[str, list[LedgerItem]]
    errors_csv: bytes


@dataclass
class Reporter:
    """Writes a run's reports under reports/<campaign>/<upload>/ in the assets bucket."""

    catalogue: Catalogue
    uploads: UploadStore
    assets: AssetStore
    ledger: Ledger

    def gather(self, run: UploadRun) -> Gathered:
        """The sheet's rows as ingest judged them, and the campaign's ledger by job. The
        reports are written whatever one job's records hold: what cannot be read is said in
        that row, not raised for the whole upload."""
        try:
            errors_csv = self.assets.read(run.reports_prefix + "errors.csv")
        except Exception as exc:  # ingest stopped before writing it: rows are judged again
            logger.warning("%s: no errors.csv (%s); its rows are judged again", run.sheet, exc)
            errors_csv = b""
        name = PurePosixPath(run.sheet).name
        sheet_errors = [e for e in read_errors(errors_csv).get(0, []) if not e.warning]
        try:
            with self.uploads.open(run.sheet) as sheet:
                rows = parsed_rows(sheet, name, run, errors_csv, self.catalogue)
        except SheetError as exc:  # ingest said why in errors.csv; say it here if it did not
            rows = []
            sheet_errors = sheet_errors or [RowError(0, "", name, str(exc))]
        if sheet_errors:  # what stopped the whole sheet is the reports' first line
            rows.insert(0, (Row(0, {}), sheet_errors))
        return Gathered(rows, self._items(run, rows), errors_csv)

    def _items(
        self, run: UploadRun, rows: Sequence[tuple[Row, Parsed]]
    ) -> dict[str, list[LedgerItem]]:
        try:
            return by_job(self.ledger.campaign_items(run.campaign))
        except Exception as exc:  # one unreadable item must not cost every row its report
            logger.warning("%s: ledger unreadable (%s); read job by job", run.campaign, exc)
        items: dict[str, list[LedgerItem]] = {}
        for _, job in rows:
            if isinstance(job, Job) and job.job_id not in items:
                try:
                    items[job.job_id] = self.ledger.job_items(run.campaign, job.job_id)
                except Exception as exc:
                    items[job.job_id] = [_unreadable(job, exc)]
        return items

    def write(self, run: UploadRun) -> Reports:
        found = self.gather(run)
        reports = build(run, found.rows, found.items, uri=self.assets.uri, link=self.assets.link)
        prefix = run.reports_prefix
        self.assets.put_report(
            prefix + "results.csv", reports.results_csv, "text/csv; charset=utf-8"
        )
        self.assets.put_report(
            prefix + "index.html", reports.index_html, "text/html; charset=utf-8"
        )
        return reports


def _unreadable(job: Job, exc: Exception) -> LedgerItem:
    """A stand-in that makes the row say its record could not be read (cost unknown)."""
    unknown = Decimal(0)
    return LedgerItem(
        campaign=job.campaign,
        job_id=job.job_id,
        image_index=0,
        template=job.template,
        template_version=job.template_version,
        provider="",
        model="",
        quality=job.quality.value,
        size=str(job.size or ""),
        unit_price=unknown,
        cost_usd=unknown,
        status=Status.FAILED,
        created_at="",
        updated_at="",
        reason=f"its ledger record could not be read ({type(exc).__name__}: {exc}); "
        "its cost is not known",
    )
