"""A call whose outcome nobody knows, settled by a person from the provider's bill (#15, #16).

A call that timed out, lost its line, or whose answer a crash lost may have been billed, or
not. placard does not guess: the ledger keeps it reserved, the campaign's budget holding its
reservation, and the reconciler lists it on every run, naming the call (services/reconcile.py),
until a person reads what the provider billed for it and says so (`placard settle`). Then it
is charged that, with no image, or refunded when the bill shows nothing; the budget gets back
what its reservation held beyond the bill, or is charged what the bill went over it; and the
reports of the upload its job came from are written again, to count it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from placard.domain.errors import InvalidInput
from placard.domain.ledger_items import LedgerItem, Status
from placard.domain.ports import Budgets, JobStore, Ledger, ReportRequests
from placard.domain.runs import UploadRun
from placard.services.pipeline import unknown_call, utc_now

SETTLED = "outcome unknown, settled from the provider's bill"
NOT_BILLED = "outcome unknown, not on the provider's bill: released"
SET_ASIDE = "its call's outcome was unknown; settled from the bill as a call of its own"


def call_id(item: LedgerItem) -> str:
    """How a person names a call: its job, image, attempt and when it was reserved (one job
    may hold several calls of one image, each set aside by a later delivery)."""
    return f"{item.job_id}#{item.image_index}#{item.attempt}#{item.created_at}"


def parse_call_id(text: str) -> tuple[str, int, int, str]:
    """(job, image, attempt, reserved at) of a call id; InvalidInput naming `call`."""
    parts = text.strip().split("#", 3)
    try:
        job_id, image, attempt, reserved_at = parts
        found = job_id, int(image), int(attempt), reserved_at
    except ValueError:
        said = "JOB#IMAGE#ATTEMPT#RESERVED_AT"
        raise InvalidInput(
            "call", f"{text!r} is not a call as the reconciler names it: {said}"
        ) from None
    if not (job_id and reserved_at):
        raise InvalidInput("call", f"{text!r} names no job or no reservation time")
    return found


@dataclass(frozen=True)
class Settlement:
    ledger: Ledger
    budgets: Budgets
    kept_jobs: JobStore
    reports: ReportRequests
    clock: Callable[[], str] = field(default=utc_now)

    def held(self, campaign: str, call: str) -> LedgerItem:
        """The call, still reserved; InvalidInput naming `call` when it is not (settled
        already, or never listed)."""
        job_id, image, attempt, reserved_at = parse_call_id(call)
        for item in self.ledger.job_items(campaign, job_id, lost=True):
            if (item.status is Status.RESERVED and item.image_index == image
                    and item.attempt == attempt and item.created_at == reserved_at):  # fmt: skip
                return item
        raise InvalidInput(
            "call",
            f"campaign {campaign} holds no call {call} of unknown "
            "outcome (settled already, or not one the reconciler listed)",
        )

    def settle(self, campaign: str, call: str, billed: Decimal) -> LedgerItem:
        """Charge the call what the bill says (0: release it); the settled item."""
        if not billed.is_finite() or billed < 0:
            raise InvalidInput("billed", f"{billed} is not an amount a bill can show")
        item = self.held(campaign, call)
        stamp = self.clock()
        if not billed:
            settled = item.but(status=Status.REFUNDED, cost_usd=Decimal(0), reason=NOT_BILLED,
                               updated_at=stamp)  # fmt: skip
        else:
            # Charged as a call of its own, never as an image: the image's own key stays free
            # for its job, and no report shows a charged image with nothing stored.
            aside = item if item.lost else unknown_call(item, stamp)
            settled = aside.but(
                status=Status.CHARGED, cost_usd=billed, estimated=False, reason=SETTLED,
                overshoot_usd=max(billed - item.cost_usd, Decimal(0)), updated_at=stamp,
            )  # fmt: skip
        # The write that settles it is the guard: of two settling at once, one gives back.
        won = self.ledger.settle(settled)
        if billed and not item.lost:  # its image's own item, whichever settle charged it
            self.ledger.save(item.but(status=Status.FAILED, cost_usd=Decimal(0),
                                      reason=SET_ASIDE, updated_at=stamp))  # fmt: skip
        if not won:
            raise InvalidInput("call", f"campaign {campaign}'s call {call} was settled "
                               "meanwhile, by another; nothing more was changed")  # fmt: skip
        job = self.kept_jobs.get(campaign, item.job_id)
        if job is not None and job.origin.get("budget"):  # its reservation was taken from it
            self.budgets.give_back(campaign, item.cost_usd - billed)
        if job is not None and (run := UploadRun.of(job)):
            self.reports.send(run)
        return settled
