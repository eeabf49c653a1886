"""An upload's reports once its jobs have ended: results.csv and index.html, the contact sheet
(in pages past 500 rows: reporting/pages.py).

The same code writes them to S3 on Lambda (links are presigned URLs), streamed (Reporter.write:
the ledger a query page at a time onto disk, then the sheet row by row in its order), and into
`placard run`'s folder from rows held in memory (build; links are relative paths).
"""

from __future__ import annotations

import io
import logging
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache, partial
from pathlib import PurePosixPath
from typing import IO, TextIO, TypeVar

from placard.domain.attempts import ImageAttempts
from placard.domain.jobs import Job
from placard.domain.keys import derivative_key
from placard.domain.ledger_items import LedgerItem, Status
from placard.domain.ports import AssetStore, Ledger, UploadStore
from placard.domain.proofs import Verdict
from placard.domain.runs import UploadRun
from placard.domain.spend import Spend
from placard.domain.templates import Catalogue
from placard.reporting.contact_sheet import Attempt, Entry, Shot
from placard.reporting.csv_reports import (
    OUTCOME_HEADER,
    CsvReport,
    RowOutcome,
    images_of,
    read_errors,
    row_outcome,
    same_job_note,
)
from placard.reporting.pages import INDEX, PagedSheet
from placard.reporting.spool import Spool
from placard.sheets.reader import Row, RowError, SheetError, read_rows
from placard.sheets.rows import CONTROL_COLUMNS, SheetDefaults, job_from_row

logger = logging.getLogger(__name__)
Parsed = Job | Sequence[RowError]
T = TypeVar("T")


def parsed_rows(
    sheet: IO[bytes], filename: str, run: UploadRun, errors_csv: bytes, catalogue: Catalogue
) -> list[tuple[Row, Parsed]]:
    """Each row with what ingest made of it: its job, or the errors errors.csv holds for it."""
    return list(each_parsed_row(sheet, filename, run, read_errors(errors_csv), catalogue))


def each_parsed_row(
    sheet: IO[bytes],
    filename: str,
    run: UploadRun,
    rejected: Mapping[int, Sequence[RowError]],
    catalogue: Catalogue,
) -> Iterator[tuple[Row, Parsed]]:
    """parsed_rows one at a time, as the sheet is read."""
    defaults = SheetDefaults(campaign=run.campaign, upload=PurePosixPath(filename).stem)
    for row in read_rows(sheet, filename):
        yield row, rejected.get(row.number) or job_from_row(row, catalogue, defaults)


def by_job(items: Iterable[LedgerItem]) -> dict[str, list[LedgerItem]]:
    grouped: dict[str, list[LedgerItem]] = defaultdict(list)
    for item in items:
        grouped[item.job_id].append(item)
    return grouped


@dataclass(frozen=True)
class Reports:
    results_csv: bytes
    index_html: bytes
    pages: Mapping[str, bytes] = field(default_factory=dict)  # every page, index.html too


class Writer:
    """Both reports written as rows come, in the sheet's order: a line of results.csv and a
    card of the contact sheet a row. What is held meanwhile is one row and its job's items;
    the rest is on disk (the CSV in a file, the cards and the ledger in the Spool)."""

    def __init__(
        self,
        run: UploadRun,
        columns: Sequence[str],
        out: TextIO,
        spool: Spool,
        uri: Callable[[str], str],
        link: Callable[[str], str],
    ) -> None:
        self.results = CsvReport(("row", *columns, *OUTCOME_HEADER), out)
        self.sheet = PagedSheet(run.campaign, PurePosixPath(run.sheet).stem, spool)
        self._columns = columns
        self._spool = spool
        self._uri = uri
        self._link = link

    def add(self, row: Row, parsed: Parsed, items: Sequence[LedgerItem]) -> None:
        twin = 0
        if isinstance(parsed, Job):
            first = self._spool.first_row(parsed.job_id, row.number)
            twin = first if first != row.number else 0
        # Both reports link each original: presign it once (about 1 ms), within the row
        link = lru_cache(maxsize=64)(self._link)
        by_id = {parsed.job_id: items} if isinstance(parsed, Job) else {}
        outcome = row_outcome(
            parsed, by_id, uri=lambda i: self._uri(i.s3_key), link=lambda i: link(i.s3_key),
            same_as=twin,
        )  # fmt: skip
        cells = [row.cells.get(c, "") for c in self._columns]
        self.results.add((row.number, *cells, *outcome.cells()))
        self.sheet.add(_entry(row, parsed, items, outcome, link, twin))


def columns_of(rows: Iterable[tuple[Row, Parsed]] | Iterable[Row]) -> list[str]:
    """The sheet's columns, in order of first appearance (a row may carry more than the
    header: "column F")."""
    seen: dict[str, None] = {}
    for row in rows:
        cells = row[0].cells if isinstance(row, tuple) else row.cells
        seen.update(dict.fromkeys(cells))
    return list(seen)


def build(
    run: UploadRun,
    rows: Sequence[tuple[Row, Parsed]],
    items_by_job: Mapping[str, Sequence[LedgerItem]],
    uri: Callable[[str], str],
    link: Callable[[str], str],
    page_link: Callable[[str], str] = str,
) -> Reports:
    """Both reports of rows held in memory (`placard run`'s folder). `uri` and `link` turn an
    asset key into its S3 URI and into an href; `page_link` a page's name into its href."""
    out = io.StringIO()
    with Spool() as spool:
        writer = Writer(run, columns_of(rows), out, spool, uri, link)
        for row, parsed in rows:
            items = items_by_job.get(parsed.job_id, ()) if isinstance(parsed, Job) else ()
            writer.add(row, parsed, items)
        pages = dict(writer.sheet.pages(page_link))
    return Reports(writer.results.to_bytes(), pages[INDEX], pages)


def _entry(
    row: Row,
    parsed: Parsed,
    items: Sequence[LedgerItem],
    outcome: RowOutcome,
    link: Callable[[str], str],
    same_as: int = 0,
) -> Entry:
    # The earlier row counts the cost, and its estimate
    cost, spend = (Decimal(0), Spend()) if same_as else (outcome.cost_usd, outcome.spend)
    if isinstance(parsed, Job):
        template = parsed.template
        copy = dict(parsed.variables)
        images = images_of(items)
    else:
        template = row.cells.get("template", "")
        copy = {k: v for k, v in row.cells.items() if k not in CONTROL_COLUMNS and v}
        images = []
    shots = [_shot(image, i, link) for image in images if (i := image.delivered) is not None]
    note = same_job_note(same_as) if same_as else ""
    reason = outcome.reason
    if note and reason.startswith(note):  # the note has its own line
        reason = reason[len(note) :].removeprefix("; ")
    return Entry(row.number, outcome.status, template, copy, cost, reason, shots, note, spend)


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


@dataclass(frozen=True)
class Written:
    """What Reporter.write stored: rows reported, and each file's name and size in bytes."""

    rows: int
    sizes: Mapping[str, int]
    spool_bytes: int = 0  # the most the work took of /tmp


@dataclass
class Reporter:
    """Writes a run's reports under reports/<campaign>/<upload>/ in the assets bucket."""

    catalogue: Catalogue
    uploads: UploadStore
    assets: AssetStore
    ledger: Ledger

    def gather(self, run: UploadRun) -> Gathered:
        """The sheet's rows as ingest judged them, and the campaign's ledger by job, held in
        memory (`placard run`'s folder). The reports are written whatever one job's records
        hold: what cannot be read is said in that row, not raised for the whole upload."""
        errors_csv = self._errors_csv(run)
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

    def _errors_csv(self, run: UploadRun) -> bytes:
        try:
            return self.assets.read(run.reports_prefix + "errors.csv")
        except Exception as exc:  # ingest stopped before writing it: rows are judged again
            logger.warning("%s: no errors.csv (%s); its rows are judged again", run.sheet, exc)
            return b""

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
                items[job.job_id] = self._job_items(run, job)
        return items

    def _job_items(self, run: UploadRun, job: Job) -> list[LedgerItem]:
        try:
            return self.ledger.job_items(run.campaign, job.job_id, lost=True)  # costs count them
        except Exception as exc:
            return [_unreadable(job, exc)]

    def write(self, run: UploadRun) -> Written:
        """Both reports, streamed: the ledger is read a page at a time onto disk, then the
        sheet row by row in its order; results.csv goes up from a file, the contact sheet a
        page at a time. Memory holds one row, its job's items, and one page."""
        errors_csv = self._errors_csv(run)
        rejected = read_errors(errors_csv)
        del errors_csv
        name = PurePosixPath(run.sheet).name
        sheet_errors = [e for e in rejected.get(0, []) if not e.warning]
        prefix = run.reports_prefix
        sizes: dict[str, int] = {}
        with Spool() as spool, self.uploads.open(run.sheet) as sheet:
            job_items = self._keep_ledger(run, spool)
            try:  # a first pass for the columns: results.csv's header comes first
                columns = columns_of(read_rows(sheet, name))
                readable = True
            except SheetError as exc:  # ingest said why in errors.csv; say it if it did not
                columns, readable = [], False
                sheet_errors = sheet_errors or [RowError(0, "", name, str(exc))]
            results = spool.folder / "results.csv"
            with results.open("w", encoding="utf-8-sig", newline="") as out:
                writer = Writer(run, columns, out, spool, self.assets.uri, self.assets.link)
                if sheet_errors:  # what stopped the whole sheet is the reports' first line
                    writer.add(Row(0, {}), sheet_errors, ())
                sheet.seek(0)
                rows = each_parsed_row(sheet, name, run, rejected, self.catalogue)
                for row, parsed in rows if readable else ():
                    items = job_items(parsed) if isinstance(parsed, Job) else []
                    writer.add(row, parsed, items)
            sizes["results.csv"] = results.stat().st_size
            spooled = spool.size()
            with _Uploads() as uploads:
                uploads.put(self.assets.put_report_file, prefix + "results.csv", results, CSV)
                for page, html in writer.sheet.pages(lambda page: self.assets.link(prefix + page)):
                    if page == INDEX:  # last, once every page it links to is there
                        uploads.wait()
                    uploads.put(self.assets.put_report, prefix + page, html, HTML)
                    sizes[page] = len(html)
        return Written(writer.sheet.totals.rows, sizes, spooled)

    def _keep_ledger(self, run: UploadRun, spool: Spool) -> Callable[[Job], list[LedgerItem]]:
        """The campaign's items onto disk, a page at a time; how a row then finds its job's.
        One unreadable item must not cost every row its report: then each job is read alone,
        and a job that cannot be read says so in its row."""
        try:
            spool.keep_items(self.ledger.each_campaign_item(run.campaign))
        except Exception as exc:
            logger.warning("%s: ledger unreadable (%s); read job by job", run.campaign, exc)
            return partial(self._job_items, run)
        return lambda job: spool.items(job.job_id)


CSV = "text/csv; charset=utf-8"
HTML = "text/html; charset=utf-8"


PUTS, PUTS_AHEAD = 4, 8  # puts at once; pages made and waiting to go up, at most


class _Uploads:
    """The reports' puts, a few at once while the next page is made: 681 pages at 100,000
    rows are 681 round trips to S3. At most PUTS_AHEAD pages wait in memory; a put that
    failed raises here, the others finished first."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(PUTS, thread_name_prefix="report-put")
        self._in_flight: deque[Future[None]] = deque()

    def __enter__(self) -> _Uploads:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if exc[0] is None:
                self.wait()
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def put(self, upload: Callable[[str, T, str], None], key: str, data: T, kind: str) -> None:
        if len(self._in_flight) >= PUTS_AHEAD:
            self._in_flight.popleft().result()
        self._in_flight.append(self._pool.submit(upload, key, data, kind))

    def wait(self) -> None:
        while self._in_flight:
            self._in_flight.popleft().result()


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
