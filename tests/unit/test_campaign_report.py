"""An upload's two reports, built from its rows and the ledger."""

from __future__ import annotations

import io
from collections import Counter
from decimal import Decimal

from placard.campaign_report import build, parsed_rows
from placard.jobs import Job
from placard.ledger_items import LedgerItem, Status
from placard.pipeline import image_key, variant_key
from placard.reports import errors_report
from placard.runs import UploadRun
from placard.templates import default_catalogue

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
        updated_at="2026-11-26T00:00:01.000+00:00", s3_key=image_key(job, 0, "png"),
        sha256="0" * 64, attempts=1,
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
    copies = [variant_key(key, variant) for key in originals for variant in ("web", "thumb")]
    assert linked == Counter(originals + copies)
    # And the original's link is in results.csv and in index.html
    for key in originals:
        assert f"https://signed.example/{key}" in reports.results_csv.decode("utf-8-sig")
        assert f"https://signed.example/{key}" in reports.index_html.decode()
