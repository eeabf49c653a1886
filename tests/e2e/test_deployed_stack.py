"""`placard upload --stack` and `placard status --stack` against a deployed stack: a moto
server holding the stack's resources (built from template.yaml) and a CloudFormation stack whose
outputs name them. The command reaches it only through boto3; the test plays AWS's part, S3's
event to the ingest function and Lambda's pollers draining the queues, with the handlers
in-process as the local runner invokes them."""

from __future__ import annotations

import csv
import json
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from placard import bootstrap
from placard.domain.ledger_items import Status
from placard.services.pipeline import SENT, unknown_call
from placard.services.settle import NOT_BILLED, call_id
from placard_local import deployed
from placard_local.cli import main
from placard_local.cloud import LocalCloud, local_cloud, s3_put_event
from placard_local.stack import s3_filter_matches

ROOT = Path(__file__).parents[2]
DATA = Path(__file__).parents[1] / "data"
STACK = "placard-prod"


@pytest.fixture
def cloud(monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalCloud]:
    monkeypatch.setattr(deployed, "POLL_SECONDS", 0.1)  # moto answers at once
    with local_cloud() as started:
        yield started


def create_stack(
    cloud: LocalCloud, provider: str = "draft", name: str = STACK, outputs: bool = True
) -> None:
    """A CloudFormation stack whose outputs name the resources the local cloud made, as
    template.yaml's Outputs name a deployed stack's, with its Provider parameter."""
    physical = cloud.stack.physical
    named = {
        "UploadsBucketName": physical["UploadsBucket"],
        "AssetsBucketName": physical["AssetsBucket"],
        "LedgerTableName": physical["LedgerTable"],
        "ReportsQueueUrl": physical["ReportsQueue"],
    }
    template = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Parameters": {"Provider": {"Type": "String", "Default": "draft"}},
        "Resources": {"Marker": {"Type": "AWS::SQS::Queue"}},
        "Outputs": {k: {"Value": v} for k, v in named.items() if outputs or k != "LedgerTableName"},
    }
    cloud.client("cloudformation").create_stack(
        StackName=name,
        TemplateBody=json.dumps(template),
        Parameters=[{"ParameterKey": "Provider", "ParameterValue": provider}],
    )


def ingest(cloud: LocalCloud, key: str) -> None:
    """What S3 does once an object lands: its ObjectCreated event to the functions it matches."""
    size = cloud.client("s3").head_object(Bucket=cloud.uploads_bucket, Key=key)["ContentLength"]
    event = s3_put_event(cloud.uploads_bucket, key, size, cloud.stack.region)
    for function in cloud.functions.values():
        if any(s.kind == "S3" and s3_filter_matches(s, key) for s in function.events):
            cloud.invoke(function, event)


def play_aws_when_uploaded(cloud: LocalCloud, key: str) -> threading.Thread:
    """AWS's part, in a thread: when the sheet lands, ingest it and drain every queue."""
    failures: list[BaseException] = []

    def run() -> None:
        try:
            for _ in range(600):  # the command uploads within seconds of starting
                if uploaded(cloud, key):
                    ingest(cloud, key)
                    cloud.drain()
                    return
                time.sleep(0.1)
        except BaseException as exc:  # said by the test's assertion on the thread
            failures.append(exc)
            raise

    thread = threading.Thread(target=run, daemon=True)
    thread.failures = failures  # type: ignore[attr-defined]
    thread.start()
    return thread


def uploaded(cloud: LocalCloud, key: str) -> bool:
    try:
        cloud.client("s3").head_object(Bucket=cloud.uploads_bucket, Key=key)
    except ClientError:
        return False
    return True


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def test_upload_wait_runs_the_sheet_on_the_stack_and_downloads_its_reports(
    cloud: LocalCloud, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a deployed stack (draft provider) and a sheet mixing good and bad rows
    create_stack(cloud)
    sheet = tmp_path / "spring sale.csv"
    shutil.copy(DATA / "mixed.csv", sheet)
    key = "campaigns/spring/spring sale.csv"
    aws = play_aws_when_uploaded(cloud, key)
    out = tmp_path / "out"
    # When it is uploaded with a budget, waited for
    status = main(["upload", str(sheet), "--stack", STACK, "--campaign", "spring",
                   "--budget", "5", "--rerolls", "1", "--wait", "--out", str(out)])  # fmt: skip
    aws.join()
    assert not aws.failures  # type: ignore[attr-defined]
    # Then it carried the same metadata the local runner sets
    head = cloud.client("s3").head_object(Bucket=cloud.uploads_bucket, Key=key)
    metadata = {k.lower(): v for k, v in head["Metadata"].items()}  # S3 lower-cases them
    assert metadata == {"budget-usd": "5", "rerolls": "1"}
    # And the provider and budget were said before the upload
    said = capsys.readouterr().out
    assert said.index(f"stack {STACK} (us-east-1): provider draft") < said.index("uploaded")
    assert said.index("budget: $5.00 for campaign spring") < said.index("uploaded")
    # And the stack's reports are downloaded with the images they deliver
    results = read_csv(out / "results.csv")
    assert [r["status"] for r in results] == [
        "succeeded", "rejected", "rejected", "rejected", "succeeded", "rejected",
    ]  # fmt: skip
    assert (out / "index.html").is_file()
    errors = read_csv(out / "errors.csv")
    assert ("4", "template") in {(e["row"], e["column"]) for e in errors}
    assert len(list((out / "images").glob("*.png"))) == 3  # 1 + n=2
    # And the summary is placard run's, with SPEC §3's exit status: some rows failed
    assert "6 rows: 2 succeeded, 0 failed, 4 rejected" in said
    assert "images: 3 in" in said and "ledger total: $0.00 (draft)" in said
    assert status == 1


def sample_rows(tmp_path: Path, rows: int) -> Path:
    """The sample sheet's first rows, as summer-campaign.csv."""
    sheet = tmp_path / "summer-campaign.csv"
    lines = (ROOT / "samples" / "summer-campaign.csv").read_text(encoding="utf-8").splitlines()
    sheet.write_text("\n".join(lines[: rows + 1]) + "\n", encoding="utf-8")
    return sheet


def test_status_follows_a_campaign_from_ingest_to_its_reports(
    cloud: LocalCloud, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given two rows of the sample sheet uploaded to a stack without waiting, nor a budget
    create_stack(cloud)
    status = main(["upload", str(sample_rows(tmp_path, 2)), "--stack", STACK, "--yes"])
    said = capsys.readouterr().out
    assert status == 0
    assert "it has no budget, so nothing limits what it spends" in said
    assert f"progress: placard status --stack {STACK} summer-campaign" in said
    # When the stack has not read it yet, status says so and exits 2
    assert main(["status", "summer-campaign", "--stack", STACK]) == 2
    assert "has read no upload of it" in capsys.readouterr().err
    # When ingest has queued its jobs and none has run
    ingest(cloud, "campaigns/summer-campaign/summer-campaign.csv")
    assert main(["status", "summer-campaign", "--stack", STACK]) == 0
    # Then status shows them waiting
    said = capsys.readouterr().out
    assert "summer-campaign.csv: 0 of 2 jobs ended" in said
    assert "images: 0 charged" in said and "no budget" in said
    # When every queue is drained
    cloud.drain()
    assert main(["status", "summer-campaign", "--stack", STACK]) == 0
    # Then every job has ended and the reports are where the stack wrote them
    said = capsys.readouterr().out
    assets = cloud.stack.physical["AssetsBucket"]
    assert (
        f"summer-campaign.csv: all 2 jobs ended; reports in "
        f"s3://{assets}/reports/summer-campaign/summer-campaign/"
    ) in said
    assert "images: 2 charged, 0 refunded, 0 failed, 0 in flight" in said


def test_a_paid_stack_is_not_uploaded_to_without_a_budget_or_yes(
    cloud: LocalCloud, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a stack configured for OpenAI
    create_stack(cloud, provider="openai")
    sheet = ROOT / "samples" / "summer-campaign.csv"
    # When a sheet is uploaded with neither --budget nor --yes
    status = main(["upload", str(sheet), "--stack", STACK])
    # Then nothing is uploaded, and the answer names the provider and the missing --budget
    assert status == 2
    said = capsys.readouterr()
    assert "provider openai, which bills real money" in said.out
    assert "--budget: campaign summer-campaign" in said.err and "--yes" in said.err
    listed = cloud.client("s3").list_objects_v2(Bucket=cloud.uploads_bucket)
    assert listed.get("KeyCount", 0) == 0


def test_a_stack_that_cannot_be_used_is_named_with_exit_2(
    cloud: LocalCloud, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a stack without the ledger's output, and no stack named "nope"
    create_stack(cloud, name="half-stack", outputs=False)
    sheet = str(ROOT / "samples" / "summer-campaign.csv")
    # When each is named, or a profile that does not exist
    cases = {
        "half-stack": ["upload", sheet, "--stack", "half-stack", "--budget", "1"],
        "nope": ["status", "spring", "--stack", "nope"],
        "profile": ["status", "spring", "--stack", STACK, "--profile", "no-such-profile"],
    }
    said = {}
    for case, argv in cases.items():
        assert main(argv) == 2, case
        said[case] = capsys.readouterr().err
    # Then each answer says what is wrong
    assert "--stack half-stack: has no output LedgerTableName" in said["half-stack"]
    assert "--stack nope:" in said["nope"] and "does not exist" in said["nope"]
    assert "--profile no-such-profile: no such profile" in said["profile"]


def test_settle_on_a_stack_releases_a_held_call_and_asks_for_the_reports_again(
    cloud: LocalCloud, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a campaign run on a stack, one of whose jobs holds a call of unknown outcome
    create_stack(cloud)
    assert main(["upload", str(sample_rows(tmp_path, 1)), "--stack", STACK, "--yes"]) == 0
    ingest(cloud, "campaigns/summer-campaign/summer-campaign.csv")
    cloud.drain()
    ledger = bootstrap.parts().ledger
    (image,) = ledger.campaign_items("summer-campaign")
    sent = image.but(status=Status.RESERVED, attempt=2, s3_key="", reason=SENT)
    ledger.save(unknown_call(sent, sent.created_at))
    capsys.readouterr()
    # When its status is asked for, Then the held call is shown apart from those in flight
    assert main(["status", "summer-campaign", "--stack", STACK]) == 0
    assert "0 in flight, 1 held, outcome unknown (placard settle)" in capsys.readouterr().out
    # When a person settles it from the bill, which does not show it
    assert (
        main(["settle", "summer-campaign", call_id(sent), "--billed", "0", "--stack", STACK]) == 0
    )
    # Then it is released, and the upload's reports are asked for again
    assert "refunded, $0.00" in capsys.readouterr().out
    held = [i for i in ledger.campaign_items("summer-campaign") if i.lost]
    assert [(i.status, i.reason) for i in held] == [(Status.REFUNDED, NOT_BILLED)]
    reports = cloud.client("sqs").get_queue_attributes(
        QueueUrl=cloud.stack.physical["ReportsQueue"],
        AttributeNames=["ApproximateNumberOfMessages"],
    )
    assert reports["Attributes"]["ApproximateNumberOfMessages"] == "1"
    # When it is settled again, Then it is refused, naming the call
    assert (
        main(["settle", "summer-campaign", call_id(sent), "--billed", "0", "--stack", STACK]) == 2
    )
    assert "holds no call" in capsys.readouterr().err
