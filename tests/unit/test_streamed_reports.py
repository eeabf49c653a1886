"""#17: an upload's reports written as the ledger and the sheet are read, the contact sheet in
pages. A fake ledger counts how many of its items are alive at once (weak references)."""

from __future__ import annotations

import csv
import io
import re
import time
import weakref
from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal

import pytest

from placard.domain.jobs import Job
from placard.domain.keys import image_key
from placard.domain.ledger_items import LedgerItem, Status
from placard.domain.proofs import FieldProof, Proof, Verdict
from placard.domain.runs import UploadRun
from placard.domain.templates import default_catalogue
from placard.reporting.campaign import PUTS, Reporter, parsed_rows
from placard.reporting.pages import INDEX, PAGE_ROWS
from tests.fakes import FakeAssets, FakeUploads

CAMPAIGN = "summer"
PAGE = 25  # the fake ledger's query page, in items


def sheet(rows: int) -> bytes:
    lines = ["template,product,headline,cta,quality,size"]
    lines += [f"social-square,Cold brew,Summer #{n},Try it,low,1024x1024" for n in range(rows)]
    return ("\r\n".join(lines) + "\r\n").encode()


def charged(job: Job, attempt: int = 1, verdict: Verdict = Verdict.PASS) -> LedgerItem:
    price = Decimal("0.011")
    proof = Proof.of([FieldProof("headline", "x", verdict, read="x")])
    return LedgerItem(
        campaign=job.campaign, job_id=job.job_id, image_index=0, template=job.template,
        template_version=job.template_version, provider="openai", model="gpt-image-2",
        quality=job.quality.value, size=str(job.size), unit_price=price, cost_usd=price,
        status=Status.CHARGED, created_at="2026-11-26T00:00:00.000+00:00",
        updated_at="2026-11-26T00:00:01.000+00:00", sha256="0" * 64, http_attempts=1,
        s3_key=image_key(job.campaign, job.job_id, 0, "png", attempt=attempt), attempt=attempt,
        proof=proof.verdict, proof_fields=proof.to_json(),
    )  # fmt: skip


class CountingLedger:
    """The ledger's items in key order, made a query page at a time; counts the most of them
    alive at once and how many were asked for whole."""

    def __init__(self, items: list[dict[str, object]]) -> None:
        self._items = sorted(items, key=lambda i: str(i["sk"]))  # as DynamoDB holds them
        self.alive = 0
        self.most_alive = 0
        self.whole_reads = 0

    def _gone(self) -> None:
        self.alive -= 1

    def each_campaign_item(self, campaign: str) -> Iterator[LedgerItem]:
        for start in range(0, len(self._items), PAGE):
            page = [LedgerItem.from_item(i) for i in self._items[start : start + PAGE]]
            for item in page:
                weakref.finalize(item, self._gone)
            self.alive += len(page)
            self.most_alive = max(self.most_alive, self.alive)
            del item
            yield from page
            del page

    def campaign_items(self, campaign: str) -> list[LedgerItem]:
        self.whole_reads += 1
        return list(self.each_campaign_item(campaign))

    def job_items(self, campaign: str, job_id: str, lost: bool = False) -> list[LedgerItem]:
        self.whole_reads += 1
        return [LedgerItem.from_item(i) for i in self._items if i["job_id"] == job_id]


def upload(rows: int) -> tuple[Reporter, CountingLedger, FakeAssets, UploadRun, list[Job]]:
    """A sheet of `rows` rows, each job charged once; every fifth failed a proof first."""
    run = UploadRun(CAMPAIGN, f"campaigns/{CAMPAIGN}/big.csv", "run-1")
    data = sheet(rows)
    parsed = parsed_rows(io.BytesIO(data), "big.csv", run, b"", default_catalogue())
    jobs = [job for _, job in parsed if isinstance(job, Job)]
    items = []
    for n, job in enumerate(jobs):
        if n % 5 == 0:
            items.append(charged(job, 1, Verdict.FAIL).to_item())
            items.append(charged(job, 2).to_item())
        else:
            items.append(charged(job).to_item())
    uploads, assets, ledger = FakeUploads(), FakeAssets(), CountingLedger(items)
    uploads.put(run.sheet, data)
    assets.put_report(run.reports_prefix + "errors.csv", b"row,column,value,reason\r\n", "")
    reporter = Reporter(default_catalogue(), uploads, assets, ledger)  # type: ignore[arg-type]
    return reporter, ledger, assets, run, jobs


def test_a_large_uploads_report_never_holds_its_ledger_whole() -> None:
    # Given an upload of 1,200 rows (1,440 ledger items) read a query page of 25 at a time
    reporter, ledger, assets, run, jobs = upload(1200)
    # When its reports are written
    written = reporter.write(run)
    # Then at most a page and a job's items were alive at once, and nothing was read whole
    assert written.rows == 1200
    assert ledger.most_alive <= PAGE + 2
    assert ledger.whole_reads == 0
    # And results.csv has every row, in the sheet's order, each with its delivered image
    text = assets.read(run.reports_prefix + "results.csv").decode("utf-8-sig")
    lines = list(csv.DictReader(io.StringIO(text)))
    assert [int(line["row"]) for line in lines] == list(range(2, 1202))
    assert [line["job_id"] for line in lines] == [job.job_id for job in jobs]
    assert all(line["status"] == "succeeded" for line in lines)
    assert lines[0]["attempts"] == "2" and lines[1]["attempts"] == "1"


def pages_of(assets: FakeAssets, run: UploadRun) -> dict[str, str]:
    prefix = run.reports_prefix
    return {
        key[len(prefix) :]: stored.data.decode()
        for key, stored in assets.objects.items()
        if key.startswith(prefix) and key.endswith(".html")
    }


def rows_on(html: str) -> list[int]:
    return [int(n) for n in re.findall(r'data-row="(\d+)"', html)]


def test_the_contact_sheet_of_a_large_upload_is_an_index_and_pages_by_filter() -> None:
    # Given an upload of 1,200 rows, one in five of which failed a proof before it passed
    reporter, _, assets, run, _ = upload(1200)
    # When its reports are written
    written = reporter.write(run)
    pages = pages_of(assets, run)
    # Then all rows are on three pages of at most 500, in order, each well under 2 MB
    every = [f"page-all-{n}.html" for n in (1, 2, 3)]
    assert [rows_on(pages[name]) for name in every] == [
        list(range(2, 502)), list(range(502, 1002)), list(range(1002, 1202))
    ]  # fmt: skip
    assert max(written.sizes[name] for name in pages) < 2 * 2**20
    # And the failed-proof filter spans the whole upload: its 240 rows on one page
    assert rows_on(pages["page-proof-failed-1.html"]) == list(range(2, 1202, 5))
    # And the pending-review filter pages all 1,200 rows too
    assert sum(len(rows_on(html)) for n, html in pages.items() if "review-pending" in n) == 1200
    # And the index holds no card: the totals, counts, and a link to every page
    index = pages["index.html"]
    assert rows_on(index) == []
    assert '<dd class="total">$15.84</dd>' in index  # 1,440 images of 0.011
    for name in pages:
        if name != "index.html":
            assert f"https://assets.example/{run.reports_prefix}{name}?signed" in index


def test_each_page_presigns_only_its_own_images_and_pages() -> None:
    # Given the pages of a 1,200-row upload
    reporter, _, assets, run, _ = upload(1200)
    reporter.write(run)
    pages = pages_of(assets, run)
    second = pages["page-all-2.html"]
    # Then its image links are those of its own rows' jobs, and no other
    linked = set(re.findall(r"campaigns/summer/([0-9a-f-]+)/", second))
    assert len(linked) == 500
    first = set(re.findall(r"campaigns/summer/([0-9a-f-]+)/", pages["page-all-1.html"]))
    assert not linked & first
    # And its page links are the index, its neighbours and each filter's first page
    page_links = set(re.findall(r"/(page-[a-z_-]+-\d+\.html|index\.html)\?signed", second))
    assert page_links == {
        "index.html", "page-all-1.html", "page-all-3.html", "page-succeeded-1.html",
        "page-proof-failed-1.html", "page-review-pending-1.html",
    }  # fmt: skip
    assert 'aria-current="page"' in second


def test_a_small_upload_keeps_its_one_filtered_page() -> None:
    # Given an upload of as many rows as one page holds
    reporter, _, assets, run, _ = upload(PAGE_ROWS)
    # When its reports are written
    reporter.write(run)
    pages = pages_of(assets, run)
    # Then there is only index.html, every card on it, filtered by its radio counts
    assert list(pages) == ["index.html"]
    assert rows_on(pages["index.html"]) == list(range(2, PAGE_ROWS + 2))
    assert 'id="show-proof-failed"' in pages["index.html"]


class SlowAssets(FakeAssets):
    """An S3 whose every report put takes 20 ms; says when each ran, and how many at once.
    `broken` names a page whose put fails."""

    def __init__(self, broken: str = "") -> None:
        super().__init__()
        self.broken = broken
        self.spans: dict[str, tuple[float, float]] = {}
        self.running = self.most_running = 0

    def put_report(self, key: str, data: bytes, content_type: str) -> None:
        with self._lock:
            self.running += 1
            self.most_running = max(self.most_running, self.running)
        started = time.monotonic()
        time.sleep(0.02)
        with self._lock:
            self.running -= 1
        if self.broken and key.endswith(self.broken):
            raise ConnectionError(f"{key}: connection reset")
        super().put_report(key, data, content_type)
        self.spans[key.rsplit("/", 1)[-1]] = (started, time.monotonic())


def slow_upload(rows: int, assets: SlowAssets) -> tuple[Reporter, UploadRun]:
    reporter, _, fake, run, _ = upload(rows)
    assets.objects.update(fake.objects)  # the sheet's errors.csv
    return replace(reporter, assets=assets), run


def test_the_pages_go_up_several_at_once_and_the_index_last() -> None:
    # Given a 1,200-row upload and an S3 that takes 20 ms a put
    assets = SlowAssets()
    reporter, run = slow_upload(1200, assets)
    # When its reports are written
    written = reporter.write(run)
    # Then every page went up, several at once but never more than the pool's puts
    pages = [name for name in written.sizes if name.endswith(".html")]
    assert set(pages) <= set(assets.spans) and len(pages) > 10
    assert 1 < assets.most_running <= PUTS
    # And index.html only once every page it links to was there
    index_started = assets.spans[INDEX][0]
    assert all(end <= index_started for name, (_, end) in assets.spans.items() if name != INDEX)


def test_a_put_that_fails_fails_the_report_and_no_index_links_to_what_is_missing() -> None:
    # Given an S3 that refuses one page of a 1,200-row upload
    assets = SlowAssets(broken="page-all-2.html")
    reporter, run = slow_upload(1200, assets)
    # When its reports are written, Then the error is raised (the message is delivered again)
    with pytest.raises(ConnectionError, match=r"page-all-2\.html"):
        reporter.write(run)
    # And no index.html went up to link to the page that is not there
    assert INDEX not in assets.spans
