"""The files a job names (an edit's source photo and its mask) must be in the uploads bucket:
one check for ingest, the API and the worker, so all three refuse a missing file alike."""

from __future__ import annotations

from collections.abc import Callable

from placard.domain.errors import InvalidInput
from placard.domain.jobs import Job


def missing_files(job: Job, exists: Callable[[str], bool]) -> list[InvalidInput]:
    """One error per file the job names that `exists` cannot find, the source first."""
    return [
        InvalidInput(field, f"{key} is not in the uploads bucket", key)
        for field, key in (("source_image", job.source_image), ("mask", job.mask))
        if key and not exists(key)
    ]
