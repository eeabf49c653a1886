"""bootstrap: one function builds the parts, a container builds them once, a test builds its
own (here from the fakes of the ports) and hands them to a handler's `process`."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from PIL import Image

from handlers import derivatives
from placard import bootstrap
from placard.domain.jobs import Job, Quality, Size
from placard.domain.runs import UploadRun
from placard.settings import REQUIRED, Settings
from placard_local.cloud import LocalContext, sqs_event
from tests.conftest import in_new_interpreter
from tests.fakes import (
    FakeAssets,
    FakeBudgets,
    FakeCallbackRequests,
    FakeDerivativeRequests,
    FakeJobQueue,
    FakeJobRecords,
    FakeJobStore,
    FakeLedger,
    FakeProgress,
    FakeProofRequests,
    FakeProvider,
    FakeReplayGuard,
    FakeReportRequests,
    FakeUploads,
)
from tests.pictures import encode


def fake_parts(**replaced: Any) -> bootstrap.Parts:
    """Parts whose every port is an in-memory fake."""
    settings = Settings.from_env({name: f"test-{name.lower()}" for name in REQUIRED})
    ports: dict[str, Any] = {
        "assets": FakeAssets(),
        "uploads": FakeUploads(),
        "ledger": FakeLedger(),
        "budgets": FakeBudgets(),
        "jobs_queue": FakeJobQueue(),
        "progress": FakeProgress(),
        "job_records": FakeJobRecords(),
        "kept_jobs": FakeJobStore(),
        "report_requests": FakeReportRequests(),
        "derivative_requests": FakeDerivativeRequests(),
        "proof_requests": FakeProofRequests(),
        "callback_requests": FakeCallbackRequests(),
        "replay_guard": FakeReplayGuard(),
        "idempotency": {},
        "webhook_secret": lambda: "webhook-secret",
        "callback_secret": lambda: "whsec_callback",
        "make_provider": lambda settings: FakeProvider(),
    }
    return bootstrap.Parts(settings=settings, **{**ports, **replaced})


def test_a_service_is_made_on_first_use_and_only_once() -> None:
    # Given parts whose provider records when it is made
    made: list[Settings] = []

    def make_provider(settings: Settings) -> FakeProvider:
        made.append(settings)
        return FakeProvider()

    parts = fake_parts(make_provider=make_provider)
    # When the API's service is used, Then no provider is made (a paid one's client is httpx)
    assert parts.job_service is parts.job_service
    assert made == []
    # When the pipeline is used, twice, Then one provider was made, from the parts' settings
    assert parts.pipeline is parts.pipeline
    assert made == [parts.settings]


def test_a_handler_runs_on_parts_built_from_fakes() -> None:
    # Given parts of fakes, the one job of a sheet's run, and its original image stored
    parts = fake_parts()
    run = UploadRun("spring", "campaigns/spring/posters.csv", "run-1")
    job = Job(
        campaign="spring",
        template="social-square",
        template_version="v1",
        variables={"headline": "Hi"},
        quality=Quality.LOW,
        size=Size.parse("1024x1024"),
        origin={"sheet": run.sheet, "run": run.run},
    )
    parts.progress.expect(run, 1)
    original = f"images/spring/{job.job_id}/0.png"
    parts.assets.put_new(original, encode(Image.new("RGB", (64, 48))), "image/png", {})
    body = {"job": job.to_dict(), "originals": [[0, original]], "status": "succeeded"}
    message = {
        "MessageId": "m-1",
        "ReceiptHandle": "r-1",
        "Body": json.dumps({**body, "reason": ""}),
        "Attributes": {"ApproximateReceiveCount": "1"},
    }
    event = sqs_event([message], "arn:aws:sqs:us-east-1:123456789012:derivatives", "us-east-1")
    # When the derivatives function handles its message on those parts
    reply = derivatives.process(event, LocalContext("DerivativesFunction", 120), parts)
    # Then the derivatives are in the fake bucket, and the run's report is asked for
    assert reply == {"batchItemFailures": []}
    copies = sorted(key for key in parts.assets.objects if key != original)
    assert [key.rsplit("/", 1)[1] for key in copies] == ["0.thumb.webp", "0.web.webp"]
    assert parts.report_requests.sent == [run]


@pytest.fixture
def container(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """A fresh container: nothing built yet, the template's names in the environment."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    bootstrap.forget()
    yield monkeypatch
    bootstrap.forget()


def test_a_container_builds_its_parts_once(container: pytest.MonkeyPatch) -> None:
    # Given a container's first call built its parts
    first = bootstrap.parts()
    # When later calls ask, Then they get the same parts
    assert bootstrap.parts() is first
    # When the environment changes (a new local cloud) and the parts are forgotten
    container.setenv("ASSETS_BUCKET", "another-assets-bucket")
    bootstrap.forget()
    # Then the next call builds them anew, from the new environment
    assert bootstrap.parts() is not first
    assert bootstrap.parts().settings.assets_bucket == "another-assets-bucket"


# A new interpreter, as a Lambda container: the API's init and first call, then what is loaded.
API_COLD_START = """
import json, sys
from handlers import api
from placard import bootstrap
bootstrap.parts().job_service
heavy = ("PIL", "openpyxl", "python_calamine", "httpx")
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in heavy)))
"""


def test_the_apis_cold_start_loads_no_pillow_spreadsheet_reader_or_http_client() -> None:
    env = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1"}
    assert in_new_interpreter(API_COLD_START, env=env) == []


def test_threads_racing_through_a_first_call_all_find_the_stores_key_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a handler's new store, and a key path that takes a while to compile
    from aws_lambda_powertools.utilities.idempotency import (
        DynamoDBPersistenceLayer,
        IdempotencyConfig,
    )
    from aws_lambda_powertools.utilities.idempotency.persistence import base

    compile_now = base.jmespath.compile

    def slowly(expression: str) -> Any:
        time.sleep(0.05)  # the window in which another thread finds the store configured
        return compile_now(expression)

    monkeypatch.setattr(base.jmespath, "compile", slowly)
    store = DynamoDBPersistenceLayer(table_name="t", boto3_client=object())  # type: ignore[arg-type]
    parts = fake_parts(idempotency={"worker": store})
    config = IdempotencyConfig(event_key_jmespath="[job_id, round.attempt]")
    # When eight workers take their first record at once
    keys: list[str | None] = []
    errors: list[BaseException] = []

    def first_call() -> None:
        try:
            keys.append(parts.store("worker", config)._get_hashed_idempotency_key({"job_id": "j"}))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=first_call) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then every one of them hashed the same key; none found the store half-configured
    assert errors == [] and len(set(keys)) == 1 and len(keys) == 8
