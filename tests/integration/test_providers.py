"""The OpenAI and prospolabs clients against the emulator: both wire formats, every fault, and
OpenAI's token bill in the ledger."""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Iterator
from decimal import Decimal

import httpx
import pytest
from PIL import Image

from placard.domain.jobs import Job, Mode, Quality, Size
from placard.domain.ledger_items import Status
from placard.domain.pricing import default_prices
from placard.domain.templates import default_catalogue
from placard.providers.base import ImageRequest, ProviderRefused, ProviderUnavailable
from placard.providers.http import HttpCaller, Malformed, RetryPolicy, Timeouts, retry_after
from placard.providers.openai import OpenAIProvider
from placard.providers.prospolabs import ProspolabsProvider
from placard.services.pipeline import Pipeline
from placard_emulator import EmulatorConfig, ProviderEmulator
from tests.fakes import FakeAssets, FakeBudgets, FakeJobStore, FakeLedger, FakeUploads

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


@pytest.mark.parametrize("b64", ["not base64!", "aGVsbG8", "aGVsbG8=xx", "é", 42, None])
def test_an_openai_answer_whose_image_is_not_base64_is_unreadable(b64: object) -> None:
    # Given a 200 answer whose b64_json cannot be an image's bytes
    answer = httpx.Response(200, json={"data": [{"b64_json": b64}], "usage": {}})
    # When it is read, then it is unreadable (retried, its outcome unknown), never an image
    with pytest.raises(Malformed, match="no readable b64_json"):
        OpenAIProvider._parse(answer)


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


# Token bills: the ledger against what the emulator bills, answer by answer.
# Every mode and quality at the three sizes of OpenAI's token table and one off it (1280x720:
# approximate); medium asks for two images, so an answer's bill is shared.
TOKEN_JOBS = [
    pytest.param(mode, quality, size, 2 if quality is Quality.MEDIUM else 1,
                 id=f"{mode.value}-{quality.value}-{size}")
    for mode in Mode
    for size in (Size(1024, 1024), Size(1024, 1536), Size(1536, 1024), Size(1280, 720))
    for quality in Quality
]  # fmt: skip


@pytest.mark.parametrize(("mode", "quality", "size", "n"), TOKEN_JOBS)
def test_the_ledger_charges_each_answer_its_token_bill_to_the_micro_dollar(
    emulator: ProviderEmulator, mode: Mode, quality: Quality, size: Size, n: int
) -> None:
    # Given the pipeline calling the OpenAI emulator, and a job on a campaign with a budget
    uploads, ledger, budgets = FakeUploads(), FakeLedger(), FakeBudgets()
    budgets.set_limit("c", Decimal(5), Decimal(0))
    uploads.put("campaigns/c/photo.png", png((size.width, size.height), "navy"))
    edit = {"source_image": "campaigns/c/photo.png", "mask_box": (64, 64, 320, 160)}
    job = Job("c", "sign-text-swap" if mode is Mode.EDIT else "storefront-sign", "v1",
              {"new_text": "Sale", "store_name": "Zoe", "message": "Now open"}, quality,
              None if mode is Mode.EDIT else size, n, mode=mode, origin={"budget": True},
              **(edit if mode is Mode.EDIT else {}))  # type: ignore[arg-type]  # fmt: skip
    pipeline = Pipeline(default_catalogue(), default_prices(), openai(emulator), FakeAssets(),
                        ledger, uploads, budgets, FakeJobStore())  # fmt: skip
    # When it runs
    outcome = pipeline.run(job)
    # Then the one answer was billed, and its images are charged exactly that bill
    (bill,) = emulator.bills()
    items = ledger.job_items("c", job.job_id)
    assert [i.status for i in items] == [Status.CHARGED] * n and bill.images == n
    assert sum(i.cost_usd for i in items) == bill.cost_usd == outcome.cost_usd
    assert not any(i.estimated for i in items)
    # And each kept its share of the quote made before the call: the emulator counts tokens by
    # the rules the quote follows (table, area, ceil(bytes/4), 32 px patches), so it is the bill
    # here, marked approximate off the table
    template = default_catalogue()[job.template]
    prompt = template.render(template.values(job.variables))
    sent = (size,) if mode is Mode.EDIT else ()  # the photo, sent at the edit's size
    quote = default_prices()["openai"].quote(quality, size, n, prompt, sent)
    assert sum(i.estimate_usd for i in items) == quote.usd == bill.cost_usd
    assert quote.approximate is (size == Size(1280, 720))
    # And each item keeps the usage the bill was made from
    assert bill.usage is not None
    assert items[0].usage["output_tokens"] == bill.usage["output_tokens"]
    assert (
        items[0].usage["input_image_tokens"] == bill.usage["input_tokens_details"]["image_tokens"]
    )
    # And the budget is down by the bill alone, the rest of the reservation given back
    assert budgets.remaining("c") == 5 - bill.cost_usd


class TooLongJson(httpx.SyncByteStream):
    """A 200 whose JSON runs to twice what one 1024x1536 image can take (a broken proxy, or a
    provider's bug: without a bound, one that never ended would take the worker's memory)."""

    LARGEST = 1024 * 1536 * 8 * 4 // 3 + (1 << 20)  # the image at 16-bit RGBA, base64, a MiB

    def __init__(self) -> None:
        self.sent = 0

    def __iter__(self) -> Iterator[bytes]:
        yield b'{"data": [{"b64_json": "'
        while self.sent < 2 * self.LARGEST:
            self.sent += 1 << 16
            yield b"A" * (1 << 16)
        yield b'"}]}'


def test_an_openai_answer_longer_than_the_images_asked_for_is_cut_off_and_retried() -> None:
    # Given an OpenAI API whose every answer runs on past what its image can take
    streams: list[TooLongJson] = []

    def answer(request: httpx.Request) -> httpx.Response:
        streams.append(TooLongJson())
        return httpx.Response(200, stream=streams[-1])

    client = httpx.Client(transport=httpx.MockTransport(answer))
    CLIENTS.append(client)
    provider = OpenAIProvider(HttpCaller(client, FAST), "http://api.test/v1", lambda: KEY, "m")
    # When one 1024x1536 image is asked for
    with pytest.raises(ProviderUnavailable) as raised:
        provider.create(request())
    # Then each answer is read no further than such an image can take, every attempt's
    # outcome unknown (each may have been billed), and it gives up
    assert all(s.sent <= TooLongJson.LARGEST + (1 << 16) for s in streams)
    assert raised.value.unknown_outcomes == len(streams) == FAST.max_failures
    assert "more than its images can take" in str(raised.value)
