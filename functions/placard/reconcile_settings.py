"""The reconciler's configuration from the environment (template.yaml's ReconcileFunction), on
top of every function's Settings: the dead-letter queues it reads, and how old a reservation
must be before no delivery can still be at work on it."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from placard.settings import SettingsError, _Reader

# The queue each dead-letter queue serves, by the variable naming its URL.
DEAD_LETTER_QUEUES = {
    "jobs": "JOBS_DLQ_URL",
    "proofs": "PROOFS_DLQ_URL",
    "derivatives": "DERIVATIVES_DLQ_URL",
    "ingest": "INGEST_DLQ_URL",  # Lambda's failure records of ingest's S3 events
    "reports": "REPORTS_DLQ_URL",
    "callbacks": "CALLBACKS_DLQ_URL",
}


@dataclass(frozen=True)
class ReconcileSettings:
    dead_letter_queues: dict[str, str]  # "jobs" -> the jobs dead-letter queue's URL, ...
    after_seconds: float = 900.0  # the worker's 600 s timeout, and a margin

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ReconcileSettings:
        read = _Reader(os.environ if env is None else env)
        queues = {name: read.required(variable) for name, variable in DEAD_LETTER_QUEUES.items()}
        after = read.number("RECONCILE_AFTER_SECONDS", 900.0, float, "a number of seconds")
        if read.problems:
            raise SettingsError("; ".join(read.problems))
        return cls(queues, after)
