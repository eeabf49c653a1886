"""Budgets that hold under concurrency, `placard estimate`, and the review folder of a run."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from PIL import Image

from placard_emulator import EmulatorConfig, ProviderEmulator
from placard_local.cli import main

ROOT = Path(__file__).parents[2]
KEY = "sk-budget-key"


@pytest.fixture
def slow_emulator(monkeypatch: pytest.MonkeyPatch) -> Iterator[ProviderEmulator]:
    """Each image takes long enough that every worker has reserved before any settles."""
    with ProviderEmulator(EmulatorConfig(api_key=KEY, latency=0.5)) as running:
        monkeypatch.setenv("OPENAI_BASE_URL", running.openai_base_url)
        monkeypatch.setenv("OPENAI_API_KEY", KEY)
        yield running


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def write_sheet(path: Path, rows: int) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["template", "product", "headline", "cta", "quality", "size"])
        for i in range(rows):
            writer.writerow(
                ["social-square", "Cold brew", f"Deal #{i}", "Shop", "low", "1024x1024"]
            )


def test_twenty_workers_racing_for_a_budget_never_spend_past_it(
    slow_emulator: ProviderEmulator, tmp_path: Path
) -> None:
    # Given 20 one-image rows, each reserving its bound (0.007355 or 0.007360 USD: 196 output
    # tokens and the prompt's bytes) and billed 0.006250 by tokens, and a budget that holds 7
    # reservations but not 8
    sheet = tmp_path / "race.csv"
    write_sheet(sheet, 20)
    budget = Decimal("0.0552")
    # When they run on 20 concurrent workers
    status = main(["run", str(sheet), "--out", str(tmp_path / "out"), "--provider", "openai",
                   "--budget", str(budget)])  # fmt: skip
    # Then the 7 reserved first were made; an 8th only if a worker came after the first bills
    # gave back what they did not spend (0.001105 each); every other row was refused for budget
    assert status == 1
    results = read_csv(tmp_path / "out" / "results.csv")
    made = [r for r in results if r["status"] == "succeeded"]
    over = [r for r in results if r["status"] == "over_budget"]
    assert 7 <= len(made) <= 8 and len(made) + len(over) == 20
    assert slow_emulator.stats().billed_images == len(made)
    assert all("budget" in r["reason"] and r["cost_usd"] == "0" for r in over)
    # And the ledger is the bill, to the micro-dollar, within the budget
    charged = sum(Decimal(r["cost_usd"]) for r in results)
    assert charged == slow_emulator.stats().billed_usd == Decimal("0.006250") * len(made)
    assert charged <= budget


def test_estimate_prints_the_cost_by_tier_before_anything_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a sheet of two good square rows, a bad one and a wide one off OpenAI's token table
    sheet = tmp_path / "plan.csv"
    sheet.write_text(
        "template,product,headline,cta,quality,size,id\n"
        "social-square,Tea,Hello,Buy,low,1024x1024,tea-1\n"
        "social-square,Tea,Hello again,Buy,high,1024x1024,\n"
        "social-square,Tea,Bad size,Buy,low,1000x1000,\n"
        "banner-wide,Tea,Wide,Buy,medium,1280x720,\n",
        encoding="utf-8",
    )
    # When it is estimated, row by row too
    status = main(["estimate", str(sheet), "--rows"])
    # Then each tier and the total are priced for each paid provider: OpenAI's from its token
    # table and the prompt (~, an estimate), the reseller's flat prices exact
    out, err = capsys.readouterr()
    assert status == 1
    lines = {line.split()[0]: line.split()[1:] for line in out.splitlines() if line.strip()}
    assert lines["low"] == ["1", "~0.0062", "0.0072"]  # (196 x 30 + 72 x 5) per million
    assert lines["medium"] == ["1", "~0.0467", "0.0280"]
    assert lines["high"] == ["1", "~0.2111", "0.0770"]
    assert lines["total"] == ["3", "~0.2640", "0.1122"]
    assert "prospolabs: exact, its flat price per image" in out
    # And the row whose size is not in the token table is named approximate
    assert "openai: approximate size (not in its token table, scaled by area) in row 5\n" in out
    # And each row to run has its own line: number, id (default: the row), quality, size, n
    assert lines["2"] == ["tea-1", "low", "1024x1024", "1", "~0.0062", "0.0072"]
    assert lines["3"] == ["3", "high", "1024x1024", "1", "~0.2111", "0.0770"]
    assert lines["5"] == ["5", "medium", "1280x720", "1", "~0.0467", "0.0280"]
    assert "4" not in lines and "row 4, size:" in err


def test_a_run_leaves_a_contact_sheet_with_thumbnails_beside_each_image(tmp_path: Path) -> None:
    # When the sample sheet runs on the draft provider
    status = main(["run", str(ROOT / "samples" / "summer-campaign.csv"), "--out", str(tmp_path)])
    # Then index.html links every row's thumbnail, web copy and original, all on disk
    assert status == 0
    page = (tmp_path / "index.html").read_text(encoding="utf-8")
    for row in read_csv(tmp_path / "results.csv"):
        original = tmp_path / row["links"]
        thumb = original.with_name(original.name.replace(".png", ".thumb.webp"))
        web = original.with_name(original.name.replace(".png", ".web.webp"))
        for path in (original, thumb, web):
            assert path.is_file() and f'"{path.relative_to(tmp_path)}"' in page
        longest = max(Image.open(original).size)
        assert max(Image.open(thumb).size) == 320
        assert max(Image.open(web).size) == min(longest, 1280)
