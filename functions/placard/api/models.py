"""The HTTP API's bodies (docs/design.md §4). The OpenAPI document is generated from these
models."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from placard.domain.proofs import MAX_REROLLS, Review, Verdict
from placard.domain.statuses import JobState

Quality = Literal["low", "medium", "high"]


class JobRequest(BaseModel):
    """One job: a template filled with variables, like one row of a sheet."""

    # Strict: JSON's true is not the number 1, nor 7 the string "7".
    model_config = ConfigDict(extra="forbid", strict=True)

    campaign: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
    template: str = Field(min_length=1, max_length=100)
    variables: dict[str, str] = Field(default_factory=dict, max_length=50)
    quality: Quality | None = None
    size: str | None = Field(default=None, pattern=r"^\d{2,5}x\d{2,5}$")
    n: int | None = Field(default=None, ge=1, le=10)
    source_image: str | None = Field(
        default=None, max_length=500, description="edits: a file under campaigns/<campaign>/"
    )
    mask: str | None = Field(default=None, max_length=500)
    mask_box: str | None = Field(default=None, pattern=r"^\d+,\d+,\d+,\d+$")
    callback_url: str | None = Field(
        default=None, max_length=2000, description="https URL told when the job ends"
    )
    rerolls: int | None = Field(
        default=None,
        ge=0,
        le=MAX_REROLLS,
        description="re-rolls of an image whose words fail their proof (default: the template's)",
    )

    def cells(self) -> dict[str, str]:
        """The request as a sheet row's cells, so both are checked by the same rules."""
        given = {
            "template": self.template,
            "quality": self.quality or "",
            "size": self.size or "",
            "n": str(self.n) if self.n is not None else "",
            "source_image": self.source_image or "",
            "mask": self.mask or "",
            "mask_box": self.mask_box or "",
        }
        return {**self.variables, **given}


class CostQuote(BaseModel):
    """What a job is expected to cost, how sure that is, and what its run will reserve."""

    estimated_cost_usd: Decimal = Field(description="what the job is expected to cost")
    exact: bool = Field(description="true for flat prices: the estimate is what is charged")
    approximate: bool = Field(
        description="the size is not in the provider's token table: its count scaled by area"
    )
    reserved_usd: Decimal = Field(
        description="what the worker holds against the budget while the job runs"
    )


class JobAccepted(CostQuote):
    job_id: str
    status: JobState
    status_url: str


class ImageInfo(BaseModel):
    """An image as delivered: its latest charged attempt, and what every attempt cost."""

    index: int
    s3_uri: str
    url: str = Field(description="presigned, valid for a limited time")
    sha256: str
    cost_usd: Decimal = Field(description="every attempt at this image charged")
    attempt: int = Field(description="the attempt delivered: 1, or a re-roll's number")
    attempts: int = Field(description="attempts made at this image")
    proof: Verdict = Field(description="the words read back: unchecked until read")
    proof_detail: str = Field(description="each field's verdict and what was read")
    review: Review
    review_note: str = ""


class JobStatus(BaseModel):
    job_id: str
    campaign: str
    template: str
    status: JobState
    images_requested: int
    images: list[ImageInfo]
    cost_usd: Decimal = Field(description="every attempt charged, re-rolls included")
    reason: str | None = None


class ReviewRequest(BaseModel):
    """A person's decision on a job's delivered images (or one of them)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    decision: Literal["pending", "approved", "rejected", "reroll"]
    note: str = Field(default="", max_length=2000, description="required when rejected")
    image: int | None = Field(default=None, ge=0, le=9, description="default: every image")


class ImageReview(BaseModel):
    index: int
    attempt: int = Field(description="the delivered attempt the decision is about")
    review: Review
    outcome: Literal["recorded", "rerolled", "unchanged", "superseded"]
    message: str


class ReviewReply(BaseModel):
    job_id: str
    images: list[ImageReview]


class Estimate(CostQuote):
    provider: str
    images: int
    size: str
    quality: Quality


class CostTotals(BaseModel):
    images_charged: int = 0
    images_refunded: int = 0
    cost_usd: Decimal = Decimal(0)
    estimate_usd: Decimal = Field(
        default=Decimal(0),
        description="what placard estimated the charged images would cost, over those whose "
        "estimate was kept (images made before estimates were kept have none)",
    )
    drift_usd: Decimal = Field(
        default=Decimal(0),
        description="cost minus estimate over the images with an estimate: above 0, the bills "
        "came in over the estimates",
    )
    images_estimated: int = Field(
        default=0, description="charged at an estimate: the answer reported no token usage"
    )
    overshoot_usd: Decimal = Field(
        default=Decimal(0), description="billed above what was reserved for the call"
    )
    calls_held: int = Field(
        default=0,
        description="calls whose outcome is unknown (a timeout, an answer lost in a crash): "
        "maybe billed, so not charged and not released, until a person settles each from the "
        "provider's bill (`placard settle`)",
    )
    held_usd: Decimal = Field(
        default=Decimal(0), description="what the campaign's budget holds for those calls"
    )


class CampaignCosts(BaseModel):
    campaign: str
    total: CostTotals
    by_quality: dict[str, CostTotals]
    by_provider: dict[str, CostTotals]
    by_day: dict[str, CostTotals]


class CampaignProgress(BaseModel):
    """A campaign's sheet jobs as they stand, read from its counters (#17)."""

    campaign: str
    jobs: int = Field(description="every sheet job queued: queued + running + ended")
    queued: int = Field(description="waiting for the worker")
    running: int = Field(description="being made: the worker has taken them, not yet ended")
    ended: dict[str, int] = Field(
        description="ended, by status: succeeded, failed, over_budget, needs_review"
    )
    spent_usd: Decimal = Field(
        description="every charge of the campaign so far, its API jobs' included: the total "
        "cost_usd of GET /v1/campaigns/{campaign}/costs"
    )
    images_charged: int = Field(description="as the costs route counts them in total")
    rate_per_minute: Decimal | None = Field(
        description="jobs ended a minute over the last ten minutes; null while none has ended"
    )
    seconds_left: int | None = Field(
        description="queued and running jobs at that rate; 0 when none is left, null when "
        "there is no rate to go by (estimate_reason says why)"
    )
    estimate_reason: str | None = None


class TemplateInfo(BaseModel):
    name: str
    kind: str
    mode: str
    description: str
    version: str
    defaults: dict[str, Any]
    proof: dict[str, Any] = Field(default_factory=dict, description="rerolls: the default")
    variables: dict[str, dict[str, Any]]


class ErrorDetail(BaseModel):
    code: str
    message: str
    details: list[dict[str, Any]] = Field(default_factory=list)


class ErrorBody(BaseModel):
    error: ErrorDetail
