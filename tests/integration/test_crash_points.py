"""A crash at each step boundary of a job (issue #16): the worker stops dead after reserving,
after the provider answered, after storing the original, after settling, or before its message
is deleted; the reconciler runs (its schedule comes before the jobs queue's 3600 s visibility
timeout ends), the message comes back, and the upload converges: every image delivered once,
charged once, the job ended once, the upload's reports written.

The stack is template.yaml's on in-process moto; the provider is the reseller on the emulator
(flat per image), so the ledger is held against the emulator's own bill."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from typing import Any

import pytest

from placard import bootstrap
from placard.domain.ledger_items import LedgerItem, Status
from placard.domain.proofs import Proof, Review
from placard.domain.rounds import Round
from placard.providers.base import ImageRequest, ImageResult
from placard.services.pipeline import UNKNOWN_HELD
from placard.services.reconcile import UNKNOWN, Reconciled
from placard_emulator import ProviderEmulator
from placard_local.stack import Stack
from tests.integration.at_least_once import (
    BUDGET,
    CAMPAIGN,
    PHOTO,
    Books,
    Crash,
    Deliveries,
    emulated,
    on_emulator,
    sheet,
)

RESERVED = "after reserving"
ANSWERED = "after the provider answered"
STORED = "after storing the original"
RAW_STORED = "after storing the provider's bytes"  # an edit's, before its composite
SETTLED = "after settling"
UNDELETED = "before the message is deleted"
COPY = {"template": "social-square", "product": "Cold brew", "cta": "Try it",
        "quality": "low", "size": "1024x1024"}  # fmt: skip
KINDS: dict[str, list[dict[str, str]]] = {
    "generate": [{**COPY, "headline": "Summer in a Can"}, {**COPY, "headline": "Cold. Smooth."}],
    "re-roll": [{**COPY, "headline": "Summer in a Can"}],
    "edit": [
        {
            "template": "price-tag-edit",
            "price": "$4.50",
            "quality": "low",
            "source_image": PHOTO.rsplit("/", 1)[1],
            "mask_box": "300,250,600,400",
        }
    ],
}
# The answers a crash loses after they were billed: the provider's bytes never reached the
# bucket (an edit's composite, here), so the redelivery sets the sent reservation aside, held
# as a call of unknown outcome until a person settles it from the bill, and calls again.
LOST_ANSWER = {ANSWERED, RAW_STORED}


@pytest.fixture
def emulator() -> Iterator[ProviderEmulator]:
    yield from emulated()


class Armed:
    """Fires once, the first time its point is reached in the round it waits for."""

    def __init__(self, point: str, attempt: int) -> None:
        self.point, self.attempt, self.fired = point, attempt, False

    def reached(self, point: str, attempt: int) -> None:
        if point == self.point and attempt == self.attempt and not self.fired:
            self.fired = True
            raise Crash(point)


@dataclasses.dataclass
class CrashingLedger:
    ledger: Any
    armed: Armed

    def reserve(self, items: Sequence[LedgerItem]) -> bool:
        reserved = bool(self.ledger.reserve(items))
        self.armed.reached(RESERVED, items[0].attempt)
        return reserved

    def save(self, item: LedgerItem) -> None:
        self.ledger.save(item)
        if item.status is Status.CHARGED:
            self.armed.reached(SETTLED, item.attempt)

    def job_items(self, campaign: str, job_id: str, lost: bool = False) -> list[LedgerItem]:
        return list(self.ledger.job_items(campaign, job_id, lost))

    def settle(self, item: LedgerItem) -> bool:
        return bool(self.ledger.settle(item))

    def campaign_items(self, campaign: str) -> list[LedgerItem]:
        return list(self.ledger.campaign_items(campaign))

    def each_campaign_item(self, campaign: str) -> Iterator[LedgerItem]:
        return iter(self.ledger.each_campaign_item(campaign))

    def record_proof(self, item: LedgerItem, proof: Proof) -> None:
        self.ledger.record_proof(item, proof)

    def record_review(self, item: LedgerItem, review: Review, note: str) -> bool:
        return bool(self.ledger.record_review(item, review, note))


@dataclasses.dataclass
class CrashingProvider:
    provider: Any
    armed: Armed

    @property
    def name(self) -> str:
        return str(self.provider.name)

    def create(self, request: ImageRequest) -> ImageResult:
        result: ImageResult = self.provider.create(request)
        attempt = int(request.seed.rpartition("~")[2]) if "~" in request.seed else 1
        self.armed.reached(ANSWERED, attempt)
        return result


@dataclasses.dataclass
class CrashingAssets:
    assets: Any
    armed: Armed

    def put_new(self, key: str, data: bytes, content_type: str, metadata: dict[str, str]) -> bool:
        stored = bool(self.assets.put_new(key, data, content_type, metadata))
        name = key.rsplit("/", 1)[1]  # "0.png", "0-2.png", "0.provider.png", "0.web.webp"
        index, _, rest = name.partition(".")
        attempt = int(index.partition("-")[2] or 1)
        if rest.count(".") == 0 and not name.endswith(".json"):
            self.armed.reached(STORED, attempt)
        elif rest.startswith("provider."):
            self.armed.reached(RAW_STORED, attempt)
        return stored

    def __getattr__(self, name: str) -> Any:
        return getattr(self.assets, name)


def crashing(parts: bootstrap.Parts, armed: Armed) -> bootstrap.Parts:
    made = parts.make_provider(parts.settings)
    return dataclasses.replace(
        parts,
        ledger=CrashingLedger(parts.ledger, armed),
        assets=CrashingAssets(parts.assets, armed),
        make_provider=lambda settings: CrashingProvider(made, armed),
    )


def keep_once(armed: Armed) -> Callable[[str, dict[str, Any]], bool]:
    """The worker's message of the armed round is handled, and its delete never happens."""

    def keep(queue: str, message: dict[str, Any]) -> bool:
        if queue != "JobsQueue":
            return False
        attempt = Round.from_dict(json.loads(message["Body"]).get("round")).attempt
        try:
            armed.reached(UNDELETED, attempt)
        except Crash:
            return True
        return False

    return keep


def expected_reconcile(point: str, first: Reconciled) -> None:
    """What the reconciler finds, run after the crash and before the redelivery."""
    if point == RESERVED:  # never sent: released at no cost
        assert len(first.released) == 1 and not first.charged and not first.unknown
    elif point == STORED:  # the image is in the bucket: charged, with its object's sha256
        assert len(first.charged) == 1 and not first.released and not first.unknown
    elif point in LOST_ANSWER:  # sent, nothing stored: reported, kept reserved
        assert [u.reason for u in first.unknown] == [UNKNOWN]
        assert not first.charged and not first.released
    else:  # settled, or done and not deleted: nothing left for it
        assert first.changed == 0 and not first.unknown
    assert not first.ended and not first.reports and not first.left


# Every point of a first round; a re-roll and an edit where they differ: a re-roll's keys
# carry its attempt (released, charged, redelivered by attempt), an edit stores two objects.
CASES = [
    *[("generate", point) for point in (RESERVED, ANSWERED, STORED, SETTLED, UNDELETED)],
    *[("re-roll", point) for point in (RESERVED, STORED, UNDELETED)],
    *[("edit", point) for point in (RAW_STORED, STORED)],
]


@pytest.mark.parametrize(("kind", "point"), CASES)
def test_a_crash_at_each_step_of_a_job_converges(
    stack: Stack, parts: bootstrap.Parts, emulator: ProviderEmulator, kind: str, point: str
) -> None:
    # Given an upload with a budget whose job's worker stops dead at this point, once (in the
    # re-roll round of a job whose first image fails its proof)
    armed = Armed(point, attempt=2 if kind == "re-roll" else 1)
    blind = 1 if kind == "re-roll" else 0
    lambda_ = Deliveries(stack, crashing(on_emulator(parts, emulator, blind), armed))
    lambda_.keep_next = keep_once(armed)
    if kind == "edit":
        lambda_.photo()
    rows = KINDS[kind]
    lambda_.ingest(lambda_.upload("shops.csv", sheet(rows)))
    # When the pipeline runs until the queues are empty, the stopped message left hidden
    lambda_.drain()
    assert armed.fired and lambda_.stopped
    # And the reconciler runs, Then it settles, releases or reports what the crash left
    expected_reconcile(point, lambda_.reconcile())
    # When the message comes back and the pipeline runs on
    lambda_.redeliver()
    lambda_.drain()
    # Then a second reconciler run finds nothing left to do; a lost answer's call it reports
    again = lambda_.reconcile()
    held = int(point in LOST_ANSWER)
    assert again.changed == 0 and len(again.unknown) == held and not again.left
    images = len(rows) * (2 if kind == "re-roll" else 1)
    converged(stack, emulator, images, held)
    # And once the call is settled from the bill, the ledger equals the bill
    settled_from_the_bill(lambda_, emulator, again)
    books = Books.read(stack, "shops")
    # And each job ended once, and the upload's reports were written with every row
    (run,) = books.runs
    assert run["jobs_total"] == run["jobs_ended"] == books.markers == len(rows)
    assert [r["status"] for r in books.results] == ["succeeded"] * len(rows)
    assert sum(Decimal(r["cost_usd"]) for r in books.results) == books.ledger_usd


def converged(stack: Stack, emulator: ProviderEmulator, images: int, held: int) -> None:
    """Every image delivered once, each provider call charged once, or held: a call whose
    answer a crash lost may have been billed or not, so it is held (reserved, under a key of
    its own), never charged a guess; the ledger and the budget both within the emulator's
    bill, the held calls making up the rest."""
    books = Books.read(stack, "shops")
    made = [i for i in books.charged if not i.get("lost")]
    # Then every image is delivered once: one object version each, one charge each
    assert sorted(books.originals.values()) == [1] * images
    assert sorted(i["s3_key"] for i in made) == sorted(books.originals)
    # And a lost answer's call is held, not charged, with no image
    assert [i["reason"].startswith(UNKNOWN_HELD) and i["lost"] for i in books.other] == [
        True
    ] * held
    assert made == books.charged
    # And the ledger charged once per provider call it knows the outcome of, to the
    # micro-dollar; what it holds is the rest of the bill
    bill = emulator.stats()
    held_usd = sum((Decimal(str(i["cost_usd"])) for i in books.other), Decimal(0))
    assert bill.billed_images == images + held
    assert books.ledger_usd + held_usd == bill.billed_usd
    # And the budget holds what the emulator billed
    assert books.remaining is not None and BUDGET - books.remaining == bill.billed_usd


def settled_from_the_bill(lambda_: Deliveries, emulator: ProviderEmulator, run: Reconciled) -> None:
    """A person settles each call the reconciler reported at what the bill shows for it (here
    the one line of the bill the ledger does not charge); then the ledger equals the bill,
    the budget holds it, and the reconciler has nothing left to report."""
    for unknown in run.unknown:
        beyond = emulator.stats().billed_usd - Books.read(lambda_.stack).ledger_usd
        lambda_.parts.settlement.settle(CAMPAIGN, unknown.call, beyond)
    lambda_.drain()  # the upload's reports, written again
    books, bill = Books.read(lambda_.stack), emulator.stats()
    assert books.other == [] and len([i for i in books.charged if i.get("lost")]) == len(
        run.unknown
    )
    assert books.ledger_usd == bill.billed_usd
    assert books.remaining is not None and BUDGET - books.remaining == bill.billed_usd
    after = lambda_.reconcile()
    assert after.changed == 0 and not after.unknown and not after.left


@pytest.mark.parametrize("point", [STORED, ANSWERED])
def test_a_redelivery_before_the_reconciler_neither_pays_twice_nor_loses_a_call(
    stack: Stack, parts: bootstrap.Parts, emulator: ProviderEmulator, point: str
) -> None:
    # Given an upload whose job's worker stops dead at this point, once
    armed = Armed(point, attempt=1)
    lambda_ = Deliveries(stack, crashing(on_emulator(parts, emulator), armed))
    lambda_.ingest(lambda_.upload("shops.csv", sheet(KINDS["generate"])))
    lambda_.drain()
    assert armed.fired and lambda_.stopped
    # When the message comes back before any reconciler run, and the pipeline runs on
    lambda_.redeliver()
    lambda_.drain()
    # Then a stored original is settled from its object, never asked for again; a lost
    # answer's call is held and the image asked for again
    held = int(point == ANSWERED)
    converged(stack, emulator, images=2, held=held)
    # And the reconciler finds nothing left to do, and reports the held call
    after = lambda_.reconcile()
    assert after.changed == 0 and len(after.unknown) == held and not after.left
    # And once it is settled from the bill, the ledger equals the bill
    settled_from_the_bill(lambda_, emulator, after)
