"""People's decisions on delivered images (docs/design.md §7): approve, reject, re-roll."""

from __future__ import annotations

from dataclasses import dataclass

from placard.domain.ports import AssetStore, JobQueue, Ledger, ReportRequests, UploadStore


@dataclass
class Reviews:
    ledger: Ledger
    assets: AssetStore
    uploads: UploadStore
    jobs: JobQueue
    reports: ReportRequests
