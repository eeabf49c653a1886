"""What the reconciler reads from Lambda's failure record of an S3-invoked ingest (issue #16):
the sheets it names, and why it failed, whatever Lambda could say."""

from __future__ import annotations

from typing import Any

from placard.domain.runs import UploadRun
from placard.services.reconcile import failed_ingest


def record(*keys: str, **said: Any) -> dict[str, Any]:
    objects = [
        {"s3": {"object": {"key": key, "sequencer": f"00{n}"}}} for n, key in enumerate(keys)
    ]
    return {"requestPayload": {"Records": objects}, **said}


def test_each_sheet_is_named_by_its_decoded_key_and_sequencer_and_the_error_is_said() -> None:
    # Given a failure record whose event names a sheet by its URL-encoded key, after 3 tries
    body = record(
        "campaigns%2Fspring%2Fspring+shops%C3%A9.csv",
        requestContext={"condition": "RetriesExhausted", "approximateInvokeCount": 3},
        responsePayload={"errorType": "SheetError", "errorMessage": "no header row"},
    )
    # When it is read, Then the sheet's run and the error come back
    assert failed_ingest(body) == (
        [UploadRun("spring", "campaigns/spring/spring shopsé.csv", "000")],
        "SheetError: no header row, after 3 tries",
    )


def test_a_timeout_says_lambdas_message_and_an_old_event_says_it_grew_too_old() -> None:
    # Given a timed-out ingest (a message, no type) and an event Lambda dropped for its age
    timed_out = record("campaigns/a/s.csv", responsePayload={"errorMessage": "Task timed out"})
    too_old = record("campaigns/a/s.csv", requestContext={"condition": "EventAgeExceeded"})
    # When they are read, Then each says why it failed as well as Lambda said it
    assert failed_ingest(timed_out) == ([UploadRun("a", "campaigns/a/s.csv", "000")],
                                        "Task timed out")  # fmt: skip
    assert failed_ingest(too_old) == (
        [UploadRun("a", "campaigns/a/s.csv", "000")],
        "the event grew too old before ingest could take it",
    )


def test_a_key_that_is_no_sheet_is_kept_as_a_key_and_a_message_that_is_no_record_is_none() -> None:
    # Given a reviewed sheet's key, a key outside campaigns/ and a body that is a job's
    body = record("campaigns/a/review/s.csv", "elsewhere.csv")
    # When they are read, Then the keys come back as they are, and the job's body as None
    assert failed_ingest(body) == (
        ["campaigns/a/review/s.csv", "elsewhere.csv"],
        "no error was given",
    )
    assert failed_ingest({"campaign": "a", "template": "storefront-sign"}) is None
