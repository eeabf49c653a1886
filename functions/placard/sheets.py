"""Spreadsheets to jobs. Every non-empty row becomes a Job or one RowError per problem.

Rows are streamed, never held whole: a CSV reads in constant memory, an XLSX in little more
(see the reader choice below). Fully empty rows are skipped; every other row is numbered as
the spreadsheet program shows it.

CSV: UTF-8 (with or without BOM), UTF-16/32 by BOM (Excel's "Unicode text"), BOM-less UTF-16
by its zero bytes, else Windows-1252 (Excel's "CSV" on Windows). The delimiter (comma,
semicolon or tab) is the one that splits the header row into the most columns and the rows
below it most consistently, parsed with quotes; Excel's `sep=;` first line is obeyed. A header
that no delimiter splits is a one-column sheet, and its cells keep their commas.

XLSX: the first visible sheet unless one is named (case aside); formulas read as the values
Excel cached, and a cached error (#N/A, #DIV/0!...) in a column a job uses is that row's error;
numbers, dates and booleans as the text a person would type; blank rows and columns around the
table are ignored. A workbook is recognised by its bytes, whatever its name; .xls is refused.

Reader choice, measured with bench/ingest.py on 100k rows x 8 columns: python-calamine turns
every cell into text in about 0.9 s where openpyxl's read-only mode takes 8 to 11 s, but
calamine parses the whole sheet into memory before the first row: 6 MB above the interpreter
at 10k rows, 56 to 61 MB at 100k, repeated copy or not. openpyxl streams the sheet's XML and
frees each row's cells once read; what grows is the shared-strings table (every XLSX reader
must hold it) and an emptied XML element it keeps per row, about 80 bytes (9 MB at 100k rows
of repeated copy). A Lambda's memory is fixed and a sheet's length is not, and 100k rows
parse and validate in about 15 s of the ingest's 15 minutes: placard stays on openpyxl.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeVar, cast

from placard.errors import InvalidInput, PlacardError
from placard.jobs import Job, Mode, Quality, Size, parse_background, parse_box, parse_n
from placard.number_formats import shown
from placard.templates import Catalogue, Template

if TYPE_CHECKING:
    from openpyxl.workbook.workbook import Workbook
    from openpyxl.worksheet._read_only import ReadOnlyWorksheet

T = TypeVar("T")
SNIFF_BYTES = 64 * 1024  # the sample the delimiter is chosen from
SCAN_BYTES = 1024 * 1024  # the chunk an encoding is checked with, through the whole file
CSV_SUFFIXES = (".csv", ".tsv", ".txt")
XLSX_SUFFIXES = (".xlsx", ".xlsm")
DELIMITERS = (",", ";", "\t")
ONE_COLUMN = "\x1f"  # ASCII unit separator: never typed in a cell, so a lone column stays whole
ZIP_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0"  # Excel 97-2003 .xls
_SEP_LINE = re.compile(r'"?sep=(.)"?\r?\n', re.IGNORECASE)
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),  # before UTF-16 LE: its BOM starts the same way
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


class SheetError(PlacardError):
    """The sheet as a whole cannot be read (not a single row's problem)."""


@dataclass(frozen=True)
class Row:
    number: int  # as the spreadsheet shows it: the header is row 1 when it is the first line
    cells: dict[str, str]


@dataclass(frozen=True)
class RowError:
    row: int
    column: str
    value: str
    reason: str


def normalise_header(name: object) -> str:
    return "_".join(str(name or "").strip().casefold().split())


def read_rows(raw: IO[bytes], filename: str, sheet: str | None = None) -> Iterator[Row]:
    """Rows of a CSV or XLSX, keyed by normalised header; fully empty rows are skipped.

    `raw` must be seekable. `sheet` names a workbook's sheet; a CSV has only one.
    """
    suffix = Path(filename).suffix.lower()
    if suffix not in CSV_SUFFIXES + XLSX_SUFFIXES:
        raise SheetError(f"{filename}: expected a .csv or .xlsx file")
    magic = raw.read(len(ZIP_MAGIC))
    raw.seek(0)
    if magic == ZIP_MAGIC:  # an XLSX, whatever its name says ("Save as" keeps the old name)
        records = _xlsx_records(raw, filename, sheet)
    elif magic == OLE_MAGIC:
        raise SheetError(f"{filename}: an Excel 97-2003 .xls workbook; save it as .xlsx or CSV")
    elif suffix in XLSX_SUFFIXES:
        raise SheetError(f"{filename}: not an XLSX workbook (it is not a zip archive)")
    else:
        records = _csv_records(raw, filename)
    yield from _rows(records, filename)


def _rows(records: Iterable[tuple[int, list[str]]], filename: str) -> Iterator[Row]:
    header: list[str] | None = None
    for number, record in records:
        if not any(cell.strip() for cell in record):
            continue
        if header is None:
            header = [normalise_header(cell) for cell in record]
            named = [h for h in header if h]
            duplicates = sorted({h for h in named if named.count(h) > 1})
            if duplicates:
                raise SheetError(f"{filename}: header row {number}: duplicate columns {duplicates}")
            continue
        yield Row(number, {h: v for h, v in zip(header, record, strict=False) if h})
    if header is None:
        raise SheetError(f"{filename}: no header row (the sheet is empty)")


# CSV


def _csv_records(raw: IO[bytes], filename: str) -> Iterator[tuple[int, list[str]]]:
    """(row number, cells) of each CSV record; a quoted cell may span lines, as in Excel."""
    encoding = _encoding(raw, filename)
    text = io.TextIOWrapper(raw, encoding=encoding, newline="")
    number = 0
    try:
        sample = text.read(SNIFF_BYTES)
        sep_line = _SEP_LINE.match(sample)
        text.seek(0)
        if sep_line:  # Excel's hint line: it names the delimiter and is not a row
            delimiter = sep_line[1]
            text.readline()
        else:
            delimiter = _delimiter(sample, complete=len(sample) < SNIFF_BYTES)
        for number, record in enumerate(csv.reader(text, delimiter=delimiter), start=1):
            yield number, record
    except UnicodeDecodeError as exc:
        raise SheetError(
            f"{filename}: row {number + 1} is not {encoding} text ({exc.reason}); "
            "save the sheet as CSV UTF-8"
        ) from exc
    except csv.Error as exc:
        raise SheetError(f"{filename}: row {number + 1}: {exc}") from exc
    finally:
        text.detach()  # the caller owns `raw` and closes it


def _encoding(raw: IO[bytes], filename: str) -> str:
    """The codec of a CSV: by BOM, by the zero bytes of BOM-less UTF-16, else UTF-8 if the
    whole file is valid UTF-8, else Windows-1252. The file is read in chunks, never whole."""
    head = raw.read(SNIFF_BYTES)
    raw.seek(0)
    for bom, encoding in _BOMS:
        if head.startswith(bom):
            return encoding
    zeros_even, zeros_odd = head[0::2].count(0), head[1::2].count(0)
    if zeros_odd > len(head) // 8 and zeros_even * 4 < zeros_odd:
        return "utf-16-le"  # ASCII as UTF-16 LE: every second byte is zero
    if zeros_even > len(head) // 8 and zeros_odd * 4 < zeros_even:
        return "utf-16-be"
    try:
        for encoding in ("utf-8", "cp1252"):
            if _decodes(raw, encoding):
                return encoding
    finally:
        raw.seek(0)
    raise SheetError(f"{filename}: not UTF-8, UTF-16 or Windows-1252 text; save it as CSV UTF-8")


def _decodes(raw: IO[bytes], encoding: str) -> bool:
    raw.seek(0)
    decoder = codecs.getincrementaldecoder(encoding)()
    try:
        while chunk := raw.read(SCAN_BYTES):
            decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _delimiter(sample: str, complete: bool) -> str:
    """The delimiter that splits the header into the most columns and the rows below it into
    as many, parsed with quotes (csv.Sniffer counts characters, so quoted commas in a
    semicolon file, a header-only file or a lone column fool it). No split: one column."""
    if not complete:  # the sample ends mid-row: drop that row
        sample = sample[: max(sample.rfind("\n"), 0)]
    best, best_score = ONE_COLUMN, (0.0, 1)
    for delimiter in DELIMITERS:
        try:
            rows = [r for r in csv.reader(io.StringIO(sample), delimiter=delimiter) if any(r)]
        except csv.Error:
            continue
        if not rows or len(rows[0]) < 2:
            continue
        width = len(rows[0])
        body = rows[1:]
        consistency = sum(len(r) == width for r in body) / len(body) if body else 1.0
        if (consistency, width) > best_score:
            best, best_score = delimiter, (consistency, width)
    return best


# XLSX


def _xlsx_records(
    raw: IO[bytes], filename: str, sheet: str | None
) -> Iterator[tuple[int, list[str]]]:
    from openpyxl import load_workbook  # lazy: only ingest pays for it

    try:
        book = load_workbook(raw, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise SheetError(f"{filename}: not a readable XLSX workbook ({exc})") from exc
    number = 0
    try:
        ws = _worksheet(book, filename, sheet)
        # The stored <dimension> is only a hint, which some writers get wrong: without it
        # openpyxl reads every row and every cell there is.
        ws.reset_dimensions()
        # Rows missing from the XML come back empty, so counting gives Excel's row numbers.
        # Cells, not values: a number is shown in its cell's format. (openpyxl's stubs type
        # iter_rows for the writable sheet only.)
        rows: Iterator[tuple[Any, ...]] = cast(Any, ws).iter_rows()
        for number, cells in enumerate(rows, start=1):
            yield number, [_xlsx_cell_text(cell) for cell in cells]
    except (zipfile.BadZipFile, KeyError, ValueError, SyntaxError) as exc:  # XML ParseError
        raise SheetError(f"{filename}: sheet unreadable after row {number} ({exc})") from exc
    finally:
        book.close()


def _worksheet(book: Workbook, filename: str, sheet: str | None) -> ReadOnlyWorksheet:
    from openpyxl.worksheet._read_only import ReadOnlyWorksheet

    sheets = [ws for ws in book.worksheets if isinstance(ws, ReadOnlyWorksheet)]
    if sheet is None:
        visible = [ws for ws in sheets if ws.sheet_state == "visible"]
        if not (visible or sheets):
            raise SheetError(f"{filename}: the workbook has no worksheet")
        return (visible or sheets)[0]
    wanted = sheet.strip().casefold()  # Excel's sheet names are unique regardless of case
    for ws in sheets:
        if ws.title == sheet or ws.title.strip().casefold() == wanted:
            return ws
    raise SheetError(f"{filename}: no sheet named {sheet!r}; the workbook has {book.sheetnames}")


def _xlsx_cell_text(cell: Any) -> str:
    """As the sheet shows it: a number in its cell's format ($4.50, 15%), else as stored."""
    value = cell.value
    if isinstance(value, int | float) and not isinstance(value, bool):
        text = shown(value, getattr(cell, "number_format", "General"))
        if text is not None:
            return text
    return _cell_text(value)


def _cell_text(value: object) -> str:
    """A cell value as the text a person would have typed: 12 not 12.0, 0.3 not
    0.30000000000000004, dates as ISO 8601, TRUE/FALSE as Excel shows them."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return format(value, ".15g")  # Excel's own precision: 15 significant digits
    if isinstance(value, dt.datetime):
        if value.time() == dt.time():
            return value.date().isoformat()
        return value.isoformat(sep=" ", timespec="seconds" if value.second else "minutes")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.time):
        return value.isoformat(timespec="seconds" if value.second else "minutes")
    if isinstance(value, dt.timedelta):  # a duration cell, shown as [h]:mm:ss
        minutes, seconds = divmod(round(value.total_seconds()), 60)
        hours, minutes = divmod(minutes, 60)
        return f"{hours}:{minutes:02d}:{seconds:02d}"
    return str(value)


# What Excel shows, and saves into a CSV, for a formula that failed (e.g. a VLOOKUP miss).
EXCEL_ERRORS = frozenset(
    [
        "#NULL!",
        "#DIV/0!",
        "#VALUE!",
        "#REF!",
        "#NAME?",
        "#NUM!",
        "#N/A",
        "#GETTING_DATA",
        "#SPILL!",
        "#CALC!",
        "#FIELD!",
        "#BLOCKED!",
        "#CONNECT!",
        "#BUSY!",
        "#UNKNOWN!",
    ]
)
_FORMULA_ERROR = "is a formula error in the sheet; fix the formula, then upload again"
_JOB_COLUMNS = ("quality", "size", "n", "id", "background", "mask_box", "source_image", "mask")


@dataclass(frozen=True)
class SheetDefaults:
    campaign: str
    upload: str
    template: str | None = None


def job_from_row(row: Row, catalogue: Catalogue, defaults: SheetDefaults) -> Job | list[RowError]:
    """A Job, or every problem of the row, each naming its column."""
    errors: list[RowError] = []

    def attempt(column: str, parse: Callable[[], T]) -> T | None:
        try:
            return parse()
        except InvalidInput as exc:
            errors.append(RowError(row.number, exc.field, row.cells.get(column, ""), exc.reason))
            return None

    cells = row.cells
    name = cells.get("template", "").strip() or defaults.template
    if not name:
        return [RowError(row.number, "template", "", "is required: name a template")]
    template = attempt("template", lambda: catalogue[name])
    if template is None:
        return errors
    if "#" in "".join(cells.values()):  # cheap: most rows have no '#' at all
        failed = [
            RowError(row.number, column, cells[column].strip(), _FORMULA_ERROR)
            for column in (*_JOB_COLUMNS, *template.variables)
            if cells.get(column, "").strip() in EXCEL_ERRORS
        ]
        if failed:  # a broken formula's error code is no copy to print; nothing else is checked
            return failed
    quality = attempt("quality", lambda: _quality(cells, template))
    size = attempt("size", lambda: _size(cells, template))
    n = attempt("n", lambda: parse_n(cells.get("n", "").strip() or template.default_n))
    variables = {}
    for variable in template.variables.values():
        value = attempt(variable.name, partial(variable.clean, cells.get(variable.name)))
        if value is not None:
            variables[variable.name] = value
    attempt("background", partial(parse_background, cells.get("background", "")))
    box_text = cells.get("mask_box", "").strip()
    box = attempt("mask_box", partial(parse_box, box_text)) if box_text else None
    source = attempt("source_image", partial(_file_name, "source_image", cells))
    mask = attempt("mask", partial(_file_name, "mask", cells))
    if template.mode is Mode.EDIT:
        if not source:
            errors.append(
                RowError(row.number, "source_image", "", "an edit template needs a source image")
            )
        if mask and box_text:
            errors.append(
                RowError(row.number, "mask_box", box_text, "give a mask or a box, not both")
            )
    elif source or mask or box_text:
        column = "source_image" if source else "mask" if mask else "mask_box"
        errors.append(
            RowError(
                row.number,
                column,
                cells.get(column, ""),
                f"{template.name} makes new images; it takes no source or mask",
            )
        )
    if errors or quality is None or n is None:
        return errors
    return Job(
        campaign=defaults.campaign,
        template=template.name,
        template_version=template.version,
        variables=variables,
        quality=quality,
        size=size,
        n=n,
        mode=template.mode,
        # The row's own id, never its position: rows may be inserted or moved between uploads
        # and stay the same jobs (the row number travels in `origin`).
        row_id=cells.get("id", "").strip(),
        source_image=upload_key(defaults.campaign, source) if source else None,
        mask=upload_key(defaults.campaign, mask) if mask else None,
        mask_box=box,
        origin={"upload": defaults.upload, "row": row.number},
    )


def upload_key(campaign: str, name: str) -> str:
    """Files a sheet names live beside it, under the campaign's folder of the uploads bucket."""
    return f"campaigns/{campaign}/{name}"


def _file_name(column: str, cells: Mapping[str, str]) -> str | None:
    name = cells.get(column, "").strip().replace("\\", "/")
    if not name:
        return None
    parts = name.split("/")
    if name.startswith("/") or ".." in parts or "" in parts:
        raise InvalidInput(column, "must be a file name or a relative path beside the sheet", name)
    return name


def _quality(cells: Mapping[str, str], template: Template) -> Quality:
    given = cells.get("quality", "").strip()
    return Quality.parse(given) if given else template.default_quality


def _size(cells: Mapping[str, str], template: Template) -> Size | None:
    given = cells.get("size", "").strip()
    return Size.parse(given) if given else template.default_size


def jobs_from_rows(
    rows: Iterable[Row], catalogue: Catalogue, defaults: SheetDefaults
) -> Iterator[Job | RowError]:
    for row in rows:
        outcome = job_from_row(row, catalogue, defaults)
        if isinstance(outcome, Job):
            yield outcome
        else:
            yield from outcome
