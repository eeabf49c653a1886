"""A campaign's progress from its counters (#17): queued, running, ended by status, spent, and
the time left at the rate jobs ended lately. Pure: the counters are read by aws/progress.py.

The counters cover a campaign's sheet jobs (each upload counts its own jobs, as its reports
do) and every charge in its ledger. They are kept as the work happens, so a 100,000-row
campaign answers from a few items, never a read of its images:

- `queued`: every upload adds its jobs once, when ingest has queued them all;
- `started`: a job's first delivery to the worker (a job made before, asked again by another
  upload of the sheet, is not started again: it ends at once, uncounted as running);
- `ended_<status>`: each upload's job once, as its end is counted against the upload, and the
  same end in the minute it happened (the recent rate);
- the Spend fields: each ledger item when it is first charged, as the costs route sums them.

Each is added by its own call after the write that guards it (the ledger item's conditional
put, the job's end marker, the run's total): a stop between the two loses that count. The
reconciler makes them converge (`recounted`), rather than one transaction per write: a
transaction bills each of its items twice, +1.25 micro-USD a charge and as much an end
(docs/cost.md: a low job is already at the 1% line), where a recount costs nothing per image.
`started` and the minute buckets are not recounted: the ledger keeps no time a job started,
and a lost start only shows a running job as queued until it ends; a lost minute slows the
rate's estimate for ten minutes, then ages out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from placard.domain.spend import Spend
from placard.domain.statuses import JobState

WINDOW_MINUTES = 10  # the rate is measured over the last ten minutes of ends
ENDED_STATES = tuple(s for s in JobState if s not in (JobState.QUEUED, JobState.RUNNING))
MINUTE_FORMAT = "%Y-%m-%dT%H:%M"  # a minute bucket's name, UTC; sorts as it reads


def minute_of(moment: datetime) -> str:
    return moment.strftime(MINUTE_FORMAT)


def window_start(now: datetime) -> str:
    """The first minute whose ends count towards the rate."""
    return minute_of(now - timedelta(minutes=WINDOW_MINUTES - 1))


@dataclass(frozen=True)
class CampaignCounts:
    """The counters as stored: totals, and the ends of each recent minute."""

    queued: int = 0
    started: int = 0
    ended: Mapping[str, int] = field(default_factory=dict)  # by JobState value
    spend: Spend = field(default_factory=Spend)
    recent: Mapping[str, int] = field(default_factory=dict)  # minute -> jobs ended in it


@dataclass(frozen=True)
class CampaignProgress:
    queued: int
    running: int
    ended: dict[str, int]  # every ended status, 0 included
    spend: Spend
    rate_per_minute: Decimal | None
    seconds_left: int | None
    why_no_estimate: str  # empty when there is an estimate

    @property
    def ended_total(self) -> int:
        return sum(self.ended.values())

    @property
    def total(self) -> int:
        return self.queued + self.running + self.ended_total


def progress(counts: CampaignCounts, now: datetime) -> CampaignProgress:
    """Queued, running and ended add up to what was queued. Counters written by separate
    calls may lag one another (a job can end before its upload's total is added), so each
    figure is bounded by what the others allow, never below zero."""
    ended = {state.value: int(counts.ended.get(state.value, 0)) for state in ENDED_STATES}
    done = sum(ended.values())
    left = max(counts.queued - done, 0)
    running = min(max(counts.started - done, 0), left)
    rate, seconds, why = estimate(left, counts.recent, now)
    return CampaignProgress(left - running, running, ended, counts.spend, rate, seconds, why)


def estimate(
    left: int, recent: Mapping[str, int], now: datetime
) -> tuple[Decimal | None, int | None, str]:
    """(jobs ended a minute, seconds left, why there is no estimate). The rate is the ends of
    the window over the time since its first minute with an end: a campaign two minutes old
    is measured over two minutes, not ten."""
    since = window_start(now)
    counted = {minute: n for minute, n in recent.items() if minute >= since and n > 0}
    if not counted:
        if left == 0:
            return None, 0, ""
        return None, None, f"no job has ended in the last {WINDOW_MINUTES} minutes"
    first = datetime.strptime(min(counted), MINUTE_FORMAT).replace(tzinfo=now.tzinfo)
    minutes = Decimal(max((now - first).total_seconds(), 60)) / 60
    rate = (Decimal(sum(counted.values())) / minutes).quantize(Decimal("0.1"))
    if left == 0:
        return rate, 0, ""
    return rate, round(left / (Decimal(sum(counted.values())) / minutes) * 60), ""


QUEUED = "queued"
ENDED_PREFIX = "ended_"


@dataclass
class Tally:
    """A campaign's counters as its ledger table says they should be, built item by item."""

    spend: Spend = field(default_factory=Spend)
    queued: int = 0
    ended: dict[str, int] = field(default_factory=dict)  # by JobState value
    ends_known: bool = True  # False once an end marker without its state was seen

    def counters(self) -> dict[str, Decimal]:
        counted = {**self.spend.counters(), QUEUED: Decimal(self.queued)}
        if self.ends_known:
            counted |= {ENDED_PREFIX + state: Decimal(n) for state, n in self.ended.items()}
        return counted


def recounted(stored: Mapping[str, Decimal], tally: Tally) -> dict[str, Decimal]:
    """The counters to set so `stored` says what the ledger says (a missing counter is 0);
    empty when they agree, so a recount twice writes once."""
    counted = tally.counters()
    if tally.ends_known:  # an end counted under a status no marker holds
        counted |= {
            k: Decimal(0) for k in stored if k.startswith(ENDED_PREFIX) and k not in counted
        }
    return {name: value for name, value in counted.items() if stored.get(name, 0) != value}
