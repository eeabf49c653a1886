"""What a crash left behind, put right on a schedule (docs/design.md, "The reconciler").

- A reservation still `reserved` after the worker's timeout: its image stored -> charged (the
  sha256 of the stored object); its request never sent -> released (refunded, costs nothing);
  sent and not stored -> reported, kept as it is (the provider may have billed it), on every
  run until a person settles it from the bill (services/settle.py, `placard settle`).
- A job whose message sits in a dead-letter queue, not yet ended -> ended `failed` with its
  reason, by the same path as the worker's last receive, once; a round whose read-back died
  -> its images delivered unchecked, saying the read-back did not run, once.
- A sheet whose ingest failed every try (Lambda's failure record in the ingest dead-letter
  queue) -> its errors.csv says ingest failed and why, and its reports are asked for, once.
- A report request that failed every delivery -> asked for once more (reports are
  idempotent); a callback that did -> listed, left for a redrive once its receiver answers.
- An upload whose count is complete and whose reports nobody asked for -> its reports.
- A campaign's progress counters that lost a count (a stop between a write and its count)
  -> recounted from the ledger table once the campaign is quiet (domain/progress.py).

Dead letters are only read: each stays in its queue for a redrive (`placard redrive`), or a
person.

Every step looks before it writes, so a second run changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol
from urllib.parse import unquote_plus

from placard.domain.errors import InvalidInput
from placard.domain.jobs import Job, parse_campaign
from placard.domain.keys import image_key, parse_upload_key
from placard.domain.ledger_items import LedgerItem, Status
from placard.domain.ports import (
    AssetStore,
    Budgets,
    JobRecords,
    JobStore,
    Ledger,
    ProofRequests,
    ReportRequests,
)
from placard.domain.proofs import FieldProof, Proof, Verdict
from placard.domain.rounds import Round
from placard.domain.runs import UploadRun
from placard.domain.templates import Catalogue, default_catalogue
from placard.services.endings import JobEndings
from placard.services.pipeline import EXTENSIONS_TRIED, SENT, settle_from_object
from placard.services.settle import call_id

JOB_QUEUES = ("jobs", "proofs", "derivatives")  # dead letters that carry a job
RECONCILER = "reconciler"  # who claimed a run's reports, when it was this
NEVER_SENT = "released by the reconciler: its delivery stopped before the provider was called"
UNKNOWN = "outcome unknown: sent to the provider, no image stored"
UNREAD = "the read-back did not run"


class Stranded(Protocol):
    """What is left in the ledger table, found by scanning it."""

    def reserved_before(self, cutoff: str) -> list[LedgerItem]:
        """Every image attempt still `reserved` whose last write is older than `cutoff`."""

    def unreported_runs(self) -> list[UploadRun]:
        """Uploads whose every job has ended and whose reports nobody has claimed."""


class StoredObjects(Protocol):
    def sha256(self, key: str) -> str | None:
        """The sha256 of the object at `key` in the assets bucket; None when nothing is."""


@dataclass(frozen=True)
class DeadLetter:
    queue: str  # which function's queue it died in: "jobs", "proofs", "ingest", ...
    body: dict[str, Any]
    receives: int


class DeadLetters(Protocol):
    def peek(self) -> list[DeadLetter]:
        """Every message in the dead-letter queues, left there (redrive sends them back)."""


class DeadLetterMarks(Protocol):
    def marked(self, job_id: str, attempt: int) -> bool: ...

    def mark(self, job_id: str, attempt: int, reason: str) -> None:
        """The round's dead letter has been ended; kept so a second run leaves it be."""

    def run_marked(self, queue: str, run: UploadRun) -> bool: ...

    def mark_run(self, queue: str, run: UploadRun, reason: str) -> None:
        """The upload's dead letter from `queue` has been acted on; kept, as `mark`."""


class ReportClaims(Protocol):
    def has_ended(self, run: UploadRun, job_id: str) -> bool: ...

    def claim_reports(self, run: UploadRun, claimant: str) -> bool: ...


class CounterChecks(Protocol):
    """The campaigns' progress counters against their ledger (aws/progress.py)."""

    def written_since_check(self) -> dict[str, tuple[str, str]] | None:
        """Each campaign with a counted write since `checked`: (its first, its last); None
        when it is not yet time to look again (aws/progress.py: SCAN_EVERY)."""

    def recount(self, campaign: str, cutoff: str) -> dict[str, Decimal] | None:
        """The counters set to what the ledger says ({}: they agreed); None while a write
        at or after `cutoff` shows the campaign at work (nothing changed)."""

    def checked(self, upto: str) -> None: ...


class RunsAndCounters(ReportClaims, CounterChecks, Protocol):
    """The progress adapter, as the reconciler uses it."""


@dataclass(frozen=True)
class Unsettled:
    campaign: str
    call: str  # services/settle.py call_id: what `placard settle` takes
    reason: str

    def __str__(self) -> str:
        return f"{self.campaign} call {self.call}: {self.reason}"


@dataclass
class Reconciled:
    """What one run did; a second run right after it reports only `unknown` again."""

    charged: list[str] = field(default_factory=list)  # the stored keys
    released: list[str] = field(default_factory=list)  # "<job>#<image>#<attempt>"
    unknown: list[Unsettled] = field(default_factory=list)  # left, with their reason
    ended: list[str] = field(default_factory=list)  # job ids ended from a dead letter
    unchecked: list[str] = field(default_factory=list)  # job ids whose round goes on unread
    ingests: list[str] = field(default_factory=list)  # sheets whose failed ingest was told
    reports: list[UploadRun] = field(default_factory=list)  # asked for, new or once more
    left: list[str] = field(default_factory=list)  # dead letters for a redrive or a person
    recounted: list[str] = field(default_factory=list)  # campaigns whose counters were set

    @property
    def changed(self) -> int:
        return (
            len(self.charged) + len(self.released) + len(self.ended) + len(self.unchecked)
            + len(self.ingests) + len(self.reports) + len(self.recounted)
        )  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        return {
            "charged": self.charged,
            "released": self.released,
            "unknown": [str(u) for u in self.unknown],
            "ended": self.ended,
            "unchecked": self.unchecked,
            "ingests": self.ingests,
            "reports": [run.to_dict() for run in self.reports],
            "left": self.left,
            "recounted": self.recounted,
        }


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Reconciler:
    ledger: Ledger
    stranded: Stranded
    objects: StoredObjects
    assets: AssetStore
    kept_jobs: JobStore
    budgets: Budgets
    dead_letters: DeadLetters
    marks: DeadLetterMarks
    progress: RunsAndCounters
    records: JobRecords
    endings: JobEndings
    proof_requests: ProofRequests
    reports: ReportRequests
    after_seconds: float  # the worker's timeout: no delivery is still at work past it
    now: Callable[[], datetime] = field(default=utc_now)
    catalogue: Catalogue = field(default_factory=default_catalogue)  # an unread round's fields

    def run(self) -> Reconciled:
        done = Reconciled()
        self.settle(done)
        for letter in self.dead_letters.peek():
            try:
                self.act_on(letter, done)
            except Exception as exc:  # one letter that cannot be acted on stops no other
                done.left.append(f"{letter.queue} queue: not acted on ({type(exc).__name__}: "
                                 f"{exc}); the next run tries again")  # fmt: skip
        self.report(done)
        self.recount(done)  # last: what this run settled and ended is counted by then
        return done

    def act_on(self, letter: DeadLetter, done: Reconciled) -> None:
        if letter.queue in JOB_QUEUES:
            self.end_dead_letter(letter, done)
        elif letter.queue == "ingest":
            self.tell_failed_ingest(letter, done)
        elif letter.queue == "reports":
            self.report_again(letter, done)
        elif letter.queue == "callbacks":
            said = letter.body.get("job_id") or "a message naming no job"
            done.left.append(f"callbacks queue: job {said}: its callback failed every "
                             "delivery; redrive once its receiver answers")  # fmt: skip

    # Reservations.

    def settle(self, done: Reconciled) -> None:
        now = self.now()
        cutoff = (now - timedelta(seconds=self.after_seconds)).isoformat(timespec="milliseconds")
        stamp = now.isoformat(timespec="milliseconds")
        for item in self.stranded.reserved_before(cutoff):
            # A call set aside as unknown: the image its job stored since is another call's.
            stored = None if item.lost else self._stored(item)
            if stored is not None:
                key, sha256 = stored
                self._charge(item, key, sha256, stamp)
                done.charged.append(key)
            elif not item.reason and not item.unknown_outcomes:
                # The budget is not given back: whether it was taken is not known, and a
                # budget holding a little too much is never exceeded (invariant 3).
                self.ledger.save(
                    item.but(status=Status.REFUNDED, cost_usd=Decimal(0), reason=NEVER_SENT,
                             updated_at=stamp)
                )  # fmt: skip
                done.released.append(f"{item.job_id}#{item.image_index}#{item.attempt}")
            else:
                said = item.reason if item.reason != SENT else UNKNOWN
                done.unknown.append(Unsettled(item.campaign, call_id(item), said))

    def _stored(self, item: LedgerItem) -> tuple[str, str] | None:
        for extension in EXTENSIONS_TRIED:
            key = image_key(
                item.campaign, item.job_id, item.image_index, extension, attempt=item.attempt
            )
            sha256 = self.objects.sha256(key)
            if sha256 is not None:
                return key, sha256
        return None

    def _charge(self, item: LedgerItem, key: str, sha256: str, stamp: str) -> None:
        """Charged as a redelivery charges it (settle_from_object: what the stored object's
        metadata says it cost); the budget gets back what the charge leaves."""
        charged = settle_from_object(item, key, sha256, self.assets.metadata(key) or {}, stamp)
        cost = charged.cost_usd
        self.ledger.save(charged)
        # A stored image was answered, so its reservation was taken from the budget.
        job = self.kept_jobs.get(item.campaign, item.job_id)
        if job is not None and job.origin.get("budget"):
            self.budgets.give_back(item.campaign, item.cost_usd - cost)

    # Dead letters.

    def end_dead_letter(self, letter: DeadLetter, done: Reconciled) -> None:
        job, round_, why = self._read(letter)
        if job is None:
            done.left.append(f"{letter.queue} queue: a message naming no job it can read")
            return
        if self.marks.marked(job.job_id, round_.attempt):
            return
        if self._has_ended(job):
            self.marks.mark(job.job_id, round_.attempt, "ended before")
            return
        reason = f"gave up after every retry ({letter.queue} queue, {letter.receives} " \
                 f"deliveries): {why or self._last_reason(job, round_)}"  # fmt: skip
        if letter.queue == "proofs":
            self._deliver_unread(job, round_, letter.body, reason)
            self.marks.mark(job.job_id, round_.attempt, reason)
            done.unchecked.append(job.job_id)
            return
        if letter.queue == "jobs" and round_.attempt > 1:
            # A re-roll: the images of earlier rounds are delivered (as the worker does).
            self.proof_requests.send(job, round_, [], "failed", reason)
        else:
            self.endings.ended(job, "failed", reason)
        self.marks.mark(job.job_id, round_.attempt, reason)
        done.ended.append(job.job_id)

    @staticmethod
    def _read(letter: DeadLetter) -> tuple[Job | None, Round, str]:
        body = letter.body
        try:
            if letter.queue == "jobs":
                return Job.from_dict(body), Round.from_dict(body.get("round")), ""
            job = Job.from_dict(body["job"])
        except (KeyError, TypeError, ValueError):
            return None, Round(), ""
        what = "its images could not be read back" if letter.queue == "proofs" else (
            "its review copies could not be made"
        )  # fmt: skip
        return job, Round.from_dict(body.get("round")), what

    def _deliver_unread(
        self, job: Job, round_: Round, request: dict[str, Any], reason: str
    ) -> None:
        """The round's images were made and charged; only reading them back failed. Each is
        given the proof the proof function gives an image no reader can open (every field
        unchecked, saying why), and the round goes back to the proof function: it finds
        every image proved, reads nothing, and finishes the job with its images."""
        template = self.catalogue[job.template]
        fields = template.texts(template.values(job.variables))
        why = (f"{UNREAD}: {reason}",)
        unread = Proof.of([FieldProof(n, t, Verdict.UNCHECKED, problems=why) for n, t in fields])
        for item in self.ledger.job_items(job.campaign, job.job_id):
            if item.attempt == round_.attempt and item.status is Status.CHARGED and not item.proof:
                self.ledger.record_proof(item, unread)
        originals = [(int(index), str(key)) for index, key in request.get("originals") or []]
        region = request.get("region")
        self.proof_requests.send(
            job, round_, originals, str(request.get("status", "succeeded")),
            str(request.get("reason", "")), tuple(region) if region else None,
        )  # fmt: skip

    def _has_ended(self, job: Job) -> bool:
        if job.origin.get("api"):
            record = self.records.get(job.job_id)
            return record is None or bool(record.ended)
        run = UploadRun.of(job)
        return run is None or self.progress.has_ended(run, job.job_id)

    def _last_reason(self, job: Job, round_: Round) -> str:
        items = self.ledger.job_items(job.campaign, job.job_id)
        said = [i.reason for i in items if i.attempt == round_.attempt and i.reason]
        return said[-1] if said else "the function stopped before it could say why"

    # Uploads: a failed ingest, a report request that died.

    def tell_failed_ingest(self, letter: DeadLetter, done: Reconciled) -> None:
        """Each sheet the failed S3 event named gets an errors.csv whose first line says
        ingest failed and why, where ingest writes it, and its reports (the same line first)."""
        # Lazy: the sheet reader's module is most of a cold import, for a rare letter.
        from placard.reporting.csv_reports import errors_report
        from placard.sheets.reader import RowError

        failed = failed_ingest(letter.body)
        if failed is None:
            done.left.append("ingest queue: a message that is not a failed S3 event")
            return
        runs, why = failed
        for run in runs:
            if isinstance(run, str):  # not a sheet: a review, or a key outside campaigns/
                done.left.append(f"ingest queue: {run}: {why}")
                continue
            if self.marks.run_marked("ingest", run):
                continue
            name = run.sheet.rpartition("/")[2]
            said = RowError(
                0, "", name, f"ingest failed ({why}), so its rows may not all have been "
                "queued: upload the sheet again once the cause is fixed",
            )  # fmt: skip
            self.assets.put_report(
                run.reports_prefix + "errors.csv",
                errors_report([said]).to_bytes(),
                "text/csv; charset=utf-8",
            )
            self.reports.send(run)
            self.marks.mark_run("ingest", run, why)
            done.ingests.append(run.sheet)

    def report_again(self, letter: DeadLetter, done: Reconciled) -> None:
        """A report request that failed every delivery is asked for once more: reports are
        written whole each time, so a second writing is safe. Once: if it dies again, it
        waits in the queue for a redrive."""
        try:
            run = UploadRun.from_dict(letter.body)
        except (KeyError, TypeError):
            done.left.append("reports queue: a message naming no upload")
            return
        if self.marks.run_marked("reports", run):
            done.left.append(f"reports queue: {run.sheet} (run {run.run}): asked for once "
                             "more already; the message stays for a redrive")  # fmt: skip
            return
        self.reports.send(run)
        self.marks.mark_run("reports", run, f"asked again ({letter.receives} deliveries)")
        done.reports.append(run)

    # Reports.

    def report(self, done: Reconciled) -> None:
        for run in self.stranded.unreported_runs():
            if self.progress.claim_reports(run, RECONCILER):
                self.reports.send(run)
                done.reports.append(run)

    # Progress counters.

    def recount(self, done: Reconciled) -> None:
        """Each campaign written since the last check is recounted once no delivery can still
        be at work on it (its last write older than the worker's timeout); one still at work
        waits for a later run, and the check moves up only to its first write."""
        cutoff = (self.now() - timedelta(seconds=self.after_seconds)).isoformat(
            timespec="milliseconds"
        )
        upto = cutoff
        written = self.progress.written_since_check()
        if written is None:
            return
        for campaign, (first, last) in sorted(written.items()):
            changes = self.progress.recount(campaign, cutoff) if last < cutoff else None
            if changes is None:
                upto = min(upto, first)
            elif changes:
                done.recounted.append(campaign)
        self.progress.checked(upto)


def failed_ingest(record: dict[str, Any]) -> tuple[list[UploadRun | str], str] | None:
    """What Lambda's failure record of an S3-invoked ingest names: each sheet's run (the
    object's key and sequencer), or the key when it is no sheet's, and why it failed."""
    payload, context = record.get("requestPayload"), record.get("requestContext") or {}
    if not isinstance(payload, dict) or not isinstance(payload.get("Records"), list):
        return None
    answer = record.get("responsePayload") or {}
    error = answer.get("errorMessage") if isinstance(answer, dict) else None
    kind = answer.get("errorType") if isinstance(answer, dict) else None
    tries = context.get("approximateInvokeCount")
    why = f"{kind}: {error}" if kind and error else str(error or kind or "no error was given")
    if context.get("condition") == "EventAgeExceeded":
        why = "the event grew too old before ingest could take it"
    if tries:
        why += f", after {tries} tries"
    runs: list[UploadRun | str] = []
    for s3_record in payload["Records"]:
        s3_object = (s3_record.get("s3") or {}).get("object") or {}
        key = unquote_plus(str(s3_object.get("key", "")))
        try:
            campaign, _ = parse_upload_key(key)
            runs.append(UploadRun(parse_campaign(campaign), key, str(s3_object["sequencer"])))
        except (InvalidInput, KeyError):
            runs.append(key)
    return runs, why


def dead_letter_bodies(queue: str, bodies: Iterable[tuple[str, int]]) -> list[DeadLetter]:
    """Messages as SQS hands them (body, receive count), as DeadLetters; a body that is not
    JSON is kept as an empty one (it names no job, so it is left for a person)."""
    letters = []
    for text, receives in bodies:
        try:
            body = json.loads(text)
        except ValueError:
            body = {}
        letters.append(DeadLetter(queue, body if isinstance(body, dict) else {}, receives))
    return letters
