"""`placard run` and `placard edit` against the emulator, as a user points them at an API."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from placard.reporting.contact_sheet import signed_usd, usd
from placard_emulator import EmulatorConfig, ProviderEmulator
from placard_local.cli import main

ROOT = Path(__file__).parents[2]
KEY = "sk-e2e-key"


@pytest.fixture
def emulator(monkeypatch: pytest.MonkeyPatch) -> Iterator[ProviderEmulator]:
    with ProviderEmulator(EmulatorConfig(api_key=KEY, hang_seconds=1)) as running:
        monkeypatch.setenv("OPENAI_BASE_URL", running.openai_base_url)
        monkeypatch.setenv("OPENAI_API_KEY", KEY)
        monkeypatch.setenv("PROSPOLABS_BASE_URL", running.url)
        monkeypatch.setenv("PROSPOLABS_API_KEY", KEY)
        yield running


def results(out: Path) -> list[dict[str, str]]:
    with (out / "results.csv").open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def shelf_photo(path: Path) -> None:
    """A photo of a shelf tag: a white card with a price on a wooden-ish background."""
    image = Image.new("RGB", (1200, 900), (150, 110, 70))
    draw = ImageDraw.Draw(image)
    draw.rectangle((300, 250, 900, 650), fill="white")
    draw.text((420, 400), "$2.49", fill="black", font_size=120)
    image.save(path)


def alpha_mask(path: Path, hole: tuple[int, int, int, int]) -> None:
    mask = Image.new("RGBA", (1200, 900), (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), hole)
    mask.save(path)


def test_openai_run_charges_each_image_what_its_answer_billed(
    emulator: ProviderEmulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the sample sheet, When it runs against the OpenAI emulator (billing by tokens)
    status = main(["run", str(ROOT / "samples" / "summer-campaign.csv"), "--out", str(tmp_path),
                   "--provider", "openai"])  # fmt: skip
    # Then six images were billed by the provider and six charged in the ledger, once each
    assert status == 0
    assert emulator.stats().billed_images == 6
    costs = [Decimal(row["cost_usd"]) for row in results(tmp_path)]
    # medium/low 1024x1536, medium/low 1024x1024, medium/high 1536x1024: each its usage's bill
    expected = ["0.041775", "0.005265", "0.053160", "0.006295", "0.041560", "0.165040"]
    assert costs == [Decimal(c) for c in expected]
    # And each row's charge is one answer's bill, to the micro-dollar, and the totals agree
    assert sorted(costs) == sorted(bill.cost_usd for bill in emulator.bills())
    assert sum(costs) == emulator.stats().billed_usd == Decimal("0.313095")
    assert "ledger total: $0.3131 (openai)" in capsys.readouterr().out
    # And results.csv gives each row's estimate beside its bill, the contact sheet the drift
    rows = results(tmp_path)
    assert {row["cost_basis"] for row in rows} == {"bill"}
    estimates = [Decimal(row["estimated_cost_usd"]) for row in rows]
    assert all(estimate > 0 for estimate in estimates)
    html = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert f"{usd(sum(estimates, Decimal(0)))}</dd>" in html
    assert f"{signed_usd(sum(costs) - sum(estimates))} <small>" in html


def test_faults_along_the_way_still_charge_each_image_once(
    emulator: ProviderEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an API that fails the first four calls in four different ways; the read timeout
    # is short enough to cut the 30 s hang, long enough for a loaded machine's real answers
    # (at 0.5 s they timed out too, and each was billed)
    monkeypatch.setenv("PLACARD_HTTP_READ_TIMEOUT", "5")
    emulator.script("5xx", "hang", "malformed", "disconnect")
    # When the sample sheet runs
    status = main(["run", str(ROOT / "samples" / "summer-campaign.csv"), "--out", str(tmp_path),
                   "--provider", "openai"])  # fmt: skip
    # Then every row succeeded, and the ledger charged exactly what the provider billed
    assert status == 0
    assert emulator.stats().billed_images == 6
    rows = results(tmp_path)
    assert len([r for r in rows if r["status"] == "succeeded"]) == 6
    assert sum(Decimal(r["cost_usd"]) for r in rows) == emulator.stats().billed_usd


def test_a_refused_row_is_reported_at_no_cost(emulator: ProviderEmulator, tmp_path: Path) -> None:
    sheet = tmp_path / "sheet.csv"
    sheet.write_text(
        "template,product,headline,cta\n"
        "social-square,Cold brew,[[refuse]],Buy\n"
        "social-square,Cold brew,Summer in a Can,Buy\n",
        encoding="utf-8",
    )
    status = main(["run", str(sheet), "--out", str(tmp_path / "out"), "--provider", "prospolabs"])
    assert status == 1
    refused, made = results(tmp_path / "out")
    assert refused["status"] == "failed" and refused["cost_usd"] == "0"
    assert "content_policy" in refused["reason"] or "safety" in refused["reason"]
    assert made["status"] == "succeeded" and made["cost_usd"] == "0.028000"


def test_edit_rows_with_a_mask_and_a_box_through_prospolabs(
    emulator: ProviderEmulator, tmp_path: Path
) -> None:
    # Given a sheet of price-tag edits naming a photo and a mask beside it
    shelf_photo(tmp_path / "shelf.jpg")
    alpha_mask(tmp_path / "tag-mask.png", (400, 380, 800, 540))
    sheet = tmp_path / "prices.csv"
    sheet.write_text(
        "template,price,old_price,source_image,mask,mask_box,size\n"
        "price-tag-edit,$1.99,$2.49,shelf.jpg,tag-mask.png,,\n"
        'price-tag-edit,$1.79,,shelf.jpg,,"400,380,400,160",1024x768\n'
        "price-tag-edit,$1.59,,missing.jpg,,,\n",
        encoding="utf-8",
    )
    # When it runs
    status = main(["run", str(sheet), "--out", str(tmp_path / "out"), "--provider", "prospolabs"])
    # Then both edits were made and charged, and the missing photo is reported by name
    rows = results(tmp_path / "out")
    assert status == 1
    assert [r["status"] for r in rows] == ["succeeded", "succeeded", "rejected"]
    assert "missing.jpg" in rows[2]["reason"]
    sent = [r["json"] for r in emulator.requests_log()]
    assert all(isinstance(b, dict) and b["mode"] == "edit" and b["mask"] for b in sent)
    sizes = {b["size"] for b in sent if isinstance(b, dict)}
    assert sizes == {"1200x912", "1024x768"}, "the size sent: the photo padded to the rules"
    # And the edit without a size comes back at the photo's own size
    edited = Image.open(tmp_path / "out" / rows[0]["links"])
    assert edited.size == (1200, 900)


def test_placard_edit_keeps_the_photo_outside_the_box(tmp_path: Path) -> None:
    # Given a shelf photo, When its price is edited in a box with the offline draft provider
    shelf_photo(tmp_path / "shelf.png")
    status = main(["edit", str(tmp_path / "shelf.png"), "--box", "400,380,400,160",
                   "--template", "price-tag-edit", "--var", "price=$1.99",
                   "--out", str(tmp_path / "out")])  # fmt: skip
    # Then the composite and the provider's own output are both kept
    assert status == 0
    composite = Image.open(tmp_path / "out" / "shelf-price-tag-edit-0.png").convert("RGB")
    assert (tmp_path / "out" / "shelf-price-tag-edit-0.provider.png").is_file()
    # And far from the box, the photo is untouched; inside it, the copy was painted
    source = Image.open(tmp_path / "shelf.png").convert("RGB").resize(composite.size)
    assert composite.getpixel((50, 50)) == source.getpixel((50, 50))
    assert (
        composite.crop((400, 380, 800, 540)).tobytes()
        != source.crop((400, 380, 800, 540)).tobytes()
    )


def test_a_paid_provider_without_a_key_runs_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    status = main(["run", str(ROOT / "samples" / "summer-campaign.csv"), "--provider", "openai"])
    assert status == 2
    assert "OPENAI_API_KEY" in capsys.readouterr().err


def test_png_helpers_make_what_they_say(tmp_path: Path) -> None:
    alpha_mask(tmp_path / "m.png", (1, 1, 3, 3))
    with Image.open(io.BytesIO((tmp_path / "m.png").read_bytes())) as mask:
        assert mask.mode == "RGBA" and mask.getpixel((2, 2))[3] == 0
