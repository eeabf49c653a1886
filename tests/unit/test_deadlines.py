"""Every job ends (issue #16): the provider's call never outlives the invocation. HttpCaller on
canned answers and a clock the test moves; the pipeline on fakes."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import httpx
import pytest

from placard.domain.jobs import Job, Quality, Size
from placard.domain.ledger_items import Status
from placard.domain.pricing import default_prices
from placard.domain.templates import default_catalogue
from placard.providers.base import ImageRequest, ImageResult, OutOfTime
from placard.providers.http import HttpCaller, RetryPolicy
from placard.services.pipeline import SENT, Pipeline
from tests.fakes import FakeAssets, FakeBudgets, FakeJobStore, FakeLedger, FakeUploads

URL = "http://api.test/v1/images/generations"


class Clock:
    """time.monotonic() as the test says; each sleep moves it on."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def caller(answer: Callable[[httpx.Request], httpx.Response], clock: Clock) -> HttpCaller:
    client = httpx.Client(transport=httpx.MockTransport(answer), timeout=180.0)
    policy = RetryPolicy(max_failures=5, base_delay=4.0, max_delay=20.0, budget_seconds=180)
    return HttpCaller(client, policy, sleep=clock.sleep, clock=clock)


def call(http: HttpCaller, deadline: float | None) -> int:
    return http.call(
        lambda: http.client.build_request("POST", URL),
        parse=lambda response: response.status_code,
        refusal=lambda response: "",
        deadline=deadline,
    )


def test_each_attempt_waits_no_longer_than_the_time_left() -> None:
    # Given 12 s left of the invocation and a client whose reads wait up to 180 s
    clock = Clock()
    timeouts: list[dict[str, float]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        timeouts.append(request.extensions["timeout"])
        return httpx.Response(200)

    # When a call is made
    assert call(caller(answer, clock), deadline=clock.now + 12) == 200
    # Then its read, connect, write and pool timeouts are each cut to the 12 s left
    assert timeouts == [{"connect": 12, "read": 12, "write": 12, "pool": 12}]


def test_without_a_deadline_the_client_timeouts_stand() -> None:
    clock = Clock()
    timeouts: list[dict[str, float]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        timeouts.append(request.extensions["timeout"])
        return httpx.Response(200)

    call(caller(answer, clock), deadline=None)
    assert timeouts[0]["read"] == 180


def test_no_attempt_starts_when_no_time_is_left() -> None:
    # Given an invocation with half a second left
    clock = Clock()
    sent: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200)

    # When a call is asked for, Then it ends out of time, having sent nothing
    with pytest.raises(OutOfTime, match=r"out of time: 0\.5s left") as raised:
        call(caller(answer, clock), deadline=clock.now + 0.5)
    assert sent == [] and raised.value.unknown_outcomes == 0


def test_retries_stop_before_the_deadline_not_after_five_failures() -> None:
    # Given an API that times out every read, and 30 s left (5 failures could take 900 s)
    clock = Clock()
    reads: list[float] = []

    def answer(request: httpx.Request) -> httpx.Response:
        read = request.extensions["timeout"]["read"]
        reads.append(read)
        clock.now += read  # the read waits all it may
        raise httpx.ReadTimeout("no answer", request=request)

    # When a call is made
    with pytest.raises(OutOfTime) as raised:
        call(caller(answer, clock), deadline=clock.now + 30)
    # Then it ends by the deadline, never past it, with every sent request's outcome unknown
    assert clock.now <= 130
    assert raised.value.unknown_outcomes == len(reads) >= 1
    assert "ReadTimeout" in str(raised.value)


def test_a_backoff_that_would_pass_the_deadline_is_not_waited() -> None:
    # Given an API that asks to come back in 60 s, with 20 s left
    clock = Clock()

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503, headers={"retry-after": "60"})

    # When a call is made, Then it ends at once, without sleeping into the deadline
    with pytest.raises(OutOfTime, match="503"):
        call(caller(answer, clock), deadline=clock.now + 20)
    assert clock.now == 100.0


class SlowProvider:
    """A provider whose call runs out of time: sent (outcome unknown) or never sent."""

    name = "prospolabs"

    def __init__(self, sent: bool) -> None:
        self.sent = sent
        self.deadlines: list[float | None] = []

    def create(self, request: ImageRequest) -> ImageResult:
        self.deadlines.append(request.deadline)
        raise OutOfTime("out of time: 0.2s left", unknown_outcomes=1 if self.sent else 0)


def pipeline(provider: SlowProvider) -> tuple[Pipeline, FakeLedger, FakeBudgets]:
    ledger, budgets = FakeLedger(), FakeBudgets()
    budgets.set_limit("spring", Decimal("1.00"), Decimal(0))
    made = Pipeline(
        catalogue=default_catalogue(),
        prices=default_prices(),
        provider=provider,
        assets=FakeAssets(),
        ledger=ledger,
        uploads=FakeUploads(),
        budgets=budgets,
        kept_jobs=FakeJobStore(),
    )
    return made, ledger, budgets


JOB = Job(
    campaign="spring",
    template="storefront-sign",
    template_version="v1",
    variables={"store_name": "Zoe", "message": "Now open"},
    quality=Quality.MEDIUM,
    size=Size(1536, 1024),
    n=1,
    origin={"budget": True},
)


def test_out_of_time_before_sending_releases_the_reservation() -> None:
    # Given a provider whose call runs out of time before any request went out
    provider = SlowProvider(sent=False)
    run, ledger, budgets = pipeline(provider)
    # When the job runs with a deadline, Then it fails for a retry, and says why
    with pytest.raises(OutOfTime):
        run.run(JOB, deadline=123.0)
    assert provider.deadlines == [123.0]
    (item,) = ledger.job_items("spring", JOB.job_id)
    assert item.status is Status.FAILED and item.cost_usd == 0
    assert item.reason.startswith("out of time")
    # And the budget has all of its money back
    assert budgets.remaining("spring") == Decimal("1.00")


def test_out_of_time_with_a_request_in_flight_keeps_the_reservation() -> None:
    # Given a provider whose request went out and never answered before the deadline
    run, ledger, budgets = pipeline(SlowProvider(sent=True))
    # When the job runs
    with pytest.raises(OutOfTime):
        run.run(JOB, deadline=123.0)
    # Then the reservation stays held, its outcome said to be unknown
    (item,) = ledger.job_items("spring", JOB.job_id)
    assert item.status is Status.RESERVED and item.unknown_outcomes == 1
    assert item.reason.startswith("outcome unknown, will retry: out of time")
    assert budgets.remaining("spring") == Decimal("1.00") - item.cost_usd


def test_a_reservation_says_it_was_sent_before_the_provider_is_called() -> None:
    # Given a provider that looks at the ledger while it is being called
    ledger = FakeLedger()
    seen: list[str] = []

    class Watching(SlowProvider):
        def create(self, request: ImageRequest) -> ImageResult:
            seen.extend(i.reason for i in ledger.job_items("spring", JOB.job_id))
            return super().create(request)

    run, _, _ = pipeline(Watching(sent=True))
    run.ledger = ledger
    # When the job runs
    with pytest.raises(OutOfTime):
        run.run(JOB)
    # Then, as the call was made, its reservation already said it may have been sent
    assert seen == [SENT]
