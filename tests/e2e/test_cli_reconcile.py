"""`placard reconcile` and `placard redrive QUEUE` on the local cloud a `placard run --out DIR`
left in DIR (issue #16)."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from pathlib import Path

import pytest

from placard.aws.ledger import stored
from placard.domain.ledger_items import LedgerItem, Status
from placard.services.pipeline import SENT, UNKNOWN_HELD, unknown_call
from placard.services.settle import call_id
from placard_local.cli import main
from placard_local.state import STATE

SHEET = "template,store_name,message\r\nstorefront-sign,Zoe,Now open\r\n"


def crashed(campaign: str) -> LedgerItem:
    """A reservation whose delivery died before it called the provider, long ago."""
    return LedgerItem(
        campaign=campaign, job_id="crashed", image_index=0, template="storefront-sign",
        template_version="v1", provider="draft", model="draft", quality="medium",
        size="1536x1024", unit_price=Decimal(0), cost_usd=Decimal(0), status=Status.RESERVED,
        created_at="2026-01-01T00:00:00.000+00:00", updated_at="2026-01-01T00:00:00.000+00:00",
    )  # fmt: skip


def a_run(tmp_path: Path) -> Path:
    """The folder `placard run` wrote for a one-row sheet."""
    sheet = tmp_path / "shop.csv"
    sheet.write_text(SHEET, encoding="utf-8")
    out = tmp_path / "out"
    assert main(["run", str(sheet), "--out", str(out)]) == 0
    return out


def also_in_its_ledger(out: Path, item: LedgerItem) -> Path:
    """The item added to the run's saved ledger; the dump's path."""
    dump = out / STATE / "dynamodb" / "LedgerTable.json"
    dump.write_text(json.dumps([*json.loads(dump.read_text()), stored(item)]))
    return dump


def test_reconcile_releases_what_a_crash_left_and_changes_nothing_the_second_time(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a run's folder whose saved ledger holds a reservation a crash left behind
    out = a_run(tmp_path)
    dump = also_in_its_ledger(out, crashed("shop"))
    capsys.readouterr()
    # When it is reconciled twice
    assert main(["reconcile", "--out", str(out)]) == 0
    first = capsys.readouterr().out
    assert main(["reconcile", "--out", str(out)]) == 0
    second = capsys.readouterr().out
    # Then the first released it, and the second found nothing to do
    assert "released 1 reservations never sent" in first
    assert "charged 0 stored images, released 0 reservations never sent, ended 0" in second
    # And the saved ledger holds it released
    saved = {item["sk"]["S"]: item for item in json.loads(dump.read_text())}
    assert saved["IMAGE#crashed#00"]["status"]["S"] == "refunded"


def test_redrive_names_the_queue_it_moved_from_and_refuses_one_without_a_dead_letter_queue(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a run's folder
    out = a_run(tmp_path)
    capsys.readouterr()
    # When the jobs queue's dead letters are redriven, Then it says what it moved, and where
    assert main(["redrive", "jobs", "--out", str(out)]) == 0
    assert "redrove 0 messages from JobsDeadLetterQueue to JobsQueue" in capsys.readouterr().out
    # When a queue with no dead-letter queue is named, Then nothing runs and it says which have
    assert main(["redrive", "uploads", "--out", str(out)]) == 2
    assert "use one of callbacks, derivatives, jobs, proofs, reports" in capsys.readouterr().err
    # When ingest is named, Then it says a failed sheet is uploaded again, not redriven
    assert main(["redrive", "ingest", "--out", str(out)]) == 2
    assert "upload the sheet again once the cause is fixed" in capsys.readouterr().err


def test_a_call_of_unknown_outcome_is_reported_until_settled_from_the_bill(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a run's folder whose saved ledger holds a call sent whose answer a crash lost,
    # set aside by a later delivery of its job and held
    out = a_run(tmp_path)
    results = (out / "results.csv").read_text(encoding="utf-8-sig")
    job_id = next(csv.DictReader(io.StringIO(results)))["job_id"]
    lost = crashed("shop").but(job_id=job_id, reason=SENT)
    also_in_its_ledger(out, unknown_call(lost, lost.created_at))
    capsys.readouterr()
    # When it is reconciled, Then the call is reported by the name `placard settle` takes, and
    # the exit status says something is left for a person
    assert main(["reconcile", "--out", str(out)]) == 1
    said = capsys.readouterr().out
    call = call_id(lost)
    assert f"left, outcome unknown: shop call {call}: {UNKNOWN_HELD}" in said
    assert "placard settle CAMPAIGN CALL --billed USD" in said
    # When a call it does not hold is settled, Then nothing runs and the error names the call
    assert main(["settle", "shop", f"{job_id}#0#9#x", "--billed", "0", "--out", str(out)]) == 2
    assert "call: campaign shop holds no call" in capsys.readouterr().err
    # When it is settled at what the bill shows
    assert main(["settle", "shop", call, "--billed", "0.04", "--out", str(out)]) == 0
    assert f"settled shop call {job_id}#0#1: charged, $0.04" in capsys.readouterr().out
    # Then the run's results count it, and the reconciler has nothing left to report
    results = (out / "results.csv").read_text(encoding="utf-8-sig")
    assert Decimal(next(csv.DictReader(io.StringIO(results)))["cost_usd"]) == Decimal("0.04")
    assert main(["reconcile", "--out", str(out)]) == 0
    assert "outcome unknown" not in capsys.readouterr().out
    # And a second settle of it is refused, changing nothing
    assert main(["settle", "shop", call, "--billed", "0.04", "--out", str(out)]) == 2


@pytest.mark.parametrize(
    "command",
    [["reconcile"], ["redrive", "jobs"], ["settle", "shop", "job#0#1#x", "--billed", "0"]],
)
def test_a_folder_no_run_wrote_is_refused_naming_it(
    command: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a folder `placard run` never wrote
    # When a command that works on a run's local cloud is pointed at it
    status = main([*command, "--out", str(tmp_path)])
    # Then nothing runs, and the error names the folder and what to name instead
    said = capsys.readouterr().err
    assert status == 2
    assert f"{tmp_path}: holds no results of `placard run`" in said
    assert "name the folder a run wrote with --out" in said
