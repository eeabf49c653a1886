"""results.csv with proofs, attempts and reviews (docs/design.md §7): what a row delivered,
what it cost in all, what was read back and what a person decided."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

from placard.domain.jobs import Job, Quality
from placard.domain.keys import image_key
from placard.domain.ledger_items import LedgerItem, Status
from placard.domain.proofs import FieldProof, Proof, Review, Verdict
from placard.domain.statuses import RowStatus
from placard.reporting.csv_reports import OUTCOME_HEADER, RowOutcome, results_report, row_outcome
from placard.sheets.reader import Row

NOW = "2026-11-26T00:00:00.000+00:00"
PRICE = Decimal("0.028")
COPY = {"product": "Cold brew", "headline": "Summer Sale", "cta": "Try it"}


def job(n: int = 1, headline: str = "Summer Sale") -> Job:
    copy = {**COPY, "headline": headline}
    return Job("summer", "social-square", "v1", copy, Quality.MEDIUM, None, n=n)


def attempt(
    job: Job, number: int, proof: Proof | None = None, index: int = 0, **changes: object
) -> LedgerItem:
    """One charged attempt at an image, read back as `proof` (None: not read yet)."""
    item = LedgerItem(
        "summer", job.job_id, index, job.template, "v1", "prospolabs", "gpt-image-2", "medium",
        "1024x1024", PRICE, PRICE, Status.CHARGED, NOW, NOW, attempt=number,
        s3_key=image_key("summer", job.job_id, index, "png", attempt=number),
        sha256=f"sha-{index}-{number}",
    )  # fmt: skip
    if proof is not None:
        item = item.but(proof=proof.verdict, proof_fields=proof.to_json())
    return item.but(**changes)


def passed() -> Proof:
    return Proof.of(
        [
            FieldProof("headline", "Summer Sale", Verdict.PASS, read="SUMMER SALE"),
            FieldProof("cta", "Try it", Verdict.PASS, read="Try it"),
        ]
    )


def misspelt(read: str = "Sumer Sale") -> Proof:
    return Proof.of(
        [
            FieldProof(
                "headline",
                "Summer Sale",
                Verdict.FAIL,
                read=read,
                problems=(f"{read.split()[0]!r} where 'Summer'",),
            ),
            FieldProof("cta", "Try it", Verdict.PASS, read="Try it"),
        ]
    )


def outcome(job: Job, *items: LedgerItem) -> RowOutcome:
    return row_outcome(job, {job.job_id: items}, uri=lambda i: i.s3_key, link=str)


def test_a_failed_attempt_and_a_passing_reroll_report_the_reroll_and_both_charges() -> None:
    # Given a job whose first attempt misspelt its headline and whose re-roll passed
    asked = job()
    first, second = attempt(asked, 1, misspelt()), attempt(asked, 2, passed())
    # When its row's outcome is read
    result = outcome(asked, first, second)
    # Then the row succeeded with the re-roll's image, its proof passed after two attempts
    assert result.status is RowStatus.SUCCEEDED
    assert result.images == (second.s3_key,) and result.sha256 == ("sha-0-2",)
    assert result.proof == "pass" and result.attempts == 2
    assert result.proof_detail == "headline: pass, read 'SUMMER SALE'; cta: pass, read 'Try it'"
    # And it cost both attempts, the one nobody sees included
    assert result.cost_usd == 2 * PRICE
    # And nobody has looked at it yet
    assert result.review == ("pending",) and result.decision == "" and result.reason == ""


def test_a_job_whose_attempts_all_failed_needs_review_and_says_what_each_read() -> None:
    # Given a job whose three attempts all misspelt the headline, each differently
    asked = job()
    tries = [attempt(asked, k, misspelt(read)) for k, read in enumerate(["Sumer", "Summr"], 1)]
    tries.append(attempt(asked, 3, misspelt("Sunmer Sale")))
    # When its row's outcome is read
    result = outcome(asked, *tries)
    # Then it needs review, its proof failed, the last attempt is the one delivered
    assert result.status is RowStatus.NEEDS_REVIEW
    assert result.proof == "fail" and result.attempts == 3
    assert result.images == (tries[-1].s3_key,)
    # And the detail names the failing field and what was read
    assert result.proof_detail.startswith(
        "headline: fail, read 'Sunmer Sale' ('Sunmer' where 'Summer')"
    )
    # And the reason gives each attempt's failures, every attempt charged
    for number, read in [(1, "Sumer"), (2, "Summr"), (3, "Sunmer Sale")]:
        assert f"attempt {number}: headline: fail, read {read!r}" in result.reason
    assert result.cost_usd == 3 * PRICE


def test_review_state_decision_and_note_are_what_was_recorded() -> None:
    # Given a delivered image a person rejected with a note, and another job's they approved
    rejected, approved = job(), job(headline="Winter Sale")
    note = "the cup is the wrong colour"
    # When their rows' outcomes are read
    no = outcome(rejected, attempt(rejected, 1, passed(), review="rejected", review_note=note))
    yes = outcome(approved, attempt(approved, 1, passed(), review="approved"))
    # Then each carries the state, and the decision and note as recorded (a sheet uploaded
    # again decides nothing new)
    assert (no.review, no.decision, no.note) == (("rejected",), "rejected", note)
    assert (yes.review, yes.decision, yes.note) == (("approved",), "approved", "")


def test_an_image_not_read_back_yet_is_unchecked_never_blank() -> None:
    # Given a charged image the proof function has not read yet
    asked = job()
    # When its row's outcome is read
    result = outcome(asked, attempt(asked, 1))
    # Then its proof is unchecked and the detail says why
    assert result.proof == "unchecked" and result.proof_detail == "not read back yet"
    assert result.status is RowStatus.SUCCEEDED and result.attempts == 1


def test_several_images_are_numbered_and_one_failure_fails_the_row() -> None:
    # Given a job of two images: the first passed, the second failed twice; a re-roll of the
    # second was asked for by a person after that
    asked = job(n=2)
    items = [
        attempt(asked, 1, passed(), index=0, review=Review.APPROVED),
        attempt(asked, 1, misspelt(), index=1),
        attempt(asked, 2, misspelt("Summer Sal"), index=1),
    ]
    # When its row's outcome is read
    result = outcome(asked, *items)
    # Then the row fails its proof and needs review; each image's detail is numbered
    assert result.status is RowStatus.NEEDS_REVIEW and result.proof == "fail"
    first, second = result.proof_detail.split(" | ")
    assert first.startswith("image 1: headline: pass")
    assert second.startswith("image 2: headline: fail, read 'Summer Sal'")
    # And attempts is the most any image took, the cost every attempt of both
    assert result.attempts == 2 and result.cost_usd == 3 * PRICE
    # And each delivered image has its review; mixed states leave the decision to the person
    assert result.review == ("approved", "pending") and result.decision == ""
    assert result.images == (items[0].s3_key, items[2].s3_key)


def test_results_csv_carries_the_columns_the_review_sheet_is_read_by() -> None:
    # Given a row whose job failed then passed
    asked = job()
    items = [attempt(asked, 1, misspelt()), attempt(asked, 2, passed())]
    # When results.csv is written
    report = results_report(
        [(Row(2, dict(COPY)), asked)], {asked.job_id: items}, uri=lambda i: i.s3_key, link=str
    )
    text = report.to_bytes().decode("utf-8-sig")
    [line] = list(csv.DictReader(io.StringIO(text)))
    # Then the outcome columns are those names, in this order, after the row's own cells
    assert list(line)[-len(OUTCOME_HEADER) :] == [
        "status", "job_id", "images", "links", "sha256", "cost_usd", "proof", "proof_detail",
        "attempts", "review", "decision", "note", "reason",
    ]  # fmt: skip
    # And its cells say what the row delivered and cost
    assert (line["proof"], line["attempts"], line["review"]) == ("pass", "2", "pending")
    assert line["cost_usd"] == "0.056" and line["images"] == items[1].s3_key
