"""Job-end callbacks to a real HTTP receiver on 127.0.0.1: the retries, the Standard Webhooks
signature as an off-the-shelf verifier reads it, refusals and redirects."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from placard.api.callbacks import Callback, CallbackFailed, CallbackRefused, deliver, new_secret

PAYLOAD = {"job_id": "job-42", "status": "succeeded", "images": 2, "note": "café"}


@dataclass
class Call:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """What the receiver answers, in turn (then 200), and what it was sent."""

    answers: list[int] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    port: int = 0

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            state.calls.append(Call(self.path, dict(self.headers.items()), body))
            status = state.answers.pop(0) if state.answers else 200
            self.send_response(status)
            if 300 <= status < 400:
                # Where a followed redirect would land: the receiver would note a second call.
                self.send_header("location", state.url("/elsewhere"))
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    # trust_env off: a proxy from the environment must not carry loopback traffic elsewhere.
    with httpx.Client(trust_env=False, follow_redirects=True) as client:
        yield client


def send(receiver: Receiver, client: httpx.Client, secret: str, attempts: int = 5) -> int:
    callback = Callback(url=receiver.url(), webhook_id="msg_job-42", payload=PAYLOAD)
    return deliver(
        callback, secret, client, attempts=attempts, sleep=lambda s: None, allow_loopback=True
    )


def test_a_callback_is_retried_until_accepted_under_one_id(
    receiver: Receiver, client: httpx.Client
) -> None:
    # Given a receiver that is unavailable twice, then accepts
    receiver.answers = [503, 503]
    secret = new_secret()
    # When the callback is delivered
    attempts = send(receiver, client, secret)
    # Then it took three attempts, all under the same webhook-id, with the same body
    assert attempts == 3
    assert len(receiver.calls) == 3
    assert {call.headers["webhook-id"] for call in receiver.calls} == {"msg_job-42"}
    assert len({call.body for call in receiver.calls}) == 1
    # And each attempt verifies with the Standard Webhooks library, giving back the payload
    for call in receiver.calls:
        assert call.headers["content-type"] == "application/json"
        assert Webhook(secret).verify(call.body, call.headers) == PAYLOAD
    # And not with another secret
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(receiver.calls[0].body, receiver.calls[0].headers)


def test_a_refusal_is_not_retried(receiver: Receiver, client: httpx.Client) -> None:
    # Given a receiver that answers 400
    receiver.answers = [400]
    # When the callback is delivered, Then it is refused after one call
    with pytest.raises(CallbackRefused, match="400"):
        send(receiver, client, new_secret())
    assert len(receiver.calls) == 1


def test_a_redirect_is_not_followed(receiver: Receiver, client: httpx.Client) -> None:
    # Given a receiver that redirects, and a client that would follow redirects by default
    receiver.answers = [307]
    # When the callback is delivered, Then it is refused and the redirect's target never called
    with pytest.raises(CallbackRefused, match="redirect"):
        send(receiver, client, new_secret())
    assert [call.path for call in receiver.calls] == ["/hook"]


def test_delivery_gives_up_when_the_receiver_stays_down(
    receiver: Receiver, client: httpx.Client
) -> None:
    # Given a receiver that fails every time
    receiver.answers = [500] * 5
    # When the callback is delivered with three attempts, Then it fails after three calls
    with pytest.raises(CallbackFailed, match="500"):
        send(receiver, client, new_secret(), attempts=3)
    assert len(receiver.calls) == 3


def test_a_receiver_that_is_not_listening_is_retried(client: httpx.Client) -> None:
    # Given a port on 127.0.0.1 where nothing listens
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    port = server.server_address[1]
    server.server_close()
    callback = Callback(url=f"http://127.0.0.1:{port}/hook", webhook_id="msg_1", payload={})
    # When the callback is delivered, Then every attempt fails to connect, and it gives up
    with pytest.raises(CallbackFailed, match="ConnectError") as failed:
        deliver(
            callback, new_secret(), client, attempts=2, sleep=lambda s: None, allow_loopback=True
        )
    assert failed.value.attempts == 2
