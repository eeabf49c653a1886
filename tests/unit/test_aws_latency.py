"""Cloud latency in the local cloud (issue #17): PLACARD_AWS_LATENCY_MS holds every AWS call of
the handlers' clients a fixed time before it leaves, as a region's SQS and DynamoDB answer,
sparing the calls Lambda's poller makes on AWS. The sleep is recorded, not slept."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse, HTTPHeaders

from placard_local import faults
from placard_local.faults import LATENCY_ENV, Latency, latency_from_env

ANSWERS = {"GetQueueUrl": b'{"QueueUrl": "https://q/jobs"}', "ReceiveMessage": b"{}"}


@pytest.fixture
def slept(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[float]]:
    pauses: list[float] = []
    monkeypatch.setattr(faults.time, "sleep", pauses.append)
    yield pauses


def answered_sqs() -> Any:
    """An SQS client whose requests are answered on the wire, after every other hook."""
    sqs = boto3.client(
        "sqs", region_name="us-east-1", endpoint_url="http://placard-latency.invalid",
        aws_access_key_id="x", aws_secret_access_key="x",
    )  # fmt: skip

    def answer(event_name: str, request: Any, **_: Any) -> AWSResponse:
        headers = HTTPHeaders()
        headers["Content-Type"] = "application/x-amz-json-1.0"
        body = ANSWERS[event_name.rsplit(".", 1)[1]]
        return AWSResponse(request.url, 200, headers, faults._Raw(body))

    sqs.meta.events.register_last("before-send", answer)
    return sqs


def test_every_call_waits_the_latency_before_it_is_sent(slept: list[float]) -> None:
    # Given 15 ms of latency on an SQS client
    sqs = answered_sqs()
    latency = Latency(0.015)
    latency.attach(sqs)
    # When it makes two calls, then each is answered after waiting 15 ms
    assert sqs.get_queue_url(QueueName="jobs")["QueueUrl"] == "https://q/jobs"
    sqs.get_queue_url(QueueName="jobs")
    assert slept == [0.015, 0.015] and latency.calls == 2


def test_the_pollers_calls_are_spared(slept: list[float]) -> None:
    # Given latency on a client the local cloud's pumps use as Lambda's poller
    sqs = answered_sqs()
    Latency(0.015).attach(sqs)
    # When it receives messages, then nothing waits: on AWS that is not the handler's time
    sqs.receive_message(QueueUrl="https://q/jobs")
    assert slept == []


@pytest.mark.parametrize(("given", "seconds"), [("15", 0.015), (" 2.5 ", 0.0025), ("0", 0.0)])
def test_the_variable_gives_the_delay_in_milliseconds(
    monkeypatch: pytest.MonkeyPatch, given: str, seconds: float
) -> None:
    monkeypatch.setenv(LATENCY_ENV, given)
    latency = latency_from_env()
    assert latency is not None and latency.seconds == seconds


def test_no_variable_no_latency(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(LATENCY_ENV, raising=False)
    assert latency_from_env() is None


@pytest.mark.parametrize("given", ["15ms", "-1", "nan", "10000"])
def test_a_delay_that_is_not_milliseconds_is_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, given: str
) -> None:
    monkeypatch.setenv(LATENCY_ENV, given)
    with pytest.raises(ValueError, match=rf"PLACARD_AWS_LATENCY_MS is a delay .* got '{given}'"):
        latency_from_env()
