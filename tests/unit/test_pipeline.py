"""Pipeline.run on the fakes of its ports: every path of one job, with no moto and no network.

The prices are prospolabs' (flat: a medium image is $0.028), so every charge and every hold on
a budget is visible. The moto tests (tests/integration/test_handlers.py) keep the adapters
honest; these keep the pipeline's decisions honest.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal

import pytest

from placard.domain.jobs import Job, Mode, Quality, Size
from placard.domain.ledger_items import LedgerItem, Status
from placard.domain.pricing import default_prices
from placard.domain.statuses import JobState
from placard.domain.templates import Catalogue, default_catalogue
from placard.imaging.gate import PixelGate
from placard.providers.base import OutOfTime, ProviderError, ProviderUnavailable
from placard.services.pipeline import SHORT, JobOutcome, Pipeline
from tests.fakes import FakeAssets, FakeBudgets, FakeJobStore, FakeLedger, FakeProvider, FakeUploads

PRICE = Decimal("0.028")  # prospolabs, medium, any size
CAMPAIGN = "summer"
NOW = "2026-01-01T00:00:00.000+00:00"


@dataclass
class World:
    """A pipeline and the fakes behind it."""

    provider: FakeProvider = field(default_factory=FakeProvider)
    assets: FakeAssets = field(default_factory=FakeAssets)
    ledger: FakeLedger = field(default_factory=FakeLedger)
    uploads: FakeUploads = field(default_factory=FakeUploads)
    budgets: FakeBudgets = field(default_factory=FakeBudgets)
    kept_jobs: FakeJobStore = field(default_factory=FakeJobStore)
    catalogue: Catalogue = field(default_factory=default_catalogue)
    answer_gate: PixelGate = field(default_factory=lambda: PixelGate(10**12))  # room for all

    @property
    def pipeline(self) -> Pipeline:
        return Pipeline(
            answer_gate=self.answer_gate,
            catalogue=self.catalogue,
            prices=default_prices(),
            provider=self.provider,
            assets=self.assets,
            ledger=self.ledger,
            uploads=self.uploads,
            budgets=self.budgets,
            kept_jobs=self.kept_jobs,
            clock=lambda: NOW,
        )

    def items(self, job: Job) -> list[LedgerItem]:
        return self.ledger.job_items(job.campaign, job.job_id)

    def statuses(self, job: Job) -> list[str]:
        return [item.status.value for item in self.items(job)]

    def images(self) -> list[str]:
        return sorted(key for key in self.assets.objects if key.startswith("campaigns/"))


def sign(n: int = 1, budget: bool = False, **changes: object) -> Job:
    """A storefront sign; `budget` marks it queued while its campaign had a budget."""
    fields: dict[str, object] = {
        "campaign": CAMPAIGN,
        "template": "storefront-sign",
        "template_version": "v1",
        "variables": {"store_name": "Zoe", "message": "Now open"},
        "quality": Quality.MEDIUM,
        "size": Size(1536, 1024),
        "n": n,
        "origin": {"budget": True} if budget else {},
    }
    fields.update(changes)
    return Job(**fields)  # type: ignore[arg-type]


def charged(outcome: JobOutcome) -> list[tuple[int, str, str]]:
    return [
        (i.image_index, i.s3_key, i.sha256) for i in outcome.items if i.status is Status.CHARGED
    ]


def test_first_delivery_stores_every_image_once_and_charges_each() -> None:
    # Given a job for two images
    world, job = World(), sign(n=2)
    # When it is run
    outcome = world.pipeline.run(job)
    # Then one call asked for both, each image is stored, and each is charged its price
    assert outcome.status == "succeeded" and outcome.reason == ""
    assert world.provider.calls == 1 and world.provider.requests[0].n == 2
    assert world.images() == [f"campaigns/summer/{job.job_id}/{i}.png" for i in (0, 1)]
    assert world.statuses(job) == ["charged", "charged"]
    assert [i.cost_usd for i in world.items(job)] == [PRICE, PRICE]
    assert outcome.cost_usd == 2 * PRICE
    # And the ledger names each stored object by key and by the hash of its bytes
    for item in world.items(job):
        stored = world.assets.objects[item.s3_key]
        assert item.sha256 == hashlib.sha256(stored.data).hexdigest()
        assert stored.metadata == {
            "job-id": job.job_id,
            "sha256": item.sha256,
            "template": "storefront-sign",
            # what settling needs, so a later delivery or the reconciler settles it the same
            "ledger": '{"cost_usd":"0.028000","generation_id":"gen-1","http_attempts":1,'
            '"model":"fake-model"}',
        }
    assert charged(outcome) == [(i.image_index, i.s3_key, i.sha256) for i in world.items(job)]


def test_first_delivery_with_a_budget_holds_only_what_it_spent() -> None:
    # Given a campaign with $1 to spend and a job queued under it
    world, job = World(), sign(n=2, budget=True)
    world.budgets.set_limit(CAMPAIGN, Decimal(1), spent=Decimal(0))
    # When it is run, then the budget is down by exactly the two charges
    assert world.pipeline.run(job).status == "succeeded"
    assert world.budgets.remaining(CAMPAIGN) == 1 - 2 * PRICE


def test_a_redelivery_after_the_charge_calls_nothing_and_charges_nothing() -> None:
    # Given a job delivered once and charged, on a campaign with a budget
    world, job = World(), sign(n=2, budget=True)
    world.budgets.set_limit(CAMPAIGN, Decimal(1), spent=Decimal(0))
    first = world.pipeline.run(job)
    # When the same message is delivered again
    again = world.pipeline.run(job)
    # Then the provider is not called, no image or charge is added, the budget is not touched
    assert world.provider.calls == 1
    assert again.status == "succeeded" and charged(again) == charged(first)
    assert world.statuses(job) == ["charged", "charged"] and len(world.images()) == 2
    assert world.budgets.remaining(CAMPAIGN) == 1 - 2 * PRICE


def test_a_redelivery_makes_only_the_images_still_missing() -> None:
    # Given a job of two whose first delivery got only its first image
    world, job = World(provider=FakeProvider(short_by=1)), sign(n=2)
    first = world.pipeline.run(job)
    # When it is delivered again, to a provider that answers in full
    world.provider.short_by = 0
    outcome = world.pipeline.run(job)
    # Then only the missing image is asked for, and the charged one is kept as it was
    assert [r.n for r in world.provider.requests] == [2, 1]
    assert outcome.status == "succeeded" and charged(outcome)[0] == charged(first)[0]
    assert world.statuses(job) == ["charged", "charged"] and len(world.images()) == 2


def test_bytes_stored_by_a_delivery_that_stopped_before_settling_are_kept() -> None:
    # Given an image stored by a delivery that stopped before its charge was written
    world, job = World(), sign()
    key = f"campaigns/summer/{job.job_id}/0.png"
    world.assets.put_new(key, b"earlier bytes", "image/png", {})
    # When the job is delivered again, then those bytes stay and the charge names them
    outcome = world.pipeline.run(job)
    assert world.assets.read(key) == b"earlier bytes"
    assert charged(outcome) == [(0, key, hashlib.sha256(b"earlier bytes").hexdigest())]
    assert world.statuses(job) == ["charged"]


def test_two_deliveries_racing_converge_on_one_set_of_images_and_one_charge() -> None:
    # Given two deliveries of one job that both get past their reservation before either
    # hears back (the worker's idempotency lock usually keeps them apart; the stores must
    # hold without it)
    both_called = threading.Barrier(2, timeout=30)  # a guard against hanging, not a timing
    world, job = World(provider=FakeProvider(before_answer=both_called.wait)), sign(n=2)
    outcomes: list[JobOutcome] = []

    def deliver() -> None:
        outcomes.append(world.pipeline.run(job))

    # When they run at once
    threads = [threading.Thread(target=deliver) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then each image is stored once and charged once, and both deliveries report the same
    # images: the bytes the first writer kept
    assert world.statuses(job) == ["charged", "charged"] and len(world.images()) == 2
    kept = [(i.image_index, i.s3_key, i.sha256) for i in world.items(job)]
    assert [o.status for o in outcomes] == ["succeeded", "succeeded"]
    assert charged(outcomes[0]) == charged(outcomes[1]) == kept
    assert sum((i.cost_usd for i in world.items(job)), Decimal(0)) == 2 * PRICE


def test_over_budget_calls_nothing_and_costs_nothing() -> None:
    # Given $0.05 left and a job of two images at $0.028 each
    world, job = World(), sign(n=2, budget=True)
    world.budgets.set_limit(CAMPAIGN, Decimal("0.05"), spent=Decimal(0))
    # When it is run
    outcome = world.pipeline.run(job)
    # Then it fails as over budget, the provider is not called, nothing is charged or held
    assert outcome.status is JobState.OVER_BUDGET and "over budget" in outcome.reason
    assert world.provider.calls == 0 and world.images() == []
    assert world.statuses(job) == ["failed", "failed"] and outcome.cost_usd == 0
    assert all(i.cost_usd == 0 and "over budget" in i.reason for i in world.items(job))
    assert world.budgets.remaining(CAMPAIGN) == Decimal("0.05")


def test_a_budget_is_never_exceeded_however_many_workers_run_at_once() -> None:
    # Given room for three images and eight different jobs, each on its own worker
    world = World()
    world.budgets.set_limit(CAMPAIGN, 3 * PRICE, spent=Decimal(0))
    jobs = [
        sign(budget=True, variables={"store_name": f"Shop {i}", "message": "Open"})
        for i in range(8)
    ]
    outcomes: list[JobOutcome] = []
    start = threading.Barrier(len(jobs))

    def deliver(job: Job) -> None:
        start.wait()
        outcomes.append(world.pipeline.run(job))

    threads = [threading.Thread(target=deliver, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then exactly three are made, the rest are over budget, and nothing is left to spend
    assert sum(o.status == "succeeded" for o in outcomes) == 3
    assert sum(o.status is JobState.OVER_BUDGET for o in outcomes) == 5
    assert world.provider.calls == 3 and len(world.images()) == 3
    assert world.budgets.remaining(CAMPAIGN) == 0


def test_a_job_queued_without_a_budget_is_not_held_against_one() -> None:
    # Given a campaign that got a budget after this job was queued
    world, job = World(), sign(budget=False)
    world.budgets.set_limit(CAMPAIGN, Decimal("0.01"), spent=Decimal(0))
    # When it is run, then it is made and the budget is not consulted
    assert world.pipeline.run(job).status == "succeeded"
    assert world.budgets.remaining(CAMPAIGN) == Decimal("0.01")


def test_an_unknown_outcome_keeps_the_reservation_and_the_hold_and_asks_for_a_retry() -> None:
    # Given a provider whose answer never came back after the request was sent
    world, job = World(provider=FakeProvider(failure="lost", fail_times=1)), sign(budget=True)
    world.budgets.set_limit(CAMPAIGN, Decimal(1), spent=Decimal(0))
    # When the job is run, then it raises so the message is delivered again
    with pytest.raises(ProviderError) as raised:
        world.pipeline.run(job)
    assert not raised.value.permanent and raised.value.unknown_outcomes == 1
    # And the reservation stays, saying why, and the budget keeps holding its cost (it may
    # have been billed)
    (item,) = world.items(job)
    assert item.status is Status.RESERVED and item.cost_usd == PRICE
    assert item.reason.startswith("outcome unknown, will retry") and item.unknown_outcomes == 1
    assert world.budgets.remaining(CAMPAIGN) == 1 - PRICE and world.images() == []
    # When the retry is answered, then the image is charged once
    assert world.pipeline.run(job).status == "succeeded"
    assert world.statuses(job) == ["charged"] and len(world.images()) == 1
    # And the unknown call keeps its hold under an item of its own, still reserved, saying
    # why: the budget holds what was charged plus what may have been (its books balance)
    (unknown,) = [i for i in world.ledger.campaign_items(CAMPAIGN) if i.lost]
    assert unknown.status is Status.RESERVED and unknown.cost_usd == PRICE
    assert unknown.reason.startswith("outcome unknown, held until the provider's bill says")
    assert world.budgets.remaining(CAMPAIGN) == 1 - 2 * PRICE
    # When it is delivered once more, then nothing is set aside or held twice
    assert world.pipeline.run(job).status == "succeeded"
    assert [i.lost for i in world.ledger.campaign_items(CAMPAIGN)].count(True) == 1
    assert world.budgets.remaining(CAMPAIGN) == 1 - 2 * PRICE


def test_a_permanent_provider_error_fails_the_job_at_no_cost_and_gives_the_budget_back() -> None:
    # Given a provider that refuses the prompt
    world, job = World(provider=FakeProvider(failure="refuse")), sign(n=2, budget=True)
    world.budgets.set_limit(CAMPAIGN, Decimal(1), spent=Decimal(0))
    # When the job is run, then it ends (no retry) as failed with the provider's reason
    outcome = world.pipeline.run(job)
    assert outcome.status == "failed" and "content policy" in outcome.reason
    # And nothing is stored or charged, and the whole hold is given back
    assert world.provider.calls == 1 and world.images() == []
    assert world.statuses(job) == ["failed", "failed"] and outcome.cost_usd == 0
    assert all(i.cost_usd == 0 and "content policy" in i.reason for i in world.items(job))
    assert world.budgets.remaining(CAMPAIGN) == 1


def test_a_transient_provider_error_raises_for_a_retry_with_nothing_charged() -> None:
    # Given a provider throttled once
    world = World(provider=FakeProvider(failure="unavailable", fail_times=1))
    job = sign(budget=True)
    world.budgets.set_limit(CAMPAIGN, Decimal(1), spent=Decimal(0))
    # When the job is run, then it raises so SQS delivers it again
    with pytest.raises(ProviderUnavailable, match="429"):
        world.pipeline.run(job)
    # And nothing is kept charged or held: the attempt is a failure at no cost
    (item,) = world.items(job)
    assert item.status is Status.FAILED and item.cost_usd == 0 and "429" in item.reason
    assert world.budgets.remaining(CAMPAIGN) == 1 and world.images() == []
    # When the retry is answered, then it is charged once
    assert world.pipeline.run(job).status == "succeeded"
    assert world.statuses(job) == ["charged"] and world.budgets.remaining(CAMPAIGN) == 1 - PRICE


def test_a_call_waits_for_room_for_its_answer_and_gives_up_in_time_with_nothing_sent() -> None:
    # Given a worker with room for one two-image answer at a time, one job's call under way
    answering, release = threading.Event(), threading.Event()

    def hold() -> None:
        answering.set()
        release.wait(30)  # a guard against hanging, not a timing

    gate = PixelGate(2 * 1536 * 1024)
    world = World(provider=FakeProvider(before_answer=hold), answer_gate=gate)
    first, second = (
        sign(n=2),
        sign(n=2, budget=True, variables={"store_name": "Ada", "message": "Open"}),
    )
    world.budgets.set_limit(CAMPAIGN, Decimal(1), spent=Decimal(0))
    outcomes: list[JobOutcome] = []
    thread = threading.Thread(target=lambda: outcomes.append(world.pipeline.run(first)))
    thread.start()
    assert answering.wait(30)
    assert gate.in_use == 2 * 1536 * 1024  # held across the call
    # When another job comes with too little time left to wait for its turn
    deadline = time.monotonic() + world.pipeline.answer_seconds + 0.05
    with pytest.raises(OutOfTime, match="waited for a turn") as raised:
        world.pipeline.run(second, deadline=deadline)
    # Then it is retried later, having sent nothing: its reservation failed at no cost, its
    # hold given back
    assert not raised.value.permanent and raised.value.unknown_outcomes == 0
    assert world.provider.calls == 1
    assert world.statuses(second) == ["failed", "failed"] and world.budgets.remaining(CAMPAIGN) == 1
    # And once the first has stored its images, the turn is free and the retry is made
    release.set()
    thread.join()
    assert outcomes[0].status == "succeeded" and gate.in_use == 0
    assert world.pipeline.run(second, deadline=time.monotonic() + 600).status == "succeeded"
    assert world.budgets.remaining(CAMPAIGN) == 1 - 2 * PRICE


def test_fewer_images_than_asked_charges_those_made_and_gives_back_the_rest() -> None:
    # Given a provider that answers one image where two were asked for
    world, job = World(provider=FakeProvider(short_by=1)), sign(n=2, budget=True)
    world.budgets.set_limit(CAMPAIGN, Decimal(1), spent=Decimal(0))
    # When the job is run
    outcome = world.pipeline.run(job)
    # Then the one made is charged, the job says the rest could not be made
    assert outcome.status == "failed" and outcome.reason == "some images could not be made"
    assert charged(outcome) and [i.image_index for i in outcome.items] == [0]
    assert world.statuses(job) == ["charged", "failed"] and len(world.images()) == 1
    assert world.items(job)[1].reason == SHORT and world.items(job)[1].cost_usd == 0
    # And the budget holds only the image made
    assert world.budgets.remaining(CAMPAIGN) == 1 - PRICE


EDIT = {
    "template": "sign-text-swap",
    "variables": {"new_text": "Sale"},
    "mode": Mode.EDIT,
    "size": None,
    "mask_box": (0, 0, 10, 10),
}


@pytest.mark.parametrize(
    ("changes", "uploads", "words"),
    [
        pytest.param({**EDIT, "source_image": "campaigns/summer/gone.png"}, {},
                     "source_image: campaigns/summer/gone.png is not in the uploads bucket",
                     id="edit-source-not-uploaded"),
        pytest.param({**EDIT, "source_image": "campaigns/summer/photo.png"},
                     {"campaigns/summer/photo.png": b"not an image"}, "source_image: ",
                     id="edit-source-not-an-image"),
        pytest.param({**EDIT, "source_image": None}, {}, "an edit needs a source image",
                     id="edit-without-source"),
        pytest.param({"size": None}, {}, "size: a size is needed", id="no-size"),
        pytest.param({"template": "no-such-template"}, {}, "no template named",
                     id="unknown-template"),
        pytest.param({"variables": {"store_name": "Zoe"}}, {}, "message", id="missing-variable"),
    ],
)  # fmt: skip
def test_a_job_that_cannot_be_made_fails_before_any_reservation(
    changes: dict[str, object], uploads: dict[str, bytes], words: str
) -> None:
    # Given a job that cannot be prepared, on a campaign with a budget
    world, job = World(), sign(n=2, budget=True, **changes)
    for key, data in uploads.items():
        world.uploads.put(key, data)
    world.budgets.set_limit(CAMPAIGN, Decimal(1), spent=Decimal(0))
    # When it is run
    outcome = world.pipeline.run(job)
    # Then it fails saying why, with nothing called, priced, held or stored
    assert outcome.status == "failed" and words in outcome.reason
    assert world.provider.calls == 0 and world.images() == []
    assert world.statuses(job) == ["failed", "failed"]
    assert all(i.unit_price == 0 and i.cost_usd == 0 for i in world.items(job))
    assert world.budgets.remaining(CAMPAIGN) == 1
