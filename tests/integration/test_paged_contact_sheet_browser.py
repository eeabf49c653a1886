"""#17: the contact sheet of a large upload, as pages, in headless Chromium (the harness of
test_contact_sheet_browser.py): the index opens, its links lead to pages, every thumbnail of
a page loads, and a filter's pages hold that filter's rows from the whole upload."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page

from placard.domain.proofs import FieldProof, Verdict
from placard.domain.statuses import RowStatus
from placard.imaging.derivatives import derivatives
from placard.reporting.contact_sheet import Attempt, Entry, Shot
from placard.reporting.pages import PagedSheet
from placard.reporting.spool import Spool
from tests.integration.test_contact_sheet_browser import (
    _Quiet,
    browser,  # noqa: F401 (the fixture)
    load_every_image,
    poster_png,
    visible_rows,
)

ROWS = 1_100  # three pages of all rows: 500, 500, 100
POSTERS = 6  # distinct images, shared by the rows (the browser fetches each thumbnail href)


def entry(row: int) -> Entry:
    """Every row succeeded; one in ten failed a proof before its re-roll passed."""
    base = f"images/poster-{row % POSTERS}"
    failed = row % 10 == 0
    shot = Shot(
        f"{base}.thumb.webp?row={row}",  # one request a card, as presigned links would be
        f"{base}.web.webp",
        f"{base}.png",
        verdict=Verdict.PASS,
        fields=(FieldProof("headline", f"Sale {row}", Verdict.PASS, read=f"SALE {row}"),),
        attempt=2 if failed else 1,
        others=(Attempt(1, Verdict.FAIL),) if failed else (),
    )
    copy = {"headline": f"Sale {row}"}
    return Entry(row, RowStatus.SUCCEEDED, "social-square", copy, Decimal("0.011"), "", [shot])


def write_sheet(folder: Path, rows: int, keep: Callable[[str], bool] = bool) -> None:
    """The upload's contact sheet as pages in `folder` (those `keep` names), and the posters
    its thumbnails show."""
    images = folder / "images"
    images.mkdir()
    for n in range(POSTERS):
        original = poster_png((1024, 1024), "Sale", n)
        (images / f"poster-{n}.png").write_bytes(original)
        for derivative in derivatives(original):
            (images / f"poster-{n}.{derivative.kind}.{derivative.extension}").write_bytes(
                derivative.data
            )
    with Spool(str(folder)) as spool:
        sheet = PagedSheet("summer", "big", spool)
        for row in range(2, rows + 2):
            sheet.add(entry(row))
        for name, html in sheet.pages(str):
            if keep(name):
                (folder / name).write_bytes(html)


@contextmanager
def served(folder: Path) -> Iterator[str]:
    handler = functools.partial(_Quiet, directory=str(folder))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def open_index(chromium: Browser, url: str) -> tuple[BrowserContext, Page, list[str]]:
    """index.html opened and loaded; the page, and the script errors it raises from now on."""
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    response = page.goto(url + "index.html", wait_until="load")
    assert response is not None and response.ok
    return context, page, problems


@pytest.fixture
def served_pages(tmp_path: Path) -> Iterator[str]:
    write_sheet(tmp_path, ROWS)
    with served(tmp_path) as url:
        yield url


def test_the_index_opens_and_every_thumbnail_of_a_page_loads(
    served_pages: str,
    browser: Browser,  # noqa: F811 (the fixture imported above)
) -> None:
    # Given a 1,100-row upload's contact sheet as pages, served over HTTP
    url = served_pages
    # When the index is opened
    context, page, problems = open_index(browser, url)
    # Then it holds the totals and counts, no card, and the pages of each filter
    assert page.locator("article.card").count() == 0
    assert page.locator("dd.total").text_content() == "$12.10"
    assert page.locator("section[data-filter='all'] li").count() == 3
    assert page.locator("section[data-filter='proof-failed'] li").count() == 1

    # When its second page of all rows is followed
    page.locator("section[data-filter='all'] a", has_text="2").first.click()
    page.wait_for_load_state()
    assert page.url == url + "page-all-2.html"
    # Then it shows rows 502 to 1001, and every one of its thumbnails loads
    assert visible_rows(page) == list(range(502, 1002))
    images = load_every_image(page)
    assert len(images) == 500
    broken = [i["src"] for i in images if not (i["complete"] and i["width"] > 0)]
    assert not broken, f"thumbnails that did not load: {broken[:5]}"

    # And the failed-proof count leads to every such row of the upload, not of one page
    page.locator("a.chip[data-filter='proof-failed']").click()
    page.wait_for_load_state()
    assert page.url == url + "page-proof-failed-1.html"
    assert visible_rows(page) == list(range(10, ROWS + 2, 10))
    # And "Next" from the first page of all rows leads to the second
    page.goto(url + "page-all-1.html")
    page.locator("a.next").click()
    page.wait_for_load_state()
    assert page.url == url + "page-all-2.html"
    assert not problems, problems
    context.close()


def test_the_index_of_a_100000_row_upload_opens_and_its_last_page_loads(
    tmp_path: Path,
    browser: Browser,  # noqa: F811 (the fixture imported above)
) -> None:
    # Given a 100,000-row upload's contact sheet: its index, and the last page of all rows
    # (the other 680 pages are made, not kept: 1.4 GB of cards this test need not write)
    last = "page-all-200.html"
    write_sheet(tmp_path, 100_000, keep=lambda name: name in {"index.html", last})
    with served(tmp_path) as url:
        # When the index is opened
        context, page, problems = open_index(browser, url)
        # Then it lists every page of each filter, and holds no card
        assert page.locator("article.card").count() == 0
        assert page.locator("section[data-filter='all'] li").count() == 200
        assert page.locator("section[data-filter='proof-failed'] li").count() == 20
        assert page.locator("dd.total").text_content() == "$1,100.00"
        # When its last page of all rows is followed
        page.locator("section[data-filter='all'] a", has_text="200").first.click()
        page.wait_for_load_state()
        assert page.url == url + last
        # Then it shows the last 500 rows, and every one of its thumbnails loads
        assert visible_rows(page) == list(range(99_502, 100_002))
        images = load_every_image(page)
        assert len(images) == 500
        assert all(i["complete"] and i["width"] > 0 for i in images)
        assert not problems, problems
        context.close()
