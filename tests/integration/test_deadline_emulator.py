"""Every job ends (issue #16): a provider call that hangs on the emulator ends by the
invocation's deadline, and the pipeline records it as an unknown outcome."""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal

import httpx
import pytest

from placard.domain.jobs import Job, Quality, Size
from placard.domain.ledger_items import Status
from placard.domain.pricing import default_prices
from placard.domain.templates import default_catalogue
from placard.providers.base import OutOfTime
from placard.providers.http import HttpCaller, RetryPolicy, Timeouts
from placard.providers.prospolabs import ProspolabsProvider
from placard.services.pipeline import Pipeline
from placard_emulator import EmulatorConfig, ProviderEmulator
from tests.fakes import FakeAssets, FakeBudgets, FakeJobStore, FakeLedger, FakeUploads

KEY = "sk-test-secret-0123456789"


@pytest.fixture
def emulator() -> Iterator[ProviderEmulator]:
    # A hang stalls far longer than the invocation has left.
    with ProviderEmulator(EmulatorConfig(api_key=KEY, hang_seconds=60)) as running:
        yield running


def test_a_hanging_call_ends_by_the_deadline_as_an_unknown_outcome(
    emulator: ProviderEmulator,
) -> None:
    # Given an emulator that hangs on every request and a client that would wait 180 s
    emulator.script(*["hang"] * 10)
    with httpx.Client(timeout=Timeouts(read=180, connect=1).httpx()) as client:
        caller = HttpCaller(client, RetryPolicy(base_delay=0.01, max_delay=0.05))
        ledger, budgets = FakeLedger(), FakeBudgets()
        budgets.set_limit("spring", Decimal("1.00"), Decimal(0))
        pipeline = Pipeline(
            catalogue=default_catalogue(),
            prices=default_prices(),
            provider=ProspolabsProvider(caller, emulator.url, lambda: KEY),
            assets=FakeAssets(),
            ledger=ledger,
            uploads=FakeUploads(),
            budgets=budgets,
            kept_jobs=FakeJobStore(),
        )
        job = Job(
            campaign="spring",
            template="storefront-sign",
            template_version="v1",
            variables={"store_name": "Zoe", "message": "Now open"},
            quality=Quality.MEDIUM,
            size=Size(1536, 1024),
            n=1,
            origin={"budget": True},
        )
        # When the job runs with two seconds of the invocation left
        deadline = time.monotonic() + 2
        with pytest.raises(OutOfTime) as raised:
            pipeline.run(job, deadline=deadline)
    # Then the call ended out of time (the hang is 60 s), its request's outcome unknown
    assert raised.value.unknown_outcomes >= 1
    assert emulator.stats().faults["hang"] == raised.value.unknown_outcomes
    # And the ledger keeps the reservation, saying why, and the budget keeps holding it
    (item,) = ledger.job_items("spring", job.job_id)
    assert item.status is Status.RESERVED and "out of time" in item.reason
    assert budgets.remaining("spring") == Decimal("1.00") - item.cost_usd
