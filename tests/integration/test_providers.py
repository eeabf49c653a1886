"""The OpenAI and prospolabs clients against the emulator: both wire formats, every fault."""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Iterator

import httpx
import pytest
from PIL import Image

from placard.domain.jobs import Mode, Quality, Size
from placard.providers.base import ImageRequest, ProviderRefused, ProviderUnavailable
from placard.providers.http import HttpCaller, RetryPolicy, Timeouts, retry_after
from placard.providers.openai import OpenAIProvider
from placard.providers.prospolabs import ProspolabsProvider
from placard_emulator import EmulatorConfig, ProviderEmulator

KEY = "sk-test-secret-0123456789"
FAST = RetryPolicy(max_failures=4, base_delay=0.01, max_delay=0.05, budget_seconds=10)


@pytest.fixture
def emulator() -> Iterator[ProviderEmulator]:
    with ProviderEmulator(EmulatorConfig(api_key=KEY, hang_seconds=2)) as running:
        yield running


CLIENTS: list[httpx.Client] = []


@pytest.fixture(autouse=True)
def close_clients() -> Iterator[None]:
    yield
    while CLIENTS:
        CLIENTS.pop().close()


def caller(read_timeout: float = 5.0, policy: RetryPolicy = FAST) -> HttpCaller:
    client = httpx.Client(timeout=Timeouts(read=read_timeout, connect=1).httpx())
    CLIENTS.append(client)
    return HttpCaller(client, policy)


def openai(emulator: ProviderEmulator, **kwargs: float) -> OpenAIProvider:
    return OpenAIProvider(caller(**kwargs), emulator.openai_base_url, lambda: KEY, "gpt-image-2")


def prospolabs(emulator: ProviderEmulator, **kwargs: float) -> ProspolabsProvider:
    return ProspolabsProvider(caller(**kwargs), emulator.url, lambda: KEY)


def png(size: tuple[int, int], colour: str = "white", mode: str = "RGB") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, colour).save(buffer, "PNG")
    return buffer.getvalue()


def mask_png(size: tuple[int, int]) -> bytes:
    mask = Image.new("RGBA", size, (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), (100, 100, 400, 300))
    buffer = io.BytesIO()
    mask.save(buffer, "PNG")
    return buffer.getvalue()


def request(mode: Mode = Mode.GENERATE, n: int = 1, prompt: str = "a poster") -> ImageRequest:
    size = Size(1024, 1536)
    edit = mode is Mode.EDIT
    return ImageRequest(
        prompt=prompt,
        quality=Quality.MEDIUM,
        size=size,
        n=n,
        template="launch-poster",
        texts=(("headline", "Hi"),),
        seed="s",
        mode=mode,
        source=png((1024, 1536)) if edit else None,
        mask=mask_png((1024, 1536)) if edit else None,
    )


def sizes(images: tuple[bytes, ...]) -> list[tuple[int, int]]:
    return [Image.open(io.BytesIO(i)).size for i in images]


def test_openai_generate_decodes_b64_images_and_usage(emulator: ProviderEmulator) -> None:
    result = openai(emulator).create(request(n=2))
    assert sizes(result.images) == [(1024, 1536), (1024, 1536)]
    assert result.usage["output_tokens"] > 0 and result.attempts == 1
    (sent,) = emulator.requests_log()
    assert sent["path"] == "/v1/images/generations"
    body = sent["json"]
    assert isinstance(body, dict)
    assert "response_format" not in body and body["model"] == "gpt-image-2"
    assert emulator.stats().billed_images == 2


def test_openai_edit_sends_named_png_parts(emulator: ProviderEmulator) -> None:
    result = openai(emulator).create(request(Mode.EDIT))
    assert sizes(result.images) == [(1024, 1536)]
    (sent,) = emulator.requests_log()
    assert sent["path"] == "/v1/images/edits"
    parts = {p["name"]: p for p in sent["parts"]}  # type: ignore[union-attr]
    for name in ("image", "mask"):
        assert parts[name]["filename"] and parts[name]["content_type"] == "image/png"
    assert parts["mask"]["mode"] == "RGBA"


def test_prospolabs_generate_downloads_every_output_url(emulator: ProviderEmulator) -> None:
    result = prospolabs(emulator).create(request(n=2))
    assert sizes(result.images) == [(1024, 1536), (1024, 1536)]
    assert result.generation_id and result.generation_id.startswith("gen_")
    assert emulator.stats().downloads == 2


def test_prospolabs_edit_sends_image_and_mask(emulator: ProviderEmulator) -> None:
    result = prospolabs(emulator).create(request(Mode.EDIT))
    assert sizes(result.images) == [(1024, 1536)]
    body = emulator.requests_log()[0]["json"]
    assert isinstance(body, dict)
    assert body["mode"] == "edit" and body["image"] and body["mask"]


@pytest.mark.parametrize("fault", ["5xx", "malformed", "disconnect", "hang"])
@pytest.mark.parametrize("make", [openai, prospolabs])
def test_a_fault_is_retried_and_the_image_still_arrives(
    emulator: ProviderEmulator, make: object, fault: str
) -> None:
    # Given the next call fails with this fault
    emulator.script(fault)
    provider = make(emulator, read_timeout=0.5)  # type: ignore[operator]
    # When an image is asked for
    result = provider.create(request())
    # Then it arrives on the second attempt, billed once
    assert result.attempts == 2
    assert len(result.images) == 1
    assert emulator.stats().billed_images == 1
    # And an attempt whose answer never came is counted as an unknown outcome
    assert result.unknown_outcomes == (1 if fault in ("malformed", "disconnect", "hang") else 0)


@pytest.mark.parametrize("make", [openai, prospolabs])
def test_a_refusal_is_permanent_and_carries_the_providers_message(
    emulator: ProviderEmulator, make: object
) -> None:
    provider = make(emulator)  # type: ignore[operator]
    with pytest.raises(ProviderRefused) as caught:
        provider.create(request(prompt="[[refuse]] a poster"))
    assert "safety" in str(caught.value) or "content_policy" in str(caught.value)
    assert len(emulator.requests_log()) == 1, "a refusal is never retried"
    assert emulator.stats().billed_images == 0


def test_throttling_honours_retry_after(emulator: ProviderEmulator) -> None:
    # Given a limit of one image a second with no burst beyond one
    emulator.configure(images_per_minute=60, burst=1)
    provider = openai(emulator)
    provider.create(request())
    # When a second image is asked for at once
    started = time.monotonic()
    result = provider.create(request())
    # Then it was throttled, waited as told (about a second), and arrived
    assert result.throttled >= 1
    assert 0.7 < time.monotonic() - started < 3
    assert emulator.stats().billed_images == 2


def test_retries_are_bounded(emulator: ProviderEmulator) -> None:
    emulator.script(*["5xx"] * 10)
    with pytest.raises(ProviderUnavailable, match="gave up after 4 attempts"):
        openai(emulator).create(request())
    assert len(emulator.requests_log()) == 4


def test_the_key_is_sent_but_never_logged_or_reported(
    emulator: ProviderEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    emulator.script(*["5xx"] * 10)
    with pytest.raises(ProviderUnavailable) as caught:
        openai(emulator).create(request())
    assert KEY not in str(caught.value)
    assert KEY not in caplog.text
    wrong = OpenAIProvider(caller(), emulator.openai_base_url, lambda: "wrong", "gpt-image-2")
    with pytest.raises(ProviderRefused, match="401") as refused:
        wrong.create(request())
    assert "wrong" not in str(refused.value)


def test_retry_after_reads_every_form() -> None:
    def response(**headers: str) -> httpx.Response:
        return httpx.Response(429, headers=headers)

    assert retry_after(response(**{"retry-after-ms": "350"})) == 0.35
    assert retry_after(response(**{"retry-after": "2"})) == 2
    assert retry_after(response(**{"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"})) == 0
    assert retry_after(response()) is None
