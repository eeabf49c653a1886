"""The emulator draws the prompt's quoted copy in real type, misspells a chosen share of its
images, and records each image (GET /_emulator/images), through both wire formats."""

from __future__ import annotations

import base64
import hashlib
import io
from collections.abc import Iterator

import httpx
import pytest
from PIL import Image, ImageChops, ImageStat

from placard.providers.draft_render import layout
from placard_emulator import EmulatorConfig, ProviderEmulator
from placard_emulator.lettering import KINDS
from tests.pictures import decode

KEY = "test-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
PROMPT = (
    'A square ad. The headline reads exactly "Summer Sale". A badge reads exactly "-30%". '
    "The button reads exactly “Now $4.50”. Spell every quoted text exactly as given."
)
COPY = ["Summer Sale", "-30%", "Now $4.50"]


@pytest.fixture
def emu() -> Iterator[ProviderEmulator]:
    with ProviderEmulator() as emulator:
        yield emulator


@pytest.fixture
def http(emu: ProviderEmulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emu.url, timeout=10, verify=False, trust_env=False) as client:
        yield client


def generate(http: httpx.Client, n: int = 1, prompt: str = PROMPT) -> list[bytes]:
    response = http.post(
        "/v1/images/generations",
        headers=AUTH,
        json={"model": "gpt-image-2", "prompt": prompt, "size": "1024x1024", "n": n},
    )
    assert response.status_code == 200, response.text
    return [base64.b64decode(item["b64_json"]) for item in response.json()["data"]]


def prospo(http: httpx.Client, **body: object) -> list[bytes]:
    response = http.post(
        "/v1/generate",
        headers=AUTH,
        json={"model": "gpt-image-2", "prompt": PROMPT, "size": "1024x1024", **body},
    )
    assert response.status_code == 200, response.text
    answer = response.json()
    urls = answer.get("output_urls") or [answer["output_url"]]
    return [http.get(url).content for url in urls]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def png(size: tuple[int, int], mode: str, colour: tuple[int, ...]) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, colour).save(buffer, "PNG")
    return buffer.getvalue()


def colours(image: Image.Image, box: tuple[int, int, int, int]) -> int:
    found = image.convert("RGB").crop(box).getcolors(maxcolors=1 << 20)
    assert found is not None
    return len(found)


def inked(image: Image.Image, box: tuple[int, int, int, int]) -> float:
    """The share of the box's pixels far from its median colour: type on a calm ground."""
    crop = image.convert("RGB").crop(box)
    median = tuple(int(v) for v in ImageStat.Stat(crop).median)
    distance = ImageChops.difference(crop, Image.new("RGB", crop.size, median)).convert("L")
    far = distance.point(lambda v: 255 if v > 50 else 0).histogram()[255]
    return far / (crop.width * crop.height)


# -- the copy, drawn -------------------------------------------------------------------------


def test_with_no_misspelling_every_image_draws_exactly_the_quoted_copy(
    emu: ProviderEmulator, http: httpx.Client
) -> None:
    # Given the default emulator (misspell 0)
    assert emu.config.misspell == 0.0
    # When three images are generated, and one more through prospolabs
    images = generate(http, n=3) + prospo(http)
    records = emu.images()
    # Then each is recorded with the copy asked for drawn as it is, under its own sha256
    assert [r.sha256 for r in records] == [sha256(image) for image in images]
    for record in records:
        assert (record.misspelt, record.kind, record.how) == (False, None, None)
        assert list(record.asked) == COPY and list(record.drawn) == COPY
    # And each is a PNG of the size asked for, each image of a request a different one
    assert all(decode(image).size == (1024, 1024) for image in images)
    assert len({sha256(image) for image in images[:3]}) == 3
    # And every line the draft's layout gives the copy is inked on the image
    texts = [(f"quote{i}", text) for i, text in enumerate(COPY, start=1)]
    lines = [line for line in layout(1024, 1024, "", texts) if line.field]
    assert [line.field for line in lines] == ["quote1", "quote1", "quote2", "quote3"]
    for image in images:
        assert all(inked(decode(image), line.box) > 0.1 for line in lines)


def test_a_prompt_without_quotes_makes_an_image_without_copy(
    emu: ProviderEmulator, http: httpx.Client
) -> None:
    # Given a prompt that quotes nothing, and every image to be misspelt
    emu.configure(misspell=1.0)
    # When it is generated
    (image,) = generate(http, prompt="a calm landscape")
    # Then the record says no copy was asked or drawn, and nothing misspelt
    (record,) = emu.images()
    assert (record.asked, record.drawn, record.misspelt) == ((), (), False)
    assert record.sha256 == sha256(image)


# -- misspelling a share ---------------------------------------------------------------------


def test_a_third_of_the_images_are_misspelt_and_say_how(
    emu: ProviderEmulator, http: httpx.Client
) -> None:
    # Given one image in three to be misspelt
    emu.configure(misspell=1 / 3)
    # When nine images are made: two requests of three on OpenAI, three on prospolabs
    images = generate(http, n=3) + generate(http, n=3) + prospo(http, n=3)
    records = emu.images()
    # Then exactly the 3rd, 6th and 9th are misspelt
    assert [r.misspelt for r in records] == [False, False, True] * 3
    assert [r.sha256 for r in records] == [sha256(image) for image in images]
    for record in records:
        assert list(record.asked) == COPY
        if record.misspelt:
            # And each misspelt record says what kind of slip, how, and what was drawn
            assert record.kind in KINDS and record.how
            assert list(record.drawn) != COPY
        else:
            assert list(record.drawn) == COPY
    # And a misspelt image is not the correct image of the same request
    assert len({sha256(image) for image in images}) == len(images)


def test_a_reroll_of_a_misspelt_image_is_a_new_draw(
    emu: ProviderEmulator, http: httpx.Client
) -> None:
    # Given every other image misspelt
    emu.configure(misspell=0.5)
    # When the same prompt is asked for four times, one image each
    for _ in range(4):
        generate(http)
    # Then the misspelt ones alternate with correct ones: a re-roll is the next draw
    assert [r.misspelt for r in emu.images()] == [False, True, False, True]


def test_the_same_seed_misspells_the_same_way(emu: ProviderEmulator, http: httpx.Client) -> None:
    # Given every image misspelt, under seed 7
    emu.configure(misspell=1.0, seed=7)
    generate(http, n=4)
    first = [(r.kind, r.how, r.drawn) for r in emu.images()]
    # When the emulator is reset and asked again
    emu.reset()
    generate(http, n=4)
    # Then the slips are the same, in the same order
    assert [(r.kind, r.how, r.drawn) for r in emu.images()] == first


def test_billing_is_the_same_with_misspellings() -> None:
    # Given two emulators, one misspelling every image
    answers = []
    for share in (0.0, 1.0):
        with (
            ProviderEmulator(EmulatorConfig(misspell=share)) as emulator,
            httpx.Client(base_url=emulator.url, timeout=10, trust_env=False) as http,
        ):
            # When the same requests are made of each
            response = http.post(
                "/v1/images/generations",
                headers=AUTH,
                json={"prompt": PROMPT, "n": 2, "quality": "low"},
            )
            prospo(http, n=2)
            answers.append((response.json()["usage"], emulator.stats()))
    # Then both bill the same images and report the same usage
    (usage_plain, stats_plain), (usage_misspelt, stats_misspelt) = answers
    assert usage_misspelt == usage_plain
    assert stats_misspelt == stats_plain
    assert stats_plain.billed_images == 4


# -- edits -----------------------------------------------------------------------------------


def test_an_edit_draws_the_copy_into_the_masks_area(
    emu: ProviderEmulator, http: httpx.Client
) -> None:
    # Given a white photo and a mask whose transparent box marks the price
    box = (300, 400, 400, 160)
    mask = Image.new("RGBA", (1024, 1024), (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), (box[0], box[1], box[0] + box[2], box[1] + box[3]))
    buffer = io.BytesIO()
    mask.save(buffer, "PNG")
    # When the price is edited
    response = http.post(
        "/v1/images/edits",
        headers=AUTH,
        data={"prompt": 'The price reads exactly "$1.99".', "model": "gpt-image-2"},
        files={
            "image": ("photo.png", png((1024, 1024), "RGB", (255, 255, 255)), "image/png"),
            "mask": ("mask.png", buffer.getvalue(), "image/png"),
        },
    )
    # Then the record holds the copy and the image's sha256
    assert response.status_code == 200, response.text
    edited_bytes = base64.b64decode(response.json()["data"][0]["b64_json"])
    (record,) = emu.images()
    assert (record.asked, record.drawn, record.sha256) == (
        ("$1.99",),
        ("$1.99",),
        sha256(edited_bytes),
    )
    # And the copy is inked inside the mask's box, while outside it the photo is one tint
    edited = decode(edited_bytes)
    assert edited.size == (1024, 1024)
    assert inked(edited, (box[0], box[1], box[0] + box[2], box[1] + box[3])) > 0.05
    assert colours(edited, (0, 0, 1024, box[1])) == 1
    assert edited.getpixel((10, 10)) != (255, 255, 255)


# -- controls --------------------------------------------------------------------------------


def test_the_admin_routes_set_the_share_and_list_the_images(
    emu: ProviderEmulator, http: httpx.Client
) -> None:
    # Given the admin routes
    # When the share is set to one in three over HTTP
    changed = http.post("/_emulator/config", json={"misspell": 0.3333})
    # Then the config says so and the third image is misspelt
    assert changed.status_code == 200 and changed.json()["misspell"] == 0.3333
    assert http.get("/_emulator/config").json()["misspell"] == 0.3333
    images = generate(http, n=3)
    listed = http.get("/_emulator/images").json()
    assert [entry["sha256"] for entry in listed] == [sha256(image) for image in images]
    assert [entry["misspelt"] for entry in listed] == [False, False, True]
    assert set(listed[0]) == {"sha256", "misspelt", "kind", "how", "asked", "drawn"}
    assert listed[0]["asked"] == COPY
    # And a share outside 0..1 is refused naming the field, changing nothing
    refused = http.post("/_emulator/config", json={"misspell": 1.5})
    assert refused.status_code == 400 and "misspell" in refused.json()["error"]["message"]
    assert emu.config.misspell == 0.3333


def test_reset_forgets_the_images(emu: ProviderEmulator, http: httpx.Client) -> None:
    # Given an image made
    generate(http)
    # When the emulator is reset
    emu.reset()
    # Then no image is listed
    assert emu.images() == [] and http.get("/_emulator/images").json() == []
