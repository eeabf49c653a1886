"""Images for edits: the user's source and mask checked, normalised, and the result put back.

An edit changes part of an existing photo (a price on a shop sign) inside a mask. The image
APIs want the source as a PNG at a size within their rules (docs/design.md §6) and a mask PNG of the
same size whose alpha is 0 where the image may change. Users give the source as PNG, JPEG or
WebP, and the area to change as a mask image (transparent hole, or white on black) or as a box.

`prepare_edit` turns any of those into one `EditInputs`: what is sent (the source PNG and an
"L" mask, 255 = edit, 0 = keep, at a valid size: the photo scaled and padded to it) and how
the answer goes back. `finish_edit` undoes the padding and scaling and puts the provider's
result back inside the mask with a feathered edge, so the edit comes back at the photo's own
size and everything away from the edit stays byte-identical to the photo.

Safety: every image is read with the guarded decoder of `imaging/decoding.py` (sizes from
the header before any pixel is decoded). Same inputs give the same bytes: PNGs are written
without metadata.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from PIL import Image, ImageFilter

from placard.domain.errors import InvalidInput
from placard.domain.jobs import MAX_EDGE, MAX_PIXELS, MIN_PIXELS, Size, check_box
from placard.imaging.decoding import decode, normalise, png_bytes, probe, sixteen_bit_to_l
from placard.providers.base import ProviderError

Box = tuple[int, int, int, int]
_Region = tuple[float, float, float, float]  # left, top, right, bottom; may be fractional


_EDIT = 255
_MIN_SENT_SIDE = 64  # a photo the service would see thinner than this is refused
_ASPECT_TOLERANCE = 0.02  # a mask of other pixel dimensions is scaled if proportions match
_MIDTONE_LIMIT = 0.35  # share of grey pixels above which an opaque image is not a mask
_EDIT_IF_TRANSPARENT = [_EDIT if a < 128 else 0 for a in range(256)]
_EDIT_IF_WHITE = [_EDIT if v >= 128 else 0 for v in range(256)]
_EDIT_IF_ANY = [_EDIT if v > 0 else 0 for v in range(256)]
_KEEP_ALPHA = [0 if v >= 128 else 255 for v in range(256)]


@dataclass(frozen=True)
class EditInputs:
    """What is sent to the image service, and what its answer is put back onto.

    An edit is held for the whole provider call, so it keeps encoded bytes only (a decoded
    3840x2160 photo is 33 MB, and a worker waits on ten edits at once: docs/cost.md). Its
    images are decoded again when asked for, after the answer: `mask`, `base`, `base_mask`."""

    source_png: bytes  # sent: RGB or RGBA PNG at exactly `size`
    mask_png: bytes  # the sent mask as an "L" PNG at exactly `size`: 255 = edit here, 0 = keep
    size: Size  # sent and billed
    box: Box  # x, y, w, h bounding box of the edit area in sent pixels
    placement: Box  # where `base` lies in the sent image, x, y, w, h (around it: padding)
    # Only when the photo was scaled to be sent (else `base` is the sent PNG's placement):
    photo: bytes | None = None  # the user's source, normalised again into `base`
    base_mask_png: bytes | None = None  # the output-size mask as an "L" PNG

    @property
    def mask(self) -> Image.Image:
        """Sent: mode "L" at exactly `size`."""
        return decode(self.mask_png, "mask")

    @property
    def base(self) -> Image.Image:
        """The output before the edit: the normalised photo at the output size (a new image
        on each call, so it may be drawn on)."""
        if self.photo is not None:
            return normalise(decode(self.photo, "source_image"))
        return self._placed(decode(self.source_png, "source_image"))

    @property
    def base_mask(self) -> Image.Image:
        """Mode "L" at the output size."""
        if self.base_mask_png is not None:
            return decode(self.base_mask_png, "mask")
        return self._placed(self.mask)

    @property
    def pixels(self) -> int:
        """How large finishing it is: the answer's pixels or the output's, the larger."""
        if self.base_mask_png is not None:
            _, width, height = probe(self.base_mask_png, "mask")  # the header only
        else:
            width, height = self.placement[2:]
        return max(width * height, self.size.pixels)

    def _placed(self, sent: Image.Image) -> Image.Image:
        x, y, w, h = self.placement
        if (x, y, w, h) == (0, 0, *sent.size):
            return sent
        return sent.crop((x, y, x + w, y + h))


# --------------------------------------------------------------------------- boxes and sizes


def source_edit_size(source: bytes) -> Size:
    """The size an edit of this photo is sent and billed at, from its header alone: what the
    API and `placard estimate` price before the job runs."""
    _, width, height = probe(source, "source_image")
    return edit_size(width, height)


def prepare_pixels(source: bytes) -> int:
    """How large preparing an edit of this photo is, from its header alone: the photo's
    pixels or the sent image's, the larger (what a pixel gate weighs it by)."""
    _, width, height = probe(source, "source_image")
    sent = edit_size(width, height)
    return max(width * height, sent.pixels)


def edit_size(source_width: int, source_height: int) -> Size:
    """The size sent to the image service (and billed) for an edit at the photo's own size.
    A photo that only needs its sides padded to multiples of 16 gets at most 15 px of padding
    per side and is never resampled; otherwise the size keeps its aspect (clamped to
    1:3..3:1) within the pixel and edge limits, rounded to multiples of 16, and the photo is
    scaled to fit inside it (`prepare_edit`). Always returns a Size that passes Size.check()."""
    if source_width <= 0 or source_height <= 0:
        raise InvalidInput("source_image", "has no pixels", f"{source_width}x{source_height}")
    padded = Size(-(-source_width // 16) * 16, -(-source_height // 16) * 16)
    if _passes(padded):
        return padded
    ratio = min(max(source_width / source_height, 1 / 3), 3.0)
    pixels = min(max(source_width * source_height, MIN_PIXELS), MAX_PIXELS)
    width, height = math.sqrt(pixels * ratio), math.sqrt(pixels / ratio)
    shrink = min(1.0, MAX_EDGE / max(width, height))
    width, height = width * shrink, height * shrink
    base_w, base_h = round(width / 16), round(height / 16)
    for reach in (4, 16, 64, 256):
        candidates = [
            Size(16 * w, 16 * h)
            for w in range(max(1, base_w - reach), base_w + reach + 1)
            for h in range(max(1, base_h - reach), base_h + reach + 1)
        ]
        valid = [size for size in candidates if _passes(size)]
        if valid:

            def cost(size: Size) -> tuple[float, int, int]:
                aspect_error = abs(math.log(size.width / size.height / ratio))
                pixel_error = abs(math.log(size.pixels / (width * height)))
                return 3 * aspect_error + pixel_error, -size.pixels, size.width

            best = min(valid, key=cost)
            best.check()
            return best
    raise AssertionError("unreachable: the size rules always admit a size")  # pragma: no cover


def _passes(size: Size) -> bool:
    try:
        size.check()
    except InvalidInput:
        return False
    return True


def _cover(source: tuple[int, int], size: Size) -> _Region:
    """The region of the source that scale-to-cover and centre crop turn into `size`. A
    source at most 15 px larger per side than `size` is only cropped, never resampled, so
    its pixels stay crisp (this is what `edit_size` gives for sources within the rules)."""
    sw, sh = source
    if size.width <= sw < size.width + 16 and size.height <= sh < size.height + 16:
        cw, ch = float(size.width), float(size.height)
    elif size.width * sh >= size.height * sw:  # output relatively wider: full width is used
        cw, ch = float(sw), size.height * sw / size.width
    else:
        cw, ch = size.width * sh / size.height, float(sh)
    if (cw, ch) == (size.width, size.height):  # no scaling: crop whole pixels, no resampling
        left, top = float((sw - size.width) // 2), float((sh - size.height) // 2)
    else:
        left, top = (sw - cw) / 2, (sh - ch) / 2
    return left, top, left + cw, top + ch


def _fit(
    image: Image.Image, region: _Region, size: Size, resample: Image.Resampling
) -> Image.Image:
    """`region` of `image` as an image of exactly `size`; a pure crop when no scaling is
    needed, so pixels stay byte-identical."""
    left, top, right, bottom = region
    target = (size.width, size.height)
    if (right - left, bottom - top) == target and left.is_integer() and top.is_integer():
        if (left, top) == (0, 0) and image.size == target:
            return image
        return image.crop((int(left), int(top), int(right), int(bottom)))
    return image.resize(target, resample, box=region)


# --------------------------------------------------------------------------- colours


def _luma(image: Image.Image) -> Image.Image:
    if image.mode.startswith("I") or image.mode == "F":
        return sixteen_bit_to_l(image)
    return image if image.mode == "L" else image.convert("L")


# --------------------------------------------------------------------------- masks


def _mask_from_image(image: Image.Image) -> tuple[Image.Image, str]:
    """The edit area (255) of a mask image at its own size, and a hint for when it is empty."""
    if image.has_transparency_data:
        alpha = image.convert("RGBA").getchannel("A")
        if alpha.histogram()[255] < alpha.width * alpha.height:
            return (
                alpha.point(_EDIT_IF_TRANSPARENT),
                "no area of it is transparent enough; make the area to change fully transparent",
            )
    luma = _luma(image)
    histogram = luma.histogram()
    if sum(histogram[48:208]) > _MIDTONE_LIMIT * luma.width * luma.height:
        raise InvalidInput(
            "mask",
            "does not look like a mask: paint the area to change white on a black background, "
            "or give a PNG in which that area is transparent",
        )
    return luma.point(_EDIT_IF_WHITE), "it has no white area; paint the area to change white"


def _transform_mask(
    native: Image.Image, source: tuple[int, int], region: _Region, size: Size
) -> Image.Image:
    """The mask cut by the source's scale and crop (a mask of other pixel dimensions but the
    same proportions is stretched onto the source first). Nothing marked is lost: when
    shrinking, an output pixel is marked if the centre of any marked mask pixel falls in
    it; when enlarging, if its own centre falls in a marked mask pixel."""
    fx, fy = native.width / source[0], native.height / source[1]
    left, top, right, bottom = region
    mapped = (left * fx, top * fy, right * fx, bottom * fy)
    shrinking = size.width < mapped[2] - mapped[0] or size.height < mapped[3] - mapped[1]
    fitted = _fit(native, mapped, size, Image.Resampling.BOX)
    return fitted.point(_EDIT_IF_ANY if shrinking else _EDIT_IF_WHITE)


def _proportions_match(mask: tuple[int, int], source: tuple[int, int]) -> bool:
    ratio = (mask[0] / mask[1]) / (source[0] / source[1])
    return abs(ratio - 1) <= _ASPECT_TOLERANCE


# --------------------------------------------------------------------------- the edit


def prepare_edit(
    source: bytes,
    *,
    size: Size | None = None,
    mask: bytes | None = None,
    box: Box | None = None,
) -> EditInputs:
    """The source and the area to edit, normalised together for an image API.

    The source is decoded, turned upright (EXIF orientation) and converted to sRGB RGB (RGBA
    only when it has real transparency). The area to edit is a mask image (a transparent
    hole, or white on black/greyscale), a `box` x, y, w, h in upright source pixels, or,
    with neither, the whole image. A mask marking every pixel is allowed for the same
    reason: the whole picture may change, as the edit templates allow without a mask.

    Without `size` the edit comes back at the photo's own size: the service gets the photo
    scaled to fit `edit_size` and padded around (the padding is never edited), and
    `finish_edit` maps its answer back. With `size` (a user's explicit choice), the output
    is that size, the photo scaled to cover it and centre-cropped, as sent.
    """
    if mask is not None and box is not None:
        raise InvalidInput("mask_box", "give either a mask image or a mask box, not both", box)
    if size is not None:
        size.check()

    image = normalise(decode(source, "source_image"))
    sw, sh = source_size = image.size
    native, edit_field = _edit_area(source_size, mask, box)
    if size is None:
        target = edit_size(sw, sh)
        placement = _contain(source_size, target)
        px, py, pw, ph = placement
        if min(pw, ph) < _MIN_SENT_SIDE:
            raise InvalidInput(
                "source_image",
                f"is {sw}x{sh}, too long and narrow to edit: the image service would see it "
                f"at {pw}x{ph} pixels; crop it closer to the area to change",
                f"{sw}x{sh}",
            )
        whole = (0.0, 0.0, float(sw), float(sh))
        base, base_mask = image, _transform_mask(native, source_size, whole, Size(sw, sh))
        fill = image.resize((1, 1), Image.Resampling.BOX).getpixel((0, 0))  # the mean colour
        sent = Image.new(image.mode, (target.width, target.height), fill)
        sent.paste(_fit(image, whole, Size(pw, ph), Image.Resampling.LANCZOS), (px, py))
        sent_mask = Image.new("L", sent.size, 0)
        sent_mask.paste(_transform_mask(native, source_size, whole, Size(pw, ph)), (px, py))
    else:
        target, region = size, _cover(source_size, size)
        placement = (0, 0, size.width, size.height)
        base = sent = _fit(image, region, size, Image.Resampling.LANCZOS)
        base_mask = sent_mask = _transform_mask(native, source_size, region, size)
    bbox = sent_mask.getbbox()
    if bbox is None:
        raise InvalidInput(
            edit_field,
            f"the mask marks no pixel to edit in the part of the source kept at {target}: "
            "the marked area is cropped away",
        )
    # What the answer is put back onto is kept encoded: the sent PNG holds it (cropped at
    # `placement`) unless the photo was scaled to be sent; then the photo's own bytes do.
    px, py, pw, ph = placement
    scaled = base.size != (pw, ph)
    return EditInputs(
        source_png=png_bytes(sent),
        mask_png=png_bytes(sent_mask),
        size=target,
        box=(bbox[0], bbox[1], bbox[2] - bbox[0], bbox[3] - bbox[1]),
        placement=placement,
        photo=source if scaled else None,
        base_mask_png=png_bytes(base_mask) if scaled else None,
    )


def _edit_area(
    source_size: tuple[int, int], mask: bytes | None, box: Box | None
) -> tuple[Image.Image, str]:
    """The area to edit (255) at the mask's own size, and the field that gave it."""
    sw, sh = source_size
    if mask is not None:
        mask_image = decode(mask, "mask")
        if mask_image.size != source_size and not _proportions_match(mask_image.size, source_size):
            mw, mh = mask_image.size
            raise InvalidInput(
                "mask",
                f"is {mw}x{mh} but the photo is {sw}x{sh}; give a mask of the same size or "
                "the same proportions",
                f"{mw}x{mh}",
            )
        native, hint = _mask_from_image(mask_image)
        if native.getbbox() is None:
            raise InvalidInput("mask", f"marks no pixel to edit: {hint}")
        return native, "mask"
    if box is None:
        return Image.new("L", source_size, _EDIT), "mask"
    try:
        x, y, w, h = check_box(box, box)
    except InvalidInput as exc:
        raise InvalidInput("mask_box", f"{exc.reason}; the photo is {sw}x{sh}", box) from None
    if x + w > sw or y + h > sh:
        raise InvalidInput(
            "mask_box",
            f"the box {x},{y},{w},{h} reaches outside the photo, which is {sw}x{sh}",
            box,
        )
    native = Image.new("L", source_size, 0)
    native.paste(_EDIT, (x, y, x + w, y + h))
    return native, "mask_box"


def _contain(source: tuple[int, int], size: Size) -> Box:
    """Where the source, scaled to fit inside `size` and centred, lies in it: x, y, w, h. A
    source at most 15 px smaller per side than `size` is only padded, never resampled (this
    is what `edit_size` gives for sources within the rules)."""
    sw, sh = source
    scale = min(size.width / sw, size.height / sh)
    if sw <= size.width < sw + 16 and sh <= size.height < sh + 16:
        scale = 1.0
    width = max(1, min(size.width, round(sw * scale)))
    height = max(1, min(size.height, round(sh * scale)))
    return (size.width - width) // 2, (size.height - height) // 2, width, height


def openai_mask_png(mask: Image.Image) -> bytes:
    """RGBA PNG the OpenAI edits API expects: same size, alpha 0 where mask == 255 (edit;
    any value >= 128 counts), 255 elsewhere; the colour is black."""
    if mask.mode != "L":
        raise ValueError(f"the mask must be mode 'L', not {mask.mode!r}")
    black = Image.new("L", mask.size, 0)
    return png_bytes(Image.merge("RGBA", (black, black, black, mask.point(_KEEP_ALPHA))))


def finish_edit(edit: EditInputs, result: bytes, *, feather: int | None = None) -> bytes:
    """The provider's answer to `edit` put back onto the photo: padding cut off, scaled back
    to the output size and blended in inside the mask (see `composite`). Returns PNG bytes of
    exactly the output size; away from the mask every pixel is the photo's own."""
    base = edit.base  # decoded only now: nothing decoded is held across the provider's call
    edited = _result_image(result, edit.size.width, edit.size.height)
    x, y, w, h = edit.placement
    region = (float(x), float(y), float(x + w), float(y + h))
    edited = _fit(edited, region, Size(*base.size), Image.Resampling.LANCZOS)
    return _blend(base, edited, edit.base_mask, feather)


def composite(
    source_png: bytes, result: bytes, mask: Image.Image, *, feather: int | None = None
) -> bytes:
    """The provider's result inside the mask, the source's pixels outside it, blended across
    a feathered edge (a Gaussian blur of the mask with radius `feather`, by default 0.5 % of
    the shorter side and at least 2 px). The result is resized to the source's size if the
    provider returned another size. Pixels outside the mask farther than 3 * feather from
    it are byte-identical to the source. Returns PNG bytes of the source's size and mode.

    An unreadable result raises ProviderError (the provider's fault, not the user's).
    """
    source = decode(source_png, "source_image")
    if source.mode not in ("RGB", "RGBA"):
        source = normalise(source)
    return _blend(source, _result_image(result, *source.size), mask, feather)


def _result_image(result: bytes, width: int, height: int) -> Image.Image:
    """The provider's image, normalised, at width x height."""
    try:
        edited = normalise(decode(result, "result"))
    except InvalidInput as exc:
        raise ProviderError(f"the image service returned an unusable image: {exc.reason}") from exc
    if edited.size != (width, height):
        edited = edited.resize((width, height), Image.Resampling.LANCZOS)
    return edited


def _blend(
    source: Image.Image, edited: Image.Image, mask: Image.Image, feather: int | None
) -> bytes:
    """`edited` pasted onto `source` (changed in place) through the feathered mask."""
    if mask.mode != "L" or mask.size != source.size:
        raise ValueError(
            f"the mask must be mode 'L' at {source.width}x{source.height}, "
            f"not {mask.mode!r} at {mask.width}x{mask.height}"
        )
    if edited.mode != source.mode:
        edited = edited.convert(source.mode)
    if feather is None:
        feather = max(2, round(0.005 * min(source.size)))
    if feather < 0:
        raise ValueError("feather cannot be negative")
    bbox = mask.getbbox()
    if bbox is not None:
        # Only the neighbourhood of the edit is blurred and blended; the blur of a mask
        # reaches about 2.6 * feather, so a margin of 4 * feather + 2 leaves the crop's
        # border in zeros and gives exactly what blurring the whole mask would.
        margin = 4 * feather + 2
        area = (
            max(0, bbox[0] - margin),
            max(0, bbox[1] - margin),
            min(source.width, bbox[2] + margin),
            min(source.height, bbox[3] + margin),
        )
        soft = mask.crop(area)
        if feather:
            soft = soft.filter(ImageFilter.GaussianBlur(feather))
        source.paste(edited.crop(area), area[:2], soft)
    return png_bytes(source)
