"""Spreadsheets to jobs. Every non-empty row becomes a Job or one RowError per problem.

Rows are streamed, never held whole, so a sheet of any length reads in constant memory.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import IO, TypeVar

from placard.errors import InvalidInput, PlacardError
from placard.jobs import Job, Mode, Quality, Size, parse_background, parse_box, parse_n
from placard.templates import Catalogue, Template

T = TypeVar("T")
SNIFF_BYTES = 64 * 1024


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


def _decode(raw: IO[bytes]) -> IO[str]:
    """UTF-8 (with or without BOM), UTF-16 by BOM, else Windows-1252 as Excel writes it."""
    head = raw.read(SNIFF_BYTES)
    raw.seek(0)
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"
    else:
        try:
            head.decode("utf-8")
            encoding = "utf-8-sig"
        except UnicodeDecodeError as exc:
            # A multi-byte character cut at the sniff boundary is still UTF-8.
            encoding = "utf-8-sig" if exc.start >= len(head) - 3 else "cp1252"
    return io.TextIOWrapper(raw, encoding=encoding, newline="")


def _csv_records(raw: IO[bytes]) -> Iterator[list[str]]:
    text = _decode(raw)
    sample = text.read(SNIFF_BYTES)
    text.seek(0)
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    yield from csv.reader(text, dialect)


def _xlsx_records(raw: IO[bytes], sheet: str | None) -> Iterator[list[str]]:
    from openpyxl import load_workbook  # lazy: only ingest pays for it

    book = load_workbook(raw, read_only=True, data_only=True)
    try:
        if sheet is None:
            ws = book.worksheets[0]
        elif sheet in book.sheetnames:
            ws = book[sheet]
        else:
            raise SheetError(f"no sheet named {sheet!r}; the workbook has {book.sheetnames}")
        for values in ws.iter_rows(values_only=True):
            yield [_cell_text(v) for v in values]
    finally:
        book.close()


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def read_rows(raw: IO[bytes], filename: str, sheet: str | None = None) -> Iterator[Row]:
    """Rows of a CSV or XLSX, keyed by normalised header; fully empty rows are skipped."""
    suffix = Path(filename).suffix.lower()
    if suffix == ".xlsx":
        records = _xlsx_records(raw, sheet)
    elif suffix in (".csv", ".tsv", ".txt"):
        records = _csv_records(raw)
    else:
        raise SheetError(f"{filename}: expected a .csv or .xlsx file")
    header: list[str] | None = None
    for number, record in enumerate(records, start=1):
        if not any(cell.strip() for cell in record):
            continue
        if header is None:
            header = [normalise_header(cell) for cell in record]
            named = [h for h in header if h]
            duplicates = sorted({h for h in named if named.count(h) > 1})
            if duplicates:
                raise SheetError(f"header row {number}: duplicate columns {duplicates}")
            continue
        cells = {h: v for h, v in zip(header, record, strict=False) if h}
        yield Row(number, cells)
    if header is None:
        raise SheetError(f"{filename}: no header row (the sheet is empty)")


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
        row_id=cells.get("id", "").strip() or str(row.number),
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
