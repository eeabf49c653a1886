"""template.yaml holds what the design card asks of it, and resolves for the local cloud."""

from __future__ import annotations

from pathlib import Path

from placard.sheets.reader import TRIGGER_SUFFIXES
from placard_local.stack import Stack

ROOT = Path(__file__).parents[2]
STACK = Stack.load(ROOT / "template.yaml")


def test_assets_and_ledger_survive_a_stack_delete() -> None:
    for logical_id in ("AssetsBucket", "LedgerTable"):
        resource = STACK.resources[logical_id]
        assert resource["DeletionPolicy"] == "Retain"
        assert resource["UpdateReplacePolicy"] == "Retain"
    assets = STACK.resources["AssetsBucket"]["Properties"]
    assert assets["VersioningConfiguration"] == {"Status": "Enabled"}
    assert all(assets["PublicAccessBlockConfiguration"].values())
    assert "BucketEncryption" in assets
    ledger = STACK.resources["LedgerTable"]["Properties"]
    assert ledger["BillingMode"] == "PAY_PER_REQUEST"
    assert ledger["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}


def test_jobs_queue_has_a_dead_letter_queue_and_a_long_enough_visibility() -> None:
    queue = STACK.resources["JobsQueue"]["Properties"]
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {
        "Fn::GetAtt": ["JobsDeadLetterQueue", "Arn"]
    }
    worker = STACK.functions()["WorkerFunction"]
    # Lambda's advice for SQS sources: visibility at least six times the function timeout.
    assert queue["VisibilityTimeout"] >= 6 * worker.timeout
    assert worker.timeout >= 4 * 120  # a batch of four two-minute high-quality images


def test_event_sources_are_wired_as_the_design_card_says() -> None:
    functions = STACK.functions()
    ingest_events = functions["IngestFunction"].events
    assert {e.kind for e in ingest_events} == {"S3"}
    suffixes = {r["Value"] for e in ingest_events for r in e.properties["Filter"]["S3Key"]["Rules"]}
    # every type placard reads, in small letters and in capitals (S3 matches them as written)
    assert suffixes == {"campaigns/", *TRIGGER_SUFFIXES}
    assert {".csv", ".tsv", ".txt", ".xlsx", ".xlsm", ".CSV"} <= suffixes
    (jobs,) = functions["WorkerFunction"].events
    assert jobs.kind == "SQS" and jobs.resource == "JobsQueue"
    assert jobs.properties["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_function_environment_resolves_to_local_names() -> None:
    env = STACK.functions()["WorkerFunction"].environment
    assert env["UPLOADS_BUCKET"] == "placard-local-uploads-123456789012"
    assert env["ASSETS_BUCKET"] == "placard-local-assetsbucket"
    assert env["LEDGER_TABLE"] == "placard-local-LedgerTable"
    assert env["PLACARD_PROVIDER"] == "draft"
    assert env["POWERTOOLS_SERVICE_NAME"] == "placard"
    overridden = Stack.load(ROOT / "template.yaml", {"Provider": "openai"})
    assert overridden.functions()["WorkerFunction"].environment["PLACARD_PROVIDER"] == "openai"


def test_globals_pin_the_lambda_runtime_and_tracing() -> None:
    function_globals = STACK.template["Globals"]["Function"]
    assert function_globals["Runtime"] == "python3.12"
    assert function_globals["Tracing"] == "Active"
