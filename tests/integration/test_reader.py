"""The OCR engine on its real models (rapidocr's PP-OCRv6, on onnxruntime): what a draft
says comes back line by line, scripts it cannot read are said to be so, and nothing is
fetched from a network. Each read takes most of a second on one core: keep these few."""

from __future__ import annotations

import io
import socket
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
from PIL import Image

from placard.domain.errors import InvalidInput
from placard.domain.proofs import ReadLine
from placard.domain.templates import default_catalogue
from placard.proofing import reader as reader_module
from placard.proofing.reader import THREADS_VARIABLE, OnnxReader, ReaderUnavailable
from placard.providers.draft_render import PlacedLine, layout, render_generate


class NetworkUsed(AssertionError):
    pass


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test here runs with the network refused: models come from the installed wheel."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise NetworkUsed(f"the reader tried the network: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


@pytest.fixture(scope="module")
def reader() -> OnnxReader:
    return OnnxReader()


def read_by_placed_line(lines: Sequence[ReadLine], placed: Sequence[PlacedLine]) -> dict[str, str]:
    """What was read within each placed line's height, left to right, keyed by its text."""
    found: dict[str, list[ReadLine]] = {p.text: [] for p in placed}
    for line in lines:
        middle = line.box[1] + line.box[3] / 2
        for p in placed:
            if p.box[1] <= middle <= p.box[3]:
                found[p.text].append(line)
    return {
        text: " ".join(r.text for r in sorted(reads, key=lambda r: r.box[0]))
        for text, reads in found.items()
    }


def test_the_models_load_and_read_with_the_network_refused() -> None:
    # Given no engine loaded in this process, and a network that refuses every connection
    reader_module._engine.cache_clear()
    with pytest.raises(NetworkUsed):
        socket.create_connection(("127.0.0.1", 9))
    # When a reader loads its models and reads a draft
    draft = render_generate(1024, 1024, "poster", [("headline", "Offline")], seed="net")
    lines = OnnxReader().read(draft)
    # Then it read the copy (nothing was fetched: the guard would have raised)
    assert "Offline" in [line.text for line in lines]


def test_a_draft_reads_back_line_by_line_umlauts_accents_and_signs_exact(
    reader: OnnxReader,
) -> None:
    # Given a draft with German, French and a price, its lines as the layout placed them
    texts = [
        ("headline", "Grüße aus Köln"),
        ("tagline", "Crème brûlée à volonté, déjà là"),
        ("offer", "Save $4.50 or 20% off €9,99"),
    ]
    draft = render_generate(1024, 1024, "poster", texts, seed="de-fr")
    placed = [p for p in layout(1024, 1024, "poster", texts) if p.field]
    # When it is read
    lines = reader.read(draft)
    # Then each placed line is read exactly, letter for letter and sign for sign
    assert read_by_placed_line(lines, placed) == {p.text: p.text for p in placed}
    # And every line has its confidence and a box inside the image
    for line in lines:
        x, y, width, height = line.box
        assert 0.5 <= line.score <= 1.0
        assert x >= 0 and y >= 0 and width > 0 and height > 0
        assert x + width <= 1024 and y + height <= 1024


def test_a_price_in_very_large_type_reads_whole(reader: OnnxReader) -> None:
    # Given a draft whose price is set ~160 px high, where the detector splits "€9", "," and
    # "99" apart (and a comma read alone comes back as "D")
    texts = [("headline", "Grüße €9,99")]
    draft = render_generate(1024, 1024, "poster", texts, seed="big")
    # When it is read
    lines = [line.text for line in reader.read(draft)]
    # Then the price comes back as one line, comma included
    assert lines[1:] == ["Grüße", "€9,99"]


@pytest.mark.parametrize("seed", ["14:social-square:6:right", "ete-2"])
def test_an_elided_article_in_large_type_reads_with_its_word(reader: OnnxReader, seed: str) -> None:
    # Given a tall social-square draft whose second headline line starts "l'" (~90 px high);
    # on these seeds the detector scores the "l'" alone, below the line threshold
    template = default_catalogue()["social-square"]
    given = {"product": "Café Lumière cold brew", "headline": "Prêt pour l'été"}
    texts = template.texts(template.values(given | {"cta": "Order ahead"}))
    draft = render_generate(1024, 1536, "social-square", texts, seed=seed)
    # When it is read
    lines = [line.text for line in reader.read(draft)]
    # Then the article comes back with its word, not dropped
    assert lines[1:] == ["Prêt pour", "l'été", "Order ahead"]


def test_a_faint_region_is_kept_only_beside_a_line_close_enough_to_join_it() -> None:
    # Given a probability map with a sure word (0.9), a faint mark just left of it on its
    # line, a faint mark on its line but far to the right, and a faint speck below (0.4)
    probability = np.zeros((200, 600), dtype=np.float32)
    probability[50:100, 120:300] = 0.9
    alone = reader_module._boxes(probability, 600, 200)
    probability[50:100, 80:110] = 0.4
    probability[50:100, 450:480] = 0.4
    probability[150:180, 200:230] = 0.4
    # When its boxes are found
    boxes = reader_module._boxes(probability, 600, 200)
    # Then the near mark is joined into the word's box, which now starts at the mark's
    # grown edge; the far mark and the speck are dropped
    assert alone == [(89, 19, 331, 131)]
    assert boxes == [(65, 19, 331, 131)]


def test_chinese_and_japanese_copy_is_read(reader: OnnxReader) -> None:
    # Given a tall draft in Chinese and Japanese (the draft needs a CJK font on the machine:
    # Debian's fonts-droid-fallback or fonts-noto-cjk)
    texts = [("headline", "夏季大促销"), ("cta", "今すぐ購入")]
    placed = layout(1024, 1536, "poster", texts)
    assert not any("no font" in p.text for p in placed), "install fonts-droid-fallback"
    # When it is read
    lines = reader.read(render_generate(1024, 1536, "poster", texts, seed="zh"))
    # Then both lines come back as written
    copy = [p for p in placed if p.field]
    assert read_by_placed_line(lines, copy) == {p.text: p.text for p in copy}


def test_scripts_the_recogniser_knows_are_readable_and_others_are_not(
    reader: OnnxReader,
) -> None:
    # Given copy in Latin with marks, Chinese, digits, signs and emoji; and Arabic and Hebrew
    # When the reader is asked whether it can read each
    # Then the first are readable (signs and emoji are left out), the others are not
    assert reader.reads("Grüße")
    assert reader.reads("Crème brûlée à volonté")
    assert reader.reads("夏季大促销 ¥99")
    assert reader.reads("Sale ❤️ 🎉 20% off €9,99!")
    assert reader.reads("Cafe\u0301")  # a combining accent, as typed on some keyboards
    assert not reader.reads("مرحبا")
    assert not reader.reads("Shalom שלום")


def test_a_blank_image_has_no_lines(reader: OnnxReader) -> None:
    # Given a plain white image
    buffer = io.BytesIO()
    Image.new("RGB", (1024, 1024), (255, 255, 255)).save(buffer, "PNG")
    # When it is read, Then nothing is found
    assert reader.read(buffer.getvalue()) == []


def test_bytes_that_are_no_image_are_refused_naming_the_image(reader: OnnxReader) -> None:
    # Given bytes that are no image (nor any format people upload by mistake)
    garbage = bytes(range(7, 256)) * 4
    # When they are read
    with pytest.raises(InvalidInput) as refused:
        reader.read(garbage)
    # Then the error names the image and says what it is not
    assert refused.value.field == "image"
    assert str(refused.value) == "image: is not a PNG, JPEG or WebP image"


def test_a_thread_count_that_is_not_a_number_is_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given the thread count set to a word
    monkeypatch.setenv(THREADS_VARIABLE, "many")
    # When a reader is asked to load, Then it refuses, naming the variable and its value
    with pytest.raises(ReaderUnavailable, match=f"{THREADS_VARIABLE} .*'many'"):
        OnnxReader().load()


def test_text_regions_are_found_eight_connected_whatever_their_shape() -> None:
    # Given a map with a U (its arms meet only at the bottom), a diagonal staircase, a lone
    # pixel, and a bar beside the U that touches nothing
    picture = [
        "#.#..#.....",
        "#.#...#...#",
        "###....#..#",
        ".........##",
        "..#........",
    ]
    mask = np.array([[c == "#" for c in row] for row in picture])
    # When its regions are found
    regions = sorted(reader_module._regions(mask))
    # Then each is one region, boxed by its inclusive corners
    assert regions == [(0, 0, 2, 2), (2, 4, 2, 4), (5, 0, 7, 2), (9, 1, 10, 3)]


@pytest.mark.parametrize(
    ("size", "seen"),
    [
        ((1024, 1024), (512, 512)),
        ((1024, 1536), (512, 768)),
        ((1536, 1024), (768, 512)),
        ((2000, 1125), (896, 512)),
        ((300, 100), (1536, 512)),
    ],
)
def test_the_detector_sees_the_shorter_side_at_512_px_whatever_the_image(
    size: tuple[int, int], seen: tuple[int, int]
) -> None:
    # Given an image of this size (a generated image, a large one already capped at 2000 px,
    # an edit's small area)
    # When the detector's input size is chosen
    # Then its shorter side is 512 px, scaled down as well as up, sides multiples of 32
    assert reader_module._detection_size(*size) == seen


class ShapesSeen:
    """A recogniser session that keeps the shape of each input and reads nothing."""

    def __init__(self) -> None:
        self.shapes: list[tuple[int, ...]] = []

    def get_inputs(self) -> list[Any]:
        return [type("Input", (), {"name": "x"})()]

    def run(self, _: None, feed: dict[str, Any]) -> list[Any]:
        self.shapes.append(feed["x"].shape)
        return [np.zeros((1, 4, 3), dtype=np.float32)]


def test_each_line_goes_to_the_recogniser_at_its_own_width_unpadded() -> None:
    # Given a short line and a long one, both 96 px high
    crops = [Image.new("RGB", (100, 96), "white"), Image.new("RGB", (1000, 96), "white")]
    session = ShapesSeen()
    engine = reader_module._Engine(session, session, ("", "a", " "), frozenset("a"))
    # When they are recognised
    reader_module._recognise(engine, crops)
    # Then each is scaled to 48 px high and read alone at its own width, not padded to 320 px
    assert session.shapes == [(1, 3, 48, 50), (1, 3, 48, 500)]


def test_pixels_go_to_the_models_as_bgr_planes_in_minus_one_to_one() -> None:
    # Given a 2x1 image, one red and one white pixel
    image = Image.new("RGB", (2, 1), (255, 255, 255))
    image.putpixel((0, 0), (255, 0, 0))
    # When it is made a tensor
    tensor = reader_module._tensor(image)
    # Then it is three planes, blue, green, red, each byte mapped to (value / 255 - 0.5) / 0.5
    assert tensor.dtype == np.float32
    assert tensor.tolist() == [[[-1.0, 1.0]], [[-1.0, 1.0]], [[1.0, 1.0]]]
