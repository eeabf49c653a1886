"""A call of unknown outcome settled by a person from the provider's bill (services/settle.py):
charged what the bill says or released, the budget made to hold exactly that, the upload's
reports asked for again; never settled twice."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest

from placard.domain.errors import InvalidInput
from placard.domain.jobs import Job, Quality
from placard.domain.ledger_items import LedgerItem, Status
from placard.domain.runs import UploadRun
from placard.services.pipeline import unknown_call
from placard.services.settle import NOT_BILLED, SET_ASIDE, SETTLED, Settlement, call_id
from tests.fakes import FakeBudgets, FakeJobStore, FakeLedger, FakeReportRequests

RESERVED_AT = "2026-12-01T10:00:00.000+00:00"
NOW = "2026-12-02T09:00:00.000+00:00"
HOLD = Decimal("0.053055")  # what the reservation held: the call's upper bound
BUDGET = Decimal(1)
RUN = UploadRun("summer", "campaigns/summer/sheet.csv", "run-1")


class World:
    def __init__(self) -> None:
        self.ledger, self.budgets = FakeLedger(), FakeBudgets()
        self.jobs, self.reports = FakeJobStore(), FakeReportRequests()
        self.job = Job("summer", "social-square", "v1", {"headline": "Hi"}, Quality.LOW, None,
                       origin={"budget": True, "sheet": RUN.sheet, "run": RUN.run})  # fmt: skip
        self.jobs.keep(self.job)
        self.budgets.set_limit("summer", BUDGET, Decimal(0))
        self.budgets.take("summer", HOLD)  # the delivery's reservation, taken before the call
        self.settlement = Settlement(self.ledger, self.budgets, self.jobs, self.reports,
                                     lambda: NOW)  # fmt: skip

    def held(self, set_aside: bool = True) -> LedgerItem:
        """A call sent whose answer was lost: set aside by a later delivery, or not."""
        sent = LedgerItem(
            campaign="summer", job_id=self.job.job_id, image_index=0, template="social-square",
            template_version="v1", provider="openai", model="gpt-image-2", quality="low",
            size="1024x1024", unit_price=HOLD, cost_usd=HOLD, status=Status.RESERVED,
            created_at=RESERVED_AT, updated_at=RESERVED_AT, reason="sent to the provider",
        )  # fmt: skip
        item = unknown_call(sent, RESERVED_AT) if set_aside else sent
        self.ledger.save(item)
        return item

    def spent(self) -> Decimal:
        remaining = self.budgets.remaining("summer")
        assert remaining is not None
        return BUDGET - remaining


@pytest.mark.parametrize(
    ("billed", "overshoot"),
    [(Decimal("0.006240"), Decimal(0)), (HOLD, Decimal(0)), (Decimal("0.06"), Decimal("0.006945"))],
)
def test_a_held_call_is_charged_what_the_bill_says(billed: Decimal, overshoot: Decimal) -> None:
    # Given a held call whose reservation the campaign's budget holds
    world = World()
    held = world.held()
    assert world.spent() == HOLD
    # When a person settles it at what the provider's bill shows
    settled = world.settlement.settle("summer", call_id(held), billed)
    # Then it is charged that, with no image, as a call of its own, the overshoot recorded
    (item,) = world.ledger.job_items("summer", world.job.job_id, lost=True)
    assert item == settled
    assert (item.status, item.cost_usd, item.lost, item.s3_key) == (
        Status.CHARGED,
        billed,
        True,
        "",
    )
    assert item.reason == SETTLED and not item.estimated and item.overshoot_usd == overshoot
    # And the budget holds exactly the bill, and the upload's reports are asked for again
    assert world.spent() == billed
    assert world.reports.sent == [RUN]


def test_a_call_the_bill_does_not_show_is_released() -> None:
    # Given a held call
    world = World()
    held = world.held()
    # When the bill shows nothing for it
    world.settlement.settle("summer", call_id(held), Decimal(0))
    # Then it costs nothing, and the budget gets its whole reservation back
    (item,) = world.ledger.job_items("summer", world.job.job_id, lost=True)
    assert (item.status, item.cost_usd, item.reason) == (Status.REFUNDED, 0, NOT_BILLED)
    assert world.spent() == 0


def test_a_call_never_set_aside_is_charged_apart_from_its_image() -> None:
    # Given a call the reconciler reported that no later delivery set aside (its job ended)
    world = World()
    held = world.held(set_aside=False)
    # When it is settled at a billed amount
    world.settlement.settle("summer", call_id(held), HOLD)
    # Then the charge is a call of its own, and the image's own item says why it made nothing
    items = {i.lost: i for i in world.ledger.job_items("summer", world.job.job_id, lost=True)}
    assert (items[True].status, items[True].cost_usd) == (Status.CHARGED, HOLD)
    assert (items[False].status, items[False].cost_usd) == (Status.FAILED, 0)
    assert items[False].reason == SET_ASIDE
    assert world.spent() == HOLD


def test_a_call_is_settled_once() -> None:
    # Given a call settled already
    world = World()
    call = call_id(world.held())
    world.settlement.settle("summer", call, HOLD)
    # When it is settled again, Then it is refused, naming the call, and nothing changes
    with pytest.raises(InvalidInput, match="call: campaign summer holds no call") as refused:
        world.settlement.settle("summer", call, Decimal(0))
    assert refused.value.field == "call"
    assert world.spent() == HOLD and len(world.reports.sent) == 1


@pytest.mark.parametrize(
    ("call", "billed", "field"),
    [
        ("not-a-call", Decimal(0), "call"),
        ("job#zero#1#2026", Decimal(0), "call"),
        ("#0#1#2026", Decimal(0), "call"),
        (None, Decimal("-0.01"), "billed"),
        (None, Decimal("NaN"), "billed"),
    ],
)
def test_what_cannot_be_settled_is_refused_by_name(
    call: str | None, billed: Decimal, field: str
) -> None:
    # Given a held call
    world = World()
    held = world.held()
    # When it is settled with a call id or an amount that cannot be, Then the error names it
    with pytest.raises(InvalidInput) as refused:
        world.settlement.settle("summer", call or call_id(held), billed)
    assert refused.value.field == field
    # And nothing changed
    assert world.ledger.job_items("summer", world.job.job_id, lost=True) == [held]
    assert world.spent() == HOLD


class ReadTogether(FakeLedger):
    """Every settler reads the call before any of them writes: the race at its worst."""

    def __init__(self, settlers: int) -> None:
        super().__init__()
        self.barrier = threading.Barrier(settlers)
        self.racing = False

    def job_items(self, campaign: str, job_id: str, lost: bool = False) -> list[LedgerItem]:
        found = super().job_items(campaign, job_id, lost)
        if self.racing:
            self.barrier.wait(5)
        return found


@pytest.mark.parametrize("billed", [Decimal(0), HOLD])
def test_people_settling_one_call_at_once_settle_it_once(billed: Decimal) -> None:
    # Given a held call, and eight people who all read it before any of them settles it
    world = World()
    world.ledger = ReadTogether(8)
    world.settlement = Settlement(world.ledger, world.budgets, world.jobs, world.reports,
                                  lambda: NOW)  # fmt: skip
    call = call_id(world.held())
    world.ledger.racing = True
    # When they all settle it at once
    with ThreadPoolExecutor(8) as pool:
        tries = [pool.submit(world.settlement.settle, "summer", call, billed) for _ in range(8)]
    refused = [t.exception() for t in tries if t.exception()]
    # Then one settled it; the others were told it was settled meanwhile
    assert len(refused) == 7
    assert all(isinstance(e, InvalidInput) and "settled meanwhile" in str(e) for e in refused)
    # And the budget was made to hold the bill once, not given back eight times
    assert world.spent() == billed
    assert len(world.reports.sent) == 1


def test_a_settle_stopped_half_way_is_finished_by_the_next() -> None:
    # Given a call never set aside, whose settle stopped after charging its call and before
    # its image's item said so (the image's item is still reserved, so it is listed again)
    world = World()
    held = world.held(set_aside=False)
    aside = unknown_call(held, NOW).but(status=Status.CHARGED, cost_usd=HOLD, reason=SETTLED)
    assert world.ledger.settle(aside)
    # When it is settled again
    with pytest.raises(InvalidInput, match="settled meanwhile"):
        world.settlement.settle("summer", call_id(held), HOLD)
    # Then the image's item is finished, the call charged once, and nothing given back twice
    items = {i.lost: i for i in world.ledger.job_items("summer", world.job.job_id, lost=True)}
    assert (items[False].status, items[False].reason) == (Status.FAILED, SET_ASIDE)
    assert items[True].cost_usd == HOLD
    assert world.spent() == HOLD
