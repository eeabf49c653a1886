from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest

from placard.domain.jobs import Quality, Size
from placard.domain.pricing import default_prices, estimate
from placard.reporting.csv_reports import errors_report, safe_cell
from placard.sheets.reader import RowError


@pytest.mark.parametrize("value", ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", '=HYPERLINK("http://x")'])
def test_formula_like_cells_are_quoted(value: str) -> None:
    assert safe_cell(value) == "'" + value


def test_plain_cells_are_untouched() -> None:
    assert safe_cell("Café 2 for €5") == "Café 2 for €5"
    assert safe_cell(None) == ""


def test_errors_report_has_row_column_value_reason() -> None:
    report = errors_report([RowError(3, "headline", "=cmd()", "is required")])
    rows = list(csv.reader(io.StringIO(report.to_bytes().decode("utf-8-sig"))))
    assert rows == [
        ["row", "column", "value", "reason"],
        ["3", "headline", "'=cmd()", "is required"],
    ]


def test_prices_are_decimal_from_the_data_file() -> None:
    prices = default_prices()
    square = Size(1024, 1024)
    assert prices["prospolabs"].unit_price(Quality.HIGH, square) == Decimal("0.077")
    assert prices["prospolabs"].unit_price(Quality.HIGH, Size(1536, 1024)) == Decimal("0.077")
    # OpenAI's per-image table is only an estimate (placard estimate); its bill is by tokens
    assert prices["openai"].unit_price(Quality.MEDIUM, square) == Decimal("0.047")
    assert prices["openai"].unit_price(Quality.MEDIUM, Size(1024, 1536)) == Decimal("0.0705")
    assert prices["openai"].tokens_per_million == {
        "input_text_tokens": Decimal("5.00"),
        "input_image_tokens": Decimal("8.00"),
        "output_tokens": Decimal("30.00"),
    }
    assert prices["draft"].unit_price(Quality.HIGH, square) == 0


def test_estimate_sums_by_quality() -> None:
    result = estimate(
        default_prices()["prospolabs"],
        [(Quality.LOW, Size(1024, 1024), 3), (Quality.HIGH, Size(1024, 1024), 1)],
    )
    assert result.by_quality[Quality.LOW] == Decimal("0.0216")
    assert result.total == Decimal("0.0986")
    assert result.images == 4


def test_a_reservation_never_settled_is_named_as_possibly_billed() -> None:
    # Given a job whose one image was reserved and never settled (the call got no answer)
    from decimal import Decimal

    from placard.domain.jobs import Job, Quality
    from placard.domain.ledger_items import LedgerItem, Status
    from placard.domain.statuses import RowStatus
    from placard.reporting.csv_reports import UNFINISHED, row_outcome

    job = Job("c", "launch-poster", "v1", {"headline": "A"}, Quality.LOW, None)
    held = LedgerItem(
        "c", job.job_id, 0, "launch-poster", "v1", "openai", "gpt-image-2", "low",
        "1024x1024", Decimal("0.006"), Decimal("0.006"), Status.RESERVED, "t0", "t0",
    )  # fmt: skip
    # When its row's outcome is read
    outcome = row_outcome(job, {job.job_id: [held]}, uri=str, link=str)
    # Then it failed, saying the call may have been billed
    assert outcome.status is RowStatus.FAILED and outcome.reason == UNFINISHED
