"""A round's images read back and judged; a failed one re-rolled, or the job finished.

The proof function runs this once a round's originals are stored (docs/design.md §7). A
job's rounds follow one another: the next round is queued only when this one is judged, so
whoever handles a round knows the whole job from the ledger. Every step can run twice: a
proof already recorded is reused, a re-roll already queued is refused by the ledger's
reservation of its attempt, and the job's end is told at most once per round.
"""

from __future__ import annotations

from dataclasses import dataclass

from placard.domain.attempts import ImageAttempts, by_image
from placard.domain.errors import InvalidInput
from placard.domain.jobs import Job
from placard.domain.ledger_items import LedgerItem, Status
from placard.domain.ports import AssetStore, DerivativeRequests, ImageReader, JobQueue, Ledger
from placard.domain.proofs import FieldProof, Proof, Region, Verdict
from placard.domain.rounds import Cause, Round
from placard.domain.statuses import JobState
from placard.domain.templates import Catalogue


@dataclass
class Proofs:
    catalogue: Catalogue
    reader: ImageReader
    assets: AssetStore
    ledger: Ledger
    jobs: JobQueue
    derivatives: DerivativeRequests

    def check(
        self,
        job: Job,
        round_: Round,
        originals: list[tuple[int, str]],
        status: str,
        reason: str,
        region: Region | None = None,
    ) -> Round | None:
        """The re-roll round it queued, or None when the job was finished."""
        template = self.catalogue[job.template]
        fields = template.texts(template.values(job.variables))
        attempts = {
            (i.image_index, i.attempt): i for i in self.ledger.job_items(job.campaign, job.job_id)
        }
        failed: list[int] = []
        for index, key in originals:
            item = attempts.get((index, round_.attempt))
            if item is None or item.status is not Status.CHARGED:
                continue
            proof = item.proved or self._read(item, key, fields, region)
            if proof.verdict is Verdict.FAIL:
                failed.append(index)
        asked = job.origin.get("rerolls")  # the upload's or the call's, else the template's
        rerolls = template.rerolls if asked is None else int(asked)
        # A person's re-roll is one more attempt, judged but not re-rolled again by itself.
        if failed and round_.cause is not Cause.REVIEW and round_.attempt <= rerolls:
            again = round_.next(tuple(failed), Cause.PROOF)
            self.jobs.send_round(job, again)
            return again
        self.finish(job, round_, status, reason)
        return None

    def _read(
        self, item: LedgerItem, key: str, fields: list[tuple[str, str]], region: Region | None
    ) -> Proof:
        from placard.proofing.check import read_back  # lazy: Pillow and the engine

        try:
            proof = read_back(self.reader, self.assets.read(key), fields, region)
        except InvalidInput as exc:
            # Bytes no reader can open are still the provider's billed answer: a person looks.
            unread = (exc.reason,)
            proof = Proof.of(
                [FieldProof(n, t, Verdict.UNCHECKED, problems=unread) for n, t in fields]
            )
        self.ledger.record_proof(item, proof)
        return proof

    def finish(self, job: Job, round_: Round, status: str, reason: str) -> None:
        """Every image has its last attempt: derivatives of each delivered one, then the job
        ends (derivatives tell whoever waits for it)."""
        images = by_image(self.ledger.job_items(job.campaign, job.job_id))
        delivered = [(i.index, item) for i in images if (item := i.delivered) is not None]
        failed = [i for i in images if i.verdict is Verdict.FAIL]
        if failed:
            state = JobState.NEEDS_REVIEW
            reason = "its words failed every proof: " + "; ".join(map(_failures, failed))
        elif len(delivered) == job.n:
            state, reason = JobState.SUCCEEDED, ""
        elif round_.attempt == 1:
            state = JobState(status)
        else:
            state, reason = JobState.FAILED, reason or "some images could not be made"
        originals = [(index, item.s3_key) for index, item in delivered]
        self.derivatives.send(job, originals, state, reason, again=round_.cause is Cause.REVIEW)


def _failures(image: ImageAttempts) -> str:
    proof = image.delivered.proved if image.delivered else None
    detail = proof.detail if proof else ""
    return f"image {image.index}, {image.attempts} attempts, the last read {detail}"
