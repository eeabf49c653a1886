"""results.csv with proofs, attempts and reviews (docs/design.md §7): what a row delivered,
what it cost in all, what was read back and what a person decided. A row's outcome is read
by row_outcome; the file is the one the report function writes (Reporter.write, streamed)."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

from placard.domain.jobs import Job, Quality
from placard.domain.keys import image_key
from placard.domain.ledger_items import LedgerItem, Status
from placard.domain.proofs import FieldProof, Proof, Review, Verdict
from placard.domain.runs import UploadRun
from placard.domain.statuses import RowStatus
from placard.domain.templates import default_catalogue
from placard.reporting.campaign import Reporter, parsed_rows
from placard.reporting.csv_reports import OUTCOME_HEADER, RowOutcome, row_outcome, same_job_note
from placard.sheets.reader import RowError
from tests.fakes import FakeAssets, FakeLedger, FakeUploads

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


RUN = UploadRun("summer", "campaigns/summer/sheet.csv", "run-1")
HEADER = "template,product,headline,cta,quality,n"


def row(n: int = 1, headline: str = "Summer Sale") -> str:
    return f"social-square,{COPY['product']},{headline},{COPY['cta']},medium,{n}"


def sheet_job(n: int = 1) -> Job:
    """The job a sheet's row asks for, as ingest and the report make it."""
    data = f"{HEADER}\r\n{row(n)}\r\n".encode()
    [(_, made)] = parsed_rows(io.BytesIO(data), "sheet.csv", RUN, b"", default_catalogue())
    assert isinstance(made, Job)
    return made


def results_csv(lines: list[str], *items: LedgerItem) -> list[dict[str, str]]:
    """results.csv as the report function writes it, of a sheet of these rows."""
    uploads, assets, ledger = FakeUploads(), FakeAssets(), FakeLedger()
    uploads.put(RUN.sheet, "\r\n".join([HEADER, *lines, ""]).encode())
    assets.put_report(RUN.reports_prefix + "errors.csv", b"row,column,value,reason\r\n", "")
    for item in items:
        ledger.save(item)
    Reporter(default_catalogue(), uploads, assets, ledger).write(RUN)
    text = assets.read(RUN.reports_prefix + "results.csv").decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text)))


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
    asked = sheet_job()
    items = [attempt(asked, 1, misspelt()), attempt(asked, 2, passed())]
    # When results.csv is written
    [line] = results_csv([row()], *items)
    # Then the row's own cells come first, as read, then the outcome columns: those names, in
    # this order
    assert list(line)[: len(HEADER.split(",")) + 1] == ["row", *HEADER.split(",")]
    assert (line["row"], line["headline"], line["n"]) == ("2", "Summer Sale", "1")
    assert list(line)[-len(OUTCOME_HEADER) :] == [
        "status", "job_id", "images", "links", "sha256", "cost_usd", "estimated_cost_usd",
        "cost_basis", "proof", "proof_detail", "attempts", "review", "decision", "note", "reason",
    ]  # fmt: skip
    # And its cells say what the row delivered and cost: a flat price, with no estimate kept
    assert (line["proof"], line["attempts"], line["review"]) == ("pass", "2", "pending")
    assert line["cost_usd"] == "0.056" and line["images"] == f"s3://assets/{items[1].s3_key}"
    assert (line["estimated_cost_usd"], line["cost_basis"]) == ("", "flat")


# --------------------------------------------------------------------------- estimate and bill

TOKENS = {"text_input": "5.00", "image_input": "8.00", "image_output": "30.00"}


def billed(job: Job, number: int, cost: str, estimate: str, index: int = 0) -> LedgerItem:
    """An OpenAI attempt charged its token bill, placard's estimate kept beside it."""
    return attempt(job, number, passed(), index=index, provider="openai",
                   cost_usd=Decimal(cost), estimate_usd=Decimal(estimate), token_prices=TOKENS,
                   usage={"output_tokens": 1372})  # fmt: skip


def csv_line(job: Job, *items: LedgerItem, rows: int = 1) -> list[dict[str, str]]:
    """results.csv of a sheet of `rows` rows, each asking for `job` (a sheet_job)."""
    return results_csv([row(job.n)] * rows, *items)


def test_a_billed_row_shows_its_estimate_beside_the_bill_of_every_attempt() -> None:
    # Given an OpenAI job of two images, one re-rolled: three attempts billed by tokens, each
    # with the estimate placard made before the call
    asked = sheet_job(n=2)
    items = [
        billed(asked, 1, "0.041372", "0.0412", index=0),
        billed(asked, 1, "0.04101", "0.0412", index=1),
        billed(asked, 2, "0.040998", "0.0412", index=1),
    ]
    # When results.csv is written
    [line] = csv_line(asked, *items)
    # Then the row's cost is the three bills, its estimate the three estimates, both exact
    assert line["cost_usd"] == "0.123380"
    assert line["estimated_cost_usd"] == "0.1236"
    # And the cost is marked as the provider's bill
    assert line["cost_basis"] == "bill"


def test_one_attempt_charged_at_an_estimate_marks_the_whole_row_estimate() -> None:
    # Given a job whose second image's answer reported no usage: charged at its reservation
    asked = sheet_job(n=2)
    items = [
        billed(asked, 1, "0.041372", "0.0412", index=0),
        billed(asked, 1, "0.0470", "0.0412", index=1).but(estimated=True, usage={},
                                                           token_prices={}),
    ]  # fmt: skip
    # When results.csv is written
    [line] = csv_line(asked, *items)
    # Then the cost is marked an estimate, not a bill
    assert line["cost_basis"] == "estimate"
    assert (line["cost_usd"], line["estimated_cost_usd"]) == ("0.088372", "0.0824")


def test_items_made_before_estimates_were_kept_leave_the_estimate_blank_not_zero() -> None:
    # Given a billed row whose items carry no estimate (made before #15), and a rejected row
    asked = job()
    old = billed(asked, 1, "0.041372", "0")
    # When their outcomes are read
    made = outcome(asked, old)
    rejected = row_outcome([RowError(3, "n", "0", "must be from 1 to 10")], {}, str, str)
    # Then the estimate cell is blank, never 0; the basis says bill, and blank with no charge
    assert made.cells()[6:8] == ("", "bill")
    assert rejected.cells()[5:8] == ("0", "", "")


def test_a_failed_attempt_costs_nothing_and_adds_nothing_to_the_estimate() -> None:
    # Given an image whose first attempt failed at the provider (estimated, never billed)
    asked = sheet_job()
    failed = billed(asked, 1, "0", "0.0412").but(status=Status.FAILED, reason="500")
    # When its re-roll is billed and results.csv is written
    [line] = csv_line(asked, failed, billed(asked, 2, "0.041372", "0.0412"))
    # Then only the charged attempt is compared: its bill beside its estimate
    assert (line["cost_usd"], line["estimated_cost_usd"]) == ("0.041372", "0.0412")


def test_a_repeated_row_counts_its_estimate_on_the_first_row_only() -> None:
    # Given two identical rows, one job billed once
    asked = sheet_job()
    # When results.csv is written
    first, second = csv_line(asked, billed(asked, 1, "0.041372", "0.0412"), rows=2)
    # Then the first row has the bill and estimate, the second neither (cost 0, as before)
    assert (first["cost_usd"], first["estimated_cost_usd"], first["cost_basis"]) == (
        "0.041372", "0.0412", "bill",
    )  # fmt: skip
    assert (second["cost_usd"], second["estimated_cost_usd"], second["cost_basis"]) == (
        "0", "", "",
    )  # fmt: skip


def test_a_repeated_row_names_the_first_row_of_its_job_and_no_other_row_does() -> None:
    # Given rows 2 and 5 asking for one job, row 3 another, row 4 rejected (n of 0)
    first = sheet_job()
    lines = [row(), row(headline="Winter Sale"), row(n=0), row()]
    other = parsed_rows(
        io.BytesIO("\r\n".join([HEADER, *lines]).encode()), "sheet.csv", RUN, b"",
        default_catalogue(),
    )[1][1]  # fmt: skip
    assert isinstance(other, Job)
    # When results.csv is written
    found = results_csv(lines, attempt(first, 1, passed()), attempt(other, 1, passed()))
    # Then only row 5 is a repeat, of row 2: its reason says so and its cost is counted there
    reasons = {int(line["row"]): line["reason"] for line in found if line["status"] != "rejected"}
    assert reasons == {2: "", 3: "", 5: same_job_note(2)}
    assert [line["status"] for line in found] == ["succeeded", "succeeded", "rejected",
                                                  "succeeded"]  # fmt: skip
    assert [line["cost_usd"] for line in found] == ["0.028", "0.028", "0", "0"]
