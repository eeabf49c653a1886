"""The load run of issue #16, bounded for `make test`: bench/load.py's run at a small size,
holding the same invariants (every job accounted for, the ledger equal to the emulator's bill
but for calls whose outcome is unknown, the budget held, nothing left for the reconciler)."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from bench.load import FAULT_KINDS, KEY, Load, load_run
from placard_emulator import EmulatorConfig, ProviderEmulator


@pytest.fixture
def faulty() -> Iterator[ProviderEmulator]:
    """Faults one answer in ten, of every kind, and misspells one image in eight."""
    config = EmulatorConfig(api_key=KEY, fault_rate=0.1, fault_kinds=FAULT_KINDS,
                            hang_seconds=1, misspell=1 / 8, seed=3)  # fmt: skip
    with ProviderEmulator(config) as running:
        yield running


def test_every_job_is_accounted_for_and_the_ledger_is_the_bill_under_faults_and_a_budget(
    faulty: ProviderEmulator, tmp_path: Path
) -> None:
    # Given an emulator whose first answers fail in each of its five ways, one in ten after;
    # the refusal first, so it meets a call's first attempt (after an attempt whose outcome is
    # unknown, a refusal is retried as well: that one may have been billed)
    faulty.script("refusal", *(kind for kind in FAULT_KINDS if kind != "refusal"))
    # When 20 one-image jobs run on 8 workers with a budget of 80% of their estimate
    figures = load_run(Load(jobs=20, workers=8, budget_share=Decimal("0.8")), faulty.url, tmp_path)
    # Then every invariant of the load run held
    assert figures.broken() == [], figures
    # And every job ended, counted once, with its row in the report, and none was lost
    assert figures.queued == figures.expected == figures.counted == 20
    assert figures.lost == [] and sum(figures.ended.values()) == 20
    assert not any(figures.left_in_queues.values()) and figures.reserved_left == 0
    # And each kind of fault was met, the refusal ending a job at no cost
    assert all(figures.faults.get(kind, 0) >= 1 for kind in FAULT_KINDS), figures.faults
    assert figures.ended.get("failed", 0) >= 1 and figures.at_zero > figures.over_budget_items
    # And the budget ran out before the sheet did, and held
    assert figures.ended.get("over_budget", 0) >= 1
    # (what it holds is what the ledger charged, plus any call whose outcome is unknown)
    assert figures.ledger_usd + figures.unknown_usd == figures.held_usd <= figures.budget_usd
    # And the ledger is the emulator's bill, image for image and to the micro-dollar, but for
    # a call that timed out, which the provider may or may not have billed
    stats = faulty.stats()
    assert figures.images_charged <= stats.billed_images <= figures.images_charged + figures.unknown
    assert figures.ledger_usd <= stats.billed_usd <= figures.ledger_usd + figures.unknown_usd
    assert stats.billed_usd > 0
    # And the reconciler, run with no age limit, found nothing to settle, only those to report
    assert figures.reconciled.get("unknown") == figures.unknown, figures.reconciled
    assert not any(n for k, n in figures.reconciled.items() if k != "unknown"), figures.reconciled
