"""`placard serve`'s API over HTTP on the local cloud: jobs run, callbacks arrive signed, and a
shop sign's price is changed through the API on the provider emulator."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
from PIL import Image, ImageDraw
from standardwebhooks import Webhook

from placard.api.callbacks import new_secret
from placard.api.signing import signed_headers
from placard_emulator import EmulatorConfig, ProviderEmulator
from placard_local.cloud import local_cloud
from placard_local.serve import serving

SECRET = "serve-test-secret"
CALLBACK_SECRET = new_secret()
KEY = "sk-serve-key"


class Receiver(BaseHTTPRequestHandler):
    """A shop's webhook endpoint: keeps what it was sent."""

    received: ClassVar[list[tuple[dict[str, str], bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((dict(self.headers.items()), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[tuple[dict[str, str], bytes]]]]:
    server = HTTPServer(("127.0.0.1", 0), Receiver)
    Receiver.received = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hooks/placard", Receiver.received
    server.shutdown()


@pytest.fixture
def emulator(monkeypatch: pytest.MonkeyPatch) -> Iterator[ProviderEmulator]:
    with ProviderEmulator(EmulatorConfig(api_key=KEY)) as running:
        monkeypatch.setenv("PROSPOLABS_BASE_URL", running.url)
        monkeypatch.setenv("PROSPOLABS_API_KEY", KEY)
        yield running


def start(monkeypatch: pytest.MonkeyPatch, provider: str) -> Any:
    monkeypatch.setenv("PLACARD_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("PLACARD_CALLBACK_SECRET", CALLBACK_SECRET)
    monkeypatch.setenv("PLACARD_ALLOW_LOOPBACK_CALLBACKS", "1")
    return local_cloud({"Provider": provider, "LogLevel": "WARNING"})


def send(url: str, method: str, path: str, body: Any = None) -> httpx.Response:
    raw = json.dumps(body).encode() if body is not None else b""
    headers = {**signed_headers(SECRET, method, path, raw), "Content-Type": "application/json"}
    return httpx.request(method, url + path, content=raw, headers=headers, timeout=30)


def wait_until_ended(url: str, job_id: str, seconds: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        status: dict[str, Any] = send(url, "GET", f"/v1/jobs/{job_id}").json()
        if status["status"] not in ("queued", "running"):
            return status
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not end in {seconds} s")


def test_a_job_with_a_callback_ends_with_a_signed_post_to_the_receiver(
    monkeypatch: pytest.MonkeyPatch, receiver: tuple[str, list[tuple[dict[str, str], bytes]]]
) -> None:
    hook, received = receiver
    with start(monkeypatch, "draft") as cloud, serving(cloud) as url:
        # When a shop posts a job with its callback URL
        job = {
            "campaign": "shop",
            "template": "social-square",
            "variables": {"product": "Tea", "headline": "New: Matcha", "cta": "Taste it"},
            "size": "1024x1024",
            "callback_url": hook,
        }
        accepted = send(url, "POST", "/v1/jobs", job)
        assert accepted.status_code == 202
        job_id = accepted.json()["job_id"]
        status = wait_until_ended(url, job_id)
        assert status["status"] == "succeeded"
        deadline = time.monotonic() + 10
        while not received and time.monotonic() < deadline:
            time.sleep(0.1)
    # Then the receiver got one POST, which an off-the-shelf Standard Webhooks library verifies
    ((headers, body),) = received
    event = Webhook(CALLBACK_SECRET).verify(body, {k.lower(): v for k, v in headers.items()})
    assert headers["webhook-id"] == f"msg_{job_id}"
    assert event["type"] == "job.ended"
    assert event["data"]["status"] == "succeeded" and len(event["data"]["images"]) == 1


@pytest.mark.parametrize(
    ("template", "variables", "where"),
    [
        ("price-tag-edit", {"price": "$1.99"}, {"mask_box": "300,250,600,400"}),
        ("sign-text-swap", {"new_text": "Now open Sundays"}, {"mask": "photos/mask.png"}),
    ],
)
def test_a_sign_is_updated_through_the_api_on_the_emulator(
    monkeypatch: pytest.MonkeyPatch,
    emulator: ProviderEmulator,
    tmp_path: Path,
    template: str,
    variables: dict[str, str],
    where: dict[str, str],
) -> None:
    # Given a photo of a shelf tag, and a mask of its card, in the uploads bucket
    photo, mask = tmp_path / "shelf.png", tmp_path / "mask.png"
    image = Image.new("RGB", (1200, 900), (150, 110, 70))
    ImageDraw.Draw(image).rectangle((300, 250, 900, 650), fill="white")
    image.save(photo)
    hole = Image.new("RGBA", (1200, 900), (0, 0, 0, 255))
    hole.paste((0, 0, 0, 0), (300, 250, 900, 650))
    hole.save(mask)
    with start(monkeypatch, "prospolabs") as cloud, serving(cloud) as url:
        cloud.put_file(photo, "campaigns/store-12/photos/shelf.png")
        cloud.put_file(mask, "campaigns/store-12/photos/mask.png")
        # When the shop asks for the sign's words to change
        job = {
            "campaign": "store-12",
            "template": template,
            "variables": variables,
            "source_image": "photos/shelf.png",
            **where,
        }
        estimate = send(url, "POST", "/v1/estimate", job).json()
        accepted = send(url, "POST", "/v1/jobs", job)
        assert accepted.status_code == 202
        status = wait_until_ended(url, accepted.json()["job_id"])
        # Then one edited image came back, charged at the reseller's flat price
        assert status["status"] == "succeeded"
        (edited,) = status["images"]
        assert edited["cost_usd"] == estimate["estimated_cost_usd"]
        reply = httpx.get(edited["url"])  # the presigned link works
        assert reply.status_code == 200 and reply.content.startswith(b"\x89PNG")
    assert emulator.stats().billed_images == 1


def test_a_burst_past_the_stage_throttle_gets_429s_in_the_error_shape(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PLACARD_WEBHOOK_SECRET", SECRET)
    # Given the stage's throttle at 1 request a second after its burst of 100
    overrides = {"Provider": "draft", "LogLevel": "WARNING", "ApiRateLimit": "1"}
    with local_cloud(overrides) as cloud, serving(cloud) as url, httpx.Client() as client:
        # When 130 requests arrive in a rush
        headers = signed_headers(SECRET, "GET", "/v1/templates", b"")
        answers = [client.get(url + "/v1/templates", headers=headers) for _ in range(130)]
    # Then the burst is served and the rest are throttled, as API Gateway would
    statuses = [a.status_code for a in answers]
    assert 100 <= statuses.count(200) < 130 and 429 in statuses
    throttled = next(a for a in answers if a.status_code == 429)
    assert throttled.json()["error"]["code"] == "throttled"
    assert throttled.headers["Retry-After"] == "1"


def poster(i: int) -> dict[str, Any]:
    """Caller i's own job: its own campaign, so its status shows whose body made it."""
    return {
        "campaign": f"caller-{i}",
        "template": "social-square",
        "variables": {"product": "Tea", "headline": f"Offer {i}", "cta": "Taste it"},
        "size": "1024x1024",
    }


def post_job(url: str, body: dict[str, Any], key: str | None) -> httpx.Response:
    raw = json.dumps(body).encode()
    headers = signed_headers(SECRET, "POST", "/v1/jobs", raw)
    if key is not None:
        headers["Idempotency-Key"] = key
    return httpx.post(url + "/v1/jobs", content=raw, headers=headers, timeout=60)


@pytest.mark.parametrize("keyed", [True, False], ids=["with-keys", "without-keys"])
def test_fifty_concurrent_callers_each_get_their_own_job(
    monkeypatch: pytest.MonkeyPatch, keyed: bool
) -> None:
    callers = range(50)
    # (the jobs are queued, not run: this is the API's concurrency, not the workers')
    with start(monkeypatch, "draft") as cloud, serving(cloud, run_jobs=False) as url:
        # Given 50 callers, each with its own body (and its own Idempotency-Key)
        def call(i: int) -> httpx.Response:
            return post_job(url, poster(i), f"key-{i}" if keyed else None)

        # When they all post at once
        with ThreadPoolExecutor(max_workers=50) as pool:
            first = list(pool.map(call, callers))
            # Then every one is accepted with a job of its own
            assert [r.status_code for r in first] == [202] * 50, [r.text for r in first]
            ids = [r.json()["job_id"] for r in first]
            assert len(set(ids)) == 50
            # And the job each was given is the one its own body describes
            owners = [send(url, "GET", f"/v1/jobs/{job_id}").json()["campaign"] for job_id in ids]
            assert owners == [f"caller-{i}" for i in callers]
            # When each sends its request again (signed anew), all at once
            again = list(pool.map(call, callers))
        # Then each gets its own job back
        assert [r.status_code for r in again] == [202] * 50, [r.text for r in again]
        assert [r.json()["job_id"] for r in again] == ids


def test_the_readme_webhook_example_succeeds_on_placard_serve(tmp_path: Path) -> None:
    # Given `placard serve` started as the README starts it (on a free port)
    secrets = {"PLACARD_WEBHOOK_SECRET": "s3cret", "PLACARD_CALLBACK_SECRET": CALLBACK_SECRET}
    env = {**os.environ, **secrets, "PYTHONUNBUFFERED": "1"}
    env.pop("PLACARD_ALLOW_LOOPBACK_CALLBACKS", None)
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("placard")), "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert server.stdout is not None
        lines = [server.stdout.readline() for _ in range(5)]
        # Then it says where its S3 is, how to put a photo there, and that it allows loopback
        url = lines[0].split(" on ")[1].split()[0]
        assert "uploads bucket placard-local-uploads-" in lines[1]
        assert "--endpoint-url http://127.0.0.1:" in lines[2]
        assert lines[4].startswith("warning: callback_url may name this machine")
        # When the photo is put there with the line it printed (the python one)
        Image.new("RGB", (1200, 900), "white").save(tmp_path / "shelf.jpg")
        upload = lines[3].removeprefix("  or: ").strip()
        subprocess.run(upload, shell=True, cwd=tmp_path, check=True, timeout=60)
        # And the README's request is sent
        body = json.dumps(
            {
                "campaign": "store-12",
                "template": "price-tag-edit",
                "variables": {"price": "$1.99"},
                "source_image": "photos/shelf.jpg",
                "mask_box": "400,380,400,160",
            }
        ).encode()
        headers = signed_headers("s3cret", "POST", "/v1/jobs", body) | {"Idempotency-Key": "p-1"}
        job = httpx.post(url + "/v1/jobs", content=body, headers=headers, timeout=30)
        # Then the job is accepted
        assert job.status_code == 202, job.text
        assert job.json()["status"] == "queued"
    finally:
        server.terminate()
        _, errors = server.communicate(timeout=30)
    assert "Traceback" not in errors


def test_the_emulator_banner_gives_the_env_lines_placard_reads() -> None:
    # Given the provider emulator started from the command line
    emulator = subprocess.Popen(
        [sys.executable, "-m", "placard_emulator", "--port", "0", "--latency", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert emulator.stderr is not None
        banner = [emulator.stderr.readline() for _ in range(3)]
        # When its export lines are taken as placard takes them
        exported = dict(
            pair.split("=", 1)
            for line in banner[1:]
            for pair in line.removeprefix("  export ").split()
        )
        assert "test-key" in banner[0]
        auth = {"Authorization": f"Bearer {exported['PROSPOLABS_API_KEY']}"}
        wire = {"prompt": "x", "quality": "low", "size": "1024x1024", "n": 1}
        # Then the reseller's /v1/generate hangs from PROSPOLABS_BASE_URL (not doubled)
        generate = {"model": "gpt-image-2", "mode": "generate", **wire}
        prospo = httpx.post(
            exported["PROSPOLABS_BASE_URL"] + "/v1/generate", json=generate, headers=auth
        )
        assert prospo.status_code == 200, prospo.text
        # And OpenAI's routes hang from OPENAI_BASE_URL, which ends in /v1
        assert exported["OPENAI_BASE_URL"].endswith("/v1")
        auth = {"Authorization": f"Bearer {exported['OPENAI_API_KEY']}"}
        openai = httpx.post(
            exported["OPENAI_BASE_URL"] + "/images/generations",
            json={"model": "gpt-image-2", **wire},
            headers=auth,
            timeout=30,
        )
        assert openai.status_code == 200, openai.text
    finally:
        emulator.terminate()
        emulator.communicate(timeout=30)
