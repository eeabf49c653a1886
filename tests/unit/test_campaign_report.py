"""An upload's two reports, built from its rows and the ledger."""

from __future__ import annotations

import csv
import io
from collections import Counter
from decimal import Decimal

from placard.domain.jobs import Job
from placard.domain.keys import derivative_key, image_key
from placard.domain.ledger_items import LedgerItem, Status
from placard.domain.proofs import FieldProof, Proof, Verdict
from placard.domain.runs import UploadRun
from placard.domain.templates import default_catalogue
from placard.reporting.campaign import build, parsed_rows
from placard.reporting.csv_reports import errors_report

SHEET = (
    "template,product,headline,cta,quality,size\r\n"
    "social-square,Cold brew,Summer #1,Try it,low,1024x1024\r\n"
    "social-square,Cold brew,Summer #2,Try it,low,1024x1024\r\n"
)


def charged(job: Job) -> LedgerItem:
    price = Decimal("0.011")
    return LedgerItem(
        campaign=job.campaign, job_id=job.job_id, image_index=0, template=job.template,
        template_version=job.template_version, provider="openai", model="gpt-image-2",
        quality=job.quality.value, size=str(job.size), unit_price=price, cost_usd=price,
        status=Status.CHARGED, created_at="2026-11-26T00:00:00.000+00:00",
        updated_at="2026-11-26T00:00:01.000+00:00", sha256="0" * 64, http_attempts=1,
        s3_key=image_key(job.campaign, job.job_id, 0, "png"),
    )  # fmt: skip


def test_each_image_is_linked_once_and_both_reports_carry_its_link() -> None:
    # Given two rows whose jobs each charged an image
    run = UploadRun("summer", "campaigns/summer/sheet.csv", "run-1")
    rows = parsed_rows(
        io.BytesIO(SHEET.encode()), "sheet.csv", run, errors_report().to_bytes(),
        default_catalogue(),
    )  # fmt: skip
    items = {job.job_id: [charged(job)] for _, job in rows if isinstance(job, Job)}
    linked: Counter[str] = Counter()

    def link(key: str) -> str:  # a presigned URL costs about 1 ms on Lambda
        linked[key] += 1
        return f"https://signed.example/{key}"

    # When the reports are built
    reports = build(run, rows, items, uri=lambda key: f"s3://assets/{key}", link=link)
    # Then each original, web copy and thumbnail was linked once
    originals = [item.s3_key for [item] in items.values()]
    copies = [derivative_key(key, kind) for key in originals for kind in ("web", "thumb")]
    assert linked == Counter(originals + copies)
    # And the original's link is in results.csv and in index.html
    for key in originals:
        assert f"https://signed.example/{key}" in reports.results_csv.decode("utf-8-sig")
        assert f"https://signed.example/{key}" in reports.index_html.decode()


TWINS = SHEET + "social-square,Cold brew,Summer #1,Try it,low,1024x1024\r\n"


def _twin_reports() -> tuple[list[dict[str, str]], str]:
    run = UploadRun("summer", "campaigns/summer/sheet.csv", "run-1")
    rows = parsed_rows(
        io.BytesIO(TWINS.encode()), "sheet.csv", run, errors_report().to_bytes(),
        default_catalogue(),
    )  # fmt: skip
    items = {job.job_id: [charged(job)] for _, job in rows if isinstance(job, Job)}
    reports = build(run, rows, items, uri=lambda key: f"s3://a/{key}", link=lambda key: key)
    text = reports.results_csv.decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text))), reports.index_html.decode()


def test_a_repeated_row_shows_the_same_images_and_its_cost_is_counted_once() -> None:
    # Given a sheet whose row 4 repeats row 2 (one job, one image charged 0.011)
    # When the reports are built
    results, html = _twin_reports()
    first, twin = results[0], results[2]
    # Then both rows show the same image and succeeded
    assert twin["status"] == first["status"] == "succeeded"
    assert twin["images"] == first["images"] and twin["job_id"] == first["job_id"]
    # And the cost is on the first row only; the twin says where it is counted
    assert first["cost_usd"] == "0.011" and twin["cost_usd"] == "0"
    assert "same job as row 2" in twin["reason"]
    # And the contact sheet's total is the ledger's: two images of 0.011, not three
    assert '<dd class="total">$0.022</dd>' in html
    assert "same job as row 2" in html


def test_reports_are_written_when_the_ledger_cannot_be_read() -> None:
    # Given a ledger whose campaign read fails, and one job of two that cannot be read either
    from placard.reporting.campaign import Reporter

    run = UploadRun("summer", "campaigns/summer/sheet.csv", "run-1")
    sheet_rows = parsed_rows(io.BytesIO(SHEET.encode()), "sheet.csv", run, b"", default_catalogue())
    good, bad = (job for _, job in sheet_rows if isinstance(job, Job))

    class Ledger:
        def campaign_items(self, campaign: str) -> list[LedgerItem]:
            raise TypeError("missing 1 required positional argument: 'size'")

        def job_items(self, campaign: str, job_id: str, lost: bool = False) -> list[LedgerItem]:
            if job_id == bad.job_id:
                raise TypeError("missing 1 required positional argument: 'size'")
            return [charged(good)]

    class Uploads:
        def open(self, key: str) -> io.BytesIO:
            return io.BytesIO(SHEET.encode())

    class Assets:  # and no errors.csv: ingest stopped before writing it
        def read(self, key: str) -> bytes:
            raise KeyError(key)

    reporter = Reporter(default_catalogue(), Uploads(), Assets(), Ledger())  # type: ignore[arg-type]
    # When the run's rows and ledger are gathered
    found = reporter.gather(run)
    # Then the good row keeps its image, and the other says its record could not be read
    assert found.items[good.job_id] == [charged(good)]
    [stand_in] = found.items[bad.job_id]
    assert stand_in.status is Status.FAILED and "could not be read" in stand_in.reason
    assert "cost is not known" in stand_in.reason


def test_a_rerolled_image_is_delivered_and_both_reports_count_every_attempt() -> None:
    # Given two rows: the first's image failed its proof once, then its re-roll passed and a
    # person approved it; the second's image was charged but not read back yet
    run = UploadRun("summer", "campaigns/summer/sheet.csv", "run-1")
    rows = parsed_rows(
        io.BytesIO(SHEET.encode()), "sheet.csv", run, errors_report().to_bytes(),
        default_catalogue(),
    )  # fmt: skip
    first, second = (job for _, job in rows if isinstance(job, Job))
    wrong = Proof.of([FieldProof("headline", "Summer #1", Verdict.FAIL, read="Sumer #1")])
    right = Proof.of([FieldProof("headline", "Summer #1", Verdict.PASS, read="SUMMER #1")])
    tried = charged(first).but(proof=wrong.verdict, proof_fields=wrong.to_json())
    again = charged(first).but(
        attempt=2, s3_key=image_key("summer", first.job_id, 0, "png", attempt=2),
        proof=right.verdict, proof_fields=right.to_json(), review="approved",
    )  # fmt: skip
    items = {first.job_id: [tried, again], second.job_id: [charged(second)]}
    # When the reports are built
    reports = build(run, rows, items, uri=lambda key: f"s3://a/{key}", link=lambda key: key)
    # Then results.csv delivers the re-roll, passed, after two attempts charged
    one, two = csv.DictReader(io.StringIO(reports.results_csv.decode("utf-8-sig")))
    assert one["images"] == f"s3://a/{again.s3_key}" and one["proof"] == "pass"
    assert (one["attempts"], one["cost_usd"], one["review"]) == ("2", "0.022", "approved")
    assert one["decision"] == "approved"
    # And the image not read yet is unchecked, pending
    assert (two["proof"], two["review"], two["decision"]) == ("unchecked", "pending", "")
    # And the contact sheet shows the re-roll, links the first attempt, counts both charges
    html = reports.index_html.decode()
    assert f'src="{derivative_key(again.s3_key, "thumb")}"' in html
    assert f'href="{tried.s3_key}" target="_blank" rel="noopener" class="attempt"' in html
    assert '<dd class="total">$0.033</dd>' in html


def test_both_reports_give_each_rows_estimate_beside_its_bill_and_count_a_twin_once() -> None:
    # Given a sheet whose row 4 repeats row 2, billed by OpenAI's tokens: row 2's image at
    # 0.011 beside an estimate of 0.0106, row 3's answer without usage, charged its estimate
    run = UploadRun("summer", "campaigns/summer/sheet.csv", "run-1")
    rows = parsed_rows(
        io.BytesIO(TWINS.encode()), "sheet.csv", run, errors_report().to_bytes(),
        default_catalogue(),
    )  # fmt: skip
    first, second, _ = (job for _, job in rows if isinstance(job, Job))
    tokens = {"text_input": "5.00", "image_input": "8.00", "image_output": "30.00"}
    items = {
        first.job_id: [charged(first).but(estimate_usd=Decimal("0.0106"), token_prices=tokens)],
        second.job_id: [charged(second).but(estimate_usd=Decimal("0.0106"), estimated=True)],
    }
    # When the reports are built
    reports = build(run, rows, items, uri=lambda key: f"s3://a/{key}", link=lambda key: key)
    # Then results.csv gives each row its estimate and where its cost comes from
    one, two, twin = csv.DictReader(io.StringIO(reports.results_csv.decode("utf-8-sig")))
    assert [(r["cost_usd"], r["estimated_cost_usd"], r["cost_basis"]) for r in (one, two)] == [
        ("0.011", "0.0106", "bill"),
        ("0.011", "0.0106", "estimate"),
    ]
    # And the twin shows neither: its images are counted on row 2
    assert (twin["cost_usd"], twin["estimated_cost_usd"], twin["cost_basis"]) == ("0", "", "")
    # And the contact sheet totals two images, not three: 0.022 against 0.0212, one at an
    # estimate
    html = reports.index_html.decode()
    assert '<dd class="total">$0.022</dd>' in html
    assert "$0.0212</dd>" in html and "+$0.0008 <small>(+3.8%)</small>" in html
    assert 'class="estimated-images" title="images whose answer reported no usage">1</dd>' in html
