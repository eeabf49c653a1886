"""The OCR engine behind the ImageReader port: PP-OCRv6 text detection and recognition on
onnxruntime, with numpy and Pillow only (docs/design.md §7).

The models are the ones the `rapidocr` wheel ships in its models/ folder; rapidocr's own code
is never imported (its pipeline needs OpenCV, which would take the proof function's bundle
past Lambda's 250 MB), so its steps are redone here with its constants:

1. the image, at most 2000 px a side, is scaled for detection (shorter side 512 px, both
   sides multiples of 32) and normalised; rapidocr scales the shorter side up to 736 and
   never down, placard scales it to 512 either way (see DET_SIDE);
2. the detector's probability map is thresholded at 0.3 and dilated; each 8-connected region
   is a candidate whose mean probability must reach 0.5, and its box is grown as DB's
   "unclip" grows it (by area x 1.6 / perimeter); boxes the detector split within one line
   of very large type are joined again, and a weaker region (mean from 0.3) is kept only
   when it sits on such a line, close enough to be joined into it (placard's steps, not
   rapidocr's);
3. each box is cropped, scaled to 48 px high (aspect kept) and read by the recogniser at
   its own width (rapidocr pads narrower lines to 320 px; placard does not, see
   _recognise), whose CTC output is decoded greedily with the character list stored in the
   model's metadata; lines read with less than 0.5 confidence are dropped.

Boxes are axis-aligned: poster, ad and sign copy is set horizontally, so rapidocr's rotated
rectangles, perspective crops and 180-degree classifier are left out (a slanted line is
still found, inside a looser box). Nothing is downloaded: a missing model is an error.
"""

from __future__ import annotations

import functools
import importlib.util
import itertools
import math
import os
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from PIL import Image

from placard.domain.errors import PlacardError
from placard.domain.proofs import ReadLine
from placard.imaging.decoding import decode, normalise

DETECTOR = "PP-OCRv6_det_small.onnx"
RECOGNISER = "PP-OCRv6_rec_small.onnx"
THREADS_VARIABLE = "PLACARD_OCR_THREADS"  # Lambda gives one vCPU per 1,769 MB of memory

# rapidocr 3.10's defaults (config.yaml), so this engine reads as rapidocr does.
MAX_SIDE = 2000  # larger images are scaled down first
# The detector sees the shorter side this long, scaled up or down. Its cost grows with its
# pixels: at 1024x1024 unscaled it was three quarters of a read's CPU time, at 736 (rapidocr's)
# half, at 512 a third. Only boxes come from it; lines are cut from the unscaled image for the
# recogniser, so the boxes' coarser edges cost no accuracy (bench/proof_accuracy.py, #15).
DET_SIDE = 512
DET_THRESHOLD = 0.3  # a pixel is text when its probability is above this
BOX_THRESHOLD = 0.5  # a region is a line when its mean probability reaches this
UNCLIP_RATIO = 1.6
MAX_CANDIDATES = 1000
MIN_BOX_SIDE = 3
REC_HEIGHT = 48
TEXT_SCORE = 0.5  # lines read with less confidence are dropped
LINE_TOLERANCE = 10  # px: boxes whose tops differ less are one line, ordered left to right
# placard's own: boxes sharing this much of the smaller's height, with a gap under this share
# of the taller's height, are one line split by the detector (see _joined).
JOIN_OVERLAP = 0.6
JOIN_GAP = 0.5

# Left out when deciding whether a text can be read: they carry no letter of a script.
_NEUTRAL_CATEGORIES = ("Z", "P", "S", "C")
_VARIATION_SELECTORS = (range(0xFE00, 0xFE10), range(0xE0100, 0xE01F0))

Box = tuple[int, int, int, int]  # left, top, right, bottom (exclusive), in pixels


class ReaderUnavailable(PlacardError):
    """The OCR models are not where they should be (a bundle built without them)."""


def models_folder() -> Path:
    """rapidocr's models/ folder, found without importing rapidocr (which imports cv2)."""
    spec = importlib.util.find_spec("rapidocr")
    if spec is None or not spec.submodule_search_locations:
        raise ReaderUnavailable(
            "the OCR models are missing: install the rapidocr package (its models are used)"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "models"


def threads_from_environment() -> int:
    raw = os.environ.get(THREADS_VARIABLE, "1")
    try:
        threads = int(raw)
    except ValueError:
        threads = 0
    if threads < 1:
        raise ReaderUnavailable(f"{THREADS_VARIABLE} must be a whole number from 1, not {raw!r}")
    return threads


@dataclass(frozen=True)
class _Engine:
    detector: ort.InferenceSession
    recogniser: ort.InferenceSession
    characters: tuple[str, ...]  # index 0 is CTC's blank, the last a space
    charset: frozenset[str]


@functools.cache
def _engine(folder: Path, threads: int) -> _Engine:
    """One engine per process and configuration: loading both models takes most of a second."""
    paths = [folder / DETECTOR, folder / RECOGNISER]
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        raise ReaderUnavailable(f"the OCR models {', '.join(missing)} are not in {folder}")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Kept between images: without the arena each run maps and faults in its buffers afresh.
    options.enable_cpu_mem_arena = True
    options.log_severity_level = 3
    detector, recogniser = (
        ort.InferenceSession(str(p), sess_options=options, providers=["CPUExecutionProvider"])
        for p in paths
    )
    listed = recogniser.get_modelmeta().custom_metadata_map.get("character", "").splitlines()
    if not listed:
        raise ReaderUnavailable(f"{RECOGNISER} carries no character list in its metadata")
    return _Engine(detector, recogniser, ("", *listed, " "), frozenset(listed))


class OnnxReader:
    """Reads the lines of text in an image, top to bottom then left to right."""

    def __init__(self, models: Path | None = None, threads: int | None = None) -> None:
        self._models = models
        self._threads = threads

    def _loaded(self) -> _Engine:
        folder = self._models if self._models is not None else models_folder()
        threads = self._threads if self._threads is not None else threads_from_environment()
        return _engine(folder, threads)

    def load(self) -> None:
        """Load the models now (a function's init), rather than at the first image."""
        self._loaded()

    def reads(self, text: str) -> bool:
        """True when every letter and digit of the text is one the recogniser knows; spaces,
        punctuation, symbols (currency signs, emoji) and variation selectors are left out."""
        charset = self._loaded().charset
        return all(c in charset for c in unicodedata.normalize("NFC", text) if _counts(c))

    def read(self, image: bytes) -> list[ReadLine]:
        engine = self._loaded()
        picture = _flatten(normalise(decode(image, "image")))
        work, (scale_x, scale_y) = _within(picture, MAX_SIDE)
        boxes = _detect(engine.detector, work)
        crops = [work.crop(box) for box in boxes]
        lines = []
        for box, (text, score) in zip(boxes, _recognise(engine, crops), strict=True):
            if text.strip() and score >= TEXT_SCORE:
                left, right = round(box[0] * scale_x), round(box[2] * scale_x)
                top, bottom = round(box[1] * scale_y), round(box[3] * scale_y)
                lines.append(ReadLine(text, score, (left, top, right - left, bottom - top)))
        return lines


def _counts(char: str) -> bool:
    if unicodedata.category(char).startswith(_NEUTRAL_CATEGORIES):
        return False
    return not any(ord(char) in selectors for selectors in _VARIATION_SELECTORS)


def _flatten(image: Image.Image) -> Image.Image:
    """RGB; transparency laid on white, as a sign is printed on paper."""
    if image.mode != "RGBA":
        return image
    white = Image.new("RGB", image.size, (255, 255, 255))
    white.paste(image, mask=image.getchannel("A"))
    return white


def _within(image: Image.Image, limit: int) -> tuple[Image.Image, tuple[float, float]]:
    """The image with no side over `limit`, and the factors back to the original's pixels."""
    ratio = limit / max(image.size)
    if ratio >= 1:
        return image, (1.0, 1.0)
    size = (max(1, round(image.width * ratio)), max(1, round(image.height * ratio)))
    scaled = image.resize(size, Image.Resampling.BILINEAR)
    return scaled, (image.width / size[0], image.height / size[1])


# (value / 255 - 0.5) / 0.5 for each byte: one look-up per pixel, not four passes in float.
_NORMALISED = (np.arange(256, dtype=np.float32) / 255.0 - 0.5) / 0.5


def _tensor(image: Image.Image) -> np.ndarray[Any, np.dtype[np.float32]]:
    """CHW float32 in [-1, 1], channels BGR: the order the Paddle models were trained in."""
    channels = np.ascontiguousarray(np.asarray(image).transpose(2, 0, 1)[::-1])
    normalised: np.ndarray[Any, np.dtype[np.float32]] = _NORMALISED[channels]
    return normalised


def _detection_size(width: int, height: int) -> tuple[int, int]:
    ratio = DET_SIDE / min(width, height)
    return (
        max(32, round(int(width * ratio) / 32) * 32),
        max(32, round(int(height * ratio) / 32) * 32),
    )


def _detect(session: ort.InferenceSession, image: Image.Image) -> list[Box]:
    size = _detection_size(image.width, image.height)
    scaled = image if size == image.size else image.resize(size, Image.Resampling.BILINEAR)
    batch = _tensor(scaled)[np.newaxis]
    (probability,) = session.run(None, {session.get_inputs()[0].name: batch})
    return _boxes(probability[0, 0], image.width, image.height)


def _boxes(probability: np.ndarray[Any, Any], width: int, height: int) -> list[Box]:
    """DB's postprocess on the probability map, boxes in an image of width x height, sorted
    top to bottom, then left to right within a line."""
    text = probability > DET_THRESHOLD
    grown = text.copy()  # dilated by a 2x2 kernel, as rapidocr's use_dilation
    grown[1:, :] |= text[:-1, :]
    grown[:, 1:] |= text[:, :-1]
    grown[1:, 1:] |= text[:-1, :-1]
    map_h, map_w = probability.shape
    strong: list[Box] = []
    weak: list[Box] = []
    for x0, y0, x1, y1 in _regions(grown)[:MAX_CANDIDATES]:
        box_w, box_h = x1 - x0, y1 - y0
        if min(box_w, box_h) < MIN_BOX_SIDE:
            continue
        score = float(probability[y0 : y1 + 1, x0 : x1 + 1].mean())
        if score < DET_THRESHOLD:
            continue
        grow = box_w * box_h * UNCLIP_RATIO / (2 * (box_w + box_h))
        if min(box_w, box_h) + 2 * grow < MIN_BOX_SIDE + 2:
            continue
        left = _to_image(x0 - grow, map_w, width)
        right = _to_image(x1 + grow, map_w, width)
        top = _to_image(y0 - grow, map_h, height)
        bottom = _to_image(y1 + grow, map_h, height)
        if right - left > MIN_BOX_SIDE and bottom - top > MIN_BOX_SIDE:
            (strong if score >= BOX_THRESHOLD else weak).append((left, top, right, bottom))
    return _reading_order(_joined(strong + _beside_lines(weak, strong)))


def _beside_lines(weak: Sequence[Box], lines: Sequence[Box]) -> list[Box]:
    """The weak regions that _joined will join into one of the lines.

    In very large type the detector can find a small mark on its own, less sure of it than
    of the word beside it ("l'" of "l'été" at ~90 px scores 0.34-0.46); dropped, the line
    reads "été". A weak region off every line (a speck, a lone faint mark) stays dropped."""
    return [box for box in weak if any(_side_by_side(box, line) for line in lines)]


def _to_image(value: float, map_side: int, side: int) -> int:
    return int(min(max(round(value / map_side * side), 0), side - 1))


def _regions(mask: np.ndarray[Any, Any]) -> list[Box]:
    """Bounding boxes (inclusive corners) of the 8-connected regions of a boolean map.

    OpenCV's contours, redone in numpy: the map's horizontal runs; each run joined to the runs
    it touches in the row above (diagonals included), found by binary search as runs are
    sorted; the joined runs labelled by their smallest index, by hooking and pointer jumping
    (a few rounds, whatever the regions' shapes); then each label's extent."""
    width = mask.shape[1]
    edges = np.diff(np.pad(mask, ((0, 0), (1, 1))).astype(np.int8), axis=1)
    starts, ends = np.argwhere(edges == 1), np.argwhere(edges == -1)
    if not len(starts):
        return []
    rows, x0, x1 = starts[:, 0], starts[:, 1], ends[:, 1] - 1
    stride = width + 2  # one row's keys never reach the next's
    first = np.searchsorted(rows * stride + x1, (rows - 1) * stride + x0 - 1, side="left")
    after = np.searchsorted(rows * stride + x0, (rows - 1) * stride + x1 + 1, side="right")
    touching = np.maximum(after - first, 0)  # runs first.. after-1 of the row above touch
    below = np.repeat(np.arange(len(rows)), touching)
    offsets = np.arange(touching.sum()) - np.repeat(np.cumsum(touching) - touching, touching)
    above = np.repeat(first, touching) + offsets
    labels = np.arange(len(rows))
    while True:
        low = np.minimum(labels[above], labels[below])
        if np.array_equal(low, np.maximum(labels[above], labels[below])):
            break
        np.minimum.at(labels, labels[above], low)
        np.minimum.at(labels, labels[below], low)
        while not np.array_equal(labels, labels[labels]):
            labels = labels[labels]
    order = np.argsort(labels, kind="stable")
    groups = np.flatnonzero(np.r_[True, np.diff(labels[order]) != 0])
    extents = zip(
        np.minimum.reduceat(x0[order], groups).tolist(),
        np.minimum.reduceat(rows[order], groups).tolist(),
        np.maximum.reduceat(x1[order], groups).tolist(),
        np.maximum.reduceat(rows[order], groups).tolist(),
        strict=True,
    )
    return list(extents)


def _joined(boxes: Sequence[Box]) -> list[Box]:
    """Boxes side by side on one line, closer than half the line's height, made one.

    The detector splits very large type at wide letter gaps and around small marks ("€9",
    ",", "99" at 160 px), and a comma alone is misread ("D"); read as one line, a price comes
    back whole. rapidocr does not do this; word gaps in running text are far smaller than the
    gutter between columns, which stay apart."""
    merged = list(boxes)
    joined = True
    while joined:
        joined = False
        for i, j in itertools.combinations(range(len(merged)), 2):
            if _side_by_side(merged[i], merged[j]):
                a, b = merged[i], merged[j]
                merged[i] = (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))
                del merged[j]
                joined = True
                break
    return merged


def _side_by_side(a: Box, b: Box) -> bool:
    shared = min(a[3], b[3]) - max(a[1], b[1])
    if shared < JOIN_OVERLAP * min(a[3] - a[1], b[3] - b[1]):
        return False
    gap = max(a[0], b[0]) - min(a[2], b[2])
    return gap <= JOIN_GAP * max(a[3] - a[1], b[3] - b[1])


def _reading_order(boxes: Sequence[Box]) -> list[Box]:
    """Top to bottom; boxes whose tops are within LINE_TOLERANCE of the one before share a
    line and go left to right (rapidocr's order)."""
    by_top = sorted(boxes, key=lambda b: b[1])
    line, lines = 0, []
    for i, box in enumerate(by_top):
        if i and box[1] - by_top[i - 1][1] >= LINE_TOLERANCE:
            line += 1
        lines.append(line)
    return [
        box for _, box in sorted(zip(lines, by_top, strict=True), key=lambda p: (p[0], p[1][0]))
    ]


def _recognise(engine: _Engine, crops: Sequence[Image.Image]) -> list[tuple[str, float]]:
    """(text, confidence) per crop, each read alone and unpadded.

    The recogniser's cost is linear in the width it is given (about 0.15 ms a column), and a
    batch saves nothing on one core: rapidocr's batches of six pad every crop to the widest
    and to at least 320 px, which on a poster's short lines was a fifth of recognition. The
    padding carries no text, and reading without it lost no accuracy (#15)."""
    name = engine.recogniser.get_inputs()[0].name
    read = []
    for crop in crops:
        scaled_w = max(1, math.ceil(REC_HEIGHT * crop.width / crop.height))
        scaled = crop.resize((scaled_w, REC_HEIGHT), Image.Resampling.BILINEAR)
        (scores,) = engine.recogniser.run(None, {name: _tensor(scaled)[np.newaxis]})
        read.append(_decode(scores[0], engine.characters))
    return read


def _decode(scores: np.ndarray[Any, Any], characters: Sequence[str]) -> tuple[str, float]:
    """CTC greedy decoding: the likeliest class per step, repeats merged, blanks dropped;
    the confidence is the mean probability of the characters kept."""
    best = scores.argmax(axis=1)
    keep = np.ones(len(best), dtype=bool)
    keep[1:] = best[1:] != best[:-1]
    keep &= best != 0
    if not keep.any():
        return "", 0.0
    text = "".join(characters[i] for i in best[keep].tolist())
    return text, float(scores.max(axis=1)[keep].mean())
