"""One delivery of a sheet: its jobs are counted as they end, and the last one's end writes
the reports."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from placard.domain.jobs import Job
from placard.domain.keys import reports_prefix


@dataclass(frozen=True)
class UploadRun:
    campaign: str
    sheet: str  # the sheet's key in the uploads bucket
    run: str  # the S3 event's sequencer: a new upload of the same sheet is a new run

    @property
    def reports_prefix(self) -> str:
        return reports_prefix(self.campaign, self.sheet)

    def to_dict(self) -> dict[str, str]:
        return {"campaign": self.campaign, "sheet": self.sheet, "run": self.run}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> UploadRun:
        return cls(str(data["campaign"]), str(data["sheet"]), str(data["run"]))

    @classmethod
    def of(cls, job: Job) -> UploadRun | None:
        """The run a sheet's job belongs to; None for jobs that came another way."""
        sheet, run = job.origin.get("sheet"), job.origin.get("run")
        return cls(job.campaign, str(sheet), str(run)) if sheet and run else None
