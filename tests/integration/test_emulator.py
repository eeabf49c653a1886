"""The provider emulator itself: the OpenAI Images and prospolabs wire formats, rate limits,
faults, billing and concurrency, seen through httpx and the official openai SDK."""

from __future__ import annotations

import base64
import io
import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import httpx
import openai
import pytest
from PIL import Image

from placard_emulator import EmulatorConfig, EmulatorStats, ProviderEmulator
from tests.pictures import decode

KEY = "test-key"
AUTH = {"Authorization": f"Bearer {KEY}"}


# -- helpers -------------------------------------------------------------------------------


@pytest.fixture
def emu() -> Iterator[ProviderEmulator]:
    with ProviderEmulator() as emulator:
        yield emulator


@pytest.fixture
def http(emu: ProviderEmulator) -> Iterator[httpx.Client]:
    # Plain HTTP to 127.0.0.1: no CA bundle to load (saves ~0.1 s a client), no proxies.
    with httpx.Client(base_url=emu.url, timeout=10, verify=False, trust_env=False) as client:
        yield client


@pytest.fixture
def sdk(emu: ProviderEmulator) -> openai.OpenAI:
    return openai.OpenAI(base_url=emu.openai_base_url, api_key=KEY, max_retries=0)


def png(size: tuple[int, int], mode: str = "RGB", colour: object = None) -> bytes:
    image = Image.new(mode, size, colour if colour is not None else (90, 140, 200)[: len(mode)])
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def jpeg(size: tuple[int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, "white").save(buffer, "JPEG")
    return buffer.getvalue()


def generate(http: httpx.Client, **body: object) -> httpx.Response:
    return http.post(
        "/v1/images/generations",
        headers=AUTH,
        json={"model": "gpt-image-2", "prompt": "a poster", **body},
    )


def prospo(http: httpx.Client, **body: object) -> httpx.Response:
    return http.post(
        "/v1/generate",
        headers=AUTH,
        json={"model": "gpt-image-2", "prompt": "a sign", "size": "1024x1024", **body},
    )


def error_of(response: httpx.Response) -> dict[str, object]:
    error = response.json()["error"]
    assert isinstance(error, dict)
    return error


# -- OpenAI, through the official SDK ------------------------------------------------------


def test_sdk_generate_returns_png_of_the_requested_size_with_usage(sdk: openai.OpenAI) -> None:
    # Given the emulator and the openai SDK
    # When two low-quality landscape images are generated
    result = sdk.images.generate(
        model="gpt-image-2", prompt="summer fair", size="1536x1024", quality="low", n=2
    )
    # Then both come back as base64 PNGs of exactly that size
    assert result.data is not None and len(result.data) == 2
    for item in result.data:
        assert item.b64_json is not None
        image = decode(base64.b64decode(item.b64_json))
        assert (image.format, image.size, image.mode) == ("PNG", (1536, 1024), "RGB")
    # And usage counts gpt-image-2's 158 output tokens per low 1536x1024 image, times n, and
    # the prompt's 11 UTF-8 bytes as ceil(11 / 4) text tokens
    assert result.size == "1536x1024" and result.quality == "low"
    assert result.usage is not None
    assert result.usage.output_tokens == 158 * 2
    assert result.usage.input_tokens_details.text_tokens == 3
    assert result.usage.input_tokens_details.image_tokens == 0
    assert result.usage.total_tokens == result.usage.input_tokens + result.usage.output_tokens


def test_sdk_generate_auto_size_is_square(sdk: openai.OpenAI) -> None:
    # Given no size and no quality
    # When an image is generated
    result = sdk.images.generate(model="gpt-image-2", prompt="x")
    # Then it is 1024x1024 at the resolved quality
    assert result.data is not None and result.data[0].b64_json is not None
    assert decode(base64.b64decode(result.data[0].b64_json)).size == (1024, 1024)
    assert result.size == "1024x1024" and result.quality == "medium"
    assert result.usage is not None and result.usage.output_tokens == 1756


def test_sdk_edit_with_image_and_mask(sdk: openai.OpenAI) -> None:
    # Given a 1024x1536 source and a transparent (edit everywhere) RGBA mask of the same size
    source = png((1024, 1536), colour=(255, 255, 255))
    mask = png((1024, 1536), "RGBA", (0, 0, 0, 0))
    # When it is edited without a size
    result = sdk.images.edit(
        model="gpt-image-2",
        prompt="add a red banner",
        image=("image.png", source, "image/png"),
        mask=("mask.png", mask, "image/png"),
        quality="high",
    )
    # Then the answer has the source's size and differs from the source
    assert result.data is not None and result.data[0].b64_json is not None
    edited = decode(base64.b64decode(result.data[0].b64_json))
    assert edited.size == (1024, 1536)
    assert edited.getpixel((512, 768)) != (255, 255, 255)
    # And the source is billed as input image tokens, one per 32 px patch (32 x 48), the
    # mask not at all, and the output at the table's 5488 tokens for a high 1024x1536
    assert result.usage is not None
    assert result.usage.input_tokens_details.image_tokens == 32 * 48
    assert result.usage.output_tokens == 5488


def test_sdk_edit_mask_without_alpha_is_refused(sdk: openai.OpenAI) -> None:
    # Given a mask saved as RGB, without an alpha channel
    source = png((1024, 1024))
    mask = png((1024, 1024), "RGB", (0, 0, 0))
    # When it is sent with an edit
    # Then the SDK raises a 400 naming the mask
    with pytest.raises(openai.BadRequestError) as raised:
        sdk.images.edit(
            model="gpt-image-2",
            prompt="x",
            image=("image.png", source, "image/png"),
            mask=("mask.png", mask, "image/png"),
        )
    assert raised.value.status_code == 400
    assert raised.value.param == "mask"
    assert "alpha channel" in str(raised.value)


def test_sdk_refusals_raise_moderation_blocked(emu: ProviderEmulator, sdk: openai.OpenAI) -> None:
    # Given a prompt with the refusal marker
    # When it is generated
    # Then the safety system refuses it with code moderation_blocked
    with pytest.raises(openai.BadRequestError) as marker:
        sdk.images.generate(model="gpt-image-2", prompt="a poster [[refuse]]")
    assert marker.value.code == "moderation_blocked"
    assert marker.value.type == "image_generation_user_error"
    # And a scripted refusal fault does the same to a harmless prompt
    emu.script("refusal")
    with pytest.raises(openai.BadRequestError) as scripted:
        sdk.images.generate(model="gpt-image-2", prompt="a harmless poster")
    assert scripted.value.code == "moderation_blocked"
    assert emu.stats().faults["refusal"] == 1
    assert emu.stats().billed_images == 0


# -- OpenAI, raw wire ----------------------------------------------------------------------


def test_response_format_is_an_unknown_parameter(http: httpx.Client) -> None:
    # Given a request asking for b64_json explicitly, as DALL-E callers did
    # When it is sent
    response = generate(http, response_format="b64_json")
    # Then gpt-image refuses the parameter
    assert response.status_code == 400
    error = error_of(response)
    assert error["message"] == "Unknown parameter: 'response_format'."
    assert error["type"] == "invalid_request_error"
    assert error["param"] == "response_format"


def test_transparent_background_is_refused(http: httpx.Client) -> None:
    # Given a request for a transparent background
    # When it is sent
    response = generate(http, background="transparent")
    # Then it is refused naming the background
    assert response.status_code == 400
    error = error_of(response)
    assert error["param"] == "background"
    assert error["message"] == "Transparent backgrounds are not supported for this model."


@pytest.mark.parametrize(
    "size",
    [
        "1000x1000",  # not multiples of 16
        "4000x2000",  # longest edge over 3840
        "3072x768",  # 4:1
        "768x768",  # under 655,360 pixels
        "3840x3840",  # over 8,294,400 pixels
        "large",
        "1024x",
        "",
    ],
)
def test_bad_sizes_are_refused(http: httpx.Client, size: str) -> None:
    # Given a size gpt-image-2 cannot render
    # When it is requested
    response = generate(http, size=size)
    # Then it is a 400 naming the size
    assert response.status_code == 400
    assert error_of(response)["param"] == "size"


@pytest.mark.parametrize("size", ["3840x2160", "2048x688", "1024x1536", "auto"])
def test_edge_sizes_are_accepted(http: httpx.Client, size: str) -> None:
    # Given a size on the edge of the rules
    # When it is requested
    response = generate(http, size=size, quality="low")
    # Then an image of that size comes back
    assert response.status_code == 200, response.text
    image = decode(base64.b64decode(response.json()["data"][0]["b64_json"]))
    expected = "1024x1024" if size == "auto" else size
    assert f"{image.width}x{image.height}" == expected == response.json()["size"]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"quality": "ultra"}, "quality"),
        ({"n": 0}, "n"),
        ({"n": 11}, "n"),
        ({"n": "2"}, "n"),
        ({"prompt": ""}, "prompt"),
        ({"prompt": None}, "prompt"),
        ({"input_fidelity": "high"}, "input_fidelity"),
    ],
)
def test_invalid_parameters_are_refused(
    http: httpx.Client, body: dict[str, object], param: str
) -> None:
    # Given one invalid parameter
    payload = {"model": "gpt-image-2", "prompt": "a poster", **body}
    payload = {k: v for k, v in payload.items() if v is not None}
    # When it is sent
    response = http.post("/v1/images/generations", headers=AUTH, json=payload)
    # Then it is a 400 invalid_request_error naming that parameter
    assert response.status_code == 400
    assert error_of(response)["type"] == "invalid_request_error"
    assert error_of(response)["param"] == param


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": KEY}],
    ids=["none", "wrong", "no-scheme"],
)
def test_requests_without_the_key_are_unauthorized(
    emu: ProviderEmulator, http: httpx.Client, headers: dict[str, str]
) -> None:
    # Given a request without the right Bearer token
    # When it is sent to either API
    openai_response = http.post(
        "/v1/images/generations", headers=headers, json={"prompt": "x", "model": "gpt-image-2"}
    )
    prospo_response = http.post("/v1/generate", headers=headers, json={"prompt": "x"})
    # Then both answer 401 in their own format, and nothing is billed
    assert openai_response.status_code == 401
    assert error_of(openai_response)["code"] == "invalid_api_key"
    assert prospo_response.status_code == 401
    assert error_of(prospo_response)["code"] == "unauthorized"
    assert emu.stats().billed_images == 0


def test_edit_file_parts_are_checked(http: httpx.Client) -> None:
    # Given edits whose image or mask part is wrong in one way each
    image = png((1024, 1024))
    cases: list[tuple[dict[str, object], str, str]] = [
        ({"image": (None, image, "image/png")}, "image", "unsupported mimetype"),
        ({"image": ("a.png", image, "application/octet-stream")}, "image", "unsupported mimetype"),
        ({"image": ("a.png", b"not an image at all", "image/png")}, "image", "Invalid image"),
        (
            {
                "image": ("a.png", image, "image/png"),
                "mask": ("m.txt", png((1024, 1024)), "text/plain"),
            },
            "mask",
            "unsupported mimetype",
        ),
        (
            {
                "image": ("a.png", image, "image/png"),
                "mask": ("m.png", png((512, 512), "RGBA", (0, 0, 0, 0)), "image/png"),
            },
            "mask",
            "mask size does not match image size",
        ),
        (
            {
                "image": ("a.jpg", image, "image/jpeg"),
                "mask": ("m.jpg", jpeg((1024, 1024)), "image/jpeg"),
            },
            "mask",
            "must have an alpha channel",
        ),
    ]
    for files, param, message in cases:
        # When each is sent
        response = http.post(
            "/v1/images/edits",
            headers=AUTH,
            data={"prompt": "x", "model": "gpt-image-2"},
            files=files,  # type: ignore[arg-type]
        )
        # Then it is a 400 naming the part, with the real API's wording
        assert response.status_code == 400, (files.keys(), response.text)
        error = error_of(response)
        assert error["param"] == param
        assert message in str(error["message"])


def test_edit_accepts_image_array_and_honours_size(http: httpx.Client) -> None:
    # Given two source images sent as image[] and an explicit output size
    files = [
        ("image[]", ("a.png", png((1024, 1024)), "image/png")),
        ("image[]", ("b.webp", png((512, 512)), "image/webp")),
    ]
    # When they are edited
    response = http.post(
        "/v1/images/edits",
        headers=AUTH,
        data={"prompt": "merge", "model": "gpt-image-2", "size": "1536x1024", "n": "2"},
        files=files,
    )
    # Then n images of the asked size come back, both sources billed as input
    assert response.status_code == 200, response.text
    body = response.json()
    assert [decode(base64.b64decode(d["b64_json"])).size for d in body["data"]] == [
        (1536, 1024),
        (1536, 1024),
    ]
    # (the 512x512 one magnified twofold first, so 32 x 32 patches each)
    details = body["usage"]["input_tokens_details"]
    assert details["image_tokens"] == 32 * 32 + 32 * 32


def test_rate_limit_answers_429_with_the_exact_wait(
    emu: ProviderEmulator, http: httpx.Client
) -> None:
    # Given 120 images a minute with a burst of 2
    emu.configure(images_per_minute=120, burst=2)
    # When three requests are sent at once
    started = time.monotonic()
    first, second, third = generate(http), generate(http), generate(http)
    spent = time.monotonic() - started
    # Then the third is throttled, told to wait for the one token refilling at 2/s: 0.5 s
    # less what has refilled while the three were served
    assert (first.status_code, second.status_code, third.status_code) == (200, 200, 429)
    error = error_of(third)
    assert (error["code"], error["type"]) == ("rate_limit_exceeded", "requests")
    wait = float(third.headers["retry-after"])
    assert 0.5 - spent - 0.002 <= wait <= 0.5
    assert int(third.headers["retry-after-ms"]) == pytest.approx(wait * 1000, abs=1)
    # And waiting that long lets it pass
    time.sleep(wait)
    assert generate(http).status_code == 200
    stats = emu.stats()
    assert (stats.throttled, stats.billed_images) == (1, 3)


def test_rate_limit_counts_images_not_requests(emu: ProviderEmulator, http: httpx.Client) -> None:
    # Given a bucket of 3 images
    emu.configure(images_per_minute=60, burst=3)
    # When 2 images then 2 more are asked for
    started = time.monotonic()
    assert generate(http, n=2).status_code == 200
    throttled = generate(http, n=2)
    spent = time.monotonic() - started
    # Then the second request waits for the one missing token (a second at 1/s)
    assert throttled.status_code == 429
    assert 1.0 - spent - 0.002 <= float(throttled.headers["retry-after"]) <= 1.0


def test_a_faulted_call_does_not_use_up_the_limit(
    emu: ProviderEmulator, http: httpx.Client
) -> None:
    # Given a bucket of one image a minute, and a 5xx scripted for the first call
    emu.configure(images_per_minute=1, burst=1)
    emu.script("5xx")
    # When the call fails and is sent again at once
    assert generate(http).status_code >= 500
    # Then the retry gets the image: the limit counts images made, and the fault made none
    assert generate(http).status_code == 200
    assert generate(http).status_code == 429


# -- faults --------------------------------------------------------------------------------


def test_hang_fault_stalls_until_the_client_times_out(
    emu: ProviderEmulator, http: httpx.Client
) -> None:
    # Given a scripted hang of one second
    emu.configure(hang_seconds=1.0)
    emu.script("hang")
    # When a client with a 0.3 s read timeout asks
    # Then it times out waiting for the answer
    with pytest.raises(httpx.ReadTimeout):
        http.post(
            "/v1/images/generations",
            headers=AUTH,
            json={"prompt": "x"},
            timeout=httpx.Timeout(0.3),
        )
    # And other requests are served meanwhile
    assert generate(http).status_code == 200
    assert emu.stats().faults["hang"] == 1


def test_disconnect_fault_closes_without_answer(emu: ProviderEmulator, http: httpx.Client) -> None:
    # Given a scripted disconnect
    emu.script("disconnect")
    # When a request is sent
    # Then the connection drops without a response
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        generate(http)
    assert emu.stats().faults["disconnect"] == 1


def test_malformed_fault_answers_invalid_json(emu: ProviderEmulator, http: httpx.Client) -> None:
    # Given a scripted malformed answer
    emu.script("malformed")
    # When a request is sent
    response = generate(http)
    # Then it is a 200 claiming JSON that does not parse
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.content)


def test_5xx_fault_answers_a_server_error(emu: ProviderEmulator, http: httpx.Client) -> None:
    # Given a script of a 5xx, a well-behaved request, then a 5xx again
    emu.script("5xx", None, "5xx")
    # When three requests are sent
    responses = [generate(http) for _ in range(3)]
    # Then the first and last are server errors and the middle one succeeds
    assert responses[0].status_code in (500, 502, 503)
    assert error_of(responses[0])["type"] == "server_error"
    assert responses[1].status_code == 200
    assert responses[2].status_code in (500, 502, 503)
    # And the script is played out: the next request behaves
    assert generate(http).status_code == 200
    assert emu.stats().faults["5xx"] == 2


def test_faults_drawn_from_the_seed_are_reproducible() -> None:
    # Given two emulators with the same seed and a 50 % fault rate
    config = EmulatorConfig(fault_rate=0.5, fault_kinds=("5xx", "malformed", "refusal"), seed=7)

    def run() -> list[int]:
        with (
            ProviderEmulator(config) as emu,
            httpx.Client(base_url=emu.url, verify=False, trust_env=False) as http,
        ):
            return [generate(http).status_code for _ in range(12)]

    # When each serves the same twelve requests
    first, second = run(), run()
    # Then the faults fall on the same requests, and some do fall, some don't
    assert first == second
    assert 200 in first and any(code != 200 for code in first)


def test_stop_returns_promptly_while_a_request_hangs(emu: ProviderEmulator) -> None:
    # Given a request hanging for 30 s
    emu.script("hang")
    outcome: list[object] = []

    def call() -> None:
        try:
            outcome.append(httpx.post(f"{emu.url}/v1/generate", headers=AUTH, json={"prompt": "x"}))
        except httpx.HTTPError as exc:
            outcome.append(exc)

    caller = threading.Thread(target=call)
    caller.start()
    deadline = time.monotonic() + 2
    while emu.stats().faults["hang"] == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    # When the emulator is stopped
    started = time.monotonic()
    emu.stop()
    # Then stop returns at once and the hung client sees the connection close
    assert time.monotonic() - started < 1.0
    caller.join(timeout=2)
    assert not caller.is_alive()
    assert isinstance(outcome[0], httpx.HTTPError)


# -- prospolabs ----------------------------------------------------------------------------


def test_prospolabs_generate_returns_urls_of_pngs(
    emu: ProviderEmulator, http: httpx.Client
) -> None:
    # Given a prospolabs generation of two portrait images
    response = prospo(http, n=2, size="1024x1536", quality="medium")
    # When its URLs are downloaded without any key
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["generation_id"].startswith("gen_")
    assert body["output_url"] == body["output_urls"][0] and len(body["output_urls"]) == 2
    downloads = [http.get(url) for url in body["output_urls"]]
    # Then each is a PNG of the requested size
    for download in downloads:
        assert download.status_code == 200
        assert download.headers["content-type"] == "image/png"
        assert decode(download.content).size == (1024, 1536)
    assert body["output_urls"][0].startswith(f"{emu.url}/files/{body['generation_id']}/0.png?")
    stats = emu.stats()
    assert (stats.billed_images, stats.downloads) == (2, 2)


def test_prospolabs_urls_expire(emu: ProviderEmulator, http: httpx.Client) -> None:
    # Given an issued output URL that downloads fine
    url = prospo(http).json()["output_url"]
    assert http.get(url).status_code == 200
    # When every URL is expired
    emu.expire_all_urls()
    # Then it answers 403 url_expired
    expired = http.get(url)
    assert expired.status_code == 403
    assert error_of(expired)["code"] == "url_expired"
    # And a URL issued afterwards still works, until its own TTL runs out
    emu.configure(url_ttl_seconds=0.5)
    issued = time.monotonic()
    fresh = prospo(http).json()["output_url"]
    assert http.get(fresh).status_code == 200
    time.sleep(max(0.0, issued + 0.55 - time.monotonic()))
    assert error_of(http.get(fresh))["code"] == "url_expired"
    # And unknown generations are 404, tampered signatures 403
    assert http.get(f"{emu.url}/files/gen_0123456789/0.png").status_code == 404
    tampered = http.get(fresh.replace("sig=", "sig=0"))
    assert (tampered.status_code, error_of(tampered)["code"]) == (403, "invalid_signature")


def test_prospolabs_edit_requires_an_image(http: httpx.Client) -> None:
    # Given an edit without the base64 source
    # When it is sent
    response = prospo(http, mode="edit")
    # Then it is refused naming the image
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "invalid_request"
    assert "image" in str(error["message"])


def test_prospolabs_edit_returns_a_changed_image(http: httpx.Client) -> None:
    # Given a white source with a fully transparent mask
    source = base64.b64encode(png((1024, 1024), colour=(255, 255, 255))).decode()
    mask = base64.b64encode(png((1024, 1024), "RGBA", (0, 0, 0, 0))).decode()
    # When it is edited
    response = prospo(http, mode="edit", image=source, mask=mask, size="auto")
    # Then the download is an image of the source's size that differs from it
    assert response.status_code == 200, response.text
    edited = decode(http.get(response.json()["output_url"]).content)
    assert edited.size == (1024, 1024)
    assert edited.getpixel((512, 512)) != (255, 255, 255)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"size": "1000x1000"}, "size"),
        ({"quality": "best"}, "quality"),
        ({"n": 11}, "n"),
        ({"mode": "variation"}, "mode"),
        ({"background": "transparent"}, "background"),
    ],
)
def test_prospolabs_validation_names_the_field(
    http: httpx.Client, body: dict[str, object], field: str
) -> None:
    # Given one invalid field
    # When it is sent
    response = prospo(http, **body)
    # Then it is a 400 invalid_request whose message names the field
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "invalid_request"
    assert field in str(error["message"])


def test_prospolabs_errors_use_its_own_codes(emu: ProviderEmulator, http: httpx.Client) -> None:
    # Given a refusal marker, a scripted 5xx, and a bucket of one image
    emu.configure(images_per_minute=60, burst=1)
    # When a refused prompt, a faulted request, and one request too many are sent
    refused = prospo(http, prompt="[[refuse]]")
    emu.script("5xx")
    failed = prospo(http)
    assert prospo(http).status_code == 200  # the fault made no image, so the token was left
    throttled = prospo(http)
    # Then each answers in prospolabs' format
    assert (refused.status_code, error_of(refused)["code"]) == (422, "content_policy")
    assert failed.status_code >= 500 and error_of(failed)["code"] == "server_error"
    assert (throttled.status_code, error_of(throttled)["code"]) == (429, "rate_limited")
    assert float(throttled.headers["retry-after"]) > 0.5
    assert int(throttled.headers["retry-after-ms"]) > 500


# -- bookkeeping ---------------------------------------------------------------------------


def test_stats_bill_only_successful_images(emu: ProviderEmulator, http: httpx.Client) -> None:
    # Given a mix of outcomes: a success of 3 images, a fault, a 400, a 401, a refusal, a 429
    emu.configure(images_per_minute=60, burst=4)
    assert generate(http, n=3).status_code == 200
    emu.script("5xx")
    assert generate(http).status_code >= 500
    assert generate(http, size="1x1").status_code == 400
    assert http.post("/v1/images/generations", json={"prompt": "x"}).status_code == 401
    assert generate(http, prompt="[[refuse]]").status_code == 400
    assert generate(http, n=2).status_code == 429
    # When the stats are read, through the API and the admin route
    stats = emu.stats()
    over_http = http.get("/_emulator/stats").json()
    # Then only the 3 delivered images are billed: 3 x 1756 medium output tokens at 30.00
    # and the prompt's 2 text tokens at 5.00 per million
    assert stats == EmulatorStats(
        requests=6,
        billed_images=3,
        throttled=1,
        faults={"5xx": 1, "hang": 0, "malformed": 0, "refusal": 0, "disconnect": 0},
        downloads=0,
        billed_usd=Decimal("0.158050"),
    )
    assert over_http == {
        "requests": 6,
        "billed_images": 3,
        "throttled": 1,
        "faults": stats.faults,
        "downloads": 0,
        "billed_usd": "0.158050",
    }


def test_requests_log_records_what_was_sent(emu: ProviderEmulator, http: httpx.Client) -> None:
    # Given one JSON generation, one multipart edit and one prospolabs edit
    generate(http, size="1024x1536", user="shop-42")
    http.post(
        "/v1/images/edits",
        headers=AUTH,
        data={"prompt": "tint", "model": "gpt-image-2"},
        files={"image": ("a.png", png((1024, 1024)), "image/png")},
    )
    prospo(http, mode="edit", image=base64.b64encode(png((1024, 1024))).decode())
    # When the log is read
    log = emu.requests_log()
    # Then it holds the path, redacted headers and the body of each
    assert [entry["path"] for entry in log] == [
        "/v1/images/generations",
        "/v1/images/edits",
        "/v1/generate",
    ]
    assert all(entry["headers"]["authorization"] == "<redacted>" for entry in log)  # type: ignore[index]
    assert log[0]["json"] == {
        "model": "gpt-image-2",
        "prompt": "a poster",
        "size": "1024x1536",
        "user": "shop-42",
    }
    parts = {part["name"]: part for part in log[1]["parts"]}  # type: ignore[attr-defined]
    assert parts["prompt"]["value"] == "tint"
    assert {
        k: parts["image"][k] for k in ("filename", "content_type", "width", "height", "mode")
    } == {
        "filename": "a.png",
        "content_type": "image/png",
        "width": 1024,
        "height": 1024,
        "mode": "RGB",
    }
    image_summary = log[2]["json"]["image"]  # type: ignore[index]
    assert (image_summary["width"], image_summary["height"]) == (1024, 1024)
    assert [entry["status"] for entry in log] == [200, 200, 200]


def test_admin_config_route_changes_behaviour(emu: ProviderEmulator, http: httpx.Client) -> None:
    # Given the admin route
    # When every request is set to fail with a 5xx
    changed = http.post("/_emulator/config", json={"fault_rate": 1.0, "fault_kinds": ["5xx"]})
    # Then the config says so and the next request fails
    assert changed.status_code == 200
    assert changed.json()["fault_rate"] == 1.0
    assert generate(http).status_code >= 500
    # And an unknown field or fault kind is refused without changing anything
    assert http.post("/_emulator/config", json={"nope": 1}).status_code == 400
    assert http.post("/_emulator/config", json={"fault_kinds": ["meteor"]}).status_code == 400
    assert emu.config.fault_kinds == ("5xx",)


def test_configure_and_script_reject_unknown_names(emu: ProviderEmulator) -> None:
    # Given the Python API
    # When unknown fields, kinds or out-of-range values are given
    # Then they are refused
    with pytest.raises(TypeError):
        emu.configure(latencyy=1.0)
    with pytest.raises(ValueError):
        emu.configure(fault_rate=1.5)
    with pytest.raises(ValueError):
        emu.script("5xx", "meteor")
    with pytest.raises(ValueError):
        ProviderEmulator(EmulatorConfig(fault_kinds=("flood",)))


# -- concurrency and the command line ------------------------------------------------------


def test_concurrent_requests_are_served_in_parallel(emu: ProviderEmulator) -> None:
    # Given half a second of latency per generation
    emu.configure(latency=0.5)
    limits = httpx.Limits(max_connections=40)
    with httpx.Client(base_url=emu.url, timeout=10, limits=limits, verify=False) as http:
        # When 20 requests are sent at once, to both APIs
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=20) as pool:
            statuses = list(
                pool.map(
                    lambda i: (generate(http) if i % 2 else prospo(http)).status_code, range(20)
                )
            )
        elapsed = time.monotonic() - started
    # Then all succeed in about one latency, not twenty
    assert statuses == [200] * 20
    assert elapsed < 1.5
    assert emu.stats().billed_images == 20


def test_the_latency_includes_drawing_the_image(emu: ProviderEmulator, http: httpx.Client) -> None:
    # Given a second of latency, and a large size no request has asked for yet
    emu.configure(latency=1.0)
    timings = []
    for _ in range(2):
        # When the same image is asked for twice: drawn the first time, remembered the second
        started = time.monotonic()
        response = generate(http, size="2160x3840", prompt="A tall poster, drawn once")
        timings.append(time.monotonic() - started)
        assert response.status_code == 200
    # Then both answers take the latency: drawing a 8-megapixel PNG is not added to it
    assert all(1.0 <= t < 1.25 for t in timings), timings


def test_command_line_runs_the_server_in_the_foreground() -> None:
    # Given the emulator started from the command line
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "placard_emulator",
            "--port",
            "0",
            "--latency",
            "0",
            "--images-per-minute",
            "600",
            "--fault-rate",
            "0",
            "--fault-kinds",
            "5xx,hang",
            "--misspell",
            "1/3",
            "--token-prices",
            "5,8,40",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        # When its first line is read
        url = process.stdout.readline().strip()
        # Then it is the base URL of a server applying the options
        assert url.startswith("http://127.0.0.1:")
        config = httpx.get(f"{url}/_emulator/config", timeout=5).json()
        assert config["images_per_minute"] == 600
        assert config["fault_kinds"] == ["5xx", "hang"]
        assert config["misspell"] == pytest.approx(1 / 3)
        assert config["image_output_usd_per_million"] == "40"
        answer = httpx.post(f"{url}/v1/generate", headers=AUTH, json={"prompt": "x"}, timeout=5)
        assert answer.status_code == 200
        # And SIGTERM stops it cleanly
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=5) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
