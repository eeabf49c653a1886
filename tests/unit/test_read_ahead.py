"""The report's ledger read asks DynamoDB for each page while it works on the one before
(aws/ledger.py read_ahead): the pages in order, none lost, an error where it happened, and
never more than one page asked for ahead."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from placard.aws.ledger import read_ahead


class Pages:
    """Pages as a paginator gives them, saying which were asked for, and when."""

    def __init__(self, count: int, fail_at: int | None = None) -> None:
        self.count, self.fail_at = count, fail_at
        self.asked: list[int] = []
        self.second = threading.Event()

    def __iter__(self) -> Iterator[dict[str, int]]:
        for number in range(self.count):
            self.asked.append(number)
            if number == 1:
                self.second.set()
            if number == self.fail_at:
                raise RuntimeError(f"page {number}: ProvisionedThroughputExceededException")
            yield {"page": number}


def test_the_next_page_is_asked_for_while_one_is_read() -> None:
    # Given five pages
    pages = Pages(5)
    reading = read_ahead(iter(pages))
    # When the first is read
    assert next(reading) == {"page": 0}
    # Then the second is asked for already, and no further one
    assert pages.second.wait(5)
    time.sleep(0.05)  # time enough to ask for a third, were it asked for
    assert pages.asked == [0, 1]
    # And the rest come in order, each once
    assert list(reading) == [{"page": n} for n in range(1, 5)]
    assert pages.asked == list(range(5))


def test_an_error_comes_where_its_page_would_have() -> None:
    # Given pages whose third cannot be read
    reading = read_ahead(iter(Pages(5, fail_at=2)))
    # When they are read, Then the first two come, then the error
    assert [next(reading), next(reading)] == [{"page": 0}, {"page": 1}]
    with pytest.raises(RuntimeError, match="page 2"):
        next(reading)


def test_no_pages_read_as_none() -> None:
    assert list(read_ahead(iter(Pages(0)))) == []
