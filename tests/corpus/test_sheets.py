"""Sheets as every tool saves them, and as nobody should: each case names its answer.

Every case is a whole file: CSV, TSV, XLSX or something pretending to be one. A case either
refuses the sheet with a message naming the file, what was found and what is allowed, or
reads it with the bad row's error (row, column, key words) while the good rows beside it still
become jobs. Ingest's own answers (a job queued once, warnings, limits before any job) follow.
"""

from __future__ import annotations

import codecs
import datetime as dt
import io
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass

import pytest
from openpyxl import Workbook

from placard.domain.jobs import Job
from placard.domain.templates import default_catalogue
from placard.reporting.csv_reports import read_errors
from placard.sheets.reader import RowError, SheetError, check_rows, read_rows
from placard.sheets.rows import SheetDefaults, jobs_from_rows
from tests.fakes import (
    IngestFakes,
)

HEADER = "template,store_name,message"
GOOD = "storefront-sign,Zoe,Now open"
DEFAULTS = SheetDefaults(campaign="corpus", upload="sheet")


def csv_bytes(*lines: str, end: str = "\r\n", encoding: str = "utf-8") -> bytes:
    return "".join(line + end for line in lines).encode(encoding)


def xlsx(rows: Sequence[Sequence[object]], merge: str | None = None) -> bytes:
    """A workbook as openpyxl writes it: formulas are saved with no value, as Excel never
    opened it."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(list(row))
    if merge:
        sheet.merge_cells(merge)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def zipped(parts: dict[str, bytes], level: int = 6) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    return out.getvalue()


def zeros_part(name: str, size: int) -> bytes:
    """A workbook-looking zip with one part of `size` zero bytes, written in chunks (never
    held whole): what a zip bomb declares is what it inflates to."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        archive.writestr("[Content_Types].xml", b"<Types/>")
        archive.writestr("xl/workbook.xml", b"<workbook/>")
        with archive.open(name, "w", force_zip64=True) as part:
            chunk = b"\0" * (1024 * 1024)
            for _ in range(size // len(chunk)):
                part.write(chunk)
    return out.getvalue()


@dataclass(frozen=True)
class Answer:
    """What placard must answer: a refusal of the whole sheet, or the rows that become jobs
    and the errors (row, column, words in the reason) of the others."""

    sheet: str = ""  # a regex the SheetError must match
    jobs: tuple[int, ...] = ()
    errors: tuple[tuple[int, str, str], ...] = ()
    warnings: tuple[tuple[str, str], ...] = ()  # (column, words)


def judge(
    data: bytes, name: str, max_rows: int = 200_000
) -> tuple[list[Job], list[RowError], list[RowError]]:
    outcomes = list(
        jobs_from_rows(
            read_rows(io.BytesIO(data), name, max_rows=max_rows), default_catalogue(), DEFAULTS
        )
    )
    jobs = [o for o in outcomes if isinstance(o, Job)]
    errors = [o for o in outcomes if isinstance(o, RowError) and not o.warning]
    warnings = [o for o in outcomes if isinstance(o, RowError) and o.warning]
    return jobs, errors, warnings


LONG_CELL = "x" * 200_000
ENCRYPTED_OLE = (
    b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 504 + "EncryptedPackage".encode("utf-16-le")
)
CASES = [
    # Line endings, encodings and BOMs as spreadsheet programs write them
    ("crlf-windows-excel", csv_bytes(HEADER, GOOD, GOOD.replace("Zoe", "Ann")), "s.csv",
     Answer(jobs=(2, 3))),
    ("lf-unix", csv_bytes(HEADER, GOOD, GOOD.replace("Zoe", "Ann"), end="\n"), "s.csv",
     Answer(jobs=(2, 3))),
    ("lone-cr-old-mac-excel", csv_bytes(HEADER, GOOD, GOOD.replace("Zoe", "Ann"), end="\r"),
     "s.csv", Answer(jobs=(2, 3))),
    ("lone-cr-semicolons-quoted-line-break",
     csv_bytes("template;store_name;message", 'storefront-sign;Zoe;"Line\rone"', end="\r"),
     "s.csv", Answer(jobs=(2,))),
    ("mixed-line-endings", b"template,store_name,message\r\n" + GOOD.encode() + b"\n"
     + GOOD.replace("Zoe", "Ann").encode() + b"\r", "s.csv", Answer(jobs=(2, 3))),
    ("utf8-bom", codecs.BOM_UTF8 + csv_bytes(HEADER, "storefront-sign,Café Zoë,Ouvert"),
     "s.csv", Answer(jobs=(2,))),
    ("utf16-le-bom-unicode-text-txt", csv_bytes(HEADER.replace(",", "\t"),
     "storefront-sign\t山田書店\t新刊 📚", encoding="utf-16"), "s.txt", Answer(jobs=(2,))),
    ("utf16-be-bom", codecs.BOM_UTF16_BE + csv_bytes(HEADER, GOOD, encoding="utf-16-be"),
     "s.csv", Answer(jobs=(2,))),
    ("windows-1252-euro", csv_bytes(HEADER, "storefront-sign,Café,€5 off – today",
     encoding="cp1252"), "s.csv", Answer(jobs=(2,))),
    # Empty files of every kind
    ("zero-bytes", b"", "s.csv", Answer(sheet=r"s\.csv: the sheet is empty")),
    ("only-a-utf8-bom", codecs.BOM_UTF8, "s.csv", Answer(sheet=r"s\.csv: the sheet is empty")),
    ("only-a-utf16-bom", codecs.BOM_UTF16_LE, "s.txt",
     Answer(sheet=r"s\.txt: the sheet is empty")),
    ("only-whitespace-and-newlines", b" \r\n\t\n\r\n  ", "s.csv",
     Answer(sheet=r"s\.csv: the sheet is empty")),
    ("header-only-reads-no-rows", csv_bytes(HEADER), "s.csv", Answer()),
    # Quoting mistakes, each named with its line; the rows after it are read
    ("unclosed-quote-running-to-eof", csv_bytes(HEADER, GOOD, 'storefront-sign,Ann,"Open',
     GOOD.replace("Zoe", "Bo"), GOOD.replace("Zoe", "Cy")), "s.csv",
     Answer(jobs=(2, 4, 5), errors=((3, "", "line 3: a quote opens a cell.*never closed"),))),
    ("stray-quote-inside-a-quoted-cell", csv_bytes(HEADER, 'storefront-sign,Ann,"Say "hi" now"',
     GOOD), "s.csv", Answer(jobs=(3,), errors=((2, "", "line 2: text follows a closing quote"
                                               r'.*write a quote as two \(""\)'),))),
    ("nul-byte-in-a-line", csv_bytes(HEADER, "storefront-sign,Ann,Op\0en", GOOD), "s.csv",
     Answer(jobs=(3,), errors=((2, "", "line 2 holds a NUL byte"),))),
    ("quoting-mistake-in-the-header", csv_bytes('template,"store"_name,message', GOOD), "s.csv",
     Answer(sheet=r"s\.csv: the header row cannot be read: line 1: text follows a closing")),
    ("a-quoting-mistake-on-every-line", csv_bytes(HEADER, *['a,"b"c'] * 120), "s.csv",
     Answer(sheet=r"s\.csv: more than 100 rows with quoting mistakes.*is it a CSV file")),
    # Headers
    ("duplicate-headers-name-both-columns", csv_bytes("template,Store Name,message,store_name",
     GOOD + ",x"), "s.csv", Answer(sheet=r"s\.csv: header row 1: duplicate columns B "
                                   r"\('Store Name'\) and D \('store_name'\)")),
    ("empty-header-cell-with-data-under-it", csv_bytes("template,store_name,,message",
     "storefront-sign,Zoe,stray,Open"), "s.csv",
     Answer(jobs=(2,), warnings=(("column C", "has no header"),))),
    ("cells-beyond-the-header", csv_bytes(HEADER, GOOD + ",extra"), "s.csv",
     Answer(jobs=(2,), warnings=(("column D", "has no header"),))),
    ("a-column-no-template-uses", csv_bytes(HEADER + ",hours,mesage", GOOD + ",9-5,typo",
     GOOD.replace("Zoe", "Ann") + ",,typo"), "s.csv",
     Answer(jobs=(2, 3), warnings=(("mesage", "names no variable of storefront-sign"),))),
    # Limits, with their values
    ("cell-over-128-kib-is-its-rows-error", csv_bytes(HEADER, GOOD, f"storefront-sign,Ann,"
     f"{LONG_CELL}", GOOD.replace("Zoe", "Bo")), "s.csv",
     Answer(jobs=(2, 4), errors=((3, "message", "is 195 KiB; at most 128 KiB a cell"),))),
    ("header-over-64-kib", csv_bytes(HEADER + "," + "h" * 70_000, GOOD), "s.csv",
     Answer(sheet=r"s\.csv: the header \(row 1\) is 68 KiB; at most 64 KiB")),
    ("row-over-1-mib-on-one-line", csv_bytes(HEADER, "storefront-sign,Ann," + "y" * 1_100_000,
     GOOD), "s.csv", Answer(jobs=(3,), errors=((2, "", "line 2: the row runs past 1,024 KiB"),))),
    # Control characters: taken out, never reaching a prompt or a report
    ("control-characters-in-cells", csv_bytes(HEADER, "storefront-sign,Zo\x07e\x1b,Now\x0bopen"),
     "s.csv", Answer(jobs=(2,))),
    # Files that are not the sheets they claim
    ("xls-excel-97", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600, "old.xls",
     Answer(sheet=r"old\.xls: an Excel 97-2003 \.xls workbook; save it as \.xlsx or CSV")),
    ("xls-renamed-xlsx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600, "old.xlsx",
     Answer(sheet=r"old\.xlsx: an Excel 97-2003 \.xls workbook")),
    ("password-protected-xlsx", ENCRYPTED_OLE, "secret.xlsx",
     Answer(sheet=r"secret\.xlsx: a password-protected workbook; remove its password")),
    ("ods-by-name", b"PK\x03\x04", "sheet.ods",
     Answer(sheet=r"sheet\.ods: an OpenDocument \(\.ods\) spreadsheet; save it as \.xlsx")),
    ("ods-renamed-xlsx", zipped({"mimetype": b"application/vnd.oasis.opendocument.spreadsheet",
     "content.xml": b"<x/>"}), "sheet.xlsx", Answer(sheet=r"an OpenDocument \(\.ods\)")),
    ("word-document-renamed-xlsx", zipped({"[Content_Types].xml": b"<Types/>",
     "word/document.xml": b"<w/>"}), "sheet.xlsx",
     Answer(sheet=r"sheet\.xlsx: a zip archive, but not an Excel workbook")),
    ("truncated-xlsx", xlsx([HEADER.split(","), GOOD.split(",")])[:900], "cut.xlsx",
     Answer(sheet=r"cut\.xlsx: not a readable XLSX workbook \(a damaged or cut-short zip")),
    ("pdf", b"%PDF-1.7\n", "brief.pdf",
     Answer(sheet=r"brief\.pdf: a \.pdf; placard reads CSV \(\.csv, \.tsv, \.txt\) and Excel")),
    ("xlsx-parts-inflating-past-256-mib", zeros_part("xl/worksheets/sheet1.xml", 300 * 2**20),
     "bomb.xlsx", Answer(sheet=r"bomb\.xlsx: its 3 parts inflate to 300 MiB; at most 256 MiB")),
    ("xlsx-part-over-128-mib", zeros_part("xl/sharedStrings.xml", 130 * 2**20), "big.xlsx",
     Answer(sheet=r"its part xl/sharedStrings\.xml inflates to 130 MiB; at most 128 MiB a part")),
    ("xlsx-part-compressed-over-100-to-1", zeros_part("xl/worksheets/sheet1.xml", 20 * 2**20),
     "dense.xlsx", Answer(sheet=r"its part xl/worksheets/sheet1\.xml is compressed [\d,]+:1 "
                         r"\([\d,]+ bytes inflate to 20,971,520\); at most 100:1")),
    ("xlsx-with-1001-parts", zipped({"[Content_Types].xml": b"<Types/>",
     **{f"xl/media/p{i}.xml": b"<p/>" for i in range(1000)}}), "many.xlsx",
     Answer(sheet=r"many\.xlsx: a zip of 1,001 parts; at most 1,000 in a workbook")),
    # Workbooks as people fill them
    ("xlsx-merged-cell-read-as-empty", xlsx([HEADER.split(","), GOOD.split(","),
     ["storefront-sign", None, "Merged below"], GOOD.split(",")], merge="B2:B3"), "m.xlsx",
     Answer(jobs=(2, 4), errors=((3, "store_name", "is required but empty.*part of the merged"
                                  " range B2:B3, whose value only B2 holds"),))),
    ("xlsx-formula-with-no-saved-value", xlsx([HEADER.split(","), GOOD.split(","),
     ["storefront-sign", "Ann", "=UPPER(B2)"]]), "f.xlsx",
     Answer(jobs=(2,), errors=((3, "message", "C3 holds a formula with no saved value; open "
                                "and save the workbook in Excel"),))),
    ("xlsx-boolean-used-as-n", xlsx([[*HEADER.split(","), "n"], [*GOOD.split(","), 2],
     ["storefront-sign", "Ann", "Open", True]]), "b.xlsx",
     Answer(jobs=(2,), errors=((3, "n", "must be a whole number from 1 to 10"),))),
    ("xlsx-date-in-a-text-column", xlsx([HEADER.split(","), ["storefront-sign", "Zoe",
     dt.date(2025, 7, 12)]]), "d.xlsx", Answer(jobs=(2,))),
]  # fmt: skip


@pytest.mark.parametrize(
    ("data", "name", "answer"),
    [pytest.param(data, name, answer, id=case) for case, data, name, answer in CASES],
)
def test_a_sheet_gets_its_answer_and_good_rows_still_become_jobs(
    data: bytes, name: str, answer: Answer
) -> None:
    # Given a sheet as it arrives; When it is read and judged
    if answer.sheet:
        # Then the whole sheet is refused, naming the file, what was found, what is allowed
        with pytest.raises(SheetError, match=answer.sheet):
            judge(data, name)
        return
    jobs, errors, warnings = judge(data, name)
    # Then every good row is a job, and each bad row names its row, column and reason
    assert [j.origin["row"] for j in jobs] == list(answer.jobs)
    assert [(e.row, e.column) for e in errors] == [(r, c) for r, c, _ in answer.errors]
    for error, (_, _, words) in zip(errors, answer.errors, strict=True):
        assert re.search(words, error.reason), error.reason
    assert [w.column for w in warnings] == [c for c, _ in answer.warnings]
    for warning, (_, words) in zip(warnings, answer.warnings, strict=True):
        assert re.search(words, warning.reason) and "its values were not used" in warning.reason


def test_line_endings_and_encodings_give_the_same_copy() -> None:
    # Given one row saved with each line ending and in each encoding Excel writes
    variants = [
        csv_bytes(HEADER, "storefront-sign,Café Zoë,€5 off", end=end, encoding=encoding)
        for end in ("\r\n", "\n", "\r")
        for encoding in ("utf-8", "utf-8-sig", "utf-16", "cp1252")
    ]
    # When each is read, then each job carries the same copy
    copies = {tuple(sorted(judge(data, "s.csv")[0][0].variables.items())) for data in variants}
    assert copies == {(("message", "€5 off"), ("store_name", "Café Zoë"))}


def test_control_characters_never_reach_the_copy_or_the_row() -> None:
    # Given cells holding a bell, an escape sequence, a vertical tab and a C1 control
    data = csv_bytes(HEADER, "storefront-sign,Zo\x07e\x1b[1m\x85,Now\x0bopen\x9b")
    # When it is read
    row = next(read_rows(io.BytesIO(data), "s.csv"))
    jobs, _, _ = judge(data, "s.csv")
    # Then the row (which the reports repeat) and the job's copy hold no control character
    assert row.cells["store_name"] == "Zoe[1m " and row.cells["message"] == "Now\nopen"
    assert jobs[0].variables == {"store_name": "Zoe[1m", "message": "Now open"}


def test_the_bad_cell_is_not_carried_whole_into_the_reports() -> None:
    # Given a 195 KiB cell
    data = csv_bytes(HEADER, f"storefront-sign,Ann,{LONG_CELL}")
    # When it is read, then its error and its row hold only the start of it
    row = next(read_rows(io.BytesIO(data), "s.csv"))
    assert row.cells["message"] == "x" * 40 + "…" and row.errors[0].value == "x" * 40 + "…"


def test_a_sheet_over_the_row_limit_is_refused_with_the_limit() -> None:
    # Given four rows and a limit of three
    data = csv_bytes(HEADER, *[GOOD.replace("Zoe", name) for name in ("A", "B", "C", "D")])
    # Then reading stops at the row past it, naming the sheet's rows and the limit
    with pytest.raises(
        SheetError, match=r"s\.csv: the sheet has 4 rows; the limit is 3 \(MaxSheetRows\)"
    ):
        judge(data, "s.csv", max_rows=3)
    # And check_rows says so before any row is read, for CSV and XLSX alike
    workbook = xlsx([HEADER.split(","), *[GOOD.split(",")] * 4])
    for raw, name in ((data, "s.csv"), (workbook, "s.xlsx")):
        with pytest.raises(SheetError, match="has 4 rows; the limit is 3"):
            check_rows(io.BytesIO(raw), name, max_rows=3)
        check_rows(io.BytesIO(raw), name, max_rows=4)  # at the limit: accepted


def test_a_duplicate_header_leaves_no_noise_on_the_terminal(
    capfd: pytest.CaptureFixture[str],
) -> None:
    # Given a duplicate header, read from a file the caller closes at once
    raw = io.BytesIO(csv_bytes("template,Store Name,store_name", GOOD))
    with pytest.raises(SheetError, match="duplicate columns"):
        list(read_rows(raw, "d.csv"))
    raw.close()
    import gc

    gc.collect()
    # Then nothing is printed ("Exception ignored ... I/O operation on closed file" was)
    assert capfd.readouterr().err == ""


# Ingest: the same answers where the jobs are queued


@dataclass
class Ingested:
    """What ingest left behind: the queued jobs, errors.csv by row, and its counts."""

    queued: list[Job]
    errors: dict[int, list[RowError]]
    failed: int
    warnings: int


def ingest(data: bytes, name: str = "sheet.csv", max_rows: int = 200_000) -> Ingested:
    key = f"campaigns/corpus/{name}"
    fakes = IngestFakes()
    fakes.uploads.put(key, data)
    report = fakes.service(max_rows).run(key, "run-1")
    errors = read_errors(fakes.assets.read("reports/corpus/sheet/errors.csv"))
    return Ingested(fakes.queue.jobs, errors, report.errors, report.warnings)


def test_two_identical_rows_are_one_job_queued_once() -> None:
    # Given the same row twice, and another row
    data = csv_bytes(HEADER, GOOD, GOOD, GOOD.replace("Zoe", "Ann"))
    # When the sheet is ingested
    done = ingest(data)
    # Then each job is queued once, and the repeated row is no error
    assert len(done.queued) == 2 and len({j.job_id for j in done.queued}) == 2
    assert done.errors == {} and done.failed == 0


def test_a_column_no_template_uses_is_one_warning_not_a_failed_row() -> None:
    # Given a misspelt optional column filled on two rows, and a row missing its message
    data = csv_bytes(HEADER + ",hourz", GOOD + ",9-5", GOOD.replace("Zoe", "Ann") + ",10-6",
                     "storefront-sign,Bo,,8-4")  # fmt: skip
    # When the sheet is ingested
    done = ingest(data)
    # Then errors.csv warns once, on the header row, naming the template's variables
    assert [(e.column, e.value) for e in done.errors[1]] == [("hourz", "9-5")]
    assert done.errors[1][0].reason == (
        "warning: names no variable of storefront-sign (its variables: store_name, message, "
        "hours); its values were not used"
    )
    # And only the row missing its message counts as failed; the good rows are queued
    assert done.failed == 1 and done.warnings == 1
    assert [(e.row, e.column) for e in done.errors[4]] == [(4, "message")]
    assert len(done.queued) == 2


def test_a_header_only_sheet_is_answered_as_such() -> None:
    done = ingest(csv_bytes(HEADER))
    assert done.queued == [] and done.failed == 1
    assert [e.reason for e in done.errors[0]] == ["sheet.csv: has a header but no rows below it"]


def test_a_sheet_over_the_row_limit_queues_nothing() -> None:
    # Given three good rows and a limit of two
    data = csv_bytes(HEADER, *[GOOD.replace("Zoe", name) for name in ("A", "B", "C")])
    # When it is ingested, then no job is queued (none could be refused after running)
    done = ingest(data, max_rows=2)
    assert done.queued == [] and done.failed == 1
    reason = done.errors[0][0].reason
    assert reason == (
        "sheet.csv: the sheet has 3 rows; the limit is 2 (MaxSheetRows); split it into sheets "
        "of at most 2 rows"
    )


def test_row_errors_from_the_reader_reach_errors_csv_with_their_line() -> None:
    # Given an unclosed quote between good rows
    data = csv_bytes(HEADER, GOOD, 'storefront-sign,Ann,"Open', GOOD.replace("Zoe", "Bo"))
    done = ingest(data)
    # Then the broken row is in errors.csv with its line, and the rows around it are queued
    assert done.failed == 1 and "line 3: a quote opens a cell" in done.errors[3][0].reason
    assert sorted(j.origin["row"] for j in done.queued) == [2, 4]
