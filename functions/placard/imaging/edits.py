"""Images for edits: the user's source and mask checked, normalised, and the result put back.

An edit changes part of an existing photo (a price on a shop sign) inside a mask. The image
APIs want the source as a PNG at a size within their rules (SPEC §6) and a mask PNG of the
same size whose alpha is 0 where the image may change. Users give the source as PNG, JPEG or
WebP, and the area to change as a mask image (transparent hole, or white on black) or as a box.

`prepare_edit` turns any of those into one `EditInputs`: what is sent (the source PNG and an
"L" mask, 255 = edit, 0 = keep, at a valid size: the photo scaled and padded to it) and how
the answer goes back. `finish_edit` undoes the padding and scaling and puts the provider's
result back inside the mask with a feathered edge, so the edit comes back at the photo's own
size and everything away from the edit stays byte-identical to the photo.

Safety: `probe` reads sizes from the file header itself, before Pillow is asked to do
anything, so an image whose header claims billions of pixels is refused without a byte of
it being decoded; Pillow's own decompression-bomb checks can only ever surface as
`InvalidInput`. Same inputs give the same bytes: PNGs are written without metadata.
"""

from __future__ import annotations

import io
import math
import struct
import warnings
from dataclasses import dataclass

from PIL import ExifTags, Image, ImageFilter, ImageOps

from placard.domain.errors import InvalidInput
from placard.domain.jobs import MAX_EDGE, MAX_PIXELS, MIN_PIXELS, Size, check_box
from placard.providers.base import ProviderError

MAX_INPUT_BYTES: int = 50 * 1024 * 1024
MAX_INPUT_PIXELS: int = 40_000_000  # refuse larger sources/masks before decoding

Box = tuple[int, int, int, int]
_Region = tuple[float, float, float, float]  # left, top, right, bottom; may be fractional

_ACCEPTED = "give a PNG, JPEG or WebP image"
_DAMAGED = "could not be read as a PNG, JPEG or WebP image; the file may be damaged or incomplete"
# What Pillow may raise while reading a file it has accepted the header of.
_READ_ERRORS = (OSError, ValueError, SyntaxError, EOFError, IndexError, TypeError, struct.error)

_EDIT = 255
_MIN_SENT_SIDE = 64  # a photo the service would see thinner than this is refused
_PNG_LEVEL = 1  # zlib level: 1 writes a 1024x1536 photo ~3x faster than 6, ~20 % larger
_ASPECT_TOLERANCE = 0.02  # a mask of other pixel dimensions is scaled if proportions match
_MIDTONE_LIMIT = 0.35  # share of grey pixels above which an opaque image is not a mask
_EDIT_IF_TRANSPARENT = [_EDIT if a < 128 else 0 for a in range(256)]
_EDIT_IF_WHITE = [_EDIT if v >= 128 else 0 for v in range(256)]
_EDIT_IF_ANY = [_EDIT if v > 0 else 0 for v in range(256)]
_KEEP_ALPHA = [0 if v >= 128 else 255 for v in range(256)]


@dataclass(frozen=True)
class EditInputs:
    """What is sent to the image service, and what its answer is put back onto."""

    source_png: bytes  # sent: RGB or RGBA PNG at exactly `size`
    mask: Image.Image  # sent: mode "L" at exactly `size`: 255 = edit here, 0 = keep
    size: Size  # sent and billed
    box: Box  # x, y, w, h bounding box of the edit area in sent pixels
    base: Image.Image  # the output before the edit: the normalised photo at the output size
    base_mask: Image.Image  # mode "L" at the output size
    placement: Box  # where `base` lies in the sent image, x, y, w, h (around it: padding)


# --------------------------------------------------------------------------- probing


def probe(data: bytes, field: str) -> tuple[str, int, int]:
    """(format, width, height) from the header only: format is "PNG", "JPEG" or "WEBP",
    width and height as stored (before any EXIF rotation).

    Refuses, with `InvalidInput(field, ...)`, empty data, data over MAX_INPUT_BYTES, anything
    that is not PNG/JPEG/WebP, and images over MAX_INPUT_PIXELS (or over Pillow's own
    Image.MAX_IMAGE_PIXELS, when that is lower) — all before any pixel is decoded.
    """
    fmt, image = _open(data, field)
    return fmt, image.width, image.height


def _open(data: bytes, field: str) -> tuple[str, Image.Image]:
    """The image opened lazily (header read, no pixels decoded), after every size check."""
    fmt, width, height = _check_header(data, field)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=[fmt])
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise _too_large(field, width, height) from exc
    except _READ_ERRORS as exc:
        raise InvalidInput(field, _DAMAGED) from exc
    # The header said one size; make sure Pillow did not find a larger one.
    _check_pixels(field, image.width, image.height)
    return fmt, image


def _check_header(data: bytes, field: str) -> tuple[str, int, int]:
    if not data:
        raise InvalidInput(field, f"is empty; {_ACCEPTED}")
    if len(data) > MAX_INPUT_BYTES:
        raise InvalidInput(
            field,
            f"is {len(data) / 2**20:.1f} MB; the limit is {MAX_INPUT_BYTES // 2**20} MB",
        )
    fmt = _sniff(data)
    if fmt is None:
        other = _name_other_format(data)
        reason = f"is {other}; {_ACCEPTED}" if other else "is not a PNG, JPEG or WebP image"
        raise InvalidInput(field, reason)
    dims = _header_size(fmt, data)
    if dims is None:
        raise InvalidInput(field, _DAMAGED)
    _check_pixels(field, *dims)
    return fmt, dims[0], dims[1]


def _check_pixels(field: str, width: int, height: int) -> None:
    limit = MAX_INPUT_PIXELS
    if Image.MAX_IMAGE_PIXELS is not None:
        limit = min(limit, Image.MAX_IMAGE_PIXELS)
    if width <= 0 or height <= 0:
        raise InvalidInput(field, _DAMAGED)
    if width * height > limit:
        raise _too_large(field, width, height)


def _too_large(field: str, width: int, height: int) -> InvalidInput:
    limit = MAX_INPUT_PIXELS
    if Image.MAX_IMAGE_PIXELS is not None:
        limit = min(limit, Image.MAX_IMAGE_PIXELS)
    return InvalidInput(
        field,
        f"is {width}x{height} ({width * height / 1e6:.0f} megapixels); the limit is "
        f"{limit / 1e6:.0f} megapixels, so please give a smaller image",
        f"{width}x{height}",
    )


def _sniff(data: bytes) -> str | None:
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return "WEBP"
    return None


_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"}


def _name_other_format(data: bytes) -> str | None:
    """A person's name for a few formats people upload by mistake."""
    head = data[:1024]
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "a GIF"
    if head.startswith(b"%PDF"):
        return "a PDF"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in _HEIF_BRANDS:
            return "a HEIC/HEIF photo (export it as JPEG first)"
        if brand in (b"avif", b"avis"):
            return "an AVIF image"
        return "a video"
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return "a TIFF"
    if head.startswith(b"BM") and head[6:10] == b"\x00\x00\x00\x00":
        return "a BMP"
    if head.startswith(b"PK\x03\x04"):
        return "a ZIP file (Word, Excel and PowerPoint files are ZIP files too)"
    if text.startswith((b"http://", b"https://")):
        return "a web address, not the image itself"
    if text.startswith(b"<") and b"<svg" in text:
        return "an SVG drawing"
    if text.startswith(b"<"):
        return "a web page"
    if b"\x00" not in head and not any(b < 9 or 13 < b < 32 for b in head):
        return "a text file, not an image"
    return None


def _header_size(fmt: str, data: bytes) -> tuple[int, int] | None:
    if fmt == "PNG":
        if len(data) < 24 or data[12:16] != b"IHDR":
            return None
        width, height = struct.unpack(">II", data[16:24])
        return int(width), int(height)
    if fmt == "JPEG":
        return _jpeg_size(data)
    return _webp_size(data)


# Start-of-frame markers carry the size; C4 (DHT), C8 (JPG) and CC (DAC) do not.
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_JPEG_STANDALONE = frozenset({0x01, *range(0xD0, 0xD9)})


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    """The largest frame size declared before the scan starts (walking marker segments)."""
    found: tuple[int, int] | None = None
    i, end = 2, len(data)
    while i < end:
        if data[i] != 0xFF:  # junk between segments: skipped, as Pillow does
            i += 1
            continue
        while i < end and data[i] == 0xFF:  # fill bytes
            i += 1
        if i >= end:
            break
        marker = data[i]
        i += 1
        if marker == 0x00 or marker in _JPEG_STANDALONE:
            continue
        if marker in (0xD9, 0xDA):  # end of image, start of scan
            break
        if i + 2 > end:
            break
        (length,) = struct.unpack(">H", data[i : i + 2])
        if length < 2:
            return None
        if marker in _JPEG_SOF:
            if i + 7 > end:
                return None
            height, width = struct.unpack(">HH", data[i + 3 : i + 7])
            if found is None or width * height > found[0] * found[1]:
                found = (int(width), int(height))
        i += length
    return found


def _webp_size(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8 " and len(data) >= 30 and data[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8X" and len(data) >= 30:
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return width, height
    if chunk == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    return None


def _decode(data: bytes, field: str) -> Image.Image:
    """Probe, then decode every pixel and apply the EXIF orientation."""
    _, image = _open(data, field)
    frames = getattr(image, "n_frames", 1)
    if frames > 1:  # editing the first frame would drop the others without a word
        raise InvalidInput(
            field,
            f"is animated ({frames} frames); an edit changes a single still image: give one "
            "frame as a PNG, JPEG or WebP",
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise _too_large(field, image.width, image.height) from exc
    except _READ_ERRORS as exc:
        raise InvalidInput(field, _DAMAGED) from exc
    try:
        if image.getexif().get(ExifTags.Base.Orientation, 1) in (2, 3, 4, 5, 6, 7, 8):
            return ImageOps.exif_transpose(image)
    except Exception:  # unreadable EXIF must not make a good photo unusable
        return image
    return image


# --------------------------------------------------------------------------- boxes and sizes


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
                pixel_error = abs(math.log(size.width * size.height / (width * height)))
                return 3 * aspect_error + pixel_error, -size.width * size.height, size.width

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


def _normalise(image: Image.Image) -> Image.Image:
    """RGB, or RGBA when there is real transparency; colours converted to sRGB."""
    if image.mode.startswith("I") or image.mode == "F":
        image = _sixteen_bit_to_l(image)
    image = _to_srgb(image)
    if image.has_transparency_data:
        rgba = image if image.mode == "RGBA" else image.convert("RGBA")
        alpha = rgba.getchannel("A")
        if alpha.histogram()[255] < alpha.width * alpha.height:
            return rgba
        return rgba.convert("RGB")
    return image if image.mode == "RGB" else image.convert("RGB")


def _sixteen_bit_to_l(image: Image.Image) -> Image.Image:
    """16-bit greyscale scaled to 8 bits (Pillow's own conversion clips at 255)."""
    wide = image if image.mode in ("I", "F") else image.convert("I")
    return wide.point(lambda v: v * (1 / 257)).convert("L")


def _to_srgb(image: Image.Image) -> Image.Image:
    """Apply an embedded colour profile (a phone's Display P3, a print CMYK profile), so
    the pixels look the same once written without it. A profile that cannot be used is
    ignored."""
    icc = image.info.get("icc_profile")
    if not icc or image.mode not in ("RGB", "RGBA", "CMYK", "L"):
        return image
    try:
        from PIL import ImageCms
    except ImportError:  # pragma: no cover - Pillow built without littlecms
        return image
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        if "srgb" in ImageCms.getProfileDescription(profile).lower():
            return image
        converted = ImageCms.profileToProfile(
            image,
            profile,
            ImageCms.createProfile("sRGB"),
            outputMode="RGBA" if image.mode == "RGBA" else "RGB",
        )
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError, KeyError):
        return image
    return image if converted is None else converted


def _luma(image: Image.Image) -> Image.Image:
    if image.mode.startswith("I") or image.mode == "F":
        return _sixteen_bit_to_l(image)
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

    image = _normalise(_decode(source, "source_image"))
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
    return EditInputs(
        source_png=_png(sent),
        mask=sent_mask,
        size=target,
        box=(bbox[0], bbox[1], bbox[2] - bbox[0], bbox[3] - bbox[1]),
        base=base,
        base_mask=base_mask,
        placement=placement,
    )


def _edit_area(
    source_size: tuple[int, int], mask: bytes | None, box: Box | None
) -> tuple[Image.Image, str]:
    """The area to edit (255) at the mask's own size, and the field that gave it."""
    sw, sh = source_size
    if mask is not None:
        mask_image = _decode(mask, "mask")
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
    return _png(Image.merge("RGBA", (black, black, black, mask.point(_KEEP_ALPHA))))


def finish_edit(edit: EditInputs, result: bytes, *, feather: int | None = None) -> bytes:
    """The provider's answer to `edit` put back onto the photo: padding cut off, scaled back
    to the output size and blended in inside the mask (see `composite`). Returns PNG bytes of
    exactly the output size; away from the mask every pixel is the photo's own."""
    edited = _result_image(result, edit.size.width, edit.size.height)
    x, y, w, h = edit.placement
    region = (float(x), float(y), float(x + w), float(y + h))
    edited = _fit(edited, region, Size(*edit.base.size), Image.Resampling.LANCZOS)
    return _blend(edit.base.copy(), edited, edit.base_mask, feather)


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
    source = _decode(source_png, "source_image")
    if source.mode not in ("RGB", "RGBA"):
        source = _normalise(source)
    return _blend(source, _result_image(result, *source.size), mask, feather)


def _result_image(result: bytes, width: int, height: int) -> Image.Image:
    """The provider's image, normalised, at width x height."""
    try:
        edited = _normalise(_decode(result, "result"))
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
    return _png(source)


def _png(image: Image.Image) -> bytes:
    """PNG bytes without metadata (no profile, EXIF, text or dpi): deterministic."""
    image.info = {}
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False, compress_level=_PNG_LEVEL)
    return buffer.getvalue()
