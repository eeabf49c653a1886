"""Spreadsheets read into rows; sheets/rows.py makes each row a Job or its RowErrors.

Rows are streamed, never held whole: a CSV reads in constant memory, an XLSX in little more
(see the reader choice below). Fully empty rows are skipped; every other row is numbered as
the spreadsheet program shows it.

CSV: UTF-8 (with or without BOM), UTF-16/32 by BOM (Excel's "Unicode text"), BOM-less UTF-16
by its zero bytes, else Windows-1252 (Excel's "CSV" on Windows). The delimiter (comma,
semicolon or tab) is the one that splits the header row into the most columns and the rows
below it most consistently, parsed with quotes; Excel's `sep=;` first line is obeyed. A header
that no delimiter splits is a one-column sheet, and its cells keep their commas. Lines end in
CRLF, LF or a lone CR (old Mac Excel). A quoting mistake (a quote never closed, text after a
closing quote) costs its own row, named with its line, and the rows after it are read again.

XLSX: the first visible sheet unless one is named (case aside); formulas read as the values
Excel cached, and a cached error (#N/A, #DIV/0!...) in a column a job uses is that row's error;
numbers, dates and booleans as the text a person would type; blank rows and columns around the
table are ignored. A workbook is recognised by its bytes, whatever its name; .xls, .ods and
password-protected workbooks are refused, and so is a zip whose parts would inflate past the
limits below, before any XML is parsed. An empty cell that is part of a merged range, or holds
a formula with no saved value, says so when a job needed it.

Limits, each refused with its value: a cell of 128 KiB (that row's error), a header row of
64 KiB, a CSV row of 1 MiB (that row's error: a quote opened and never closed), 200,000 rows a
sheet (`max_rows`), and an XLSX's parts: 256 MiB inflated in all, 128 MiB each, 1,000 of them,
none compressed more than 100:1 nor by any method but deflate. Control characters are taken
out of every cell (line and page breaks become line breaks); a NUL byte in a CSV line is that
row's error.

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
import sys
import warnings
import zipfile
from collections import deque
from collections.abc import Generator, Iterable, Iterator, Mapping
from contextlib import closing
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, cast

from placard.domain.errors import PlacardError
from placard.sheets.number_formats import shown

if TYPE_CHECKING:
    from openpyxl.workbook.workbook import Workbook
    from openpyxl.worksheet._read_only import ReadOnlyWorksheet

KIB = 1024
MIB = 1024 * KIB
CELL_LIMIT = 128 * KIB  # UTF-8 bytes in one cell (Excel itself stops at 32,767 characters)
HEADER_LIMIT = 64 * KIB  # UTF-8 bytes of the header row
ROW_LIMIT = MIB  # characters one CSV row may span, its lines together: bounds a runaway quote
MAX_ROWS = 200_000  # data rows a sheet may have; read_rows(max_rows=...) and Ingest.max_rows
LIMIT_NAME = "MaxSheetRows"  # the stack parameter that sets it (MAX_SHEET_ROWS in settings)
MAX_MISTAKES = 100  # rows lost to quoting mistakes before the file is taken for no CSV at all
XLSX_INFLATED = 256 * MIB  # all the parts of a workbook, inflated
XLSX_PART = 128 * MIB  # any one part, inflated
XLSX_PARTS = 1000
XLSX_RATIO = 100  # inflated:compressed of a part over 1 MiB (Excel's own XML: about 15:1)
SNIFF_BYTES = 64 * 1024  # the sample the delimiter is chosen from
SCAN_BYTES = 1024 * 1024  # the chunk an encoding is checked with, through the whole file
CSV_SUFFIXES = (".csv", ".tsv", ".txt")
XLSX_SUFFIXES = (".xlsx", ".xlsm")
# A file's type is read from its suffix in any case; S3 matches a suffix case by case, so
# template.yaml triggers ingest on each in small letters and in capitals (SHEET.CSV).
TRIGGER_SUFFIXES = tuple(s for t in CSV_SUFFIXES + XLSX_SUFFIXES for s in (t, t.upper()))
OTHER_SHEETS = {  # spreadsheet files placard does not read, and what to do with them
    ".xls": "an Excel 97-2003 .xls workbook",
    ".ods": "an OpenDocument (.ods) spreadsheet",
    ".numbers": "an Apple Numbers spreadsheet",
    ".xlsb": "an Excel binary (.xlsb) workbook",
}
TYPES_READ = "placard reads CSV (.csv, .tsv, .txt) and Excel workbooks (.xlsx, .xlsm)"
SAVE_AS = "save it as .xlsx or CSV"
NOT_READ = f"{SAVE_AS}; {TYPES_READ}"  # the answer to a spreadsheet of another kind
DELIMITERS = (",", ";", "\t")
ONE_COLUMN = "\x1f"  # ASCII unit separator: never typed in a cell, so a lone column stays whole
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a zip, or an empty one
OLE_MAGIC = b"\xd0\xcf\x11\xe0"  # Excel 97-2003 .xls, or an encrypted (password) .xlsx
ENCRYPTED = "EncryptedPackage".encode("utf-16-le")  # the stream an encrypted OOXML file holds
_SEP_LINE = re.compile(r'"?sep=(.)"?\r?\n', re.IGNORECASE)
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),  # before UTF-16 LE: its BOM starts the same way
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# Control characters never reach a prompt or a report: line and page breaks (as FileMaker
# and others write them inside cells) become line breaks, separators spaces, the rest go.
_CONTROLS: dict[int, str | None] = dict.fromkeys(
    [*range(0x00, 0x09), *range(0x0E, 0x1C), *range(0x7F, 0xA0)]
)
_CONTROLS |= {0x0B: "\n", 0x0C: "\n", 0x1C: " ", 0x1D: " ", 0x1E: " ", 0x1F: " ", 0x85: " "}
_HAS_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")

# The CSV module's own cell limit (128 Ki characters) would end the file at the first big cell:
# placard bounds a row itself (ROW_LIMIT) and names a big cell's size and column.
csv.field_size_limit(max(csv.field_size_limit(), 2 * ROW_LIMIT))


# How a warning reads in errors.csv, so that reading the file back knows it from an error.
WARNING = "warning: "


class SheetError(PlacardError):
    """The sheet as a whole cannot be read (not a single row's problem)."""


@dataclass(frozen=True)
class RowError:
    row: int
    column: str
    value: str
    reason: str
    warning: bool = False  # the row is not failed by it (a column no template uses)


@dataclass(frozen=True)
class Row:
    number: int  # as the spreadsheet shows it: the header is row 1 when it is the first line
    cells: dict[str, str]
    errors: tuple[RowError, ...] = ()  # what the reader itself found wrong with the row
    # About the row, not its content: why an empty cell reads empty; the header's row number
    notes: Mapping[str, str] = field(default_factory=dict, compare=False)
    header: int = field(default=1, compare=False)


def normalise_header(name: object) -> str:
    return "_".join(str(name or "").strip().casefold().split())


def column_letters(index: int) -> str:
    """Excel's name of the column at 0-based `index`: A, B, ..., Z, AA."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def read_rows(
    raw: IO[bytes], filename: str, sheet: str | None = None, *, max_rows: int = MAX_ROWS
) -> Iterator[Row]:
    """Rows of a CSV or XLSX, keyed by normalised header; fully empty rows are skipped.

    `raw` must be seekable. `sheet` names a workbook's sheet; a CSV has only one. More than
    `max_rows` data rows is a SheetError raised before the row past the limit is yielded
    (check_rows says so before the first).
    """
    kind = _kind(raw, filename)
    records = _xlsx_records(raw, filename, sheet) if kind == "xlsx" else _csv_records(raw, filename)
    yield from _rows(records, filename, max_rows)


def check_rows(
    raw: IO[bytes], filename: str, sheet: str | None = None, *, max_rows: int = MAX_ROWS
) -> None:
    """SheetError when the sheet is unreadable as a whole or has more than `max_rows` rows, so
    a caller can refuse it before acting on its first row. Cheap when the file cannot hold that
    many (fewer line breaks, or fewer <row> tags); else the rows are read once and counted."""
    kind = _kind(raw, filename)
    try:
        if _row_bound(raw, filename, kind) > max_rows:
            for _ in read_rows(raw, filename, sheet, max_rows=max_rows):
                pass
    finally:
        raw.seek(0)


def _kind(raw: IO[bytes], filename: str) -> str:
    """ "csv" or "xlsx", by the file's bytes first (a "Save as" keeps the old name)."""
    suffix = Path(filename).suffix.lower()
    if suffix not in CSV_SUFFIXES + XLSX_SUFFIXES:
        found = OTHER_SHEETS.get(suffix)
        if found:
            raise SheetError(f"{filename}: {found}; {NOT_READ}")
        raise SheetError(f"{filename}: a {suffix or 'file without an extension'}; {TYPES_READ}")
    magic = raw.read(len(OLE_MAGIC))
    raw.seek(0)
    if magic in ZIP_MAGIC:
        return "xlsx"
    if magic == OLE_MAGIC:
        if _contains(raw, ENCRYPTED):
            raise SheetError(
                f"{filename}: a password-protected workbook; remove its password in Excel "
                "(File > Info > Protect Workbook), save, and upload it again"
            )
        raise SheetError(f"{filename}: {OTHER_SHEETS['.xls']}; {NOT_READ}")
    if suffix in XLSX_SUFFIXES:
        raise SheetError(f"{filename}: not an XLSX workbook (it is not a zip archive); {SAVE_AS}")
    return "csv"


def _contains(raw: IO[bytes], needle: bytes) -> bool:
    """Whether the file holds `needle`, read in chunks (never whole)."""
    tail = b""
    try:
        while chunk := raw.read(SCAN_BYTES):
            if needle in tail + chunk:
                return True
            tail = chunk[-len(needle) :]
        return False
    finally:
        raw.seek(0)


def _count(chunks: Iterable[bytes], needles: tuple[bytes, ...]) -> int:
    """How often `needles` occur in a stream of chunks; each chunk is joined to the end of
    the one before, so a needle cut in two is found once."""
    total, tail = 0, b""
    keep = max(map(len, needles)) - 1
    for chunk in chunks:
        text = tail + chunk
        total += sum(text.count(needle) for needle in needles)
        tail = text[len(text) - keep :] if keep else b""
    return total


def _row_bound(raw: IO[bytes], filename: str, kind: str) -> int:
    """More than the rows the sheet can hold: a CSV's line breaks, a workbook's <row> tags."""
    if kind == "csv":
        return 1 + _count(iter(partial(raw.read, SCAN_BYTES), b""), (b"\n", b"\r"))
    with _open_zip(raw, filename) as archive:
        bound = 0
        try:
            for info in archive.infolist():
                if info.filename.startswith("xl/worksheets/"):
                    with archive.open(info) as part:
                        # a row with cells has an opening and a closing tag, prefixed or not
                        chunks = iter(partial(part.read, SCAN_BYTES), b"")
                        bound += _count(chunks, (b"row",)) // 2
        except Exception:  # a damaged part: reading the rows says what is wrong with it
            return sys.maxsize
        return bound


def _rows(
    records: Generator[tuple[int, list[str] | RowError]], filename: str, max_rows: int
) -> Iterator[Row]:
    header: list[str] | None = None
    header_row = 1
    count = 0
    # Closed on the way out, so the reader's cleanup runs while the caller's file is still
    # open (at garbage collection it printed "Exception ignored ... closed file")
    with closing(records):
        for number, record in records:
            notes: dict[str, str] = {}
            if isinstance(record, RowError):
                if header is None:
                    raise SheetError(f"{filename}: the header row cannot be read: {record.reason}")
                cells: dict[str, str] = {}
                errors: tuple[RowError, ...] = (record,)
            elif _blank(record):
                continue
            elif header is None:
                header, header_row = _header(record, number, filename), number
                plain = not any(name.startswith("column ") for name in header)
                continue
            else:
                cells, errors = _cells(number, header, record, plain)
                for i, note in getattr(record, "notes", {}).items():
                    notes[header[i] if i < len(header) else f"column {column_letters(i)}"] = note
            count += 1
            if count > max_rows:
                # Nothing past the limit is yielded; the rest are only counted, so the
                # answer gives the sheet's length (its rows are never held)
                count += sum(1 for _, rest in records if not _blank(rest))
                raise SheetError(
                    f"{filename}: the sheet has {count:,} rows; the limit is {max_rows:,} "
                    f"({LIMIT_NAME}); split it into sheets of at most {max_rows:,} rows"
                )
            yield Row(number, cells, errors, notes, header_row)
    if header is None:
        raise SheetError(f"{filename}: the sheet is empty (no header row, no rows)")


def _blank(record: list[str] | RowError) -> bool:
    """A fully empty row, skipped (a record csv could not read is a row: it has an error)."""
    return not isinstance(record, RowError) and not "".join(record).strip()


def _header(record: list[str], number: int, filename: str) -> list[str]:
    size = sum(len(cell.encode()) for cell in record)
    if size > HEADER_LIMIT:
        raise SheetError(
            f"{filename}: the header (row {number}) is {_kib(size)} KiB; "
            f"at most {HEADER_LIMIT // KIB} KiB"
        )
    names = [normalise_header(cell.translate(_CONTROLS)) for cell in record]
    first: dict[str, int] = {}
    for i, name in enumerate(names):
        if not name:
            names[i] = f"column {column_letters(i)}"  # never a typed header: those have no space
        elif name in first:
            j = first[name]
            raise SheetError(
                f"{filename}: header row {number}: duplicate columns {column_letters(j)} "
                f"({record[j]!r}) and {column_letters(i)} ({record[i]!r}) both read as "
                f"{name!r}; rename or delete one"
            )
        else:
            first[name] = i
    return names


def _cells(
    number: int, header: list[str], record: list[str], plain: bool
) -> tuple[dict[str, str], tuple[RowError, ...]]:
    """A record's cells by column, control characters out; a cell too big is the row's error.
    A value beyond the header's last column, or under a blank header cell, is kept under its
    letter, so it is not lost (`plain`: the header has no blank cell)."""
    if plain and len(record) <= len(header):  # the common row: checked at once, in C
        joined = "\t".join(record)
        if len(joined) * 4 <= CELL_LIMIT and not _HAS_CONTROL.search(joined):
            return dict(zip(header, record, strict=False)), ()
    cells: dict[str, str] = {}
    errors: list[RowError] = []
    for i, value in enumerate(record):
        name = header[i] if i < len(header) else f"column {column_letters(i)}"
        if name.startswith("column ") and not value.strip():
            continue  # a blank cell under no header: the margin around a table
        if len(value) * 4 > CELL_LIMIT and (size := len(value.encode())) > CELL_LIMIT:
            value = _preview(value)
            errors.append(
                RowError(
                    number,
                    name,
                    value,
                    f"is {_kib(size)} KiB; at most {CELL_LIMIT // KIB} KiB a cell",
                )
            )
        elif _HAS_CONTROL.search(value):
            value = value.translate(_CONTROLS)
        cells[name] = value
    return cells, tuple(errors)


def _kib(size: int) -> str:
    return f"{size / KIB:,.0f}" if size >= 10 * KIB else f"{size / KIB:,.1f}"


def _preview(text: str, size: int = 40) -> str:
    """A value as a report shows it: control characters and line ends out, cut at `size`."""
    head = text[: size + 2].rstrip("\r\n").translate(_CONTROLS)
    return head if len(head) <= size else head[:size] + "…"


# CSV


class _Lines:
    """csv.reader's lines. The lines of the record being read are kept (at most ROW_LIMIT
    characters), so that after a quoting mistake the lines after its first are read again:
    an unclosed quote costs one row, not every row below it."""

    def __init__(self, text: IO[str], number: int = 0) -> None:
        self._text = text
        self._again: deque[tuple[int, str]] = deque()
        self.record: list[tuple[int, str]] = []
        self._size = 0
        self._number = number  # lines read from the file so far

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        if self._again:
            number, line = self._again.popleft()
        else:
            line = self._text.readline(ROW_LIMIT + 1)
            if not line:
                raise StopIteration
            self._number += 1
            number = self._number
            if len(line) > ROW_LIMIT and not line.endswith(("\n", "\r")):
                while (rest := self._text.readline(SNIFF_BYTES)) and not rest.endswith(
                    ("\n", "\r")
                ):
                    pass  # the rest of a line too long to be a row: skipped, never held
        self.record.append((number, line))
        self._size += len(line)
        if self._size > ROW_LIMIT:
            raise _RowTooLong
        return line

    @property
    def first(self) -> int:
        """The line the current record starts on."""
        return self.record[0][0] if self.record else self._number + 1

    @property
    def start(self) -> str:
        """The current record's first line."""
        return self.record[0][1] if self.record else ""

    def next_record(self) -> None:
        self.record.clear()
        self._size = 0

    def read_again(self) -> None:
        """After a mistake: the record's first line is dropped, those after it read again."""
        self._again.extendleft(reversed(self.record[1:]))
        self.next_record()


class _RowTooLong(Exception):
    pass


def _csv_records(raw: IO[bytes], filename: str) -> Generator[tuple[int, list[str] | RowError]]:
    """(row number, cells) of each CSV record, or a RowError naming the line of a record
    that cannot be read; a quoted cell may span lines, as in Excel."""
    encoding = _encoding(raw, filename)
    text = io.TextIOWrapper(raw, encoding=encoding, newline="")
    number = 0
    lines: _Lines | None = None
    try:
        sample = text.read(SNIFF_BYTES)
        sep_line = _SEP_LINE.match(sample)
        text.seek(0)
        if sep_line:  # Excel's hint line: it names the delimiter and is not a row
            delimiter = sep_line[1]
            text.readline()
        else:
            delimiter = _delimiter(sample, complete=len(sample) < SNIFF_BYTES)
        lines = _Lines(text, number=1 if sep_line else 0)
        mistakes = 0
        while True:
            reader = csv.reader(lines, delimiter=delimiter, strict=True)
            try:
                for record in reader:
                    number += 1
                    if "\x00" in "".join(record):
                        yield number, _nul(number, lines)
                    else:
                        yield number, record
                    lines.next_record()
                break
            except (csv.Error, _RowTooLong) as exc:
                number += 1
                mistakes += 1
                if mistakes > MAX_MISTAKES:
                    raise SheetError(
                        f"{filename}: more than {MAX_MISTAKES} rows with quoting mistakes "
                        f"(the last on line {lines.first}); is it a CSV file?"
                    ) from exc
                yield number, _mistake(number, lines, exc)
                lines.read_again()
    except UnicodeDecodeError as exc:
        where = f"line {lines.first}" if lines else f"row {number + 1}"
        raise SheetError(
            f"{filename}: {where} is not {encoding} text ({exc.reason}); "
            "save the sheet as CSV UTF-8"
        ) from exc
    finally:
        text.detach()  # the caller owns `raw` and closes it


def _mistake(number: int, lines: _Lines, exc: Exception) -> RowError:
    """The error of a record csv could not read, naming its line and what to do."""
    first = lines.first
    if isinstance(exc, _RowTooLong):
        reason = (
            f"line {first}: the row runs past {ROW_LIMIT // KIB:,} KiB (at most "
            f"{ROW_LIMIT // KIB:,} KiB a row, {CELL_LIMIT // KIB} KiB a cell); a quote opened "
            "on this line may never be closed"
        )
    elif "unexpected end of data" in str(exc):
        reason = (
            f"line {first}: a quote opens a cell on this line and is never closed; close it, "
            'or write a quote that is part of the copy as two ("")'
        )
    elif "expected after" in str(exc):
        last = lines.record[-1][0] if lines.record else first
        where = f"line {first}" if last == first else f"lines {first} to {last}"
        reason = (
            f"{where}: text follows a closing quote; inside a quoted cell, write a quote as "
            'two ("")'
        )
    else:
        reason = f"line {first}: {exc}"
    return RowError(number, "", _preview(lines.start), f"{reason}; the row was not read")


def _nul(number: int, lines: _Lines) -> RowError:
    return RowError(
        number,
        "",
        _preview(lines.start),
        f"line {lines.first} holds a NUL byte: the file is damaged or not text; the row was "
        "not read",
    )


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
        sample = sample[: max(sample.rfind("\n"), sample.rfind("\r"), 0)]
    best, best_score = ONE_COLUMN, (0.0, 1)
    for delimiter in DELIMITERS:
        try:
            rows = [
                r
                for r in csv.reader(io.StringIO(sample, newline=""), delimiter=delimiter)
                if any(r)
            ]
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

_MERGED = re.compile(rb'<(?:\w+:)?mergeCell\s+ref="([A-Z]+)([0-9]+):([A-Z]+)([0-9]+)"')
# A cell holding a formula and nothing else: no value was saved with it (Excel saves an
# empty result as <v></v>, which is a value)
_FORMULA_ONLY = re.compile(
    rb'<(?:\w+:)?c\s+r="([A-Z]+)([0-9]+)"[^>]*>\s*'
    rb"<(?:\w+:)?f\b[^>]*(?:/>|>[^<]*</(?:\w+:)?f>)\s*"
    rb"(?:<(?:\w+:)?v\s*/>)?\s*</(?:\w+:)?c>"  # openpyxl writes an empty <v />
)
MAX_HINTS = 100_000  # empty cells explained (merged or unsaved formula): a bound on memory


def _open_zip(raw: IO[bytes], filename: str) -> zipfile.ZipFile:
    """The workbook's zip, once its central directory shows it is an XLSX within the limits:
    Python's zipfile inflates no part past the size the directory gives it (a part that lies
    fails its CRC), so these checks bound what openpyxl can be made to parse."""
    try:
        archive = zipfile.ZipFile(raw)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise SheetError(
            f"{filename}: not a readable XLSX workbook (a damaged or cut-short zip: {exc}); "
            f"{SAVE_AS}"
        ) from exc
    try:
        _check_parts(archive, filename)
    except SheetError:
        archive.close()
        raise
    return archive


def _check_parts(archive: zipfile.ZipFile, filename: str) -> None:
    """Refuses the zip by its directory alone, before a byte of it is inflated."""
    parts = archive.infolist()
    if len(parts) > XLSX_PARTS:
        raise SheetError(
            f"{filename}: a zip of {len(parts):,} parts; at most {XLSX_PARTS:,} in a workbook"
        )
    total = sum(part.file_size for part in parts)
    if total > XLSX_INFLATED:
        raise SheetError(
            f"{filename}: its {len(parts)} parts inflate to {total / MIB:,.0f} MiB; at most "
            f"{XLSX_INFLATED // MIB} MiB in all"
        )
    for part in parts:
        if part.file_size > XLSX_PART:
            raise SheetError(
                f"{filename}: its part {part.filename} inflates to {part.file_size / MIB:,.0f} "
                f"MiB; at most {XLSX_PART // MIB} MiB a part"
            )
        if part.file_size > MIB and part.file_size > XLSX_RATIO * max(part.compress_size, 1):
            raise SheetError(
                f"{filename}: its part {part.filename} is compressed "
                f"{part.file_size / max(part.compress_size, 1):,.0f}:1 "
                f"({part.compress_size:,} bytes inflate to {part.file_size:,}); at most "
                f"{XLSX_RATIO}:1"
            )
        # zipfile bounds what it inflates by the directory's size for deflate only: a bzip2
        # or LZMA part is inflated a whole chunk at a time, so a part that lies about its
        # size could still take the memory. Excel deflates (or stores) every part.
        if part.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise SheetError(
                f"{filename}: its part {part.filename} is compressed with method "
                f"{part.compress_type} (a workbook's parts are deflated); {SAVE_AS} in Excel"
            )
    if any(part.flag_bits & 0x1 for part in parts):
        raise SheetError(f"{filename}: a password-protected zip; save it without a password")
    names = {part.filename for part in parts}
    mimetype = next((p for p in parts if p.filename == "mimetype" and p.file_size < 100), None)
    if mimetype and archive.read(mimetype).startswith(b"application/vnd.oasis.opendocument"):
        raise SheetError(f"{filename}: {OTHER_SHEETS['.ods']}; {NOT_READ}")
    if "xl/workbook.bin" in names:
        raise SheetError(f"{filename}: {OTHER_SHEETS['.xlsb']}; {NOT_READ}")
    if "[Content_Types].xml" not in names or not any(n.startswith("xl/") for n in names):
        raise SheetError(
            f"{filename}: a zip archive, but not an Excel workbook (no xl/ parts); {TYPES_READ}"
        )


class _Record(list[str]):
    """An XLSX row's cells, with why some empty ones are empty (by 0-based column)."""

    notes: dict[int, str]


@dataclass
class _Hints:
    """Merged ranges and formulas with no saved value, from the sheet's XML."""

    merged: dict[int, list[tuple[int, int, str]]] = field(default_factory=dict)
    formulas: set[tuple[int, int]] = field(default_factory=set)

    def note(self, row: int, column: int) -> str | None:
        """Why the empty cell at (row, 1-based column) is empty, if the sheet says."""
        if (row, column) in self.formulas:
            return (
                f"{column_letters(column - 1)}{row} holds a formula with no saved value; open "
                "and save the workbook in Excel, or type the value"
            )
        for first, last, name in self.merged.get(row, ()):
            if first <= column <= last:
                anchor = name.split(":")[0]
                return (
                    f"the cell is part of the merged range {name}, whose value only {anchor} "
                    "holds; unmerge it and fill each cell"
                )
        return None

    @classmethod
    def scan(cls, part: IO[bytes]) -> _Hints:
        """One pass over the sheet's XML in chunks (a match cut by a chunk's end is found in
        the next, which overlaps it); at most MAX_HINTS cells are kept."""
        hints, tail, kept = cls(), b"", 0
        while chunk := part.read(SCAN_BYTES):
            text = tail + chunk
            tail = text[-SNIFF_BYTES:]
            if b"mergeCell" in text:
                for a, r1, b, r2 in _MERGED.findall(text):
                    name = f"{a.decode()}{int(r1)}:{b.decode()}{int(r2)}"
                    columns = (_column_number(a), _column_number(b))
                    for row in range(int(r1), min(int(r2), int(r1) + MAX_HINTS) + 1):
                        if kept < MAX_HINTS and (*columns, name) not in hints.merged.get(row, []):
                            hints.merged.setdefault(row, []).append((*columns, name))
                            kept += 1
            if b"<f" in text or b":f" in text:
                for letters, row in _FORMULA_ONLY.findall(text):
                    if kept < MAX_HINTS:
                        hints.formulas.add((int(row), _column_number(letters)))
                        kept += 1
        return hints


def _column_number(letters: bytes) -> int:
    number = 0
    for letter in letters:
        number = number * 26 + letter - 64
    return number


def _xlsx_records(
    raw: IO[bytes], filename: str, sheet: str | None
) -> Generator[tuple[int, list[str] | RowError]]:
    from openpyxl import load_workbook  # lazy: only ingest pays for it

    # openpyxl warns on the terminal about what it skips (a date out of range, which it reads
    # as #VALUE!, an extension it ignores): the cell's own error says what matters.
    warnings.filterwarnings("ignore", category=UserWarning, module="openpyxl")
    with _open_zip(raw, filename):  # checked before openpyxl parses a byte of it
        try:
            book = load_workbook(raw, read_only=True, data_only=True)
        except Exception as exc:  # openpyxl fails a damaged workbook in many ways
            raise SheetError(f"{filename}: not a readable XLSX workbook ({_what(exc)})") from exc
    number = 0
    try:
        ws = _worksheet(book, filename, sheet)
        with zipfile.ZipFile(raw) as archive, archive.open(cast(Any, ws)._worksheet_path) as part:
            hints = _Hints.scan(part)
        # The stored <dimension> is only a hint, which some writers get wrong: without it
        # openpyxl reads every row and every cell there is.
        ws.reset_dimensions()
        # Rows missing from the XML come back empty, so counting gives Excel's row numbers.
        # Cells, not values: a number is shown in its cell's format. (openpyxl's stubs type
        # iter_rows for the writable sheet only.)
        rows: Iterator[tuple[Any, ...]] = cast(Any, ws).iter_rows()
        for number, cells in enumerate(rows, start=1):
            record = _Record(_xlsx_cell_text(cell) for cell in cells)
            record.notes = {}
            if hints.merged or hints.formulas:
                for i, cell in enumerate(cells):
                    if cell.value is None and (note := hints.note(number, i + 1)):
                        record.notes[i] = note
            yield number, record
    except SheetError:
        raise
    except Exception as exc:  # as above: XML that does not parse, a string index past the table
        raise SheetError(f"{filename}: sheet unreadable after row {number} ({_what(exc)})") from exc
    finally:
        book.close()


def _what(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


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
