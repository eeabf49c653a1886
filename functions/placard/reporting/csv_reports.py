"""results.csv and errors.csv, with every cell safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal

from placard.domain.jobs import Job
from placard.domain.ledger_items import OVER_BUDGET, LedgerItem, Status
from placard.domain.templates import without_controls
from placard.sheets.reader import WARNING, Row, RowError

ERRORS_HEADER = ("row", "column", "value", "reason")
OUTCOME_HEADER = ("status", "job_id", "images", "links", "sha256", "cost_usd", "proof", "reason")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# A reservation never settled: the call was sent and its answer never came (it may be billed).
UNFINISHED = "the image call never finished; its reservation is kept, as it may have been billed"


def safe_cell(value: object) -> str:
    """Text a spreadsheet will show, never run: a leading formula character is quoted, and
    control characters (escape codes, NULs, bidi overrides) are dropped; line breaks stay."""
    text = "" if value is None else without_controls(str(value), keep="\t\n\r")
    return "'" + text if text.startswith(_FORMULA_START) else text


class CsvReport:
    """A CSV built row by row in memory; reports are small next to the sheets they describe."""

    def __init__(self, header: Sequence[str]) -> None:
        self._buffer = io.StringIO()
        self._writer = csv.writer(self._buffer, lineterminator="\r\n")
        self._writer.writerow([safe_cell(h) for h in header])
        self.count = 0

    def add(self, values: Iterable[object]) -> None:
        self._writer.writerow([safe_cell(v) for v in values])
        self.count += 1

    def to_bytes(self) -> bytes:
        return self._buffer.getvalue().encode("utf-8-sig")  # BOM: Excel then reads UTF-8


def errors_report(errors: Iterable[RowError] = ()) -> CsvReport:
    report = CsvReport(ERRORS_HEADER)
    for error in errors:
        add_error(report, error)
    return report


def add_error(report: CsvReport, error: RowError) -> None:
    report.add((error.row or "", error.column, error.value, error.reason))


def read_errors(data: bytes) -> dict[int, list[RowError]]:
    """errors.csv back into RowErrors by row (sheet-level errors, row 0, under 0)."""
    errors: dict[int, list[RowError]] = {}
    for line in csv.DictReader(io.StringIO(data.decode("utf-8-sig"))):
        row = int(line["row"] or 0)
        errors.setdefault(row, []).append(
            RowError(
                row,
                line["column"],
                unquote_cell(line["value"]),
                line["reason"],
                warning=line["reason"].startswith(WARNING),
            )
        )
    return errors


def unquote_cell(text: str) -> str:
    return text[1:] if text.startswith("'") and text[1:].startswith(_FORMULA_START) else text


def results_report(
    rows: Iterable[tuple[Row, Job | Sequence[RowError]]],
    items_by_job: Mapping[str, Sequence[LedgerItem]],
    uri: Callable[[LedgerItem], str],
    link: Callable[[LedgerItem], str],
) -> CsvReport:
    """One line per row: its own cells as read, then what became of it."""
    pairs = list(rows)
    columns = list(dict.fromkeys(c for row, _ in pairs for c in row.cells))
    report = CsvReport(("row", *columns, *OUTCOME_HEADER))
    twins = same_job_rows(pairs)
    for row, parsed in pairs:
        cells = [row.cells.get(c, "") for c in columns]
        outcome = row_outcome(parsed, items_by_job, uri, link, twins.get(row.number, 0))
        report.add((row.number, *cells, *outcome))
    return report


def same_job_rows(rows: Iterable[tuple[Row, Job | Sequence[RowError]]]) -> dict[int, int]:
    """Row number -> the earlier row it repeats: identical rows are one job, made and charged
    once, so the reports count its cost on the first row only."""
    first: dict[str, int] = {}
    twins: dict[int, int] = {}
    for row, parsed in rows:
        if isinstance(parsed, Job):
            earlier = first.setdefault(parsed.job_id, row.number)
            if earlier != row.number:
                twins[row.number] = earlier
    return twins


def same_job_note(row: int) -> str:
    return f"same job as row {row}: the same images, their cost counted on row {row}"


def row_outcome(
    parsed: Job | Sequence[RowError],
    items_by_job: Mapping[str, Sequence[LedgerItem]],
    uri: Callable[[LedgerItem], str],
    link: Callable[[LedgerItem], str],
    same_as: int = 0,
) -> tuple[str, ...]:
    """(status, job_id, images, links, sha256, cost_usd, proof, reason) for one row;
    `same_as` names the earlier row whose job this one repeats (its cost is counted there)."""
    if not isinstance(parsed, Job):
        reason = "; ".join(f"{e.column}: {e.reason}" if e.column else e.reason for e in parsed)
        return ("rejected", "", "", "", "", "0", "", reason)
    items = sorted(items_by_job.get(parsed.job_id, ()), key=lambda i: i.image_index)
    charged = [i for i in items if i.status is Status.CHARGED]
    cost = str(sum((i.cost_usd for i in charged), Decimal(0)))
    images = " ".join(uri(i) for i in charged)
    links = " ".join(link(i) for i in charged)
    digests = " ".join(i.sha256 for i in charged)
    note = same_job_note(same_as) if same_as else ""
    if same_as:
        cost = "0"
    if len(charged) == parsed.n:
        return ("succeeded", parsed.job_id, images, links, digests, cost, "unchecked", note)
    reasons = [i.reason for i in items if i.status is not Status.CHARGED and i.reason]
    if any(i.status is Status.RESERVED for i in items):
        reasons.append(UNFINISHED)
    if not items:
        reasons = ["no outcome was recorded for this job"]
    reason = reasons[0] if reasons else "it failed without a recorded reason"
    status = "over_budget" if reasons and set(reasons) == {OVER_BUDGET} else "failed"
    reason = f"{note}; {reason}" if note else reason
    return (status, parsed.job_id, images, links, digests, cost, "", reason)
