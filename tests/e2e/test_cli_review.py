"""`placard review RESULTS.csv`: a reviewed results sheet applied on the local cloud a previous
`placard run --out DIR` left in DIR (the cloud itself lasts one command)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from placard_local.cli import main
from placard_local.state import STATE

SHEET = "template,store_name,message\r\n" + "".join(
    f"storefront-sign,{name},{message}\r\n"
    for name, message in (("Zoe", "Now open"), ("Max", "Fresh bread"), ("Ida", "Sale today"))
)


def read(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"))))


def decided(results: Path, target: Path, decisions: list[tuple[str, str]]) -> Path:
    """results.csv as a person edits it: a decision (and a note) on each row."""
    rows = read(results)
    for row, (decision, note) in zip(rows, decisions, strict=True):
        row.update(decision=decision, note=note)
    out = io.StringIO()
    writer = csv.DictWriter(out, list(rows[0]), lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    target.write_text(out.getvalue(), encoding="utf-8-sig")
    return target


def test_a_reviewed_sheet_applied_twice_re_rolls_once_and_rewrites_the_results(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a run of three rows, and its results.csv with one reroll, approved and rejected
    sheet = tmp_path / "shop.csv"
    sheet.write_text(SHEET, encoding="utf-8")
    out = tmp_path / "out"
    assert main(["run", str(sheet), "--out", str(out), "--rerolls", "1"]) == 0
    assert (out / STATE).is_dir()
    reviewed = decided(
        out / "results.csv",
        tmp_path / "reviewed.csv",
        [("reroll", ""), ("approved", ""), ("rejected", "wrong bread")],
    )
    capsys.readouterr()
    # When it is applied, then applied again
    assert main(["review", str(reviewed), "--out", str(out)]) == 0
    first = capsys.readouterr().out
    assert main(["review", str(reviewed), "--out", str(out)]) == 0
    second = capsys.readouterr().out
    # Then the first made one more attempt and recorded the others; the second changed nothing
    assert "images 2 recorded, 1 rerolled, 0 unchanged, 0 superseded" in first
    assert "images 0 recorded, 0 rerolled, 2 unchanged, 1 superseded" in second
    rows = read(out / "results.csv")
    assert [(r["attempts"], r["review"], r["note"]) for r in rows] == [
        ("2", "pending", ""),
        ("1", "approved", ""),
        ("1", "rejected", "wrong bread"),
    ]
    assert rows[0]["images"].endswith("/0-2.png") and rows[0]["proof"] == "pass"


def test_a_folder_no_run_wrote_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    results = tmp_path / "results.csv"
    results.write_text("row,decision\r\n2,approved\r\n", encoding="utf-8")
    assert main(["review", str(results)]) == 2
    assert "holds no results of `placard run`" in capsys.readouterr().err
