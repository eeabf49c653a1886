"""One job end to end: render, reserve, call the provider, store the originals, settle.

Every delivery of the same job converges on one set of images and one charge (docs/design.md,
invariant 2): charged images are skipped, stored objects are never overwritten, and a charged ledger
item is final.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from contextlib import AbstractContextManager, ExitStack, nullcontext
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from placard.domain.errors import InvalidInput
from placard.domain.jobs import Job, Mode, Size
from placard.domain.keys import derivative_key, image_key
from placard.domain.ledger_items import LedgerItem, Status
from placard.domain.ports import AssetStore, Budgets, JobStore, Ledger, UploadStore
from placard.domain.pricing import PriceTable, shares
from placard.domain.proofs import Region
from placard.domain.rounds import Round
from placard.domain.statuses import OVER_BUDGET_REASON, JobState
from placard.domain.templates import Catalogue
from placard.providers.base import (
    ImageProvider,
    ImageRequest,
    ImageResult,
    OutOfTime,
    ProviderError,
)

if TYPE_CHECKING:
    from placard.imaging.edits import EditInputs

EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}
# A reserved item's reason once its request may be on its way: a crash from here on leaves an
# outcome nobody knows, which the reconciler reports and never releases (services/reconcile.py).
SENT = "sent to the provider; no answer recorded"
SHORT = "the provider answered with fewer images than asked for"
UNKNOWN_HELD = "outcome unknown, held until the provider's bill says"
# Each original's metadata name for what settling it needs (its ledger fields, compact JSON),
# so a reservation whose image is stored is charged exactly as the delivery that stored it would
# have charged it, by a later delivery or the reconciler alike: settle_from_object.
SETTLE = "ledger"
SETTLED_FIELDS = ("cost_usd", "usage", "generation_id", "model", "estimated", "token_prices",
                  "overshoot_usd", "raw_s3_key", "http_attempts", "unknown_outcomes")  # fmt: skip
EXTENSIONS_TRIED = (*EXTENSIONS.values(), "bin")  # every extension an original is stored under
FIRST = Round()
logger = logging.getLogger(__name__)


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class JobOutcome:
    job_id: str
    status: JobState  # succeeded, failed or over_budget: how the round ends for the API
    items: tuple[LedgerItem, ...] = ()  # this round's attempts
    reason: str = ""
    region: Region | None = None  # an edit's area, where its words must be

    @property
    def cost_usd(self) -> Decimal:
        return sum((i.cost_usd for i in self.items if i.status is Status.CHARGED), Decimal(0))

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
            "region": list(self.region) if self.region else None,
        }


@dataclass(frozen=True)
class Prepared:
    request: ImageRequest
    edit: EditInputs | None = None

    @property
    def region(self) -> Region | None:
        """An edit's area in the delivered image (x, y, w, h): where its new words are."""
        if self.edit is None:
            return None
        box = self.edit.base_mask.getbbox()
        return (box[0], box[1], box[2] - box[0], box[3] - box[1]) if box else None


@dataclass
class Pipeline:
    catalogue: Catalogue
    prices: PriceTable
    provider: ImageProvider
    assets: AssetStore
    ledger: Ledger
    uploads: UploadStore
    budgets: Budgets
    kept_jobs: JobStore
    clock: Callable[[], str] = field(default=utc_now)
    # Held while an edit's pixels are decoded or composited, by their count: the worker's
    # wiring makes a batch's edits take turns there (imaging/gate.py); elsewhere, no turns.
    pixel_gate: Callable[[int], AbstractContextManager[object]] = field(
        default=lambda pixels: nullcontext()
    )
    # Held from a call until its images are stored, by the pixels asked for, waiting at most
    # until (time.monotonic()) the second argument: the worker's wiring bounds what a batch's
    # answers hold at once (imaging/gate.py); elsewhere, no turns.
    answer_gate: Callable[[int, float | None], AbstractContextManager[object]] = field(
        default=lambda pixels, until: nullcontext()
    )
    # A turn there is taken only with this long left before the deadline, the longest an
    # answer may take to read, so a call that waited never starts without time to end.
    answer_seconds: float = 180.0
    started: Callable[[Job], None] = field(default=lambda job: None)  # a first delivery (#17)

    def run(
        self,
        job: Job,
        round_: Round = FIRST,
        done: dict[int, LedgerItem] | None = None,
        deadline: float | None = None,
    ) -> JobOutcome:
        """One round of the job: its first attempt at every image, or a re-roll of some.
        Raises ProviderError when worth retrying; anything permanent ends as a failed outcome.

        `done` holds the round's images already charged; without it the first reservation
        finds out (most deliveries are first deliveries, so the ledger is not read up front).
        `deadline` (time.monotonic()) bounds the provider's call, so the outcome is recorded
        before the invocation ends; running out is a ProviderError like any other."""
        done = dict(done or {})
        wanted = round_.indices(job.n)
        todo = [index for index in wanted if index not in done]
        if not todo:
            return self._outcome(job, round_, done)
        try:
            prepared = self._prepare(job, len(todo), round_)
        except InvalidInput as exc:
            return self._fail(job, round_, todo, str(exc))
        first = False
        if round_.attempt == 1 and not done:
            # Kept for good: a person's re-roll, days later, is made from it. Kept by the
            # job's first delivery only, so it also tells a later one to look what went before.
            try:
                first = self.kept_jobs.keep(job)
            except InvalidInput as exc:  # too large to keep: refused before any money is at stake
                return self._fail(job, round_, todo, str(exc))
        if first:
            self.started(job)
        if not first:
            done.update(self._recover(job, round_, todo))
            todo = [index for index in todo if index not in done]
            if not todo:
                return self._outcome(job, round_, done, prepared.region)
            prepared = replace(prepared, request=replace(prepared.request, n=len(todo)))
        reserved = self._reservation(job, round_, todo, prepared.request)
        if not self.ledger.reserve(reserved):
            # Some were charged by another delivery: make only what is still missing.
            charged = [
                i
                for i in self.ledger.job_items(job.campaign, job.job_id)
                if i.status is Status.CHARGED and i.attempt == round_.attempt
            ]
            return self.run(job, round_, {i.image_index: i for i in charged}, deadline)
        held: Decimal | None = Decimal(0)
        if job.origin.get("budget"):  # the campaign had a budget when the job was queued
            held = self.budgets.take(job.campaign, sum((i.cost_usd for i in reserved), Decimal(0)))
        if held is None:
            return self._fail(job, round_, todo, OVER_BUDGET_REASON, reserved, over_budget=True)
        with ExitStack() as turn:
            try:
                self._take_turn(turn, prepared.request, deadline)
                reserved = self._sending(reserved)
                result = self.provider.create(replace(prepared.request, deadline=deadline))
            except ProviderError as exc:
                if exc.unknown_outcomes:
                    # It may have been billed: the budget keeps holding its cost.
                    self._unknown(reserved, str(exc), exc.unknown_outcomes)
                    raise
                if held:
                    self.budgets.give_back(job.campaign, held)
                outcome = self._fail(job, round_, todo, str(exc), reserved)
                if not exc.permanent:
                    raise
                return outcome
            spent = Decimal(0)
            for data, item in zip(result.images, self._cost(result, reserved), strict=False):
                done[item.image_index] = self._store(job, data, result, item, prepared.edit)
                spent += done[item.image_index].cost_usd
            for item in reserved[len(result.images) :]:
                # Answered short: not made, not billed; no longer an unknown outcome.
                self.ledger.save(item.but(status=Status.FAILED, cost_usd=Decimal(0),
                                          reason=SHORT, updated_at=self.clock()))  # fmt: skip
        if held:
            self.budgets.give_back(job.campaign, held - spent)
        return self._outcome(job, round_, done, prepared.region)

    def _take_turn(self, turn: ExitStack, request: ImageRequest, deadline: float | None) -> None:
        """The call's turn at the answer gate, held by `turn`; OutOfTime (retried later,
        nothing sent) when it does not come while a call could still end before the deadline."""
        until = None if deadline is None else deadline - self.answer_seconds
        pixels = request.n * request.size.pixels
        try:
            turn.enter_context(self.answer_gate(pixels, until))
        except TimeoutError as exc:
            raise OutOfTime(f"out of time: waited for a turn to call ({exc})") from exc

    def _recover(self, job: Job, round_: Round, todo: list[int]) -> dict[int, LedgerItem]:
        """What an earlier delivery of the round left: its charged images, and each image it
        sent and never settled. One whose original is stored is settled from it, never asked
        for again (that would be paid twice); with nothing stored the answer was lost, maybe
        billed: it is held as an unknown outcome, and the image is reserved afresh."""
        found: dict[int, LedgerItem] = {}
        for item in self.ledger.job_items(job.campaign, job.job_id):
            if item.attempt != round_.attempt or item.image_index not in todo:
                continue
            if item.status is Status.CHARGED:
                found[item.image_index] = item
                continue
            sent = item.unknown_outcomes or item.reason == SENT
            if item.status is not Status.RESERVED or item.lost or not sent:
                continue
            stored = None if item.unknown_outcomes else find_original(self.assets, item)
            if stored is None:
                # A call that timed out, lost its line, or whose answer a crash lost: maybe
                # billed, maybe not. It keeps its hold on the budget, under a key of its own
                # the reconciler lists until a person settles it from the provider's bill
                # (services/settle.py); the image is reserved afresh.
                self.ledger.save(unknown_call(item, self.clock()))
                continue
            charged = settle_from_object(item, *stored, self.clock())
            self.ledger.save(charged)
            if job.origin.get("budget"):  # the reservation was taken: give back the rest
                self.budgets.give_back(job.campaign, item.cost_usd - charged.cost_usd)
            found[item.image_index] = charged
        return found

    def _prepare(self, job: Job, n: int, round_: Round = FIRST) -> Prepared:
        """Everything checked and made ready before any money is at stake."""
        template = self.catalogue[job.template]
        values = template.values(job.variables)
        edit = None
        size = job.size
        source = mask = None
        box = None
        if job.mode is Mode.EDIT:
            from placard.imaging import edits  # lazy: Pillow only where images are made

            if not job.source_image:
                raise InvalidInput("source_image", "an edit needs a source image")
            photo = self._upload(job.source_image, "source_image")
            with self.pixel_gate(edits.prepare_pixels(photo)):
                edit = edits.prepare_edit(
                    photo,
                    size=job.size,
                    mask=self._upload(job.mask, "mask") if job.mask else None,
                    box=job.mask_box,
                )
                mask = edits.openai_mask_png(edit.mask)  # decoded and drawn: within the turn
            size, source, box = edit.size, edit.source_png, edit.box
        if size is None:
            raise InvalidInput("size", "a size is needed for a new image")
        self.prices[self.provider.name].check_size(size)
        request = ImageRequest(
            prompt=template.render(values),
            quality=job.quality,
            size=size,
            n=n,
            template=template.name,
            texts=tuple(template.texts(values)),
            # A re-roll is another draw; the first attempt keeps the seed it always had.
            seed=job.job_id if round_.attempt == 1 else f"{job.job_id}~{round_.attempt}",
            mode=job.mode,
            source=source,
            mask=mask,
            box=box,
        )
        return Prepared(request, edit)

    def _upload(self, key: str, field_name: str) -> bytes:
        if not self.uploads.exists(key):
            raise InvalidInput(field_name, f"{key} is not in the uploads bucket", key)
        return self.uploads.read(key)

    def _reservation(
        self, job: Job, round_: Round, todo: list[int], request: ImageRequest
    ) -> list[LedgerItem]:
        """The images to make, each holding its share of the most the call can bill: with
        token prices the answer's bound (SPEC §6; docs/design.md, invariant 3), else the
        flat price each; and its share of the call's quote, what an answer without usage is
        charged."""
        prices = self.prices[self.provider.name]
        quality, size, n = request.quality, request.size, len(todo)
        sent = () if request.source is None else (size,)  # an edit's source goes at its size
        held = shares(prices.reservation(quality, size, n, request.prompt, len(sent)), n)
        quoted = shares(prices.quote(quality, size, n, request.prompt, sent).usd, n)
        return [
            self._item(job, round_, index, size, unit, estimate)
            for index, unit, estimate in zip(todo, held, quoted, strict=True)
        ]

    def _item(
        self,
        job: Job,
        round_: Round,
        index: int,
        size: Size | None,
        unit: Decimal = Decimal(0),
        estimate: Decimal = Decimal(0),
    ) -> LedgerItem:
        prices = self.prices[self.provider.name]
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
            size=str(size or ""),
            unit_price=unit,
            cost_usd=unit,
            estimate_usd=estimate,
            status=Status.RESERVED,
            created_at=now,
            updated_at=now,
            upload=str(job.origin.get("upload", "")),
            row=int(job.origin.get("row", 0)),
            row_id=job.row_id,
            attempt=round_.attempt,
        )

    def _store(
        self,
        job: Job,
        data: bytes,
        result: ImageResult,
        reserved: LedgerItem,
        edit: EditInputs | None,
    ) -> LedgerItem:
        index = reserved.image_index
        extension = EXTENSIONS.get(result.media_type, "bin")
        raw_key = ""
        if edit is not None:
            from placard.imaging import edits

            # The provider's own bytes are kept unchanged beside the composite (docs/design.md,
            # invariant 4).
            raw_key = image_key(
                job.campaign, job.job_id, index, extension, "provider", reserved.attempt
            )
            self._put(job, raw_key, data, result.media_type)
            with self.pixel_gate(edit.pixels):
                data = edits.finish_edit(edit, data)  # back at the photo's size, the rest kept
            extension = "png"
        answered = reserved.but(
            raw_s3_key=raw_key,
            generation_id=result.generation_id or "",
            model=result.model,
            usage=result.usage,
            http_attempts=result.attempts,
            unknown_outcomes=result.unknown_outcomes,
        )
        key = image_key(job.campaign, job.job_id, index, extension, attempt=reserved.attempt)
        media_type = "image/png" if edit else result.media_type
        sha256 = self._put(job, key, data, media_type, {SETTLE: settled_fields(answered)})
        charged = answered.but(
            status=Status.CHARGED, s3_key=key, sha256=sha256, reason="", updated_at=self.clock()
        )
        self.ledger.save(charged)
        return charged

    def make_derivatives(self, job: Job, originals: list[tuple[int, str]]) -> int:
        """A web size and a thumbnail beside each (index, key) original, for review pages;
        returns how many got them. Bytes Pillow cannot read are still the provider's billed
        answer: kept and charged, with no derivatives."""
        from placard.imaging.derivatives import (
            derivatives,  # lazy: Pillow only where images are made
        )

        made = 0
        for _index, key in originals:
            try:
                images = derivatives(self.assets.read(key))
            except InvalidInput:
                continue
            for derivative in images:
                copy = derivative_key(key, derivative.kind, derivative.extension)
                self._put(job, copy, derivative.data, derivative.media_type)
            made += 1
        return made

    def _put(
        self, job: Job, key: str, data: bytes, media_type: str, extra: dict[str, str] | None = None
    ) -> str:
        """Store once; returns the sha256 of what the key holds."""
        sha256 = hashlib.sha256(data).hexdigest()
        metadata = {"job-id": job.job_id, "sha256": sha256, "template": job.template}
        metadata.update(extra or {})
        if not self.assets.put_new(key, data, media_type, metadata):
            # Stored by an earlier delivery that stopped before settling: keep those bytes.
            sha256 = hashlib.sha256(self.assets.read(key)).hexdigest()
        return sha256

    def _cost(self, result: ImageResult, reserved: list[LedgerItem]) -> list[LedgerItem]:
        """The answer's images as it bills: its usage at the token prices, in shares that sum to
        the bill exactly; without usage, each image's estimate, marked estimated (#15). Flat
        prices are what was reserved, never estimated."""
        prices = self.prices[self.provider.name]
        made = reserved[: len(result.images)]
        if not prices.tokens_per_million or not made:
            return made
        bill = prices.cost_from_usage(result.usage)
        if bill is None:
            return [item.but(cost_usd=item.estimate_usd, estimated=True) for item in made]
        token_prices = {k: str(v) for k, v in prices.tokens_per_million.items()}
        # The bound should make this impossible; if a bill ever exceeds it, the ledger says by
        # how much, and run()'s give-back of held - spent charges the budget all of it (#15).
        overshoot = max(bill - sum((i.cost_usd for i in reserved), Decimal(0)), Decimal(0))
        if overshoot:
            logger.warning(
                "bill %s USD exceeds its reservation by %s USD (job %s, campaign %s)",
                bill, overshoot, made[0].job_id, made[0].campaign,
            )  # fmt: skip
        return [
            item.but(cost_usd=share, token_prices=token_prices, overshoot_usd=over)
            for item, share, over in zip(
                made, shares(bill, len(made)), shares(overshoot, len(made)), strict=True
            )
        ]

    def _sending(self, reserved: list[LedgerItem]) -> list[LedgerItem]:
        """Say, before the call, that its outcome is about to be unknowable: a crash past
        this point may have been billed."""
        sending = [item.but(reason=SENT) for item in reserved]
        for item in sending:
            self.ledger.save(item)
        return sending

    def _unknown(self, reserved: list[LedgerItem], reason: str, unknown: int) -> None:
        """The request may have been made and billed: keep the reservation, say so, retry."""
        for item in reserved:
            self.ledger.save(
                item.but(
                    reason=f"outcome unknown, will retry: {reason}",
                    unknown_outcomes=unknown,
                    updated_at=self.clock(),
                )
            )

    def _fail(
        self,
        job: Job,
        round_: Round,
        indices: list[int],
        reason: str,
        reserved: list[LedgerItem] | None = None,
        over_budget: bool = False,
    ) -> JobOutcome:
        """Failures cost nothing and say why; a budget's refusal is also marked as data."""
        items = {i.image_index: i for i in reserved or ()}
        now = self.clock()
        for index in indices:
            base = items.get(index) or self._item(job, round_, index, job.size)
            self.ledger.save(
                base.but(
                    status=Status.FAILED,
                    cost_usd=Decimal(0),
                    reason=reason,
                    over_budget=over_budget,
                    updated_at=now,
                )
            )
        status = JobState.OVER_BUDGET if over_budget else JobState.FAILED
        now_held = self.ledger.job_items(job.campaign, job.job_id)
        this_round = tuple(i for i in now_held if i.attempt == round_.attempt)
        return JobOutcome(job.job_id, status, this_round, reason)

    def _outcome(
        self,
        job: Job,
        round_: Round,
        done: dict[int, LedgerItem],
        region: Region | None = None,
    ) -> JobOutcome:
        items = tuple(done[i] for i in sorted(done))
        if len(items) == len(round_.indices(job.n)):
            return JobOutcome(job.job_id, JobState.SUCCEEDED, items, region=region)
        reason = "some images could not be made"
        return JobOutcome(job.job_id, JobState.FAILED, items, reason, region)


def settled_fields(item: LedgerItem) -> str:
    """The fields settling sets, as compact JSON for an original's metadata (ASCII, small)."""
    said = {name: getattr(item, name) for name in SETTLED_FIELDS if getattr(item, name)}
    said["cost_usd"] = item.cost_usd
    return json.dumps(said, default=str, separators=(",", ":"), sort_keys=True)


def settle_from_object(
    item: LedgerItem, key: str, sha256: str, metadata: dict[str, str], stamp: str
) -> LedgerItem:
    """A reservation whose original is stored, charged what the delivery that stored it
    charged (the fields in its metadata). An object stored before they were kept is charged
    what an answer without usage is: its estimate when there is one, else the reservation."""
    said: dict[str, Any] = json.loads(metadata.get(SETTLE) or "{}")
    if said:
        for name in ("cost_usd", "overshoot_usd"):
            if name in said:
                said[name] = Decimal(said[name])
        fields = {name: value for name, value in said.items() if name in SETTLED_FIELDS}
    else:
        cost = item.estimate_usd or item.cost_usd
        fields = {"cost_usd": cost, "estimated": cost != item.unit_price}
    return item.but(
        **fields, status=Status.CHARGED, s3_key=key, sha256=sha256, reason="", updated_at=stamp
    )


def find_original(assets: AssetStore, item: LedgerItem) -> tuple[str, str, dict[str, str]] | None:
    """The item's stored original: its key, sha256 and metadata; None when none is stored."""
    for extension in EXTENSIONS_TRIED:
        key = image_key(
            item.campaign, item.job_id, item.image_index, extension, attempt=item.attempt
        )
        metadata = assets.metadata(key)
        if metadata is not None:
            sha256 = metadata.get("sha256") or hashlib.sha256(assets.read(key)).hexdigest()
            return key, sha256, metadata
    return None


def unknown_call(item: LedgerItem, stamp: str) -> LedgerItem:
    """A call whose outcome is unknown (a timeout, a dropped connection, an answer a crash
    lost), set aside when its image is asked for again: still reserved, so the budget's hold
    on it has an item saying why (budget held = charged + these), until a person settles it
    from the provider's bill (services/settle.py)."""
    return item.but(lost=True, reason=f"{UNKNOWN_HELD}: {item.reason}", updated_at=stamp)
