"""People's decisions on delivered images (docs/design.md §7): approve, reject, re-roll.

A decision is about the attempt a person looked at. It is recorded on that ledger item, once:
the ledger refuses the same decision twice, so a sheet applied again (or an API call retried)
changes nothing and re-rolls nothing. A decision about an attempt that is no longer the one
delivered (a re-roll has replaced it since) is said to be superseded and left alone.
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from placard.domain.attempts import by_image
from placard.domain.errors import InvalidInput, PlacardError
from placard.domain.jobs import Job
from placard.domain.keys import parse_image_key
from placard.domain.ports import JobQueue, JobStore, Ledger, ReportRequests, UploadStore
from placard.domain.proofs import Review
from placard.domain.rounds import Cause, Round
from placard.domain.runs import UploadRun
from placard.sheets.reader import Row, RowError, SheetError, read_rows

DECISIONS = ", ".join(r.value for r in Review)


class NothingDelivered(PlacardError):
    """The job (or the image asked about) has no delivered image to decide on yet."""


class Outcome(StrEnum):
    RECORDED = "recorded"
    REROLLED = "rerolled"  # recorded, and one more attempt queued
    UNCHANGED = "unchanged"  # the image already held this very decision
    SUPERSEDED = "superseded"  # the decision named an attempt that is no longer delivered


@dataclass(frozen=True)
class Decided:
    """What one decision did to one image."""

    job_id: str
    index: int
    attempt: int  # the delivered attempt the decision was recorded on (or would have been)
    review: Review
    outcome: Outcome
    note: str = ""

    @property
    def said(self) -> str:
        if self.outcome is Outcome.SUPERSEDED:
            return f"superseded by attempt {self.attempt}"
        if self.outcome is Outcome.REROLLED:
            return f"{self.review}: attempt {self.attempt + 1} queued"
        return f"{self.review}: {self.outcome}"


def parse_decision(value: str) -> Review:
    try:
        return Review(value.strip().lower())
    except ValueError:
        raise InvalidInput("decision", f"must be one of {DECISIONS}", value) from None


def check_note(review: Review, note: str) -> None:
    """A rejection says why: the note is what the person who makes the next one reads."""
    if review is Review.REJECTED and not note.strip():
        raise InvalidInput("note", "a rejected image needs a note saying what is wrong", note)


@dataclass(frozen=True)
class SheetOutcome:
    """A reviewed sheet applied: counts per outcome and the rows that could not be applied."""

    sheet: str
    rows: int = 0  # rows with a decision
    outcomes: Counter[Outcome] = field(default_factory=Counter)
    errors: tuple[RowError, ...] = ()
    reports: int = 0  # uploads whose reports were asked to be rewritten

    def lines(self) -> list[str]:
        """For people: the CLI prints these and the ingest function logs them."""
        counts = ", ".join(f"{self.outcomes[o]} {o}" for o in Outcome)
        said = [f"{self.sheet}: {self.rows} rows with a decision; images {counts}"]
        said += [f"row {e.row}, {e.column}: {e.reason} ({e.value!r})" for e in self.errors]
        return said

    def to_log(self) -> dict[str, Any]:
        return {
            "sheet": self.sheet,
            "rows": self.rows,
            **{o.value: self.outcomes[o] for o in Outcome},
            "errors": [f"row {e.row}, {e.column}: {e.reason}" for e in self.errors],
            "reports": self.reports,
            "said": self.lines(),
        }


@dataclass
class Reviews:
    ledger: Ledger
    kept_jobs: JobStore
    uploads: UploadStore
    jobs: JobQueue
    reports: ReportRequests

    def decide(
        self,
        campaign: str,
        job_id: str,
        decision: Review,
        note: str = "",
        image: int | None = None,
        attempt: int | None = None,
    ) -> list[Decided]:
        """Record the decision on each delivered image of the job (or on `image`); `attempt`
        names the attempt the person looked at. A re-roll decision, newly recorded, queues
        one more attempt of that image. NothingDelivered when there is nothing to decide on;
        InvalidInput naming `image` or `note` for a request that cannot be applied."""
        check_note(decision, note)
        images = by_image(self.ledger.job_items(campaign, job_id))
        if image is not None:
            known = sorted(i.index for i in images)
            images = [i for i in images if i.index == image]
            if not images:
                raise InvalidInput("image", f"job {job_id} has no image {image}; it has {known}")
        delivered = [(i.index, i.delivered) for i in images if i.delivered is not None]
        if not delivered:
            which = f"image {image} of job {job_id}" if image is not None else f"job {job_id}"
            raise NothingDelivered(f"{which} has no delivered image to review yet")
        decided = []
        for index, item in delivered:
            if attempt is not None and attempt != item.attempt:
                outcome = Outcome.SUPERSEDED
            elif not self.ledger.record_review(item, decision, note):
                outcome = Outcome.UNCHANGED
            elif decision is Review.REROLL:
                again = Round(item.attempt + 1, (index,), Cause.REVIEW)
                self.jobs.send_round(self.job(campaign, job_id), again)
                outcome = Outcome.REROLLED
            else:
                outcome = Outcome.RECORDED
            decided.append(Decided(job_id, index, item.attempt, decision, outcome, note))
        return decided

    def job(self, campaign: str, job_id: str) -> Job:
        """The job as first run, kept by the worker before it made any image: a job with a
        delivered image always has it."""
        job = self.kept_jobs.get(campaign, job_id)
        if job is None:
            raise NothingDelivered(f"job {job_id} of campaign {campaign} was never run")
        return job

    def apply_upload(self, key: str, campaign: str, name: str) -> SheetOutcome:
        """A reviewed results sheet uploaded under campaigns/<campaign>/review/."""
        return self.apply_sheet(campaign, self.uploads.read(key), name)

    def apply_sheet(self, campaign: str, data: bytes, name: str = "results.csv") -> SheetOutcome:
        """Every row's decision of a results sheet placard wrote (CSV, or re-saved by a
        spreadsheet program as CSV or XLSX), read by column name. The reports of each upload
        a decision changed are asked to be rewritten, once per upload."""
        outcomes: Counter[Outcome] = Counter()
        errors: list[RowError] = []
        changed: set[tuple[str, str]] = set()  # (campaign, job id) with a decision recorded
        rows = 0
        try:
            for row in _decided_rows(data, name):
                rows += 1
                try:
                    for decided in self._apply_row(campaign, row):
                        outcomes[decided.outcome] += 1
                        if decided.outcome in (Outcome.RECORDED, Outcome.REROLLED):
                            changed.add((campaign, decided.job_id))
                except (InvalidInput, NothingDelivered) as exc:
                    column = exc.field if isinstance(exc, InvalidInput) else "images"
                    value = exc.value if isinstance(exc, InvalidInput) else ""
                    errors.append(RowError(row.number, column, str(value or ""), _reason(exc)))
        except SheetError as exc:
            errors.append(RowError(0, "", name, str(exc)))
        runs = {run for c, j in changed if (run := UploadRun.of(self.job(c, j)))}
        for run in sorted(runs, key=lambda r: (r.sheet, r.run)):
            self.reports.send(run)
        return SheetOutcome(name, rows, outcomes, tuple(errors), len(runs))

    def _apply_row(self, campaign: str, row: Row) -> list[Decided]:
        cells = row.cells
        decision = parse_decision(cells["decision"])
        note = cells.get("note", "").strip()
        check_note(decision, note)
        images = cells.get("images", "").split()
        if not images:
            raise InvalidInput("images", "names no image, so there is nothing to decide on", "")
        decided = []
        for uri in images:
            found, job_id, index, attempt = parse_image_key(uri)
            if found != campaign:
                raise InvalidInput(
                    "images", f"is an image of campaign {found}, not {campaign}", uri
                )
            decided += self.decide(campaign, job_id, decision, note, index, attempt)
        return decided


def _decided_rows(data: bytes, name: str) -> Iterator[Row]:
    """The rows whose `decision` cell is filled; a sheet without the column is refused."""
    column = False
    for row in read_rows(io.BytesIO(data), name):
        column = column or "decision" in row.cells
        if row.cells.get("decision", "").strip():
            yield row
    if not column:
        raise SheetError(
            f"{name}: no decision column; fill in the decision column of the results.csv "
            f"placard wrote ({DECISIONS}) and upload that"
        )


def _reason(exc: PlacardError) -> str:
    return exc.reason if isinstance(exc, InvalidInput) else str(exc)
