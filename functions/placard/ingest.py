"""A sheet in the uploads bucket becomes jobs on the queue and, for bad rows, errors.csv."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath

from placard.errors import InvalidInput
from placard.jobs import Job, parse_campaign
from placard.ports import AssetStore, JobQueue, UploadStore
from placard.reports import add_error, errors_report
from placard.sheets import RowError, SheetDefaults, SheetError, jobs_from_rows, read_rows
from placard.templates import Catalogue

UPLOADS_PREFIX = "campaigns/"


@dataclass(frozen=True)
class Upload:
    """`campaigns/<campaign>/<file>` in the uploads bucket."""

    key: str
    campaign: str
    filename: str

    @property
    def name(self) -> str:
        return PurePosixPath(self.filename).stem

    @property
    def reports_prefix(self) -> str:
        return f"reports/{self.campaign}/{self.name}/"

    @classmethod
    def parse(cls, key: str) -> Upload:
        parts = PurePosixPath(key).parts
        if len(parts) != 3 or parts[0] != UPLOADS_PREFIX.rstrip("/"):
            raise InvalidInput("key", "uploads go to campaigns/<campaign>/<file>", key)
        return cls(key, parse_campaign(parts[1]), parts[2])


@dataclass(frozen=True)
class IngestReport:
    upload: Upload
    jobs: int
    errors: int
    errors_key: str


@dataclass
class Ingest:
    catalogue: Catalogue
    uploads: UploadStore
    assets: AssetStore
    queue: JobQueue

    def run(self, key: str) -> IngestReport:
        upload = Upload.parse(key)
        report = errors_report()
        defaults = SheetDefaults(campaign=upload.campaign, upload=upload.name)

        def jobs() -> Iterator[Job]:
            try:
                with self.uploads.open(upload.key) as raw:
                    rows = read_rows(raw, upload.filename)
                    for outcome in jobs_from_rows(rows, self.catalogue, defaults):
                        if isinstance(outcome, RowError):
                            add_error(report, outcome)
                        else:
                            yield outcome
            except SheetError as exc:
                add_error(report, RowError(0, "", upload.filename, str(exc)))

        sent = self.queue.send(jobs())
        errors_key = upload.reports_prefix + "errors.csv"
        self.assets.put_report(errors_key, report.to_bytes(), "text/csv; charset=utf-8")
        return IngestReport(upload, sent, report.count, errors_key)
