"""A sheet named in capitals (SHEET.CSV, as Windows and older exports name files) starts the
pipeline like any other (issue #17): S3 matches a suffix case by case, so the stack triggers
ingest on each type in capitals too, and the local cloud routes uploads by the same filters."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from placard.domain.errors import PlacardError
from placard_local.cli import main
from placard_local.cloud import LocalCloud, local_cloud

ROOT = Path(__file__).parents[2]
SAMPLE = ROOT / "samples" / "summer-campaign.csv"  # six rows, six jobs
WORKBOOK = ROOT / "tests" / "data" / "grocery-signs.xlsx"


@pytest.fixture
def cloud(own_environment: None) -> Iterator[LocalCloud]:
    with local_cloud() as started:
        yield started


def queued_sheets(cloud: LocalCloud) -> Counter[str]:
    """How many jobs the jobs queue holds from each sheet (its key in the uploads bucket)."""
    sqs, url = cloud.client("sqs"), cloud.stack.physical["JobsQueue"]
    sheets: Counter[str] = Counter()
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        sheets.update(json.loads(m["Body"])["origin"]["sheet"] for m in messages)
    return sheets


def test_sheets_named_in_capitals_are_ingested_through_the_local_cloud(
    cloud: LocalCloud, tmp_path: Path
) -> None:
    # Given the sample sheet saved as SHEET.CSV, and a workbook saved as GROCERY.XLSX
    csv_sheet, workbook = tmp_path / "SHEET.CSV", tmp_path / "GROCERY.XLSX"
    shutil.copy(SAMPLE, csv_sheet)
    shutil.copy(WORKBOOK, workbook)
    # When each is uploaded to the uploads bucket, as the same workbook in small letters
    answers = {
        key: cloud.put_upload(path, key)
        for path, key in (
            (csv_sheet, "campaigns/summer/SHEET.CSV"),
            (workbook, "campaigns/grocery/GROCERY.XLSX"),
            (WORKBOOK, "campaigns/grocery/grocery-signs.xlsx"),
        )
    }
    # Then ingest ran once for each and queued its jobs: all six of the CSV's rows, and as
    # many of the workbook's as when it is named in small letters
    jobs = {key: [u["jobs"] for a in said for u in a["uploads"]] for key, said in answers.items()}
    assert jobs["campaigns/summer/SHEET.CSV"] == [6]
    assert jobs["campaigns/grocery/GROCERY.XLSX"] == jobs["campaigns/grocery/grocery-signs.xlsx"]
    assert jobs["campaigns/grocery/GROCERY.XLSX"][0] > 0
    assert queued_sheets(cloud) == {key: count for key, (count,) in jobs.items()}


def test_a_suffix_in_mixed_case_triggers_nothing_as_on_s3(
    cloud: LocalCloud, tmp_path: Path
) -> None:
    # Given the sample sheet saved as Sheet.Csv (S3 has no case-blind suffix filter)
    sheet = tmp_path / "Sheet.Csv"
    shutil.copy(SAMPLE, sheet)
    # When it is uploaded, then no function is triggered, and the answer says so
    with pytest.raises(PlacardError, match="no function of the stack is triggered"):
        cloud.put_upload(sheet, "campaigns/summer/Sheet.Csv")
    assert queued_sheets(cloud) == {}


def test_placard_run_runs_a_sheet_named_in_capitals(
    own_environment: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the sample sheet's first row, saved as SUMMER.CSV
    sheet = tmp_path / "SUMMER.CSV"
    sheet.write_text("".join(SAMPLE.read_text(encoding="utf-8").splitlines(True)[:2]))
    # When it is run locally
    status = main(["run", str(sheet), "--out", str(tmp_path / "out")])
    # Then its row was made
    assert status == 0
    assert "1 succeeded, 0 failed, 0 rejected" in capsys.readouterr().out
