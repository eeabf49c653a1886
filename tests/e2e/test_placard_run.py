"""`placard run` as a user runs it: the handlers on a moto server built from template.yaml."""

from __future__ import annotations

import csv
import hashlib
import shutil
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from placard_local.cli import main

ROOT = Path(__file__).parents[2]
DATA = Path(__file__).parents[1] / "data"


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def test_the_sample_sheet_runs_end_to_end(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the six-row sample sheet the README's demo uses
    sheet = ROOT / "samples" / "summer-campaign.csv"
    # When it is run locally
    status = main(["run", str(sheet), "--out", str(tmp_path)])
    # Then every row succeeded, with one PNG of the requested size each
    assert status == 0
    results = read_csv(tmp_path / "results.csv")
    assert len(results) == 6
    assert {r["status"] for r in results} == {"succeeded"}
    for row in results:
        image = tmp_path / row["links"]
        assert image.is_file()
        # And results.csv carries the S3 URI, the sha256 of the stored bytes and the cost
        assert row["images"].startswith("s3://") and row["images"].endswith(".png")
        assert row["sha256"] == hashlib.sha256(image.read_bytes()).hexdigest()
        assert row["cost_usd"] == "0.000000"
    sizes = [Image.open(tmp_path / r["links"]).size for r in results]
    assert sizes[0] == (1024, 1536) and sizes[5] == (1536, 1024)
    assert not (tmp_path / "errors.csv").exists()
    out = capsys.readouterr().out
    assert "6 succeeded, 0 failed, 0 rejected" in out
    assert "ledger total: $0.00 (draft)" in out


def test_bad_rows_are_reported_and_good_rows_still_run(tmp_path: Path) -> None:
    # Given a sheet mixing good and bad rows, in a folder with spaces in its name
    sheet = tmp_path / "spring sale.csv"
    shutil.copy(DATA / "mixed.csv", sheet)
    # When it runs
    status = main(["run", str(sheet), "--out", str(tmp_path / "out"), "--campaign", "spring"])
    # Then the exit status says some rows failed, and every row is accounted for
    assert status == 1
    results = read_csv(tmp_path / "out" / "results.csv")
    assert [r["status"] for r in results] == [
        "succeeded",
        "rejected",
        "rejected",
        "rejected",
        "succeeded",
        "rejected",
    ]
    assert len(list((tmp_path / "out" / "images").glob("*.png"))) == 3
    errors = read_csv(tmp_path / "out" / "errors.csv")
    assert {(e["row"], e["column"]) for e in errors} == {
        ("3", "headline"),
        ("4", "template"),
        ("5", "quality"),
        ("5", "size"),
        ("8", "n"),
    }
    # And a cell that looks like a formula is written back defused
    assert results[5]["headline"] == '\'=HYPERLINK("http://x")'


def test_an_unreadable_sheet_runs_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", str(tmp_path / "missing.csv")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_two_identical_rows_make_one_image_whose_cost_is_counted_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a sheet whose third row repeats its second
    row = "social-square,Cold brew,Summer in a Can,Try it,low,1024x1024\n"
    sheet = tmp_path / "twins.csv"
    sheet.write_text("template,product,headline,cta,quality,size\n" + row + row, "utf-8")
    # When it runs
    status = main(["run", str(sheet), "--out", str(tmp_path / "out")])
    # Then both rows succeeded with the same image, and one image was made
    assert status == 0
    first, twin = read_csv(tmp_path / "out" / "results.csv")
    assert first["status"] == twin["status"] == "succeeded"
    assert first["links"] == twin["links"] and first["job_id"] == twin["job_id"]
    assert len(list((tmp_path / "out" / "images").glob("*.png"))) == 1
    # And the twin says whose cost it shares instead of counting it again
    assert twin["cost_usd"] == "0" and twin["reason"].startswith("same job as row 2")
    page = (tmp_path / "out" / "index.html").read_text(encoding="utf-8")
    assert "same job as row 2" in page
    # And the terminal shows the summary, no traceback
    captured = capsys.readouterr()
    assert "images: 1 in " in captured.out and "Traceback" not in captured.out + captured.err


def test_a_misspelt_column_is_a_warning_not_a_failure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a sheet whose optional variable's column is misspelt ("ofer" for "offer")
    sheet = tmp_path / "typo.csv"
    sheet.write_text(
        "template,product,headline,cta,ofer\nsocial-square,Cold brew,Cool,Try it,2 for 1\n",
        "utf-8",
    )
    # When it runs
    status = main(["run", str(sheet), "--out", str(tmp_path / "out")])
    # Then the row still succeeds, and the terminal and errors.csv name the unused column
    assert status == 0
    out = capsys.readouterr().out
    assert "ofer: warning: names no variable of social-square" in out
    (warning,) = read_csv(tmp_path / "out" / "errors.csv")
    assert warning["column"] == "ofer" and "offer" in warning["reason"]


def test_running_the_same_sheet_again_into_its_folder_replaces_its_results(
    tmp_path: Path,
) -> None:
    # Given a sheet already run into a folder
    sheet = tmp_path / "again.csv"
    sheet.write_text(
        "template,product,headline,cta\nbanner-wide,Jacket,Stay Dry,Shop now\n", "utf-8"
    )
    out = tmp_path / "out"
    assert main(["run", str(sheet), "--out", str(out)]) == 0
    # When it runs again into the same folder, Then that folder is its own: accepted
    assert main(["run", str(sheet), "--out", str(out)]) == 0
    assert len(read_csv(out / "results.csv")) == 1


def _context() -> Any:  # what the local runner hands a handler in Lambda's place
    from placard_local.cloud import LocalContext

    return LocalContext("WorkerFunction", 60)


def _sqs_event(*ids: str) -> dict[str, Any]:
    record = {
        "body": "{}", "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {},
        "md5OfBody": "", "eventSource": "aws:sqs", "awsRegion": "us-east-1",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:jobs", "receiptHandle": "r",
    }  # fmt: skip
    return {"Records": [{**record, "messageId": i} for i in ids]}


def test_a_job_running_elsewhere_goes_back_to_the_queue_quietly() -> None:
    # Given a batch whose only job is being run by another delivery (a twin row, a redelivery)
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
    )

    from handlers.sqs_batch import each_record

    def busy(record: object) -> None:
        raise IdempotencyAlreadyInProgressError("in progress")

    # When the worker's batch handling meets it
    reply = each_record(
        _sqs_event("m1"), _context(), busy,
        retry_quietly=(IdempotencyAlreadyInProgressError,),
    )  # fmt: skip
    # Then the message is handed back for a later retry, with no batch error raised
    assert reply == {"batchItemFailures": [{"itemIdentifier": "m1"}]}


def test_a_batch_that_failed_for_real_still_raises() -> None:
    # Given a batch whose only job fails with an unexpected error
    from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

    from handlers.sqs_batch import each_record

    def broken(record: object) -> None:
        raise ValueError("a bug")

    # When it is handled, Then the whole batch fails loudly, as Lambda logs it
    with pytest.raises(BatchProcessingError, match="a bug"):
        each_record(_sqs_event("m1"), _context(), broken)
