"""Every sheet a team sends, and the limits on one (issue #17): the stack triggers ingest on
each type the reader reads and no other, the row limit is a stack parameter that reaches
ingest, and a file of another type is answered, before upload and at ingest, with the types
placard reads."""

from __future__ import annotations

import codecs
from pathlib import Path

import boto3
import pytest

from placard import bootstrap
from placard.reporting.csv_reports import read_errors
from placard.settings import REQUIRED, Settings, SettingsError
from placard.sheets.reader import MAX_ROWS, TRIGGER_SUFFIXES, TYPES_READ
from placard_local.cli import main
from placard_local.stack import Stack, s3_filter_matches
from tests.fakes import IngestFakes

ROOT = Path(__file__).parents[2]
STACK = Stack.load(ROOT / "template.yaml")
NAMES = {name: f"test-{name.lower()}" for name in REQUIRED}
HEADER_AND_ROW = ["template", "store_name", "message"], ["storefront-sign", "山田書店", "Open"]


def triggers_ingest(key: str) -> bool:
    ingest = STACK.functions()["IngestFunction"]
    return any(s3_filter_matches(source, key) for source in ingest.events)


def test_the_stack_triggers_ingest_on_each_type_the_reader_reads() -> None:
    # Given the ingest function's S3 events, each with the one suffix rule S3 allows
    events = STACK.functions()["IngestFunction"].events
    suffixes = [
        rule["Value"]
        for source in events
        for rule in source.properties["Filter"]["S3Key"]["Rules"]
        if rule["Name"] == "suffix"
    ]
    # Then there is one event for each type the reader reads, in small letters and in
    # capitals, and only those
    assert sorted(suffixes) == sorted(TRIGGER_SUFFIXES)
    assert len(suffixes) == len(events)
    # And an upload of each is delivered to ingest, where a PDF is not
    for suffix in suffixes:
        assert triggers_ingest(f"campaigns/summer/shelf{suffix}")
    assert not triggers_ingest("campaigns/summer/brief.pdf")


def test_the_row_limit_is_a_stack_parameter_that_reaches_ingest() -> None:
    # Given the template's default, and a stack deployed with MaxSheetRows=5
    assert STACK.parameter("MaxSheetRows") == str(MAX_ROWS)
    env = Stack.load(ROOT / "template.yaml", {"MaxSheetRows": "5"}).functions()["IngestFunction"]
    assert env.environment["MAX_SHEET_ROWS"] == "5"
    # When ingest's settings are read and its parts built
    settings = Settings.from_env({**NAMES, "MAX_SHEET_ROWS": env.environment["MAX_SHEET_ROWS"]})
    made = {"region_name": "us-east-1", "aws_access_key_id": "x", "aws_secret_access_key": "x"}
    clients = bootstrap.Clients(
        s3=boto3.client("s3", **made),  # type: ignore[call-overload]
        dynamodb=boto3.client("dynamodb", **made),  # type: ignore[call-overload]
        sqs=boto3.client("sqs", **made),  # type: ignore[call-overload]
    )
    # Then ingest refuses a sheet past five rows
    assert bootstrap.build(settings, clients).ingest.max_rows == 5


def test_the_default_row_limit_is_the_readers() -> None:
    assert Settings.from_env(NAMES).max_sheet_rows == MAX_ROWS


@pytest.mark.parametrize("given", ["lots", "0", "-3", "2.5"])
def test_a_row_limit_that_is_not_a_whole_number_fails_the_cold_start(given: str) -> None:
    with pytest.raises(SettingsError, match=rf"MAX_SHEET_ROWS .*{given!r}"):
        Settings.from_env({**NAMES, "MAX_SHEET_ROWS": given})


def excel_unicode_text(*rows: list[str]) -> bytes:
    """As Excel's "Unicode Text" export writes it: UTF-16 LE with a BOM, tabs, CRLF."""
    text = "".join("\t".join(row) + "\r\n" for row in rows)
    return codecs.BOM_UTF16_LE + text.encode("utf-16-le")


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("shelf.txt", excel_unicode_text(*HEADER_AND_ROW)),
        ("shelf.tsv", "".join("\t".join(r) + "\n" for r in HEADER_AND_ROW).encode()),
    ],
)
def test_tab_separated_text_is_ingested_like_csv(name: str, data: bytes) -> None:
    # Given Excel's Unicode Text export, or a .tsv, uploaded as a campaign's sheet
    fakes = IngestFakes()
    fakes.uploads.put(f"campaigns/summer/{name}", data)
    # When it reaches ingest
    report = fakes.service().run(f"campaigns/summer/{name}", "run-1")
    # Then its row is a job, with the copy as typed
    (job,) = fakes.queue.jobs
    assert report.jobs == 1 and job.variables["store_name"] == "山田書店"


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("brief.pdf", "a .pdf"),
        ("shelf.numbers", "an Apple Numbers spreadsheet"),
        ("shelf.xls", "an Excel 97-2003 .xls workbook"),
    ],
)
def test_another_file_that_reaches_ingest_gets_errors_csv_naming_the_types_read(
    name: str, kind: str
) -> None:
    # Given a file no S3 event of the stack sends, reaching ingest anyway (a manual invoke)
    fakes = IngestFakes()
    fakes.uploads.put(f"campaigns/summer/{name}", b"%PDF-1.7\n")
    # When it is ingested
    report = fakes.service().run(f"campaigns/summer/{name}", "run-1")
    # Then nothing is queued, and errors.csv says what it is and which types placard reads
    assert fakes.queue.jobs == [] and report.errors == 1
    stem = Path(name).stem
    (error,) = read_errors(fakes.assets.read(f"reports/summer/{stem}/errors.csv"))[0]
    assert error.reason.startswith(f"{name}: {kind}; ")
    assert TYPES_READ in error.reason


@pytest.mark.parametrize("name", ["brief.pdf", "shelf.numbers", "shelf.xls"])
def test_placard_run_answers_another_file_before_any_upload(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a file of a type placard does not read
    sheet = tmp_path / name
    sheet.write_bytes(b"\xd0\xcf\x11\xe0" + b"\0" * 64 if name.endswith(".xls") else b"PK\x03\x04")
    # When it is run, then nothing runs, and the answer names the types placard reads
    assert main(["run", str(sheet), "--out", str(tmp_path / "out")]) == 2
    said = capsys.readouterr().err
    assert name in said and TYPES_READ in said
    assert not (tmp_path / "out").exists()
