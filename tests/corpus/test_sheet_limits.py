"""Sheets past placard's limits (issue #17): a zip bomb dressed as a workbook and a sheet past
the row limit are refused whole, before any job is queued, with the limit and the value.

sheets/zip-bomb.xlsx is 1.6 KB that inflates to 1 GiB: a workbook's first parts, then a
sheet1.xml of one XML header and 1 GiB of spaces, compressed with bzip2 (which zip allows and
Python's zipfile reads; deflate stops near 1,000:1, bzip2 reaches a million to one)."""

from __future__ import annotations

import bz2
import io
import struct
import zipfile
from pathlib import Path

import openpyxl
import pytest

from placard.reporting.csv_reports import read_errors
from placard.sheets.reader import MIB, XLSX_INFLATED, SheetError, check_rows, read_rows
from tests.fakes import IngestFakes

BOMB = Path(__file__).parent / "sheets" / "zip-bomb.xlsx"
HEADER = "template,store_name,message"


def test_the_bomb_is_real() -> None:
    # Given the corpus's zip bomb: small on disk, its sheet declared at 1 GiB
    part = zipfile.ZipFile(BOMB).getinfo("xl/worksheets/sheet1.xml")
    assert BOMB.stat().st_size < 4096 and part.file_size == 1 << 30
    # Then its bytes really inflate: its first 64 MiB come out of its stream, a bounded
    # piece at a time (zipfile would inflate a bzip2 chunk whole: a gigabyte in memory)
    data = BOMB.read_bytes()
    name_length, extra_length = struct.unpack("<HH", data[part.header_offset + 26 :][:4])
    start = part.header_offset + 30 + name_length + extra_length
    stream, inflated = bz2.BZ2Decompressor(), b""
    out = stream.decompress(data[start : start + part.compress_size], max_length=MIB)
    assert out.startswith(b"<?xml")
    for _ in range(63):
        inflated = stream.decompress(b"", max_length=MIB)
        assert len(inflated) == MIB
    assert inflated == b" " * MIB


def test_a_workbook_compressed_by_another_method_is_refused_before_inflating() -> None:
    # Given a workbook-looking zip whose parts are bzip2 (zipfile would inflate each read
    # whole, whatever size the directory gives)
    raw = io.BytesIO()
    with zipfile.ZipFile(raw, "w", zipfile.ZIP_BZIP2) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook/>")
    raw.seek(0)
    # Then it is refused by the method, naming the part
    with pytest.raises(SheetError, match=r"its part \[Content_Types\]\.xml is compressed with "
                       r"method 12 \(a workbook's parts are deflated\)"):  # fmt: skip
        check_rows(raw, "odd.xlsx")


def test_a_zip_bomb_is_refused_before_the_workbook_is_parsed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a workbook reader that fails the test if it is ever called
    def parsed(*args: object, **kwargs: object) -> None:
        raise AssertionError("openpyxl was given the zip bomb")

    monkeypatch.setattr(openpyxl, "load_workbook", parsed)
    # When the bomb is checked or read, then it is refused by its inflated size, named
    answer = r"zip-bomb\.xlsx: its 3 parts inflate to 1,024 MiB; at most 256 MiB in all"
    for read in (check_rows, lambda raw, name: list(read_rows(raw, name))):
        with BOMB.open("rb") as raw, pytest.raises(SheetError, match=answer):
            read(raw, BOMB.name)
    assert XLSX_INFLATED == 256 * MIB


def test_a_zip_bomb_uploaded_queues_nothing_and_says_why() -> None:
    # Given the bomb uploaded as a campaign's sheet
    fakes = IngestFakes()
    fakes.uploads.put("campaigns/summer/zip-bomb.xlsx", BOMB.read_bytes())
    # When it is ingested
    report = fakes.service().run("campaigns/summer/zip-bomb.xlsx", "run-1")
    # Then no job is queued, errors.csv gives the limit and the value, and the (empty)
    # reports are asked for at once
    assert fakes.queue.jobs == [] and report.jobs == 0 and report.errors == 1
    (error,) = read_errors(fakes.assets.read("reports/summer/zip-bomb/errors.csv"))[0]
    assert "inflate to 1,024 MiB; at most 256 MiB in all" in error.reason
    assert len(fakes.reports.sent) == 1


def sheet(rows: int, blank_every: int = 0) -> bytes:
    lines = [HEADER]
    for i in range(rows):
        lines.append(f"storefront-sign,Shop {i},Open")
        if blank_every and i % blank_every == 0:
            lines.append(",,")  # a fully empty row: skipped, not counted
    return ("\r\n".join(lines) + "\r\n").encode()


def test_a_sheet_past_the_row_limit_is_answered_with_its_rows_and_the_limit() -> None:
    # Given a sheet of 12 rows (and empty ones between them) against a limit of 10
    fakes = IngestFakes()
    fakes.uploads.put("campaigns/summer/catalogue.csv", sheet(12, blank_every=3))
    # When it is ingested
    report = fakes.service(max_rows=10).run("campaigns/summer/catalogue.csv", "run-1")
    # Then no row is queued, and the answer counts the rows, not the empty ones
    assert fakes.queue.jobs == [] and report.jobs == 0
    (error,) = read_errors(fakes.assets.read("reports/summer/catalogue/errors.csv"))[0]
    assert error.reason == (
        "catalogue.csv: the sheet has 12 rows; the limit is 10 (MaxSheetRows); split it into "
        "sheets of at most 10 rows"
    )


def test_a_sheet_at_the_row_limit_is_queued_whole() -> None:
    fakes = IngestFakes()
    fakes.uploads.put("campaigns/summer/catalogue.csv", sheet(10, blank_every=3))
    report = fakes.service(max_rows=10).run("campaigns/summer/catalogue.csv", "run-1")
    assert report.jobs == 10 and report.errors == 0


def test_a_long_sheet_is_counted_in_thousands() -> None:
    # Given 2,501 rows against a limit of 2,000, then the figures read as a person writes them
    with pytest.raises(SheetError, match=r"has 2,501 rows; the limit is 2,000 \(MaxSheetRows\)"):
        check_rows(io.BytesIO(sheet(2501)), "long.csv", max_rows=2000)
