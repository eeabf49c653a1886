"""The contact sheet of an upload of any size, written as pages.

Up to PAGE_ROWS rows it is one index.html, the same page as ever (its counts filter the cards
by CSS). Past that, index.html holds the upload's totals, its counts and, for each filter (all
rows, each status, failed proof, pending review), the list of that filter's pages; each page
holds at most PAGE_ROWS cards, the same header, and links to the first page of every filter,
to the pages before and after it and to the index. So a filter covers the whole upload, a page
stays small (about 1 MB at 500 rows), and a page presigns only the links it shows: its own
cards' images and a dozen pages.

Each card is rendered once, as rows come, and kept on disk in the Spool; a card in several
filters is copied into each one's pages, never rendered again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import islice

from placard.reporting.contact_sheet import Entry, Nav, Totals, card, matches, page
from placard.reporting.spool import Spool

PAGE_ROWS = 500
INDEX = "index.html"


def page_name(filter_id: str, number: int) -> str:
    """A page's file name, beside index.html (relative links to images keep working)."""
    return f"page-{filter_id}-{number}.html"


class PagedSheet:
    def __init__(
        self, campaign: str, upload: str, spool: Spool, page_rows: int = PAGE_ROWS
    ) -> None:
        self.campaign = campaign
        self.upload = upload
        self.totals = Totals()
        self._spool = spool
        self._page_rows = page_rows
        # filter id -> (first row, last row) of each of its pages, as the cards come
        self._ranges: dict[str, list[tuple[int, int]]] = {}
        self._counts: dict[str, int] = {}

    def add(self, entry: Entry) -> None:
        """The next card, in row order."""
        self.totals.add(entry)
        filters = [f for f, _, _ in self.totals.filters() if matches(f, entry)]
        for filter_id in filters:
            ranges = self._ranges.setdefault(filter_id, [])
            seen = self._counts.get(filter_id, 0)
            if seen % self._page_rows == 0:
                ranges.append((entry.row, entry.row))
            else:
                ranges[-1] = (ranges[-1][0], entry.row)
            self._counts[filter_id] = seen + 1
        self._spool.add_card(filters, card(entry))

    def pages(self, link: Callable[[str], str]) -> Iterator[tuple[str, bytes]]:
        """(file name, HTML) of every page, index.html last; `link` turns a file name into
        the href a page uses (a presigned URL on S3, the name itself in a folder)."""
        if self.totals.rows <= self._page_rows:
            yield INDEX, page(self.campaign, self.upload, self.totals, self._spool.cards("all"))
            return
        filters = [(f, label) for f, label, _ in self.totals.filters() if f in self._ranges]
        firsts = {f: link(page_name(f, 1)) for f, _ in filters}
        index = link(INDEX)
        lists = []
        for filter_id, label in filters:
            ranges = self._ranges[filter_id]
            cards = self._spool.cards(filter_id)
            left = self._counts[filter_id]
            for number, (first, last) in enumerate(ranges, start=1):
                nav = Nav(
                    links=firsts,
                    current=filter_id,
                    label=label,
                    page=number,
                    pages=len(ranges),
                    first_row=first,
                    last_row=last,
                    index=index,
                    previous=link(page_name(filter_id, number - 1)) if number > 1 else "",
                    next=link(page_name(filter_id, number + 1)) if number < len(ranges) else "",
                )
                chunk = list(islice(cards, min(left, self._page_rows)))
                left -= len(chunk)
                html = page(self.campaign, self.upload, self.totals, chunk, nav)
                yield page_name(filter_id, number), html
            listed = [
                (number, first, last, link(page_name(filter_id, number)))
                for number, (first, last) in enumerate(ranges, start=1)
            ]
            lists.append((filter_id, label, listed))
        yield INDEX, page(self.campaign, self.upload, self.totals, (), Nav(firsts, lists=lists))
