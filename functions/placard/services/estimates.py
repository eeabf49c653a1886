"""`placard estimate`: what a sheet would cost, by quality tier and provider, before it runs."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from placard.domain.errors import InvalidInput
from placard.domain.jobs import Job, Size
from placard.domain.pricing import Billable, Estimate, PriceTable, estimate
from placard.domain.templates import Catalogue
from placard.providers.base import PAID
from placard.sheets.reader import Row, RowError
from placard.sheets.rows import SheetDefaults, job_from_row


@dataclass(frozen=True)
class RowToRun:
    """A valid row: its job, the size it is made and billed at, and the prompt it sends."""

    row: int
    job: Job
    size: Size
    prompt: str

    @property
    def billable(self) -> Billable:
        return Billable.of(self.job, self.size, self.prompt)


@dataclass
class SheetEstimate:
    rows: int = 0
    jobs: list[RowToRun] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    repeats: int = 0  # rows identical to an earlier one: the same job, made and priced once

    def by_provider(
        self, prices: PriceTable, providers: Iterable[str] = PAID
    ) -> dict[str, Estimate]:
        """Each provider's estimate; its `quotes` follow `jobs`, row by row."""
        calls = [row.billable for row in self.jobs]
        return {name: estimate(prices[name], calls) for name in providers}


def estimate_rows(
    rows: Iterable[Row],
    catalogue: Catalogue,
    defaults: SheetDefaults,
    source: Callable[[str], bytes | None],
) -> SheetEstimate:
    """Validate every row as ingest would; an edit's size comes from its source image, read
    with `source(name)` (None when the file is not there)."""
    from placard.imaging.edits import source_edit_size  # lazy: Pillow reads headers only

    result = SheetEstimate()
    seen: set[str] = set()
    for row in rows:
        result.rows += 1
        parsed = job_from_row(row, catalogue, defaults)
        if not isinstance(parsed, Job):
            result.errors.extend(parsed)
            continue
        if parsed.job_id in seen:
            result.repeats += 1
            continue
        seen.add(parsed.job_id)
        size = parsed.size
        if size is None:
            name = row.cells.get("source_image", "").strip()
            data = source(name)
            if data is None:
                result.errors.append(
                    RowError(row.number, "source_image", name, f"{name} is not beside the sheet")
                )
                continue
            try:
                size = source_edit_size(data)
            except InvalidInput as exc:
                result.errors.append(RowError(row.number, exc.field, name, exc.reason))
                continue
        template = catalogue[parsed.template]
        prompt = template.render(template.values(parsed.variables))
        result.jobs.append(RowToRun(row.number, parsed, size, prompt))
    return result
