"""How a job and a sheet's row ended, as enums; the ledger's own Status is in ledger_items.

They are StrEnums, so a status is the same word in JSON, results.csv, the contact sheet and
DynamoDB as it was when these were plain strings. A status is decided from data (an item's
status and its `over_budget` flag), never by comparing a reason's wording.
"""

from __future__ import annotations

from enum import StrEnum


# State, not Status: the API's JobStatus is the reply body that carries it.
class JobState(StrEnum):
    """Where a job is: queued, running, then succeeded, failed, over_budget (no room left) or
    needs_review (an image whose every attempt failed its proof is delivered for a person)."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    OVER_BUDGET = "over_budget"
    NEEDS_REVIEW = "needs_review"


class RowStatus(StrEnum):
    """What became of one sheet row, as results.csv and the contact sheet say it."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    REJECTED = "rejected"  # the row could not become a job; nothing was asked of the provider
    OVER_BUDGET = "over_budget"
    NEEDS_REVIEW = "needs_review"  # delivered, but its words failed every proof


# The reason a budget-refused image gives, for people to read; the flag says it for code.
OVER_BUDGET_REASON = "over budget: this image would take the campaign past its budget"


def said_over_budget(reason: str) -> bool:
    """Compatibility, the one place a sentence is compared: ledger items and job outcomes
    written before `over_budget` was data carry only this reason. Readers of stored data ask
    it once, where they parse (LedgerItem.from_item, JobEndings.ended)."""
    return reason == OVER_BUDGET_REASON


def ended_state(status: str, reason: str) -> JobState:
    """The API's final state for a job outcome's status, as the worker's queue message
    carries it (an outcome stored before this change says "failed" with the sentence)."""
    state = JobState(status)
    if state is JobState.FAILED and said_over_budget(reason):
        return JobState.OVER_BUDGET
    return state
