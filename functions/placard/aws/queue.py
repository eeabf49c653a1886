"""SQS: jobs go out in batches of ten, the most one call may carry; report and callback requests
one by one."""

from __future__ import annotations

import json
from collections.abc import Iterable
from itertools import islice
from typing import TYPE_CHECKING, Any

from placard.domain.errors import PlacardError
from placard.domain.jobs import Job
from placard.domain.proofs import Region
from placard.domain.rounds import Round
from placard.domain.runs import UploadRun

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import SendMessageBatchRequestEntryTypeDef

BATCH = 10


class SqsJobQueue:
    def __init__(self, sqs: SQSClient, queue_url: str) -> None:
        self._sqs = sqs
        self.queue_url = queue_url

    def send(self, jobs: Iterable[Job]) -> int:
        sent = 0
        pending = iter(jobs)
        while batch := list(islice(pending, BATCH)):
            entries: list[SendMessageBatchRequestEntryTypeDef] = [
                {"Id": str(i), "MessageBody": job.to_json()} for i, job in enumerate(batch)
            ]
            reply = self._sqs.send_message_batch(QueueUrl=self.queue_url, Entries=entries)
            failed = reply.get("Failed", [])
            if failed:
                reasons = "; ".join(f"{f['Code']}: {f.get('Message', '')}" for f in failed)
                raise PlacardError(f"SQS refused {len(failed)} of {len(entries)} jobs: {reasons}")
            sent += len(entries)
        return sent

    def send_round(self, job: Job, round_: Round) -> None:
        body = job.to_json(round=round_.to_dict())
        self._sqs.send_message(QueueUrl=self.queue_url, MessageBody=body)


class _SqsRequests:
    """A queue of requests to another function, one JSON message each."""

    def __init__(self, sqs: SQSClient, queue_url: str) -> None:
        self._sqs = sqs
        self.queue_url = queue_url

    def _send(self, body: dict[str, Any]) -> None:
        self._sqs.send_message(QueueUrl=self.queue_url, MessageBody=json.dumps(body))


class SqsReportRequests(_SqsRequests):
    def send(self, run: UploadRun) -> None:
        self._send(run.to_dict())


class SqsCallbackRequests(_SqsRequests):
    def send(self, job_id: str, url: str) -> None:
        self._send({"job_id": job_id, "url": url})


class SqsProofRequests(_SqsRequests):
    def send(
        self,
        job: Job,
        round_: Round,
        originals: list[tuple[int, str]],
        status: str,
        reason: str,
        region: Region | None = None,
    ) -> None:
        self._send(
            {
                "job": job.to_dict(),
                "round": round_.to_dict(),
                "originals": originals,
                "status": status,
                "reason": reason,
                "region": list(region) if region else None,
            }
        )


class SqsDerivativeRequests(_SqsRequests):
    def send(
        self,
        job: Job,
        originals: list[tuple[int, str]],
        status: str,
        reason: str,
        again: bool = False,
    ) -> None:
        self._send(
            {
                "job": job.to_dict(),
                "originals": originals,
                "status": status,
                "reason": reason,
                "again": again,
            }
        )
