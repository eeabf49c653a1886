"""A sheet's rows as jobs: every non-empty row becomes a Job or one RowError per problem, and a
column that no template uses is a warning, once."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import TypeVar

from placard.domain.errors import InvalidInput
from placard.domain.jobs import Job, Mode, Quality, Size, parse_background, parse_box, parse_n
from placard.domain.keys import upload_key
from placard.domain.templates import Catalogue, Template
from placard.sheets.reader import WARNING, Row, RowError

T = TypeVar("T")

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
# Columns that steer a row rather than carry its copy.
CONTROL_COLUMNS = frozenset(("template", *_JOB_COLUMNS))
# Columns the reports add: a results.csv uploaded again as a sheet warns of none of them.
REPORT_COLUMNS = frozenset(
    ("row", "status", "job_id", "images", "links", "sha256", "cost_usd", "proof", "reason")
).union(("proof_detail", "attempts", "review", "decision", "note"))


@dataclass(frozen=True)
class SheetDefaults:
    campaign: str
    upload: str
    template: str | None = None
    # What each job's origin carries besides its upload and row (ingest: the sheet's run):
    # set as the job is made, so its id is worked out once.
    origin: Mapping[str, object] = field(default_factory=dict, compare=False)


def job_from_row(row: Row, catalogue: Catalogue, defaults: SheetDefaults) -> Job | list[RowError]:
    """A Job, or every problem of the row, each naming its column."""
    errors: list[RowError] = []

    def attempt(column: str, parse: Callable[[], T]) -> T | None:
        try:
            return parse()
        except InvalidInput as exc:
            reason = exc.reason
            if note := row.notes.get(exc.field):  # why the cell reads empty
                reason = f"{reason}: {note}"
            errors.append(RowError(row.number, exc.field, row.cells.get(column, ""), reason))
            return None

    if row.errors:  # the reader could not read the row whole: its cells prove nothing
        return list(row.errors)

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
        origin={"upload": defaults.upload, "row": row.number, **defaults.origin},
    )


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
    """Each row's job or errors, and once per column a warning for a column whose values the
    row's template does not use (a misspelt optional variable would be dropped in silence)."""
    warned: set[str] = set()
    for row in rows:
        outcome = job_from_row(row, catalogue, defaults)
        if isinstance(outcome, Job):
            yield outcome
        else:
            yield from outcome
        try:
            template = catalogue[row.cells.get("template", "").strip() or defaults.template or ""]
        except InvalidInput:  # the row's error says so
            continue
        yield from _unused_columns(row, template, warned)


def _unused_columns(row: Row, template: Template, warned: set[str]) -> Iterator[RowError]:
    for column, value in row.cells.items():
        if column in warned or column in template.variables or not value.strip():
            continue
        if column in CONTROL_COLUMNS or column in REPORT_COLUMNS:
            continue
        warned.add(column)
        if column.startswith("column "):  # a cell under no header
            what = f"has no header; {template.name} cannot know it"
        else:
            what = f"names no variable of {template.name}"
        names = ", ".join(template.variables)
        yield RowError(
            row.header,
            column,
            value[:40],
            f"{WARNING}{what} (its variables: {names}); its values were not used",
            warning=True,
        )
