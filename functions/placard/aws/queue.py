"""SQS: jobs go out in batches of ten, the most one call may carry, several batches at once;
report and callback requests one by one."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from itertools import islice
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from placard.domain.errors import PlacardError
from placard.domain.jobs import Job
from placard.domain.proofs import Region
from placard.domain.rounds import Round
from placard.domain.runs import UploadRun

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import (
        BatchResultErrorEntryTypeDef,
        SendMessageBatchRequestEntryTypeDef,
    )

BATCH = 10
# Batches in flight at once. SQS answers a call in 10 to 20 ms from inside a region: one after
# another, 100k rows (10,000 calls) would wait minutes on the network alone. boto3 clients are
# thread-safe, and bootstrap's pool (64 connections) covers these.
SENDERS = 16
RESENDS = 4  # tries of an entry SQS refused in its batch, sent again alone
RESEND_BACKOFF = 0.2  # seconds before the first, doubled for each next (jittered)


@dataclass
class _Sent:
    """One batch's outcome: how many SQS took, and the jobs it would not take, with why."""

    sent: int = 0
    refused: list[tuple[Job, str]] = field(default_factory=list)


def _reason(failure: BatchResultErrorEntryTypeDef) -> str:
    return f"{failure['Code']}: {failure.get('Message', '')}".rstrip(": ")


class SqsJobQueue:
    def __init__(
        self,
        sqs: SQSClient,
        queue_url: str,
        senders: int = SENDERS,
        backoff: float = RESEND_BACKOFF,
    ) -> None:
        self._sqs = sqs
        self.queue_url = queue_url
        self.senders = senders
        self.backoff = backoff

    def send(self, jobs: Iterable[Job], refused: Callable[[Job, str], None] | None = None) -> int:
        """Batches of ten, up to `senders` of them in flight; `jobs` is read on the calling
        thread, at most two rounds of batches ahead of what SQS has answered, and `refused`
        is called there too. An entry SQS refuses in its batch (it throttles, or fails inside)
        is sent again alone, with backoff; one it still refuses, or refuses as malformed, goes
        to `refused` with the reason (raised as a PlacardError when there is none). The rest
        of the sheet goes on either way."""
        sent = 0

        def settle(done: Iterable[Future[_Sent]]) -> None:
            nonlocal sent
            for future in done:
                outcome = future.result()  # a call that failed whole (after botocore's retries)
                sent += outcome.sent
                for job, reason in outcome.refused:
                    if refused is None:
                        raise PlacardError(f"SQS refused job {job.job_id}: {reason}")
                    refused(job, reason)

        pool = ThreadPoolExecutor(self.senders, thread_name_prefix="placard-sqs")
        try:
            in_flight: set[Future[_Sent]] = set()
            pending = iter(jobs)
            while batch := list(islice(pending, BATCH)):
                if len(in_flight) >= 2 * self.senders:
                    done, in_flight = wait(in_flight, return_when=FIRST_COMPLETED)
                    settle(done)
                in_flight.add(pool.submit(self._send_batch, batch))
            settle(wait(in_flight).done)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        return sent

    def _send_batch(self, batch: list[Job]) -> _Sent:
        entries: list[SendMessageBatchRequestEntryTypeDef] = [
            {"Id": str(i), "MessageBody": job.to_json()} for i, job in enumerate(batch)
        ]
        reply = self._sqs.send_message_batch(QueueUrl=self.queue_url, Entries=entries)
        outcome = _Sent(sent=len(reply.get("Successful", [])))
        for failure in reply.get("Failed", []):
            job, body = batch[int(failure["Id"])], entries[int(failure["Id"])]["MessageBody"]
            reason = _reason(failure)
            if not failure["SenderFault"]:  # throttled or failed inside: worth another try
                again = self._resend(body)
                if again is None:
                    outcome.sent += 1
                    continue
                reason = again
            outcome.refused.append((job, reason))
        return outcome

    def _resend(self, body: str) -> str | None:
        """Send one message again alone, up to RESENDS times; None once SQS took it, else
        why it did not. SQS took no entry it lists as failed, so nothing is queued twice."""
        reason = ""
        for attempt in range(RESENDS):
            pause = self.backoff * 2**attempt
            time.sleep(pause / 2 + random.uniform(0, pause / 2))  # noqa: S311 (jitter, no secret)
            try:
                reply = self._sqs.send_message_batch(
                    QueueUrl=self.queue_url, Entries=[{"Id": "0", "MessageBody": body}]
                )
            except ClientError as exc:  # its own retries spent too
                error: Any = exc.response.get("Error", {})
                reason = f"{error.get('Code', 'error')}: {error.get('Message', '')}".rstrip(": ")
                continue
            failed = reply.get("Failed", [])
            if not failed:
                return None
            reason = _reason(failed[0])
            if failed[0]["SenderFault"]:
                break
        return f"SQS refused it {attempt + 2} times, the last: {reason}"

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
