"""One job end to end: render, reserve, call the provider, store the originals, settle.

Every delivery of the same job converges on one set of images and one charge (invariant 2):
charged images are skipped, stored objects are never overwritten, and a charged ledger item
is final.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from placard.errors import InvalidInput
from placard.jobs import Job
from placard.ledger_items import LedgerItem, Status
from placard.ports import AssetStore, Ledger
from placard.pricing import PriceTable
from placard.providers.base import ImageProvider, ImageRequest, ImageResult, ProviderError
from placard.templates import Catalogue

EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class JobOutcome:
    job_id: str
    status: str  # succeeded | failed
    items: tuple[LedgerItem, ...] = ()
    reason: str = ""

    @property
    def cost_usd(self) -> Decimal:
        return sum((i.cost_usd for i in self.items), Decimal(0))

    def to_dict(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "status": self.status,
            "reason": self.reason,
            "cost_usd": str(self.cost_usd),
            "images": [
                {"index": i.image_index, "s3_key": i.s3_key, "sha256": i.sha256}
                for i in self.items
                if i.status is Status.CHARGED
            ],
        }


def image_key(job: Job, index: int, extension: str) -> str:
    return f"campaigns/{job.campaign}/{job.job_id}/{index}.{extension}"


@dataclass
class Pipeline:
    catalogue: Catalogue
    prices: PriceTable
    provider: ImageProvider
    assets: AssetStore
    ledger: Ledger
    clock: Callable[[], str] = field(default=utc_now)

    def run(self, job: Job) -> JobOutcome:
        """Raises ProviderError when worth retrying; anything permanent ends as a failed outcome."""
        done = {i.image_index: i for i in self.ledger.job_items(job) if i.status is Status.CHARGED}
        todo = [index for index in range(job.n) if index not in done]
        if not todo:
            return self._outcome(job, done)
        try:
            request = self._request(job, len(todo))
        except InvalidInput as exc:
            return self._fail(job, todo, str(exc))
        reserved = [self._item(job, index, Status.RESERVED) for index in todo]
        if not self.ledger.reserve(reserved):
            # Another delivery charged these meanwhile: converge on its result.
            return self.run(job)
        try:
            result = self.provider.create(request)
        except ProviderError as exc:
            outcome = self._fail(job, todo, str(exc))
            if not exc.permanent:
                raise
            return outcome
        for index, data, item in zip(todo, result.images, reserved, strict=False):
            done[index] = self._store(job, index, data, result, item)
        if len(result.images) < len(todo):
            missing = todo[len(result.images) :]
            self._fail(job, missing, f"the provider returned {len(result.images)} of {len(todo)}")
        return self._outcome(job, done)

    def _request(self, job: Job, n: int) -> ImageRequest:
        template = self.catalogue[job.template]
        values = template.values(job.variables)
        return ImageRequest(
            prompt=template.render(values),
            quality=job.quality,
            size=job.size,
            n=n,
            template=template.name,
            texts=tuple(template.texts(values)),
            seed=job.job_id,
            mode=job.mode,
        )

    def _item(self, job: Job, index: int, status: Status) -> LedgerItem:
        prices = self.prices[self.provider.name]
        unit = prices.unit_price(job.quality, job.size)
        now = self.clock()
        return LedgerItem(
            campaign=job.campaign,
            job_id=job.job_id,
            image_index=index,
            template=job.template,
            template_version=job.template_version,
            provider=self.provider.name,
            model=prices.model,
            quality=job.quality.value,
            size=str(job.size),
            unit_price=unit,
            cost_usd=unit if status is Status.RESERVED else Decimal(0),
            status=status,
            created_at=now,
            updated_at=now,
            upload=str(job.origin.get("upload", "")),
            row=int(job.origin.get("row", 0)),
            row_id=job.row_id,
        )

    def _store(
        self, job: Job, index: int, data: bytes, result: ImageResult, reserved: LedgerItem
    ) -> LedgerItem:
        key = image_key(job, index, EXTENSIONS.get(result.media_type, "bin"))
        sha256 = hashlib.sha256(data).hexdigest()
        metadata = {"job-id": job.job_id, "sha256": sha256, "template": job.template}
        if not self.assets.put_new(key, data, result.media_type, metadata):
            # Stored by an earlier delivery that stopped before settling: keep those bytes.
            sha256 = hashlib.sha256(self.assets.read(key)).hexdigest()
        cost = self._cost(result, reserved)
        charged = reserved.but(
            status=Status.CHARGED,
            cost_usd=cost,
            s3_key=key,
            sha256=sha256,
            generation_id=result.generation_id or "",
            model=result.model,
            usage=result.usage,
            updated_at=self.clock(),
        )
        self.ledger.save(charged)
        return charged

    def _cost(self, result: ImageResult, reserved: LedgerItem) -> Decimal:
        prices = self.prices[self.provider.name]
        from_usage = prices.cost_from_usage(result.usage) if result.usage else None
        if from_usage is not None:
            return (from_usage / len(result.images)).quantize(Decimal("0.000001"))
        return reserved.unit_price

    def _fail(self, job: Job, indices: list[int], reason: str) -> JobOutcome:
        for index in indices:
            self.ledger.save(self._item(job, index, Status.FAILED).but(reason=reason))
        return JobOutcome(job.job_id, "failed", tuple(self.ledger.job_items(job)), reason)

    def _outcome(self, job: Job, done: dict[int, LedgerItem]) -> JobOutcome:
        items = tuple(done[i] for i in sorted(done))
        if len(items) == job.n:
            return JobOutcome(job.job_id, "succeeded", items)
        return JobOutcome(job.job_id, "failed", items, "some images could not be made")
