"""The whole proofing loop on the local cloud, against an emulator that misspells one image in
three: every misspelt image is read back and caught, re-rolled, never delivered as `pass`;
no correct image is failed; the ledger lists every attempt and is the emulator's bill."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from placard import bootstrap
from placard.domain.ledger_items import LedgerItem, Status
from placard_emulator import EmulatorConfig, ProviderEmulator
from placard_emulator.stats import ImageRecord
from placard_local.cli import main
from placard_local.cloud import local_cloud
from placard_local.runner import RunSummary, plan_sheet, run_sheet

ROOT = Path(__file__).parents[2]
KEY = "sk-proofing-loop"
# The reseller's flat price per image (SPEC §6): what the emulator bills for each one.
FLAT = {"low": Decimal("0.0072"), "medium": Decimal("0.028"), "high": Decimal("0.077")}


@pytest.fixture
def misspelling(monkeypatch: pytest.MonkeyPatch) -> Iterator[ProviderEmulator]:
    with ProviderEmulator(EmulatorConfig(api_key=KEY, misspell=1 / 3)) as running:
        monkeypatch.setenv("PROSPOLABS_BASE_URL", running.url)
        monkeypatch.setenv("PROSPOLABS_API_KEY", KEY)
        yield running


def run_sample(out: Path) -> tuple[RunSummary, list[LedgerItem]]:
    """The sample sheet through the local cloud on the reseller; its summary and ledger."""
    plan = plan_sheet(ROOT / "samples" / "summer-campaign.csv", None)
    with local_cloud({"Provider": "prospolabs", "LogLevel": "WARNING"}) as cloud:
        summary = run_sheet(cloud, plan, out)
        items = bootstrap.parts().ledger.campaign_items(plan.campaign)
    return summary, items


def test_every_misspelt_image_is_caught_re_rolled_and_never_delivered(
    misspelling: ProviderEmulator, tmp_path: Path
) -> None:
    # Given the six-row sample sheet, When it runs against the misspelling emulator
    summary, items = run_sample(tmp_path)
    records: list[ImageRecord] = misspelling.images()
    charged = {i.sha256: i for i in items if i.status is Status.CHARGED}
    misspelt = [r for r in records if r.misspelt]
    # Then the emulator misspelt one image in three, re-rolls included
    assert len(misspelt) == len(records) // 3 and misspelt
    # And every misspelt image was read back and failed; every correct one passed
    assert all(charged[r.sha256].proof == "fail" for r in misspelt), [r.how for r in misspelt]
    correct = [r for r in records if not r.misspelt]
    assert all(charged[r.sha256].proof == "pass" for r in correct)
    # And each failed attempt was followed by another; the sheet ends with every row passing
    rows = list(csv.DictReader((tmp_path / "results.csv").open(encoding="utf-8-sig")))
    said = [(r["attempts"], r["proof_detail"], r["reason"]) for r in rows]
    assert [(r["status"], r["proof"]) for r in rows] == [("succeeded", "pass")] * 6, said
    delivered = {r["sha256"] for r in rows}
    assert not delivered & {r.sha256 for r in misspelt}
    assert sum(int(r["attempts"]) for r in rows) == len(records)
    assert summary.exit_status == 0
    # And the ledger holds every attempt the emulator billed, each at the bill's price
    assert len(charged) == len(records) == misspelling.stats().billed_images
    assert all(i.cost_usd == FLAT[i.quality] for i in charged.values())
    assert sum(Decimal(r["cost_usd"]) for r in rows) == sum(i.cost_usd for i in charged.values())


def test_a_provider_that_misspells_everything_leaves_every_row_for_review(
    misspelling: ProviderEmulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given an emulator that misspells every image, and a run that allows one re-roll
    misspelling.configure(misspell=1.0)
    status = main(["run", str(ROOT / "samples" / "summer-campaign.csv"), "--out", str(tmp_path),
                   "--provider", "prospolabs", "--rerolls", "1"])  # fmt: skip
    # Then each row was made twice, both attempts failed, and every row waits for a person
    rows = list(csv.DictReader((tmp_path / "results.csv").open(encoding="utf-8-sig")))
    assert [(r["status"], r["proof"], r["attempts"]) for r in rows] == [
        ("needs_review", "fail", "2")
    ] * 6
    assert all("failed every proof" in r["reason"] for r in rows)
    # And the run says so and exits 1, having charged exactly the twelve images billed
    assert status == 1 and "6 need review" in capsys.readouterr().out
    assert misspelling.stats().billed_images == 12
    assert sum(Decimal(r["cost_usd"]) for r in rows) == misspelling.stats().billed_usd
