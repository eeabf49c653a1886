"""Properties of the sheet reader, for any input hypothesis can think of.

- Any bytes, under any name the reader accepts, end in rows, row errors or one SheetError:
  never another exception (no traceback reaches a person).
- A CSV written by Python's csv.writer, with arbitrary text in its cells, reads back the same
  cells, whatever its encoding, line ending and delimiter.
"""

from __future__ import annotations

import contextlib
import csv
import io
import zipfile

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook

from placard.domain.templates import default_catalogue
from placard.sheets.reader import SheetError, check_rows, read_rows
from placard.sheets.rows import SheetDefaults, jobs_from_rows

CATALOGUE = default_catalogue()
DEFAULTS = SheetDefaults(campaign="props", upload="sheet")
PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def read_all(data: bytes, name: str) -> None:
    """Everything a caller does with a sheet: check it, read it, judge each row."""
    check_rows(io.BytesIO(data), name, max_rows=50)
    rows = read_rows(io.BytesIO(data), name, max_rows=50)
    for _ in jobs_from_rows(rows, CATALOGUE, DEFAULTS):
        pass


def small_workbook() -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["template", "store_name", "message"])
    sheet.append(["storefront-sign", "Zoe", "=UPPER(B2)"])
    sheet.merge_cells("A3:B3")
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


WORKBOOK = small_workbook()
PREFIXES = st.sampled_from(
    [b"", b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff", b"PK\x03\x04", b"\xd0\xcf\x11\xe0",
     b'template,store_name\r\n"', b"sep=;\n"]
)  # fmt: skip
NAMES = st.sampled_from(["s.csv", "s.tsv", "s.txt", "s.xlsx", "s.xlsm", "s.pdf"])


@PROPERTY
@given(prefix=PREFIXES, body=st.binary(max_size=3000), name=NAMES)
def test_any_bytes_end_in_rows_or_a_sheet_error(prefix: bytes, body: bytes, name: str) -> None:
    # Given any bytes, perhaps starting like a BOM, a zip or an OLE file
    # When they are checked, read and judged, then only a SheetError may be raised
    try:
        read_all(prefix + body, name)
    except SheetError as exc:
        assert name in str(exc)


@PROPERTY
@given(
    cuts=st.lists(st.integers(min_value=0, max_value=len(WORKBOOK) - 1), max_size=6),
    values=st.binary(min_size=6, max_size=6),
    end=st.integers(min_value=30, max_value=len(WORKBOOK)),
)
def test_a_damaged_workbook_ends_in_rows_or_a_sheet_error(
    cuts: list[int], values: bytes, end: int
) -> None:
    # Given a real workbook, some of its bytes changed and its end cut off
    data = bytearray(WORKBOOK)
    for where, value in zip(cuts, values, strict=False):
        data[where] = value
    # When it is read, then only a SheetError may be raised, naming the file
    try:
        read_all(bytes(data[:end]), "s.xlsx")
    except SheetError as exc:
        assert "s.xlsx" in str(exc)


@PROPERTY
@given(parts=st.dictionaries(st.sampled_from(
    ["[Content_Types].xml", "xl/workbook.xml", "xl/_rels/workbook.xml.rels", "_rels/.rels",
     "xl/worksheets/sheet1.xml", "xl/sharedStrings.xml", "mimetype"]),
    st.binary(max_size=300), max_size=7))  # fmt: skip
def test_any_zip_of_workbook_parts_ends_in_rows_or_a_sheet_error(parts: dict[str, bytes]) -> None:
    # Given a zip holding some of a workbook's parts, with any content
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    # When it is read, then only a SheetError may be raised
    try:
        read_all(out.getvalue(), "s.xlsx")
    except SheetError as exc:
        assert "s.xlsx" in str(exc)


# Cells: any text a person can type (no control characters, which the reader takes out),
# line breaks and tabs included
CELL = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufeff")
    | st.sampled_from(["\n", "\r", "\t", '"', ",", ";", " "]),
    max_size=30,
)
HEADER = ["template", "headline", "cta"]


@PROPERTY
@given(
    rows=st.lists(st.lists(CELL, min_size=3, max_size=3), min_size=1, max_size=8),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "cp1252"]),
    end=st.sampled_from(["\r\n", "\n", "\r"]),
    delimiter=st.sampled_from([",", ";", "\t"]),
)
def test_a_csv_written_by_csv_writer_reads_back_the_same_cells(
    rows: list[list[str]], encoding: str, end: str, delimiter: str
) -> None:
    # Given rows written by csv.writer, in an encoding, line ending and delimiter (a cell
    # holding a line break the line ending lacks is left unquoted by csv.writer: no reader
    # could tell it from the end of its row, so none is written)
    breaks = {"\r", "\n"} - set(end)
    assume(not any(b in cell for row in rows for cell in row for b in breaks))
    text = io.StringIO()
    csv.writer(text, delimiter=delimiter, lineterminator=end).writerows([HEADER, *rows])
    try:
        data = text.getvalue().encode(encoding)
    except UnicodeEncodeError:
        assume(False)  # Windows-1252 holds only its own characters
    if encoding == "cp1252":  # bytes that are UTF-8 too are read as UTF-8, by design
        with contextlib.suppress(UnicodeDecodeError):
            assume(data.decode("utf-8") == text.getvalue())
    # When it is read
    read = [row.cells for row in read_rows(io.BytesIO(data), "s.csv")]
    # Then every row that is not blank comes back cell for cell
    expected = [dict(zip(HEADER, row, strict=True)) for row in rows if any(c.strip() for c in row)]
    assert read == expected
