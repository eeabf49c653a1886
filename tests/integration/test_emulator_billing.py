"""What the emulator bills, over the wire: OpenAI's answers by the tokens they report, priced to
the micro-dollar; prospolabs flat per image; one record per billed answer that a ledger can be
held against, summing to ``billed_usd``; nothing for an answer that failed."""

from __future__ import annotations

import io
from collections.abc import Iterator
from decimal import Decimal

import httpx
import pytest
from PIL import Image

from placard_emulator import ProviderEmulator
from placard_emulator.stats import BillRecord

AUTH = {"Authorization": "Bearer test-key"}


@pytest.fixture
def emu() -> Iterator[ProviderEmulator]:
    with ProviderEmulator() as emulator:
        yield emulator


@pytest.fixture
def http(emu: ProviderEmulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emu.url, timeout=10, verify=False, trust_env=False) as client:
        yield client


def png(size: tuple[int, int], mode: str = "RGB", colour: object = "white") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, colour).save(buffer, "PNG")  # type: ignore[arg-type]
    return buffer.getvalue()


def generate(http: httpx.Client, **body: object) -> httpx.Response:
    return http.post(
        "/v1/images/generations",
        headers=AUTH,
        json={"model": "gpt-image-2", "prompt": "a poster", **body},
    )


def edit(http: httpx.Client, source: tuple[int, int], **fields: str) -> httpx.Response:
    files = {
        "image": ("shelf.png", png(source), "image/png"),
        "mask": ("mask.png", png(source, "RGBA", (0, 0, 0, 0)), "image/png"),
    }
    data = {"model": "gpt-image-2", "prompt": "price tag $2.99", **fields}
    return http.post("/v1/images/edits", headers=AUTH, data=data, files=files)


def prospo(http: httpx.Client, **body: object) -> httpx.Response:
    return http.post(
        "/v1/generate",
        headers=AUTH,
        json={"model": "gpt-image-2", "prompt": "a sign", "size": "1024x1024", **body},
    )


@pytest.mark.parametrize(
    ("size", "quality", "n", "output_tokens", "cost"),
    [
        # "a poster": 8 UTF-8 bytes, 2 text tokens at 5.00; output at 30.00 per million
        ("1024x1024", "low", 1, 196, "0.005890"),
        ("1024x1024", "high", 2, 2 * 7024, "0.421450"),
        ("1024x1536", "medium", 1, 1372, "0.041170"),
        ("1536x1024", "high", 3, 3 * 5488, "0.493930"),
        ("2048x1152", "medium", 1, 3951, "0.118540"),  # 1756 x 2.25 = 3951, not listed
    ],
)
def test_a_generation_bills_its_usage_at_the_token_prices(
    emu: ProviderEmulator,
    http: httpx.Client,
    size: str,
    quality: str,
    n: int,
    output_tokens: int,
    cost: str,
) -> None:
    # Given the default prices (5.00 text, 8.00 image in, 30.00 image out per million)
    # When images of this size and quality are generated
    response = generate(http, size=size, quality=quality, n=n)
    # Then the answer reports the tokens, and the one bill prices them to the micro-dollar
    assert response.status_code == 200, response.text
    usage = response.json()["usage"]
    assert usage == {
        "input_tokens": 2,
        "input_tokens_details": {"text_tokens": 2, "image_tokens": 0},
        "output_tokens": output_tokens,
        "total_tokens": 2 + output_tokens,
    }
    (bill,) = emu.bills()
    assert bill == BillRecord(
        api="openai",
        id=response.headers["x-request-id"],
        images=n,
        quality=quality,
        size=size,
        usage=usage,
        cost_usd=Decimal(cost),
    )
    assert emu.stats().billed_usd == Decimal(cost)


def test_an_edit_bills_the_source_image_but_not_the_mask(
    emu: ProviderEmulator, http: httpx.Client
) -> None:
    # Given a 1200x900 shelf photo and a mask of the same size
    # When a high-quality 1536x1024 edit of it is asked for, twice over
    response = edit(http, (1200, 900), size="1536x1024", quality="high", n="2")
    # Then the source costs its 38 x 29 patches as image tokens, the mask nothing, and the
    # prompt's 15 bytes 4 text tokens
    assert response.status_code == 200, response.text
    usage = response.json()["usage"]
    assert usage["input_tokens_details"] == {"text_tokens": 4, "image_tokens": 38 * 29}
    assert usage["input_tokens"] == 4 + 1102
    assert usage["output_tokens"] == 2 * 5488
    assert usage["total_tokens"] == 4 + 1102 + 2 * 5488
    # And the bill is (4 x 5 + 1102 x 8 + 10976 x 30) / 1e6
    (bill,) = emu.bills()
    assert bill.cost_usd == Decimal("0.338116")
    assert (bill.images, bill.size, bill.quality) == (2, "1536x1024", "high")


def test_an_edit_without_size_bills_the_sources_size(
    emu: ProviderEmulator, http: httpx.Client
) -> None:
    # Given a 1024x1536 source, When it is edited at low quality with no size
    response = edit(http, (1024, 1536), quality="low")
    # Then the output is billed at 1024x1536's 158 tokens, the source at 32 x 48 patches
    assert response.status_code == 200, response.text
    (bill,) = emu.bills()
    assert bill.usage == response.json()["usage"]
    assert bill.usage is not None and bill.usage["output_tokens"] == 158
    assert bill.usage["input_tokens_details"]["image_tokens"] == 1536
    assert bill.cost_usd == Decimal("0.017048")  # (4 x 5 + 1536 x 8 + 158 x 30) / 1e6


@pytest.mark.parametrize(
    ("quality", "size", "n", "cost"),
    [
        ("low", "1024x1024", 1, "0.007200"),
        ("medium", "1024x1536", 1, "0.028000"),
        ("high", "1536x1024", 2, "0.154000"),
        ("high", "3840x2160", 1, "0.077000"),  # flat: the size does not matter
    ],
)
def test_prospolabs_bills_flat_per_image(
    emu: ProviderEmulator, http: httpx.Client, quality: str, size: str, n: int, cost: str
) -> None:
    # Given the reseller's flat prices, When images are generated through it
    response = prospo(http, quality=quality, size=size, n=n)
    # Then the bill is the quality's price times n, named by the answer's generation id
    assert response.status_code == 200, response.text
    (bill,) = emu.bills()
    assert bill == BillRecord(
        api="prospolabs",
        id=response.json()["generation_id"],
        images=n,
        quality=quality,
        size=size,
        usage=None,
        cost_usd=Decimal(cost),
    )


def test_billed_usd_sums_the_bills_oldest_first_also_over_http(
    emu: ProviderEmulator, http: httpx.Client
) -> None:
    # Given three billed answers, one per API and an edit
    first = generate(http, quality="low")
    second = prospo(http, quality="medium", n=2)
    third = edit(http, (1024, 1024), quality="medium")
    assert [r.status_code for r in (first, second, third)] == [200, 200, 200]
    # When the bills and the stats are read, in Python and through the admin routes
    bills = emu.bills()
    stats = emu.stats()
    over_http = http.get("/_emulator/bills").json()
    stats_over_http = http.get("/_emulator/stats").json()
    # Then the bills are in the order answered, and billed_usd is their sum
    assert [b.id for b in bills] == [
        first.headers["x-request-id"],
        second.json()["generation_id"],
        third.headers["x-request-id"],
    ]
    assert stats.billed_usd == sum((b.cost_usd for b in bills), Decimal(0))
    # (low square; 2 medium flat; 4 text + 1024 image + 1756 output tokens)
    assert stats.billed_usd == Decimal("0.005890") + Decimal("0.056000") + Decimal("0.060892")
    assert stats.billed_images == 4
    # And over HTTP money is an exact decimal string
    assert [b["cost_usd"] for b in over_http] == ["0.005890", "0.056000", "0.060892"]
    assert over_http[0]["usage"] == first.json()["usage"]
    assert over_http[1]["usage"] is None
    assert stats_over_http["billed_usd"] == "0.122782"


def test_answers_that_fail_bill_nothing(emu: ProviderEmulator, http: httpx.Client) -> None:
    # Given refused prompts, a bad size, a wrong key, every fault, then one image made and a
    # call throttled after it
    emu.configure(hang_seconds=0.0)
    outcomes = [
        generate(http, prompt="[[refuse]]").status_code,
        prospo(http, prompt="[[refuse]]").status_code,
        generate(http, size="1x1").status_code,
        http.post("/v1/images/generations", json={"prompt": "x"}).status_code,
    ]
    for fault in ("5xx", "malformed", "refusal"):
        emu.script(fault)
        outcomes.append(generate(http).status_code)
    for fault in ("disconnect", "hang"):
        emu.script(fault)
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            generate(http)
    emu.configure(images_per_minute=60, burst=1)
    made = generate(http, quality="low")
    assert generate(http, quality="low").status_code == 429
    # When the bills are read
    # Then only the image made was billed
    assert outcomes[:4] == [400, 422, 400, 401]
    assert outcomes[4] >= 500 and outcomes[5:] == [200, 400]  # malformed is a broken 200
    assert [bill.id for bill in emu.bills()] == [made.headers["x-request-id"]]
    assert (emu.stats().billed_usd, emu.stats().billed_images) == (Decimal("0.005890"), 1)


def test_prices_are_configurable_and_reset_forgets_the_bills(
    emu: ProviderEmulator, http: httpx.Client
) -> None:
    # Given token and flat prices changed through the admin route, as decimal strings
    changed = http.post(
        "/_emulator/config",
        json={"image_output_usd_per_million": "40", "prospolabs_low_usd": 0.01},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["image_output_usd_per_million"] == "40"
    # When a low square image is made through each API
    generate(http, quality="low")
    prospo(http, quality="low")
    # Then each is billed at the new price: (2 x 5 + 196 x 40) / 1e6, and 0.01 flat
    assert [b.cost_usd for b in emu.bills()] == [Decimal("0.007850"), Decimal("0.010000")]
    # And reset forgets them
    emu.reset()
    assert (emu.bills(), emu.stats().billed_usd) == ([], Decimal(0))


def test_a_negative_price_is_refused_naming_the_field(emu: ProviderEmulator) -> None:
    # Given a negative token price, When it is configured
    # Then it is refused, naming the field, and the price stands
    with pytest.raises(TypeError, match="text_input_usd_per_million"):
        emu.configure(text_input_usd_per_million="-1")
    with pytest.raises(ValueError, match="prospolabs_high_usd"):
        emu.configure(prospolabs_high_usd="lots")
    assert emu.config.text_input_usd_per_million == Decimal("5.00")
