"""The best efficiency any pipeline could reach in bench/throughput.py, by simulation.

A perfect pipeline (the default, --overhead 0) spends no time outside the provider: its only
costs are the emulator's own (a latency per answer, a token bucket at the limit, faults
refunded, a hang held for its seconds) and placard's retry waits. Its wall time still varies
from run to run with where the faults land: a fault on one of the last calls is recovered
after everything else is done. This prints how that luck alone spreads the efficiency, for
the workload and fault model of bench/throughput.py, using the emulator's token bucket and
placard's retry policy themselves. With --overhead, each job also holds its slot that long
outside the provider, as the AWS calls around each image do in bench/throughput.py.

    python bench/fault_bound.py [--fault-rate 0.1] [--runs 2000] [--overhead 0.25]
"""

from __future__ import annotations

import argparse
import heapq
import random
import statistics

from placard.providers.http import RetryPolicy
from placard_emulator.rate_limit import TokenBucket as _TokenBucket

FAULT_KINDS = ("5xx", "hang", "malformed", "disconnect")  # as bench/throughput.py injects them


def efficiency(args: argparse.Namespace, fault_rate: float, seed: int) -> float:
    """One run: jobs taken in order by `workers` slots; returns images a minute / limit."""
    rng = random.Random(seed)
    policy = RetryPolicy()
    now = 0.0
    bucket = _TokenBucket(args.limit, None, clock=lambda: now)
    # (when, tiebreak, failures so far); each entry is one slot about to call the provider
    calls = [(0.0, slot, 0) for slot in range(min(args.workers, args.jobs))]
    heapq.heapify(calls)
    started, last, tiebreak = len(calls), 0.0, len(calls)
    while calls:
        now, _, failures = heapq.heappop(calls)
        wait = bucket.take(1)
        if wait > 0:  # a 429 that says how long to wait
            when, next_failures = now + policy.delay(failures, wait, rng), failures
        elif rng.random() < fault_rate:
            bucket.refund(1)
            held = args.hang_seconds if rng.choice(FAULT_KINDS) == "hang" else args.latency
            next_failures = failures + 1
            when = now + held + policy.delay(next_failures, None, rng)
        else:  # an image, charged after the overhead: then this slot takes the next job
            done = now + args.latency + args.overhead
            last = max(last, done)
            if started == args.jobs:
                continue
            when, next_failures, started = done, 0, started + 1
        tiebreak += 1
        heapq.heappush(calls, (when, tiebreak, next_failures))
    return args.jobs / last * 60 / args.limit


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=400)
    parser.add_argument("--limit", type=int, default=1200, help="images per minute")
    parser.add_argument("--latency", type=float, default=0.5)
    parser.add_argument("--hang-seconds", type=float, default=2.0)
    parser.add_argument("--workers", type=int, default=20, help="WorkerMaxConcurrency")
    parser.add_argument("--fault-rate", type=float, default=0.1)
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument(
        "--overhead", type=float, default=0.0, help="seconds a job spends outside the provider"
    )
    args = parser.parse_args()

    print(
        f"{args.jobs} jobs, limit {args.limit}/min, latency {args.latency}s, {args.workers} "
        f"workers, {args.overhead}s a job outside the provider, {args.runs} simulated runs each\n"
    )
    print("| faults | median | 5th percentile | 1st percentile | runs below 0.90 | below 0.95 |")
    print("|---|---:|---:|---:|---:|---:|")
    for rate in sorted({0.0, args.fault_rate}):
        runs = [efficiency(args, rate, seed) for seed in range(args.runs)]
        cuts = statistics.quantiles(runs, n=100)
        below = [sum(r < target for r in runs) / len(runs) for target in (0.90, 0.95)]
        print(
            f"| {rate:.0%} | {statistics.median(runs):.3f} | {cuts[4]:.3f} | {cuts[0]:.3f} "
            f"| {below[0]:.1%} | {below[1]:.1%} |"
        )


if __name__ == "__main__":
    main()
