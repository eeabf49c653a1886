"""What happens when a job has ended: whoever waits for it is told.

An API job's record takes its final state and its callback is queued; a sheet's upload counts
the job, and the last of its jobs to end asks for the reports."""

from __future__ import annotations

from dataclasses import dataclass

from placard.domain.jobs import Job
from placard.domain.ports import CallbackRequests, JobRecords, Progress, ReportRequests
from placard.domain.runs import UploadRun
from placard.domain.statuses import ended_state


@dataclass
class JobEndings:
    records: JobRecords
    callbacks: CallbackRequests
    progress: Progress
    reports: ReportRequests

    def ended(self, job: Job, status: str, reason: str, again: bool = False) -> None:
        """`status` is the job outcome's (a JobState), as the worker's message carries it;
        `again`: the job had ended before and a person's re-roll ended it anew, so its
        upload, counted already, gets its reports written again."""
        if job.origin.get("api"):
            self.records.end(job.job_id, ended_state(status, reason), reason)
            if job.origin.get("callback_url"):
                self.callbacks.send(job.job_id, str(job.origin["callback_url"]))
        run = UploadRun.of(job)
        if run is not None and (
            again or self.progress.job_ended(run, job.job_id, ended_state(status, reason))
        ):
            self.reports.send(run)
