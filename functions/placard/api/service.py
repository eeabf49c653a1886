"""What the HTTP API does, free of HTTP: plan, estimate, submit a job, report its status and a
campaign's costs. A request is checked by the same rules as a sheet's row."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from placard.api.models import (
    CampaignCosts,
    CampaignProgress,
    CostQuote,
    CostTotals,
    Estimate,
    ImageInfo,
    ImageReview,
    JobAccepted,
    JobRequest,
    JobStatus,
    ReviewReply,
    ReviewRequest,
)
from placard.domain.attempts import ImageAttempts, by_image
from placard.domain.errors import InvalidInput, PlacardError
from placard.domain.jobs import Job, Size
from placard.domain.ledger_items import LedgerItem, Status
from placard.domain.ports import (
    AssetStore,
    JobQueue,
    JobRecord,
    JobRecords,
    Ledger,
    Progress,
    UploadStore,
)
from placard.domain.pricing import Billable, PriceTable
from placard.domain.progress import progress as campaign_progress
from placard.domain.proofs import Review, Verdict
from placard.domain.spend import Spend
from placard.domain.statuses import JobState
from placard.domain.templates import Catalogue
from placard.services.reviews import NothingDelivered, Reviews
from placard.services.uploads import missing_files
from placard.sheets.reader import Row, RowError
from placard.sheets.rows import SheetDefaults, job_from_row


class ApiError(PlacardError):
    """An answer other than success, in the error shape of docs/design.md §4."""

    def __init__(
        self, status: int, code: str, message: str, details: Iterable[dict[str, Any]] = ()
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = list(details)


def _invalid(errors: Iterable[RowError]) -> ApiError:
    details = [{"field": e.column, "value": e.value, "reason": e.reason} for e in errors]
    summary = "; ".join(f"{d['field']}: {d['reason']}" for d in details)
    return ApiError(400, "invalid_request", summary, details)


@dataclass
class JobService:
    catalogue: Catalogue
    prices: PriceTable
    provider: str
    uploads: UploadStore
    assets: AssetStore
    queue: JobQueue
    ledger: Ledger
    records: JobRecords
    remaining_budget: Callable[[str], Decimal | None]
    check_callback: Callable[[str], None]
    clock: Callable[[], str]

    def plan(self, request: JobRequest) -> tuple[Job, Size]:
        """The job a request makes and the size it will be made at, or a 400 naming fields."""
        defaults = SheetDefaults(campaign=request.campaign, upload="api")
        parsed = job_from_row(Row(0, request.cells()), self.catalogue, defaults)
        errors = [] if isinstance(parsed, Job) else parsed
        if not any(error.column == "template" for error in errors):
            errors = [*errors, *self._unknown_variables(request)]
        if errors or not isinstance(parsed, Job):
            raise _invalid(errors)
        try:
            if missing := missing_files(parsed, self.uploads.exists):
                raise missing[0]  # one at a time, as the worker would find them
            size = parsed.size or self._source_size(parsed)
            self.prices[self.provider].check_size(size)
            if request.callback_url:
                self.check_callback(request.callback_url)
        except InvalidInput as exc:
            raise _invalid([RowError(0, exc.field, str(exc.value or ""), exc.reason)]) from exc
        return parsed, size

    def _unknown_variables(self, request: JobRequest) -> list[RowError]:
        """A variable the template does not declare would be dropped in silence: a typo in an
        optional variable's name must be told, not ignored."""
        template = self.catalogue[request.template.strip()]
        known = ", ".join(template.variables)
        return [
            RowError(0, name, value, f"is not a variable of {template.name}; it has {known}")
            for name, value in request.variables.items()
            if name not in template.variables
        ]

    def _source_size(self, job: Job) -> Size:
        from placard.imaging.edits import source_edit_size  # lazy: Pillow reads the header

        assert job.source_image is not None  # an edit without a size names its source
        return source_edit_size(self.uploads.read(job.source_image))

    def estimate(self, request: JobRequest) -> Estimate:
        job, size = self.plan(request)
        return Estimate(
            provider=self.provider,
            images=job.n,
            size=str(size),
            quality=job.quality.value,
            **self._cost(job, size).model_dump(),
        )

    def _cost(self, job: Job, size: Size) -> CostQuote:
        """The job's quote, whether it is exact or approximate, and what the worker will
        reserve for it: the bound a budget must have room for (SPEC §6)."""
        template = self.catalogue[job.template]
        call = Billable.of(job, size, template.render(template.values(job.variables)))
        prices = self.prices[self.provider]
        quote = prices.quote(*call)
        return CostQuote(
            estimated_cost_usd=quote.usd,
            exact=quote.exact,
            approximate=quote.approximate,
            reserved_usd=prices.reservation(
                call.quality, size, call.n, call.prompt, len(call.input_images)
            ),
        )

    def submit(self, request: JobRequest) -> JobAccepted:
        """Queue the job; the same request always names the same job, which runs once."""
        job, size = self.plan(request)
        cost = self._cost(job, size)
        remaining = self.remaining_budget(job.campaign)
        if remaining is not None and cost.reserved_usd > remaining:
            raise ApiError(
                402,
                "budget_exceeded",
                f"the job needs {cost.reserved_usd} USD reserved (estimated cost "
                f"{cost.estimated_cost_usd}); campaign {job.campaign} has {remaining} left",
            )
        origin: dict[str, Any] = {"api": True}
        if remaining is not None:
            origin["budget"] = True
        if request.callback_url:
            origin["callback_url"] = request.callback_url
        if request.rerolls is not None:
            origin["rerolls"] = request.rerolls  # the proof function's policy for this job
        job = replace(job, origin=origin)
        self.records.put(JobRecord(job_id=job.job_id, campaign=job.campaign, template=job.template,
                                   n=job.n, created_at=self.clock()))  # fmt: skip
        self.queue.send([job])
        return JobAccepted(
            job_id=job.job_id,
            status=JobState.QUEUED,
            status_url=f"/v1/jobs/{job.job_id}",
            **cost.model_dump(),
        )

    def status(self, job_id: str) -> JobStatus:
        record = self._record(job_id)
        items = self.ledger.job_items(record.campaign, job_id, lost=True)  # the cost counts them
        images = sorted(by_image(items), key=lambda i: i.index)
        infos = [self._image(image) for image in images if image.delivered is not None]
        if record.ended:
            state = JobState(record.ended)
        else:  # not ended: running once its first image is reserved
            state = JobState.RUNNING if items else JobState.QUEUED
        return JobStatus(
            job_id=job_id,
            campaign=record.campaign,
            template=record.template,
            status=state,
            images_requested=record.n,
            images=infos,
            cost_usd=sum((i.cost_usd for i in images), Decimal(0)),
            reason=record.reason or None,
        )

    def _record(self, job_id: str) -> JobRecord:
        record = self.records.get(job_id)
        if record is None:
            raise ApiError(404, "not_found", f"no job {job_id}")
        return record

    def _image(self, image: ImageAttempts) -> ImageInfo:
        item = image.delivered
        assert item is not None  # only delivered images are shown
        proof = item.proved
        return ImageInfo(
            index=image.index,
            s3_uri=self.assets.uri(item.s3_key),
            url=self.assets.link(item.s3_key),
            sha256=item.sha256,
            cost_usd=image.cost_usd,
            attempt=item.attempt,
            attempts=image.attempts,
            proof=proof.verdict if proof else Verdict.UNCHECKED,
            proof_detail=proof.detail if proof else "",
            review=item.review_state,
            review_note=item.review_note,
        )

    def review(self, job_id: str, request: ReviewRequest, reviews: Reviews) -> ReviewReply:
        """A person's decision on the job's delivered images: 404 for a job the API does not
        know, 400 for a decision that cannot apply, 409 while nothing is delivered yet."""
        record = self._record(job_id)
        try:
            decided = reviews.decide(
                record.campaign, job_id, Review(request.decision), request.note, request.image
            )
        except InvalidInput as exc:
            raise _invalid([RowError(0, exc.field, str(exc.value or ""), exc.reason)]) from exc
        except NothingDelivered as exc:
            raise ApiError(409, "not_delivered", str(exc)) from exc
        return ReviewReply(
            job_id=job_id,
            images=[
                ImageReview(
                    index=d.index,
                    attempt=d.attempt,
                    review=d.review,
                    outcome=d.outcome.value,
                    message=d.said,
                )
                for d in decided
            ],
        )

    def progress(self, campaign: str, counters: Progress) -> CampaignProgress:
        """Queued, running, ended by status, spent and the time left, from the campaign's
        counters: one query, however many rows it has (domain/progress.py)."""
        now = datetime.fromisoformat(self.clock())
        counts = counters.counts(campaign, now)
        if counts is None:
            raise ApiError(404, "not_found", f"no jobs recorded for campaign {campaign}")
        found = campaign_progress(counts, now)
        return CampaignProgress(
            campaign=campaign,
            jobs=found.total,
            queued=found.queued,
            running=found.running,
            ended=found.ended,
            spent_usd=found.spend.cost_usd,
            images_charged=found.spend.images_charged,
            rate_per_minute=found.rate_per_minute,
            seconds_left=found.seconds_left,
            estimate_reason=found.why_no_estimate or None,
        )

    def costs(self, campaign: str) -> CampaignCosts:
        items = self.ledger.campaign_items(campaign)
        if not items:
            raise ApiError(404, "not_found", f"no costs recorded for campaign {campaign}")
        return campaign_costs(campaign, items)


def campaign_costs(campaign: str, items: Iterable[LedgerItem]) -> CampaignCosts:
    """Totals by quality, provider and day (UTC, by when the image was asked for): what was
    charged beside what placard estimated it would cost, and the drift between them."""
    groups: dict[str, dict[str, list[LedgerItem]]] = {
        "quality": defaultdict(list),
        "provider": defaultdict(list),
        "day": defaultdict(list),
    }
    every = list(items)
    for item in every:
        keys = {"quality": item.quality, "provider": item.provider, "day": item.created_at[:10]}
        for group, found in groups.items():
            found[keys[group]].append(item)
    return CampaignCosts(
        campaign=campaign,
        total=_totals(every),
        by_quality={k: _totals(v) for k, v in groups["quality"].items()},
        by_provider={k: _totals(v) for k, v in groups["provider"].items()},
        by_day={k: _totals(v) for k, v in sorted(groups["day"].items())},
    )


def _totals(items: list[LedgerItem]) -> CostTotals:
    spend = Spend.of(items)
    held = [i for i in items if i.held]
    return CostTotals(
        images_charged=spend.images_charged,
        images_refunded=sum(i.status is Status.REFUNDED for i in items),
        cost_usd=spend.cost_usd,
        estimate_usd=spend.estimate_usd,
        drift_usd=spend.drift_usd,
        images_estimated=spend.images_estimated,
        overshoot_usd=spend.overshoot_usd,
        calls_held=len(held),
        held_usd=sum((i.cost_usd for i in held), Decimal(0)),
    )
