"""results.csv and errors.csv, with every cell safe to open in a spreadsheet: errors.csv whole,
results.csv's header and each row's outcome (the Reporter writes the file, row by row as the
sheet is read: reporting/campaign.py)."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import TextIO

from placard.domain.attempts import ImageAttempts, by_image
from placard.domain.jobs import Job
from placard.domain.ledger_items import LedgerItem, Status
from placard.domain.proofs import Verdict
from placard.domain.spend import Spend
from placard.domain.statuses import RowStatus
from placard.domain.templates import without_controls
from placard.sheets.reader import WARNING, RowError

ERRORS_HEADER = ("row", "column", "value", "reason")
# A person edits `decision` and `note` and uploads the file again (services/reviews.py reads
# these names): keep them exactly. Beside cost_usd, what placard estimated it would cost
# (blank: not known) and where the cost comes from: the provider's `bill`, a `flat` price, or an
# `estimate` (an answer reported no usage), as CostBasis says.
OUTCOME_HEADER = (
    "status", "job_id", "images", "links", "sha256", "cost_usd", "estimated_cost_usd",
    "cost_basis", "proof", "proof_detail", "attempts", "review", "decision", "note", "reason",
)  # fmt: skip
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# A reservation never settled: the call was sent and its answer never came (it may be billed).
UNFINISHED = "the image call never finished; its reservation is kept, as it may have been billed"


def safe_cell(value: object) -> str:
    """Text a spreadsheet will show, never run: a leading formula character is quoted, and
    control characters (escape codes, NULs, bidi overrides) are dropped; line breaks stay."""
    text = "" if value is None else without_controls(str(value), keep="\t\n\r")
    return "'" + text if text.startswith(_FORMULA_START) else text


class CsvReport:
    """A CSV written row by row: in memory, or into `out` (a file opened with encoding
    utf-8-sig and newline="", for a report too large to hold)."""

    def __init__(self, header: Sequence[str], out: TextIO | None = None) -> None:
        self._buffer = out if out is not None else io.StringIO()
        self._writer = csv.writer(self._buffer, lineterminator="\r\n")
        self._writer.writerow([safe_cell(h) for h in header])
        self.count = 0

    def add(self, values: Iterable[object]) -> None:
        self._writer.writerow([safe_cell(v) for v in values])
        self.count += 1

    def to_bytes(self) -> bytes:
        """The CSV held in memory (not one written to a file)."""
        assert isinstance(self._buffer, io.StringIO), "the report was written to a file"
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


def same_job_note(row: int) -> str:
    return f"same job as row {row}: the same images, their cost counted on row {row}"


@dataclass(frozen=True)
class RowOutcome:
    """What became of one row: the last columns of its line in results.csv."""

    status: RowStatus
    job_id: str = ""
    images: tuple[str, ...] = ()  # S3 URIs of each image's delivered attempt
    links: tuple[str, ...] = ()  # hrefs to the same images
    sha256: tuple[str, ...] = ()
    cost_usd: Decimal = Decimal(0)  # every attempt charged, not only the ones delivered
    proof: str = ""  # the row's Verdict; "" only for a row with no image to read
    proof_detail: str = ""
    attempts: int = 0  # the most attempts any of its images took
    review: tuple[str, ...] = ()  # each delivered image's Review
    decision: str = ""  # the decision already recorded, so a sheet uploaded again is stable
    note: str = ""
    reason: str = ""
    spend: Spend = field(default_factory=Spend)  # its charges beside their estimates

    def cells(self) -> tuple[str, ...]:
        """The row's cells under OUTCOME_HEADER, in its order."""
        return (
            self.status,
            self.job_id,
            " ".join(self.images),
            " ".join(self.links),
            " ".join(self.sha256),
            str(self.cost_usd),
            "" if (estimate := self.spend.estimate) is None else str(estimate),
            self.spend.basis or "",
            self.proof,
            self.proof_detail,
            str(self.attempts) if self.attempts else "",
            " ".join(self.review),
            self.decision,
            self.note,
            self.reason,
        )


def images_of(items: Sequence[LedgerItem]) -> list[ImageAttempts]:
    """A job's images by index, each with every attempt at it."""
    return sorted(by_image(items), key=lambda image: image.index)


def row_outcome(
    parsed: Job | Sequence[RowError],
    items_by_job: Mapping[str, Sequence[LedgerItem]],
    uri: Callable[[LedgerItem], str],
    link: Callable[[LedgerItem], str],
    same_as: int = 0,
) -> RowOutcome:
    """One row's outcome from its job's ledger items; `same_as` names the earlier row whose
    job this one repeats (its cost is counted there)."""
    if not isinstance(parsed, Job):
        reason = "; ".join(f"{e.column}: {e.reason}" if e.column else e.reason for e in parsed)
        return RowOutcome(RowStatus.REJECTED, reason=reason)
    items = items_by_job.get(parsed.job_id, ())
    images = images_of(items)
    delivered = [i.delivered for i in images if i.delivered is not None]
    decisions = {i.review for i in delivered}
    spend = Spend() if same_as else Spend.of(items)
    made = RowOutcome(
        RowStatus.SUCCEEDED,
        parsed.job_id,
        images=tuple(uri(i) for i in delivered),
        links=tuple(link(i) for i in delivered),
        sha256=tuple(i.sha256 for i in delivered),
        cost_usd=spend.cost_usd,
        proof=row_verdict(images),
        proof_detail=proof_detail(images, numbered=parsed.n > 1),
        attempts=max((i.attempts for i in images), default=0),
        review=tuple(i.review_state for i in delivered),
        # One decision for the row when its images share one; a mixed row is decided per image
        # through the API, and an empty cell changes nothing when the sheet comes back.
        decision=decisions.pop() if len(decisions) == 1 else "",
        note="; ".join(dict.fromkeys(i.review_note for i in delivered if i.review_note)),
        spend=spend,
    )
    note = same_job_note(same_as) if same_as else ""
    failed = [i for i in images if i.verdict is Verdict.FAIL]
    if failed:  # delivered for a person to judge: every attempt at these failed its proof
        reason = "its words failed every proof: " + "; ".join(map(_failures, failed))
        return replace(made, status=RowStatus.NEEDS_REVIEW, reason=_joined(note, reason))
    if len(delivered) == parsed.n:
        return replace(made, reason=note)
    # A call set aside (lost: its outcome unknown, held or settled) is no outcome of the job;
    # its reason is the row's only when nothing else says why
    said = [i for i in items if i.status is not Status.CHARGED and i.reason and not i.lost]
    reasons = [i.reason for i in said] or [i.reason for i in items if i.lost and i.reason]
    unfinished = any(i.status is Status.RESERVED and not i.held for i in items)
    if unfinished:
        reasons.append(UNFINISHED)
    if not items:
        reasons = ["no outcome was recorded for this job"]
    reason = reasons[0] if reasons else "it failed without a recorded reason"
    # Over budget only when the budget is every reason given: nothing else went wrong.
    refused = bool(said) and not unfinished and all(i.over_budget for i in said)
    status = RowStatus.OVER_BUDGET if refused else RowStatus.FAILED
    return replace(made, status=status, reason=_joined(note, reason))


def row_verdict(images: Sequence[ImageAttempts]) -> str:
    """Fail when any delivered image fails, pass when all pass, else unchecked (an image not
    read back yet is unchecked); "" when nothing was delivered to read."""
    verdicts = {i.verdict or Verdict.UNCHECKED for i in images if i.delivered is not None}
    if not verdicts:
        return ""
    if Verdict.FAIL in verdicts:
        return Verdict.FAIL
    return Verdict.PASS if verdicts == {Verdict.PASS} else Verdict.UNCHECKED


def proof_detail(images: Sequence[ImageAttempts], numbered: bool) -> str:
    """Each delivered image's Proof.detail, "image 2: ..." when the row has several."""
    details = []
    for image in images:
        if image.delivered is None:
            continue
        proof = image.delivered.proved
        detail = proof.detail if proof else NOT_READ
        details.append(f"image {image.index + 1}: {detail}" if numbered else detail)
    return " | ".join(details)


NOT_READ = "not read back yet"


def _failures(image: ImageAttempts) -> str:
    """Each attempt's failing fields, so the reason says what every try got wrong."""
    tries = []
    for item in image.items:
        proof = item.proved
        if proof is not None and proof.verdict is Verdict.FAIL:
            failing = "; ".join(f.describe() for f in proof.fields if f.verdict is Verdict.FAIL)
            tries.append(f"attempt {item.attempt}: {failing}")
    return f"image {image.index + 1}, {image.attempts} attempts ({'; '.join(tries)})"


def _joined(note: str, reason: str) -> str:
    return f"{note}; {reason}" if note else reason
