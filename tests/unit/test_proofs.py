"""Rounds of a job on the fakes: every image read back, a misspelt one re-rolled within the
policy, the first that passes delivered, a job whose attempts all fail sent for review.

FakeProvider draws its request's copy into its bytes (`misspell_calls` draws a call's first
field wrong) and FakeReader reads those lines back, so the real judge decides every verdict.
Each round is driven as the functions do: the worker runs a round, the proof function checks
it, and a re-roll it queues is the worker's next round.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from placard.domain.attempts import by_image
from placard.domain.errors import InvalidInput
from placard.domain.jobs import Job
from placard.domain.ledger_items import Status
from placard.domain.proofs import ReadLine, Verdict
from placard.domain.rounds import Cause, Round
from placard.domain.statuses import JobState
from placard.services.pipeline import FIRST
from placard.services.proofs import Proofs
from tests.fakes import (
    FakeBudgets,
    FakeDerivativeRequests,
    FakeJobQueue,
    FakeProvider,
    FakeReader,
)
from tests.unit.test_pipeline import PRICE, World, sign


@dataclass
class Rounds:
    """The worker and the proof function over one world, with the queues between them."""

    world: World = field(default_factory=World)
    reader: FakeReader = field(default_factory=FakeReader)
    jobs: FakeJobQueue = field(default_factory=FakeJobQueue)
    derivatives: FakeDerivativeRequests = field(default_factory=FakeDerivativeRequests)

    @property
    def proofs(self) -> Proofs:
        w = self.world
        return Proofs(w.catalogue, self.reader, w.assets, w.ledger, self.jobs, self.derivatives)

    def run(self, job: Job, round_: Round = FIRST) -> None:
        """The worker's round, then the proof function's check of it."""
        outcome = self.world.pipeline.run(job, round_)
        originals = [(i.image_index, i.s3_key) for i in outcome.items if i.s3_key]
        self.proofs.check(job, round_, originals, outcome.status, outcome.reason)

    def until_done(self, job: Job) -> None:
        """Every round the proof function asks for, as the worker would take them."""
        self.run(job)
        taken = 0
        while not self.derivatives.sent and taken < len(self.jobs.rounds):
            queued, round_ = self.jobs.rounds[taken]
            taken += 1
            self.run(queued, round_)

    @property
    def ended(self) -> tuple[list[tuple[int, str]], str, str]:
        (sent,) = self.derivatives.sent
        _, originals, state, reason = sent
        return originals, state, reason


def with_provider(provider: FakeProvider) -> Rounds:
    return Rounds(world=World(provider=provider))


def test_a_correct_image_is_read_once_and_delivered_as_it_is() -> None:
    # Given a sign the provider spells right
    rounds, job = Rounds(), sign()
    # When its round is made and checked
    rounds.until_done(job)
    # Then it passed on its first attempt, nothing was re-rolled, and the job succeeded
    (image,) = by_image(rounds.world.items(job))
    assert image.attempts == 1 and image.verdict is Verdict.PASS
    assert rounds.jobs.rounds == [] and rounds.world.provider.calls == 1
    originals, state, reason = rounds.ended
    assert originals == [(0, f"campaigns/summer/{job.job_id}/0.png")]
    assert (state, reason) == (JobState.SUCCEEDED, "")


def test_a_misspelt_image_is_re_rolled_and_the_first_that_passes_is_delivered() -> None:
    # Given a provider whose first draw misspells the store's name
    rounds, job = with_provider(FakeProvider(misspell_calls=frozenset({1}))), sign()
    # When the job's rounds run
    rounds.until_done(job)
    # Then one re-roll of image 0 was asked for, as attempt 2, because of its proof
    ((_, round_),) = rounds.jobs.rounds
    assert round_ == Round(2, (0,), Cause.PROOF)
    # And both attempts are kept and charged; the second passed and is the one delivered
    first, second = rounds.world.items(job)
    assert (first.attempt, first.proof, second.attempt, second.proof) == (1, "fail", 2, "pass")
    assert first.status is second.status is Status.CHARGED
    assert second.s3_key == f"campaigns/summer/{job.job_id}/0-2.png"
    (image,) = by_image(rounds.world.items(job))
    assert image.delivered == second and image.cost_usd == 2 * PRICE
    originals, state, _ = rounds.ended
    assert originals == [(0, second.s3_key)] and state == JobState.SUCCEEDED
    # And the failed proof says what was read where the copy should be
    proof = first.proved
    assert proof is not None and proof.fields[0].name == "store_name"
    assert proof.fields[0].verdict is Verdict.FAIL


def test_a_job_whose_every_attempt_fails_ends_needing_review_with_each_failure() -> None:
    # Given a provider that misspells every draw, and the template's two re-rolls
    always = frozenset(range(1, 10))
    rounds, job = with_provider(FakeProvider(misspell_calls=always)), sign()
    # When the job's rounds run
    rounds.until_done(job)
    # Then three attempts were made and charged, no more
    assert [i.attempt for i in rounds.world.items(job)] == [1, 2, 3]
    assert rounds.world.provider.calls == 3
    # And the last attempt is delivered for a person, the job needing review, saying why
    originals, state, reason = rounds.ended
    assert originals == [(0, f"campaigns/summer/{job.job_id}/0-3.png")]
    assert state == JobState.NEEDS_REVIEW
    assert "image 0, 3 attempts" in reason and "store_name: fail" in reason


def test_an_upload_may_ask_for_no_re_roll_at_all() -> None:
    # Given a misspelt draw and an upload that asked for no re-rolls
    rounds = with_provider(FakeProvider(misspell_calls=frozenset({1})))
    job = sign(origin={"rerolls": 0})
    # When it runs, then the failed attempt is delivered for review at once
    rounds.until_done(job)
    assert rounds.world.provider.calls == 1 and rounds.jobs.rounds == []
    assert rounds.ended[1] == JobState.NEEDS_REVIEW


def test_copy_in_a_script_the_reader_cannot_read_is_unchecked_and_never_re_rolled() -> None:
    # Given a reader that cannot read the store's name
    rounds, job = Rounds(reader=FakeReader(unreadable=frozenset({"Zoe"}))), sign()
    # When the job runs, then the image is unchecked, not failed, and delivered as made
    rounds.until_done(job)
    (image,) = by_image(rounds.world.items(job))
    assert image.verdict is Verdict.UNCHECKED and rounds.jobs.rounds == []
    assert rounds.ended[1] == JobState.SUCCEEDED


def test_a_redelivered_round_reads_nothing_twice_and_a_twin_re_roll_costs_nothing() -> None:
    # Given a misspelt first draw, checked once
    rounds, job = with_provider(FakeProvider(misspell_calls=frozenset({1}))), sign()
    rounds.run(job)
    # When the same round is checked again (a redelivery), then nothing is read again
    (first,) = rounds.world.items(job)
    rounds.proofs.check(job, Round(), [(0, first.s3_key)], "succeeded", "")
    assert rounds.reader.read_count == 1
    # And the twin re-roll request it queued again is made once: the ledger holds attempt 2
    (_, twice), (_, again) = rounds.jobs.rounds
    assert twice == again == Round(2, (0,), Cause.PROOF)
    rounds.world.pipeline.run(job, twice)
    rounds.world.pipeline.run(job, again)
    assert rounds.world.provider.calls == 2
    assert sum(i.cost_usd for i in rounds.world.items(job)) == 2 * PRICE


def test_a_person_s_re_roll_is_judged_but_not_re_rolled_again_by_itself() -> None:
    # Given a delivered image, and a person's re-roll whose draw is misspelt
    rounds, job = with_provider(FakeProvider(misspell_calls=frozenset({2}))), sign()
    rounds.run(job)
    # When the person's round runs
    rounds.run(job, Round(2, (0,), Cause.REVIEW))
    # Then its failed proof is recorded, nothing more is queued, and the job ends again
    assert [i.proof for i in rounds.world.items(job)] == ["pass", "fail"]
    assert rounds.jobs.rounds == []
    assert [state for _, _, state, _ in rounds.derivatives.sent] == [
        JobState.SUCCEEDED,
        JobState.NEEDS_REVIEW,
    ]
    assert rounds.derivatives.repeated == [False, True]


def test_a_re_roll_the_budget_refuses_leaves_the_failed_image_for_review() -> None:
    # Given a campaign whose budget pays for one image only, and a misspelt draw
    budgets = FakeBudgets()
    budgets.set_limit("summer", PRICE, Decimal(0))
    world = World(provider=FakeProvider(misspell_calls=frozenset({1})), budgets=budgets)
    rounds, job = Rounds(world=world), sign(budget=True)
    # When the job's rounds run
    rounds.until_done(job)
    # Then the re-roll was refused before any call, and the first attempt goes for review
    first, refused = rounds.world.items(job)
    assert refused.status is Status.FAILED and refused.over_budget
    assert rounds.world.provider.calls == 1
    originals, state, _ = rounds.ended
    assert originals == [(0, first.s3_key)] and state == JobState.NEEDS_REVIEW


class Blind(FakeReader):
    """A reader handed bytes no decoder opens, as OnnxReader answers them."""

    def read(self, image: bytes) -> list[ReadLine]:
        raise InvalidInput("image", "is not an image placard can read")


def test_bytes_no_reader_can_open_are_unchecked_and_the_job_still_ends() -> None:
    # Given a provider's answer the reader cannot open
    rounds, job = Rounds(reader=Blind()), sign()
    # When its round is checked
    rounds.until_done(job)
    # Then the image is kept unchecked with the reason, nothing is re-rolled, the job ends
    (item,) = rounds.world.items(job)
    proof = item.proved
    assert proof is not None and proof.verdict is Verdict.UNCHECKED
    assert proof.fields[0].problems == ("is not an image placard can read",)
    assert rounds.jobs.rounds == [] and rounds.ended[1] == JobState.SUCCEEDED


def test_a_re_roll_the_provider_refuses_costs_nothing_and_leaves_the_image_for_review() -> None:
    # Given a misspelt first draw, and a provider that refuses every call after it
    provider = FakeProvider(misspell_calls=frozenset({1}))
    rounds, job = with_provider(provider), sign()
    rounds.run(job)
    provider.failure, provider.fail_times = "refuse", 10
    # When the re-roll it asked for is made
    ((queued, round_),) = rounds.jobs.rounds
    rounds.run(queued, round_)
    # Then the refused attempt is recorded at no cost, and the first goes for review
    first, refused = rounds.world.items(job)
    assert (refused.attempt, refused.status, refused.cost_usd) == (2, Status.FAILED, 0)
    originals, state, reason = rounds.ended
    assert originals == [(0, first.s3_key)] and state == JobState.NEEDS_REVIEW
    assert "store_name: fail" in reason
