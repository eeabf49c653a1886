from __future__ import annotations

import io
from pathlib import Path

import pytest

from placard.jobs import Job, Quality, Size
from placard.sheets import RowError, SheetDefaults, SheetError, jobs_from_rows, read_rows
from placard.templates import Catalogue

DATA = Path(__file__).parents[1] / "data"
DEFAULTS = SheetDefaults(campaign="summer", upload="mixed")


def outcomes(catalogue: Catalogue, path: Path) -> list[Job | RowError]:
    with path.open("rb") as raw:
        return list(jobs_from_rows(read_rows(raw, path.name), catalogue, DEFAULTS))


def test_good_rows_become_jobs_and_bad_rows_errors_naming_row_and_column(
    catalogue: Catalogue,
) -> None:
    # Given a sheet mixing good rows, bad rows and a blank row
    results = outcomes(catalogue, DATA / "mixed.csv")
    jobs = [r for r in results if isinstance(r, Job)]
    errors = [r for r in results if isinstance(r, RowError)]
    # Then the good rows (2 and 7) become jobs with their defaults and values
    assert [j.origin["row"] for j in jobs] == [2, 7]
    assert jobs[0].size == Size(1024, 1536) and jobs[0].quality is Quality.MEDIUM
    assert jobs[1].n == 2 and jobs[1].quality is Quality.HIGH
    # And every problem of every bad row is reported with its row number and column
    found = {(e.row, e.column) for e in errors}
    assert found == {(3, "headline"), (4, "template"), (5, "quality"), (5, "size"), (8, "n")}
    assert next(e for e in errors if e.row == 4).reason == "no template named 'no-such-template'"


def test_semicolon_csv_with_bom_and_accents(catalogue: Catalogue) -> None:
    results = outcomes(catalogue, DATA / "events-semicolon-bom.csv")
    assert all(isinstance(r, Job) for r in results)
    assert [r.variables["event_name"] for r in results if isinstance(r, Job)] == [
        "Harbour Jazz Night",
        "Straßenfest Kreuzberg",
        "Maker Faire Lyon",
    ]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "cp1252"])
@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_encodings_and_delimiters_as_spreadsheets_write_them(
    catalogue: Catalogue, encoding: str, delimiter: str
) -> None:
    text = delimiter.join(["Template", " Store Name ", "message"]) + "\r\n"
    text += delimiter.join(["storefront-sign", "Café Zoë", "Grand opening €5 off"]) + "\r\n"
    rows = list(read_rows(io.BytesIO(text.encode(encoding)), "s.csv"))
    assert rows[0].cells == {
        "template": "storefront-sign",
        "store_name": "Café Zoë",
        "message": "Grand opening €5 off",
    }


def test_xlsx_first_sheet_is_read_and_its_bad_row_reported(catalogue: Catalogue) -> None:
    # Given a workbook whose first sheet has three price signs and a storefront sign without copy
    results = outcomes(catalogue, DATA / "grocery-signs.xlsx")
    jobs = [r for r in results if isinstance(r, Job)]
    errors = [r for r in results if isinstance(r, RowError)]
    # Then the signs are jobs and the empty storefront row names both missing variables
    assert [j.variables["price"] for j in jobs] == ["$2.49", "$5.99", "$4.79"]
    assert jobs[0].variables["unit"] == "per lb"
    assert {(e.row, e.column) for e in errors} == {(5, "store_name"), (5, "message")}


def test_an_unreadable_sheet_is_a_sheet_error() -> None:
    with pytest.raises(SheetError, match="no header"):
        list(read_rows(io.BytesIO(b"\n\n"), "empty.csv"))
    with pytest.raises(SheetError, match="duplicate"):
        list(read_rows(io.BytesIO(b"a,A\n1,2\n"), "dup.csv"))
    with pytest.raises(SheetError, match=r"\.csv or \.xlsx"):
        list(read_rows(io.BytesIO(b""), "sheet.pdf"))
