"""What the domain needs from storage, named by what it does. The aws/ adapters provide it."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import IO, Protocol

from placard.domain.errors import InvalidInput
from placard.domain.jobs import Job
from placard.domain.ledger_items import LedgerItem
from placard.domain.progress import CampaignCounts
from placard.domain.proofs import Proof, ReadLine, Region, Review
from placard.domain.rounds import Round
from placard.domain.runs import UploadRun


class AssetStore(Protocol):
    def put_new(self, key: str, data: bytes, content_type: str, metadata: dict[str, str]) -> bool:
        """Store unless the key exists; never overwrite. True when this call stored it."""

    def put_report(self, key: str, data: bytes, content_type: str) -> None: ...

    def put_report_file(self, key: str, path: Path, content_type: str) -> None:
        """Store a report from a file, in parts when large (never read into memory whole)."""

    def read(self, key: str) -> bytes: ...

    def metadata(self, key: str) -> dict[str, str] | None:
        """The user metadata stored with the object (names in lower case); None when none is."""

    def uri(self, key: str) -> str: ...

    def link(self, key: str) -> str:
        """An address a browser can open (a presigned URL on S3)."""


class UploadStore(Protocol):
    def open(self, key: str) -> IO[bytes]:
        """The upload's bytes as a seekable file (spooled to disk when large)."""

    def read(self, key: str) -> bytes: ...

    def exists(self, key: str) -> bool: ...

    def metadata(self, key: str) -> dict[str, str]:
        """The user metadata the file was uploaded with."""


class JobQueue(Protocol):
    def send(self, jobs: Iterable[Job], refused: Callable[[Job, str], None] | None = None) -> int:
        """Queue jobs in batches; returns how many were sent. A job the queue will not take,
        after its retries, goes to `refused` with the reason (raised when there is none)."""

    def send_round(self, job: Job, round_: Round) -> None:
        """Queue a re-roll: the job again, for the round's images and attempt."""


class ProofRequests(Protocol):
    def send(
        self,
        job: Job,
        round_: Round,
        originals: list[tuple[int, str]],
        status: str,
        reason: str,
        region: Region | None = None,
    ) -> None:
        """Ask for a round's stored images (index, key) to be read back; `status` and
        `reason` are the worker's outcome; `region` (x, y, w, h) is an edit's area, where
        its new words must be."""


class DerivativeRequests(Protocol):
    def send(
        self,
        job: Job,
        originals: list[tuple[int, str]],
        status: str,
        reason: str,
        again: bool = False,
    ) -> None:
        """Ask for the delivered images' review copies, after which the job ends as `status`;
        `again`: it had ended before (a person's re-roll), so its reports are written anew."""


class Ledger(Protocol):
    def job_items(self, campaign: str, job_id: str, lost: bool = False) -> list[LedgerItem]:
        """The job's image attempts; `lost`: and its calls of unknown outcome set aside (no
        image; charged once settled from the bill), for what the job cost: a report's row,
        the API's job."""

    def reserve(self, items: Sequence[LedgerItem]) -> bool:
        """Reserve atomically; False when another delivery already charged any of them."""

    def save(self, item: LedgerItem) -> None: ...

    def settle(self, item: LedgerItem) -> bool:
        """Write a settled item (charged, refunded) where its reservation is, or where no item
        is; False, writing nothing, when that item is settled already (by another)."""

    def campaign_items(self, campaign: str) -> list[LedgerItem]: ...

    def each_campaign_item(self, campaign: str) -> Iterator[LedgerItem]:
        """campaign_items a query page at a time, in key order: nothing holds them all."""

    def record_proof(self, item: LedgerItem, proof: Proof) -> None:
        """Write a charged item's proof (its verdict and fields); the same proof again is a
        no-op, and nothing else of the item changes."""

    def record_review(self, item: LedgerItem, review: Review, note: str) -> bool:
        """Write a person's decision on a charged item; False when the item already holds
        this very decision (so a sheet applied twice re-rolls once)."""


class JobStore(Protocol):
    """Each job as its first delivery ran it, kept for good: a re-roll asked for days later
    (a person's review) and the reconciler are made from it."""

    def keep(self, job: Job) -> bool:
        """Keep the job unless it is kept already (never overwritten); True when this call
        kept it, which tells a job's first delivery from a redelivery. InvalidInput naming
        `variables` when the job is too large to keep (kept_job_json)."""

    def get(self, campaign: str, job_id: str) -> Job | None:
        """The job as kept; None when it never was."""


# DynamoDB refuses an item over 400 KB (attribute names and values counted); a kept job's
# item is its key (under 120 bytes) and this JSON.
KEPT_JOB_BYTES = 400_000


def kept_job_json(job: Job) -> str:
    """The job as a store keeps it: compact JSON, its own id left out (the key holds it).
    The API and sheets bound a variable only by its template's max_length, so a job can be
    too large to keep: refused here, naming the field, before any money is at stake."""
    text = json.dumps(job.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    size = len(text.encode())
    if size > KEPT_JOB_BYTES:
        raise InvalidInput(
            "variables",
            f"too long: the job is {size:,} bytes as JSON, and at most {KEPT_JOB_BYTES:,} "
            "can be kept for its re-rolls",
        )
    return text


class Budgets(Protocol):
    def set_limit(self, campaign: str, limit: Decimal, spent: Decimal) -> None:
        """Give the campaign a budget, of which `spent` is already gone."""

    def take(self, campaign: str, amount: Decimal) -> Decimal | None:
        """Reserve atomically; what is now held (nothing for a campaign without a budget),
        or None when the campaign's budget would be exceeded."""

    def give_back(self, campaign: str, amount: Decimal) -> None: ...

    def limit(self, campaign: str) -> Decimal | None:
        """The campaign's budget; None when it has none."""


class Progress(Protocol):
    def expect(self, run: UploadRun, jobs: int) -> bool:
        """Every job of the run is queued; True when they have all ended already."""

    def job_started(self, job: Job) -> None:
        """A sheet's job reached the worker for the first time (the campaign's `started`)."""

    def job_ended(self, run: UploadRun, job_id: str, state: str) -> bool:
        """True for the job whose end is the run's last; a job is counted once however often
        it ends, and the last keeps its True on a redelivery (its reports may not have been
        asked for yet). `state` (a JobState) is counted in the campaign's ends by status."""

    def counts(self, campaign: str, now: datetime) -> CampaignCounts | None:
        """The campaign's counters and its recent minutes' ends; None when it has none."""

    def has_ended(self, run: UploadRun, job_id: str) -> bool:
        """Whether the job's end has been counted."""


class ReportRequests(Protocol):
    def send(self, run: UploadRun) -> None:
        """Ask for the run's reports to be written."""


@dataclass(frozen=True)
class JobRecord:
    """A job asked for through the API: where to find it, and how it ended."""

    job_id: str
    campaign: str
    template: str
    n: int
    created_at: str
    ended: str = ""  # succeeded, failed or over_budget once the job has ended
    reason: str = ""


class JobRecords(Protocol):
    def put(self, record: JobRecord) -> None:
        """Record a job (again: the same job asked twice is one record)."""

    def get(self, job_id: str) -> JobRecord | None: ...

    def end(self, job_id: str, state: str, reason: str) -> None: ...


class CallbackRequests(Protocol):
    def send(self, job_id: str, url: str) -> None:
        """Ask for the job's callback to be delivered."""


class ImageReader(Protocol):
    """Reads an image's words back (docs/design.md §7); the OCR engine lives behind it."""

    def read(self, image: bytes) -> list[ReadLine]:
        """Every line of text found in the image (PNG, JPEG or WebP bytes), top to bottom."""

    def reads(self, text: str) -> bool:
        """Whether this text is in a script the reader can read; when it is not, the field is
        `unchecked`, never `fail`."""
