"""In-memory fakes of the ports (placard.domain.ports), for unit tests with no moto.

Each fake answers as its aws/ adapter does, conditional writes included: an asset is never
overwritten, a charged ledger item is final, a budget is taken from atomically and never past
its limit, a job record is kept from its first put. What is missing raises KeyError where S3 or
DynamoDB would raise. Every write holds a lock, since workers share the ports across threads.
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import IO, Any, Literal

from placard.domain.jobs import Job
from placard.domain.keys import job_images_prefix, job_lost_prefix
from placard.domain.ledger_items import LedgerItem, Status
from placard.domain.ports import JobRecord, kept_job_json
from placard.domain.progress import CampaignCounts, minute_of, window_start
from placard.domain.proofs import Proof, ReadLine, Review
from placard.domain.rounds import Round
from placard.domain.runs import UploadRun
from placard.domain.spend import Spend
from placard.domain.templates import default_catalogue
from placard.providers.base import (
    ImageRequest,
    ImageResult,
    ProviderRefused,
    ProviderUnavailable,
)
from placard.services.ingest import Ingest
from placard.sheets.reader import MAX_ROWS

# How the fake provider fails: permanently, transiently, or after sending (it may have billed).
Failure = Literal["", "refuse", "unavailable", "lost"]
PNG = b"\x89PNG\r\n\x1a\n fake image"  # what the fake provider answers: bytes, never decoded


@dataclass(frozen=True)
class Stored:
    data: bytes
    content_type: str
    metadata: dict[str, str]


class FakeAssets:
    """The assets bucket: images are written once (If-None-Match), reports may be rewritten."""

    def __init__(self, bucket: str = "assets") -> None:
        self.bucket = bucket
        self.objects: dict[str, Stored] = {}
        self._lock = threading.Lock()

    def put_new(self, key: str, data: bytes, content_type: str, metadata: dict[str, str]) -> bool:
        with self._lock:
            if key in self.objects:
                return False
            self.objects[key] = Stored(data, content_type, dict(metadata))
            return True

    def put_report(self, key: str, data: bytes, content_type: str) -> None:
        with self._lock:
            self.objects[key] = Stored(data, content_type, {})

    def put_report_file(self, key: str, path: Path, content_type: str) -> None:
        self.put_report(key, path.read_bytes(), content_type)

    def read(self, key: str) -> bytes:
        return self.objects[key].data

    def metadata(self, key: str) -> dict[str, str] | None:
        stored = self.objects.get(key)
        return None if stored is None else dict(stored.metadata)

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def link(self, key: str) -> str:
        return f"https://{self.bucket}.example/{key}?signed"


class FakeUploads:
    """The uploads bucket; `put` stands for the user's upload (metadata names in lower case,
    as S3 keeps them)."""

    def __init__(self) -> None:
        self.objects: dict[str, Stored] = {}

    def put(self, key: str, data: bytes, metadata: dict[str, str] | None = None) -> None:
        given = {name.lower(): value for name, value in (metadata or {}).items()}
        self.objects[key] = Stored(data, "application/octet-stream", given)

    def open(self, key: str) -> IO[bytes]:
        return io.BytesIO(self.objects[key].data)

    def read(self, key: str) -> bytes:
        return self.objects[key].data

    def exists(self, key: str) -> bool:
        return key in self.objects

    def metadata(self, key: str) -> dict[str, str]:
        return dict(self.objects[key].metadata)


class FakeLedger:
    """The ledger table: items kept as DynamoDB holds them (to_item, under their own key),
    read back in sort-key order."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], dict[str, Any]] = {}
        self._lock = threading.Lock()

    def job_items(self, campaign: str, job_id: str, lost: bool = False) -> list[LedgerItem]:
        # By its sort keys' prefix, as the adapter queries: a lost call is no image of the job.
        prefixes = (job_images_prefix(job_id), *([job_lost_prefix(job_id)] if lost else []))
        return [i for i in self.campaign_items(campaign) if i.key["sk"].startswith(prefixes)]

    def campaign_items(self, campaign: str) -> list[LedgerItem]:
        with self._lock:
            rows = [self.rows[key] for key in sorted(self.rows)]
        items = [LedgerItem.from_item(row) for row in rows]
        return [item for item in items if item.campaign == campaign]

    def each_campaign_item(self, campaign: str) -> Iterator[LedgerItem]:
        return iter(self.campaign_items(campaign))

    def reserve(self, items: Sequence[LedgerItem]) -> bool:
        # One conditional put per image, stopping at the first refused, as the adapter does.
        return all(self._put(item, lambda held: held != Status.CHARGED.value) for item in items)

    def save(self, item: LedgerItem) -> None:
        self._put(item, lambda held: held != Status.CHARGED.value)

    def settle(self, item: LedgerItem) -> bool:
        return self._put(item, lambda held: held == Status.RESERVED.value)

    def record_proof(self, item: LedgerItem, proof: Proof) -> None:
        self._update_charged(item, proof=proof.verdict.value, proof_fields=proof.to_json())

    def record_review(self, item: LedgerItem, review: Review, note: str) -> bool:
        return self._update_charged(item, review=review.value, review_note=note)

    def _update_charged(self, item: LedgerItem, **values: str) -> bool:
        """As the adapter's UpdateItem: a charged item only; False when nothing would change
        (the adapter's condition refuses the same decision twice)."""
        key = (item.key["pk"], item.key["sk"])
        with self._lock:
            held = self.rows.get(key)
            if held is None or held["status"] != Status.CHARGED.value:
                return False
            if all(held.get(name, "") == value for name, value in values.items()):
                return False
            self.rows[key] = {**held, **values}
            return True

    def _put(self, item: LedgerItem, over: Callable[[str], bool]) -> bool:
        """As the adapter's conditional put: where no item is, or over one whose status
        `over` allows."""
        row = item.to_item()
        key = (row["pk"], row["sk"])
        with self._lock:
            held = self.rows.get(key)
            if held is not None and not over(held["status"]):
                return False
            self.rows[key] = row
            return True


@dataclass
class Budget:
    limit: Decimal
    remaining: Decimal


class FakeBudgets:
    """Campaign budgets: taken from atomically, refused past the limit; a campaign without
    one always has room and holds nothing."""

    def __init__(self) -> None:
        self.budgets: dict[str, Budget] = {}
        self._lock = threading.Lock()

    def set_limit(self, campaign: str, limit: Decimal, spent: Decimal) -> None:
        with self._lock:
            budget = self.budgets.get(campaign)
            if budget is None:
                self.budgets[campaign] = Budget(limit, limit - spent)
            else:  # a new limit moves what remains by the difference
                budget.remaining += limit - budget.limit
                budget.limit = limit

    def take(self, campaign: str, amount: Decimal) -> Decimal | None:
        with self._lock:
            budget = self.budgets.get(campaign)
            if budget is None:
                return Decimal(0)
            if budget.remaining < amount:
                return None
            budget.remaining -= amount
            return amount

    def give_back(self, campaign: str, amount: Decimal) -> None:
        with self._lock:
            budget = self.budgets.get(campaign)
            if amount and budget is not None:
                budget.remaining += amount

    def limit(self, campaign: str) -> Decimal | None:
        budget = self.budgets.get(campaign)
        return budget.limit if budget else None

    def remaining(self, campaign: str) -> Decimal | None:
        budget = self.budgets.get(campaign)
        return budget.remaining if budget else None


class FakeJobQueue:
    """The jobs queue: each job as the JSON message SQS would carry, read back as a Job."""

    def __init__(self) -> None:
        self.bodies: list[str] = []
        self._lock = threading.Lock()

    def send(self, jobs: Iterable[Job], refused: Callable[[Job, str], None] | None = None) -> int:
        bodies = [job.to_json() for job in jobs]
        with self._lock:
            self.bodies += bodies
        return len(bodies)

    def send_round(self, job: Job, round_: Round) -> None:
        with self._lock:
            self.bodies.append(job.to_json(round=round_.to_dict()))

    @property
    def jobs(self) -> list[Job]:
        return [Job.from_dict(json.loads(body)) for body in self.bodies]

    @property
    def rounds(self) -> list[tuple[Job, Round]]:
        """Every message as the worker reads it: the job and its round (first when absent)."""
        messages = [json.loads(body) for body in self.bodies]
        return [(Job.from_dict(m), Round.from_dict(m.get("round"))) for m in messages]


class FakeProgress:
    """Each run's count of ended jobs against its total, each job counted once (its marker),
    and who claimed the reports, as DynamoProgress keeps them; updated atomically. The
    campaign's counters likewise (#17), its ends counted in the minute of `now`."""

    def __init__(self) -> None:
        self.ended: dict[UploadRun, int] = {}
        self.total: dict[UploadRun, int] = {}
        self.markers: set[tuple[UploadRun, str]] = set()
        self.reports_by: dict[UploadRun, str] = {}
        self.campaigns: dict[str, CampaignCounts] = {}
        self.now = datetime.now(UTC)
        self._lock = threading.Lock()

    def expect(self, run: UploadRun, jobs: int) -> bool:
        with self._lock:
            if run not in self.total:  # not a redelivery of the upload
                self._add(run.campaign, queued=jobs)
            self.total[run] = jobs
            self.ended.setdefault(run, 0)
        return self.claim_reports(run, "ingest")

    def job_started(self, job: Job) -> None:
        if UploadRun.of(job) is not None:
            with self._lock:
                self._add(job.campaign, started=1)

    def job_ended(self, run: UploadRun, job_id: str, state: str) -> bool:
        with self._lock:
            if (run, job_id) not in self.markers:
                self.markers.add((run, job_id))
                self.ended[run] = self.ended.get(run, 0) + 1
                self._add(run.campaign, ended={state: 1}, recent={minute_of(self.now): 1})
        return self.claim_reports(run, job_id)

    def charged(self, item: LedgerItem) -> None:
        with self._lock:
            self._add(item.campaign, spend=Spend.of([item]))

    def counts(self, campaign: str, now: datetime) -> CampaignCounts | None:
        found = self.campaigns.get(campaign)
        if found is None:
            return None
        since = window_start(now)
        return replace(found, recent={m: n for m, n in found.recent.items() if m >= since})

    def _add(
        self,
        campaign: str,
        queued: int = 0,
        started: int = 0,
        ended: dict[str, int] | None = None,
        recent: dict[str, int] | None = None,
        spend: Spend | None = None,
    ) -> None:
        was = self.campaigns.get(campaign, CampaignCounts())

        def plus(counts: Mapping[str, int], more: dict[str, int] | None) -> dict[str, int]:
            added = dict(counts)
            for key, n in (more or {}).items():
                added[key] = added.get(key, 0) + n
            return added

        self.campaigns[campaign] = CampaignCounts(
            queued=was.queued + queued,
            started=was.started + started,
            ended=plus(was.ended, ended),
            spend=was.spend + (spend or Spend()),
            recent=plus(was.recent, recent),
        )

    def has_ended(self, run: UploadRun, job_id: str) -> bool:
        return (run, job_id) in self.markers

    def claim_reports(self, run: UploadRun, claimant: str) -> bool:
        with self._lock:
            total = self.total.get(run)
            if total is None or self.ended.get(run, 0) < total:
                return False
            return self.reports_by.setdefault(run, claimant) == claimant


class FakeReportRequests:
    def __init__(self) -> None:
        self.sent: list[UploadRun] = []

    def send(self, run: UploadRun) -> None:
        self.sent.append(run)


class FakeCallbackRequests:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def send(self, job_id: str, url: str) -> None:
        self.sent.append((job_id, url))


class FakeProofRequests:
    """Each request as the proof function reads it; its region in `regions`."""

    def __init__(self) -> None:
        self.sent: list[tuple[Job, Round, list[tuple[int, str]], str, str]] = []
        self.regions: list[tuple[int, int, int, int] | None] = []

    def send(
        self,
        job: Job,
        round_: Round,
        originals: list[tuple[int, str]],
        status: str,
        reason: str,
        region: tuple[int, int, int, int] | None = None,
    ) -> None:
        self.sent.append((job, round_, list(originals), status, reason))
        self.regions.append(region)


class FakeDerivativeRequests:
    """Each request as the derivatives function reads it; `again` in `repeated`."""

    def __init__(self) -> None:
        self.sent: list[tuple[Job, list[tuple[int, str]], str, str]] = []
        self.repeated: list[bool] = []

    def send(
        self,
        job: Job,
        originals: list[tuple[int, str]],
        status: str,
        reason: str,
        again: bool = False,
    ) -> None:
        self.sent.append((job, list(originals), status, reason))
        self.repeated.append(again)


class FakeJobRecords:
    """One record per API job: the first put is kept; ending an unknown job raises."""

    def __init__(self) -> None:
        self.records: dict[str, JobRecord] = {}
        self._lock = threading.Lock()

    def put(self, record: JobRecord) -> None:
        with self._lock:
            self.records.setdefault(record.job_id, record)

    def get(self, job_id: str) -> JobRecord | None:
        return self.records.get(job_id)

    def end(self, job_id: str, state: str, reason: str) -> None:
        with self._lock:
            self.records[job_id] = replace(self.records[job_id], ended=state, reason=reason)


class FakeJobStore:
    """Each job as first kept, as its JSON (kept_job_json: too large a job is refused); a
    second keep changes nothing and says so."""

    def __init__(self) -> None:
        self.kept: dict[tuple[str, str], str] = {}
        self._lock = threading.Lock()

    def keep(self, job: Job) -> bool:
        text = kept_job_json(job)
        with self._lock:
            if (job.campaign, job.job_id) in self.kept:
                return False
            self.kept[job.campaign, job.job_id] = text
            return True

    def get(self, campaign: str, job_id: str) -> Job | None:
        text = self.kept.get((campaign, job_id))
        return None if text is None else Job.from_json(text)


class FakeReplayGuard:
    """As DynamoReplayGuard (no protocol in ports.py): a signature passes once, or again
    under the idempotency key it first came with."""

    def __init__(self) -> None:
        self.seen: dict[str, str | None] = {}
        self._lock = threading.Lock()

    def first_use(self, signature: str, idempotency_key: str | None = None) -> bool:
        with self._lock:
            if signature not in self.seen:
                self.seen[signature] = idempotency_key
                return True
            return idempotency_key is not None and self.seen[signature] == idempotency_key


@dataclass
class FakeProvider:
    """An image API that answers, or fails as told: `refuse` (permanent), `unavailable`
    (transient), `lost` (sent, answer never came: maybe billed). `fail_times` fails that many
    calls, then answers; `short_by` answers fewer images than asked. Counts its calls; each
    answer's bytes name their call, so a test can tell whose bytes were kept. `before_answer`
    runs inside each call (a test's barrier)."""

    name: str = "prospolabs"
    failure: Failure = ""
    fail_times: int = 1_000_000
    short_by: int = 0  # answers this many images fewer than asked
    before_answer: Callable[[], object] | None = None
    misspell_calls: frozenset[int] = frozenset()  # these calls draw their first word wrong
    requests: list[ImageRequest] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def calls(self) -> int:
        return len(self.requests)

    def create(self, request: ImageRequest) -> ImageResult:
        with self._lock:
            self.requests.append(request)
            call = len(self.requests)
            failing = bool(self.failure) and self.fail_times > 0
            if failing:
                self.fail_times -= 1
        if self.before_answer is not None:
            self.before_answer()
        if failing:
            raise self._error()
        drawn = [text for _, text in request.texts]
        if call in self.misspell_calls and drawn:
            drawn[0] = drawn[0][::-1]  # a word the reader will not take for the copy
        images = tuple(
            PNG + f" call {call} image {i}\n".encode() + "\n".join(drawn).encode()
            for i in range(request.n - self.short_by)
        )
        return ImageResult(images=images, model="fake-model", generation_id=f"gen-{call}")

    def _error(self) -> Exception:
        if self.failure == "refuse":
            return ProviderRefused("content policy: refused")
        if self.failure == "unavailable":
            return ProviderUnavailable("429 throttled")
        if self.failure == "lost":
            return ProviderUnavailable("no answer after sending: ReadTimeout", unknown_outcomes=1)
        raise AssertionError(f"not a failure: {self.failure!r}")


class FakeReader:
    """Reads back the lines FakeProvider drew into its bytes; `unreadable` texts are in a
    script it cannot read. Counts what it read, so a test sees what was read twice."""

    def __init__(self, unreadable: frozenset[str] = frozenset()) -> None:
        self.unreadable = unreadable
        self.read_count = 0

    def read(self, image: bytes) -> list[ReadLine]:
        self.read_count += 1
        _, _, drawn = image.partition(b"\n")
        lines = [line for line in drawn.decode().split("\n") if line]
        return [ReadLine(line, 0.99, (0, 40 * i, 400, 32)) for i, line in enumerate(lines)]

    def reads(self, text: str) -> bool:
        return text not in self.unreadable


@dataclass
class IngestFakes:
    """Ingest's ports, every one a fake; `service()` is ingest wired to them."""

    uploads: FakeUploads = field(default_factory=FakeUploads)
    assets: FakeAssets = field(default_factory=FakeAssets)
    queue: FakeJobQueue = field(default_factory=FakeJobQueue)
    ledger: FakeLedger = field(default_factory=FakeLedger)
    budgets: FakeBudgets = field(default_factory=FakeBudgets)
    progress: FakeProgress = field(default_factory=FakeProgress)
    reports: FakeReportRequests = field(default_factory=FakeReportRequests)

    def service(self, max_rows: int = MAX_ROWS) -> Ingest:
        return Ingest(
            catalogue=default_catalogue(),
            uploads=self.uploads,
            assets=self.assets,
            queue=self.queue,
            ledger=self.ledger,
            budgets=self.budgets,
            progress=self.progress,
            reports=self.reports,
            max_rows=max_rows,
        )
