"""Uploaded images: validation, normalisation, resizing to what each model wants, encoding, hashing.

`load_image` turns untrusted bytes into a `SourceImage` or raises `ImageError` with what is wrong and what to
do. The format comes from the content, never from the file name; the pixel limit is checked on the header
before anything is decoded; the data is then really decoded, so a truncated upload is caught here and not
by a service. `prepare` makes the JPEG one target receives, sized as its model wants it (`ImageSpec`; each
model family's specs live in models.py).

Speed: a phone photo is never decoded at full size. No model wants more than a few MP, so the JPEG decoder
is asked for the smallest DCT scale (1/2, 1/4, 1/8) that still covers the largest size any spec needs for this
image (`Image.draft`), and the decoded image is resampled once to that "working size" (LANCZOS), which becomes
`SourceImage.pixels`. `prepare` starts from there: the largest spec is encoded as is, the others are small
LANCZOS steps down, so every upload costs one reduced decode and one large resample whatever the targets.
"""

from __future__ import annotations

import codecs
import hashlib
import io
import math
import struct
import unicodedata
import warnings
import zlib
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Iterable, Iterator

import numpy as np
from PIL import ExifTags, Image, UnidentifiedImageError

from .errors import ImageError

SUPPORTED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF")
_MEDIA_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "GIF": "image/gif"}
_EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "GIF": "gif"}
_SUPPORTED_TEXT = "JPEG, PNG, WebP, GIF"

MAX_ASPECT_RATIO = 200  # long side / short side; the vision services reject more elongated images
MAX_SIDE = 65_535  # the largest side JPEG and GIF can store; anything larger is not a photo we can use
MAX_NAME_CHARS = 120

_MB = 1024 * 1024  # MCV_MAX_IMAGE_MB counts these (Settings.max_image_bytes)
_RESAMPLE = Image.Resampling.LANCZOS
# Resizing by more than this factor first averages whole pixel blocks (Image.reduce), then applies LANCZOS over
# the remaining factor; Pillow documents 3.0 as indistinguishable from a full LANCZOS in most cases.
_REDUCING_GAP = 3.0
_ORIENTATION = ExifTags.Base.Orientation

# What Pillow's plugins raise on malformed data (fuzzed files reach all of these).
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, KeyError, struct.error, zlib.error)


# --------------------------------------------------------------------------------------------- data classes


@dataclass(frozen=True)
class SourceImage:
    """An upload that passed validation.

    `data` is the upload byte for byte (what is stored and hashed). `width`/`height` are the full-resolution
    size after EXIF orientation. `pixels` is RGB, oriented, and possibly smaller than `width` x `height`:
    it is the "working size", the smallest that still covers what every spec given to `load_image` needs, so that
    `prepare` never resamples more than it has to. Shared by every `prepare` (threads too): read it, never
    change it.
    """

    data: bytes = field(repr=False)
    format: str
    media_type: str
    ext: str
    width: int
    height: int
    size_bytes: int
    sha256: str
    name: str
    n_frames: int
    mode: str
    pixels: Image.Image = field(repr=False, compare=False)

    @property
    def megapixels(self) -> float:
        return self.width * self.height / 1_000_000


@dataclass(frozen=True)
class PreparedImage:
    """The JPEG one provider receives."""

    data: bytes = field(repr=False)
    media_type: str
    format: str
    width: int
    height: int


@dataclass(frozen=True)
class ImageSpec:
    """How one service wants its image sized. Every limit scales down only, keeping the aspect ratio.

    `short_edge` is different: it scales up or down so the shorter side is exactly that long (a fixed-input
    classifier); `crop` then cuts that size out of the centre. `detail` is the OpenAI image detail that goes
    with the image in the request.
    """

    name: str
    max_long_edge: int | None = None
    max_short_edge: int | None = None
    max_area: int | None = None
    short_edge: int | None = None
    crop: tuple[int, int] | None = None
    detail: str | None = None
    quality: int = 90

    def __post_init__(self) -> None:
        limits = (self.max_long_edge, self.max_short_edge, self.max_area, self.short_edge, *(self.crop or ()))
        if any(v is not None and (not isinstance(v, int) or v < 1) for v in limits):
            raise ValueError(f"image spec {self.name!r}: sizes must be positive integers")
        if self.short_edge is not None and (self.max_long_edge or self.max_short_edge or self.max_area):
            raise ValueError(f"image spec {self.name!r}: short_edge sets the scale; it takes no other limit")
        if self.detail not in (None, "low", "high", "auto"):
            raise ValueError(f"image spec {self.name!r}: detail must be low, high or auto")
        if not 1 <= self.quality <= 95:
            raise ValueError(f"image spec {self.name!r}: JPEG quality must be 1..95")

    def scale(self, width: int, height: int) -> float:
        """The factor applied to the whole image (before any crop)."""
        _check_size_args(width, height)
        if self.short_edge is not None:
            return self.short_edge / min(width, height)
        s = 1.0
        if self.max_long_edge is not None:
            s = min(s, self.max_long_edge / max(width, height))
        if self.max_short_edge is not None:
            s = min(s, self.max_short_edge / min(width, height))
        if self.max_area is not None:
            s = min(s, math.sqrt(self.max_area / (width * height)))
        return s

    def resize_size(self, width: int, height: int) -> tuple[int, int]:
        """The size the whole image is scaled to, before any crop."""
        s = self.scale(width, height)
        if s == 1.0:
            return width, height
        if self.short_edge is not None:
            return max(1, round(width * s)), max(1, round(height * s))
        # Rounded down (the epsilon absorbs float error at exact limits) so that no limit is exceeded.
        w, h = max(1, math.floor(width * s + 1e-6)), max(1, math.floor(height * s + 1e-6))
        while self.max_area is not None and w * h > self.max_area:
            w, h = (w - 1, h) if w >= h else (w, h - 1)
        return w, h

    def target_size(self, width: int, height: int) -> tuple[int, int]:
        """The size of the image the service receives."""
        rw, rh = self.resize_size(width, height)
        if self.crop is None:
            return rw, rh
        return min(self.crop[0], rw), min(self.crop[1], rh)


# The working size when the caller names no specs: large enough for what any model family here wants
# (models.py), so `prepare` rarely has to decode again. The workbench passes its catalogue's own specs.
DEFAULT_WORKING = ImageSpec("working", max_long_edge=2048, max_area=2048 * 1536)


def _check_size_args(width: int, height: int) -> None:
    if not (isinstance(width, int) and isinstance(height, int) and width > 0 and height > 0):
        raise ValueError(f"width and height must be positive integers, not {width!r} x {height!r}")


# ---------------------------------------------------------------------------------------------- file names

_CONTROL_CATEGORIES = ("Cc", "Cf", "Cs", "Co", "Cn")  # controls, format chars (bidi overrides), surrogates


def safe_name(name: str) -> str:
    """A file name fit for display: no directories, no control characters, at most 120 characters.

    Only for showing; storage keys come from the sha256.
    """
    text = unicodedata.normalize("NFC", str(name or ""))
    parts = [p for p in text.replace("\\", "/").split("/") if p.strip() not in ("", ".", "..")]
    text = parts[-1] if parts else ""
    text = "".join(
        " " if ch.isspace() else ch
        for ch in text
        if ch.isspace() or unicodedata.category(ch) not in _CONTROL_CATEGORIES
    )
    text = " ".join(text.split())
    if not text.strip(". "):
        return "image"
    if len(text) <= MAX_NAME_CHARS:
        return text
    stem, dot, ext = text.rpartition(".")
    if not (dot and stem and 0 < len(ext) <= 10 and ext.isalnum()):
        stem, dot, ext = text, "", ""
    keep = MAX_NAME_CHARS - len(dot) - len(ext) - 1  # room for the ellipsis
    return stem[:keep].rstrip() + "…" + dot + ext


# ------------------------------------------------------------------------------------------------- loading


def load_image(
    data: bytes,
    name: str = "",
    *,
    max_bytes: int,
    max_pixels: int,
    specs: Iterable[ImageSpec] = (DEFAULT_WORKING,),
) -> SourceImage:
    """Validate an upload and decode it once; raises `ImageError` saying what is wrong and what to do."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"image data must be bytes, not {type(data).__name__}")
    data = bytes(data)
    display = safe_name(name)
    subject = f"'{display}'" if name else "The file"

    if not data:
        raise ImageError(
            f"{subject} is empty (0 bytes)",
            hint="choose an image file; if it was an upload, try again",
        )
    if len(data) > max_bytes:
        size, limit = _megabytes(len(data), max_bytes)
        raise ImageError(
            f"{subject} is {size} MB, larger than the {limit} MB limit (MCV_MAX_IMAGE_MB)",
            hint="use a smaller image (JPEG compresses photos best), or raise MCV_MAX_IMAGE_MB",
        )

    fmt = sniff_format(data)
    if fmt is None:
        raise _not_supported(data, subject)

    header = _header_size(data, fmt)  # None when the header cannot be parsed: Pillow then says why
    if header is not None:
        _check_dimensions(*header, subject=subject, max_pixels=max_pixels)

    with _our_pixel_limit(header):
        try:
            im = Image.open(io.BytesIO(data), formats=[fmt])
        except Image.DecompressionBombError as exc:
            raise _too_large_for_pillow(subject, header) from exc
        except _DECODE_ERRORS as exc:
            raise _corrupt(subject, fmt, exc) from exc
        with im:
            _check_dimensions(*im.size, subject=subject, max_pixels=max_pixels)
            mode = im.mode
            try:
                # MPO (a JPEG carrying extra pictures, as phones write) counts as one frame.
                n_frames = 1 if fmt == "JPEG" else int(getattr(im, "n_frames", 1))
                if n_frames > 1:
                    im.seek(0)
                pixels, width, height = _decode(im, fmt, tuple(specs))
            except Image.DecompressionBombError as exc:
                raise _too_large_for_pillow(subject, header) from exc
            except _DECODE_ERRORS as exc:
                raise _corrupt(subject, fmt, exc) from exc

    return SourceImage(
        data=data,
        format=fmt,
        media_type=_MEDIA_TYPES[fmt],
        ext=_EXTENSIONS[fmt],
        width=width,
        height=height,
        size_bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        name=display,
        n_frames=n_frames,
        mode=mode,
        pixels=pixels,
    )


def _decode(im: Image.Image, fmt: str, specs: Iterable[ImageSpec]) -> tuple[Image.Image, int, int]:
    """Decode `im` (opened, not loaded), orient it, make it RGB and bring it to the working size for `specs`.

    Returns the pixels and the full-resolution width and height after orientation.
    """
    full_w, full_h = im.size
    if fmt == "JPEG":
        # Ask libjpeg for the smallest DCT scale still >= the working size. A JPEG's EXIF precedes its pixel
        # data, so the orientation is known here. All entropy-coded data is still read, so a truncated file
        # still fails to load.
        orientation = _orientation(im)
        width, height = _oriented(full_w, full_h, orientation)
        work = _working_size(width, height, specs)
        if work != (width, height):
            im.draft("RGB", _oriented(*work, orientation))
    im.load()
    orientation = _orientation(im)  # again: a PNG may carry its EXIF after the pixel data
    width, height = _oriented(full_w, full_h, orientation)
    rgb = to_rgb(_exif_transpose(im, orientation))
    work = _working_size(width, height, specs)
    if rgb.size != work:
        rgb = rgb.resize(work, _RESAMPLE, reducing_gap=_REDUCING_GAP)
    elif rgb is im:
        rgb = im.copy()  # closing the file also releases its pixels
    return rgb, width, height


def _working_size(width: int, height: int, specs: Iterable[ImageSpec]) -> tuple[int, int]:
    """The smallest size that still covers every spec's resize of a width x height image (never larger)."""
    sizes = [spec.resize_size(width, height) for spec in specs]
    if not sizes:
        return width, height
    return min(width, max(w for w, _ in sizes)), min(height, max(h for _, h in sizes))


def _orientation(im: Image.Image) -> int:
    """The EXIF orientation, 1 when absent, invalid or unreadable (as every viewer treats a broken EXIF)."""
    try:
        value = im.getexif().get(_ORIENTATION, 1)
    except _DECODE_ERRORS:
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _oriented(width: int, height: int, orientation: int) -> tuple[int, int]:
    return (height, width) if orientation in _TRANSPOSE_SWAPS else (width, height)


# ImageOps.exif_transpose's table. That function also rewrites the EXIF block, which we drop anyway, and
# fails on some malformed blocks (struct.error in Exif.tobytes): a photo must not be rejected for that.
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_TRANSPOSE_SWAPS = (5, 6, 7, 8)  # width and height swap


def _exif_transpose(im: Image.Image, orientation: int) -> Image.Image:
    method = _TRANSPOSE.get(orientation)
    return im if method is None else im.transpose(method)


@contextmanager
def _our_pixel_limit(header: tuple[int, int] | None) -> Iterator[None]:
    """Silence Pillow's DecompressionBombWarning: MCV_MAX_PIXELS, checked on the header already, governs.

    The filter is installed only when Pillow would warn (warnings.catch_warnings is process-wide state).
    """
    limit = Image.MAX_IMAGE_PIXELS
    if limit is None or (header is not None and header[0] * header[1] <= limit):
        yield
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        yield


# ------------------------------------------------------------------------------------------ colour modes


def to_rgb(im: Image.Image) -> Image.Image:
    """Any Pillow image as 8-bit RGB (itself when it already is); transparency is composited on white."""
    mode = im.mode
    if mode == "RGB" and "transparency" not in im.info:
        return im
    if mode.startswith("I;16") or mode == "I":
        # 16-bit samples (a 16-bit PNG opens as I;16) scaled to 8 bits, rounding: 65535 -> 255, 257 -> 1.
        samples = np.clip(np.asarray(im).astype(np.int64), 0, 65535)
        return _gray8((samples + 128) // 257)
    if mode == "F":
        # Float images have no fixed range: 0..1 is taken as normalised, anything else as 0..255 like Pillow.
        values = np.asarray(im, dtype=np.float64)
        finite = values[np.isfinite(values)]
        if finite.size and finite.min() >= 0.0 and finite.max() <= 1.0:
            values = values * 255.0
        return _gray8(np.rint(np.nan_to_num(np.clip(values, 0.0, 255.0))))
    if mode == "La":  # premultiplied; Pillow converts it only to LA
        im = im.convert("LA")
        mode = im.mode
    if mode in ("RGBA", "LA", "PA", "RGBa") or "transparency" in im.info:
        rgba = im.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        canvas.alpha_composite(rgba)
        return canvas.convert("RGB")
    # L, 1, P, CMYK (Pillow reads Adobe's inverted CMYK JPEGs as such), YCbCr, LAB, HSV.
    return im.convert("RGB")


def _gray8(values: np.ndarray) -> Image.Image:
    return Image.fromarray(values.astype(np.uint8)).convert("RGB")


# ------------------------------------------------------------------------------------------- preparation


def prepare(src: SourceImage, spec: ImageSpec) -> PreparedImage:
    """The JPEG (quality `spec.quality`) this spec's service receives, made from `src.pixels`."""
    width, height = spec.target_size(src.width, src.height)
    pixels = src.pixels
    if _needs_more_pixels(src, spec):
        # A spec that wants more than the working size: decode again at its own size.
        with _our_pixel_limit((src.width, src.height)), Image.open(io.BytesIO(src.data), formats=[src.format]) as im:
            pixels, _, _ = _decode(im, src.format, [spec])
    out = _resample(pixels, spec, src.width, src.height)
    assert out.size == (width, height), (out.size, (width, height))
    buf = io.BytesIO()
    out.save(buf, "JPEG", quality=spec.quality)
    return PreparedImage(data=buf.getvalue(), media_type="image/jpeg", format="jpeg", width=width, height=height)


def prepare_all(src: SourceImage, specs: Iterable[ImageSpec]) -> dict[str, PreparedImage]:
    """`prepare` for each spec, keyed by spec name."""
    out: dict[str, PreparedImage] = {}
    for spec in specs:
        if spec.name in out:
            raise ValueError(f"two image specs are named {spec.name!r}")
        out[spec.name] = prepare(src, spec)
    return out


def _needs_more_pixels(src: SourceImage, spec: ImageSpec) -> bool:
    rw, rh = spec.resize_size(src.width, src.height)
    pw, ph = src.pixels.size
    return (rw > pw and pw < src.width) or (rh > ph and ph < src.height)


def _resample(pixels: Image.Image, spec: ImageSpec, width: int, height: int) -> Image.Image:
    """Scale (and crop) `pixels`, which show the whole width x height image, as `spec` says."""
    rw, rh = spec.resize_size(width, height)
    pw, ph = pixels.size
    if spec.crop is None:
        if (rw, rh) == (pw, ph):
            return pixels.copy()  # Image.save sets attributes on the image: never save the shared one
        return pixels.resize((rw, rh), _RESAMPLE, reducing_gap=_REDUCING_GAP)
    # The crop, mapped back onto `pixels`: resampling only that box is the same as resize-then-crop,
    # without a whole-pixel rounding of the crop offset.
    cw, ch = spec.target_size(width, height)
    bw, bh = pw * cw / rw, ph * ch / rh
    left, top = (pw - bw) / 2, (ph - bh) / 2
    return pixels.resize((cw, ch), _RESAMPLE, box=(left, top, left + bw, top + bh), reducing_gap=_REDUCING_GAP)


# ------------------------------------------------------------------------------- format and header sniffing


def sniff_format(data: bytes) -> str | None:
    """The supported format named by the first 12 bytes, or None: a cheap first look, not a validation."""
    if data[:3] == b"\xff\xd8\xff":
        return "JPEG"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "PNG"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return None


def _header_size(data: bytes, fmt: str) -> tuple[int, int] | None:
    """Width and height as the file's header states them, read without Pillow; None if unreadable."""
    try:
        if fmt == "PNG":
            if data[12:16] != b"IHDR":
                return None
            return struct.unpack(">II", data[16:24])
        if fmt == "GIF":
            return _gif_size(data)
        if fmt == "WEBP":
            return _webp_size(data)
        return _jpeg_size(data)
    except struct.error:
        return None


def _gif_size(data: bytes) -> tuple[int, int]:
    """The logical screen, grown to cover the first frame as Pillow grows it (GifImagePlugin): a 10 x 10 screen
    whose first frame claims 20000 x 20000 px decodes as 20000 x 20000."""
    width, height = struct.unpack("<HH", data[6:10])
    flags = data[10]
    at = 13 + (3 * (2 << (flags & 7)) if flags & 0x80 else 0)  # after the global colour table
    while at < len(data) and data[at] == 0x21:  # extensions: introducer, label, sub-blocks up to an empty one
        at += 2
        while at < len(data) and data[at]:
            at += data[at] + 1
        at += 1
    if at + 9 <= len(data) and data[at] == 0x2C:  # the first image descriptor: left, top, width, height
        left, top, frame_w, frame_h = struct.unpack("<HHHH", data[at + 1 : at + 9])
        width, height = max(width, left + frame_w), max(height, top + frame_h)
    return width, height


def _webp_size(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8X":  # extended: 24-bit canvas size minus one
        return 1 + int.from_bytes(data[24:27], "little"), 1 + int.from_bytes(data[27:30], "little")
    if chunk == b"VP8L":  # lossless: 14-bit sizes minus one after the 0x2f signature
        if data[20:21] != b"\x2f":
            return None
        bits = int.from_bytes(data[21:25], "little")
        return 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
    if chunk == b"VP8 ":  # lossy: key frame start code, then 14-bit sizes
        if data[23:26] != b"\x9d\x01\x2a":
            return None
        w, h = struct.unpack("<HH", data[26:30])
        return w & 0x3FFF, h & 0x3FFF
    return None


_SOF_MARKERS = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    i, n = 2, len(data)
    while i + 4 <= n:
        if data[i] != 0xFF:  # junk between segments: Pillow skips it, and so must this
            i += 1
            continue
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):  # standalone markers
            i += 2
            continue
        if marker in (0xD9, 0xDA):  # end of image, start of scan: no frame header before it
            return None
        length = struct.unpack(">H", data[i + 2 : i + 4])[0]
        if marker in _SOF_MARKERS:
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            return width, height
        i += 2 + length
    return None


# ------------------------------------------------------------------------------------------------- errors


def _check_dimensions(width: int, height: int, *, subject: str, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise ImageError(
            f"{subject} is {width} x {height} px ({width * height / 1e6:.1f} MP), more than the "
            f"{max_pixels / 1e6:g} MP limit (MCV_MAX_PIXELS)",
            hint="scale the image down, or raise MCV_MAX_PIXELS",
        )
    if width < 1 or height < 1:
        raise ImageError(
            f"{subject} has a zero width or height ({width} x {height} px in its header)",
            hint="the file is damaged: export or download it again",
        )
    if max(width, height) > MAX_SIDE:
        raise ImageError(
            f"{subject} has absurd dimensions ({width} x {height} px); no side may exceed {MAX_SIDE} px",
            hint="scale or crop the image to a usual size",
        )
    if max(width, height) > MAX_ASPECT_RATIO * min(width, height):
        ratio = max(width, height) / min(width, height)
        raise ImageError(
            f"{subject} is {width} x {height} px, an aspect ratio of {ratio:.0f}:1; the vision services "
            f"accept at most {MAX_ASPECT_RATIO}:1",
            hint="crop the image to a less elongated shape",
        )


def _too_large_for_pillow(subject: str, header: tuple[int, int] | None) -> ImageError:
    size = f" ({header[0]} x {header[1]} px)" if header else ""
    limit = 2 * (Image.MAX_IMAGE_PIXELS or 0) / 1e6
    return ImageError(
        f"{subject} is too large to decode safely{size}: Pillow refuses more than {limit:.0f} MP",
        hint="scale the image down; MCV_MAX_PIXELS cannot go above Pillow's own limit",
    )


def _corrupt(subject: str, fmt: str, exc: BaseException) -> ImageError:
    detail = "Pillow cannot read its header" if isinstance(exc, UnidentifiedImageError) else str(exc)
    detail = detail or type(exc).__name__
    return ImageError(
        f"{subject} is truncated or corrupt: its {fmt} data cannot be decoded — {detail}",  # the hint follows in ()
        hint="the file is damaged or was not completely uploaded: get or export it again",
    )


def _megabytes(size: int, limit: int) -> tuple[str, str]:
    digits = 1
    while digits < 6 and f"{size / _MB:.{digits}f}" == f"{limit / _MB:.{digits}f}":
        digits += 1  # never "20.0 MB, larger than the 20 MB limit" without a visible difference
    return f"{size / _MB:.{digits}f}", f"{limit / _MB:g}"


# Recognisable files that are not JPEG/PNG/WebP/GIF: (magic at offset 0, what to call it, is an image format).
_OTHER_MAGIC: tuple[tuple[bytes, str, bool], ...] = (
    (b"II*\x00", "a TIFF image", True),
    (b"MM\x00*", "a TIFF image", True),
    (b"8BPS", "a Photoshop (PSD) image", True),
    (b"\xff\x0a", "a JPEG XL image", True),
    (b"\x00\x00\x00\x0cJXL \r\n\x87\n", "a JPEG XL image", True),
    (b"\x00\x00\x00\x0cjP  \r\n\x87\n", "a JPEG 2000 image", True),
    (b"%PDF-", "a PDF document", False),
    (b"PK\x03\x04", "a ZIP archive (or an Office document)", False),
    (b"PK\x05\x06", "a ZIP archive", False),
    (b"\x1f\x8b", "a gzip archive", False),
)
_BMP_HEADER_SIZES = (12, 40, 52, 56, 64, 108, 124)  # after "BM": tells a bitmap from text starting "BM"
_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs", b"mif1", b"msf1"}
_VIDEO_BRANDS = {b"isom", b"iso2", b"mp41", b"mp42", b"qt  ", b"M4V ", b"3gp4", b"3gp5", b"avc1", b"dash"}


def _looks_like(data: bytes) -> tuple[str, bool] | None:
    """What a non-supported file seems to be: (description, whether it is an image in another format)."""
    for magic, what, is_image in _OTHER_MAGIC:
        if data.startswith(magic):
            return what, is_image
    if data[:2] == b"BM" and int.from_bytes(data[14:18], "little") in _BMP_HEADER_SIZES:
        return "a BMP image", True
    if data[4:8] == b"ftyp":
        brand = data[8:12]
        if brand in _HEIF_BRANDS:
            return "a HEIC image", True
        if brand in (b"avif", b"avis"):
            return "an AVIF image", True
        if brand in _VIDEO_BRANDS:
            return "a video (MP4/QuickTime)", False
    if b"%PDF-" in data[:1024]:
        return "a PDF document", False
    text = _as_text(data[:4096])
    if text is None:
        return None
    head = text.lstrip().lower()
    if "<svg" in head[:4096] and head.startswith("<"):
        return "an SVG (vector) image", True
    if head.startswith(("<!doctype html", "<html")) or any(tag in head for tag in ("<html", "<head>", "<body")):
        return "an HTML page", False
    return "plain text", False


def _as_text(head: bytes) -> str | None:
    """The start of the file as text, or None when it is binary."""
    boms = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))
    for bom, encoding in boms:
        if head.startswith(bom):
            head, chosen = head[len(bom) :], encoding
            break
    else:
        chosen = "utf-8"
    try:
        text = codecs.getincrementaldecoder(chosen)().decode(head, final=False)  # may end mid-character
    except UnicodeDecodeError:
        return None
    if not text or "\x00" in text:
        return None
    printable = sum(ch.isprintable() or ch in "\t\r\n\f" for ch in text)
    return text if printable >= 0.95 * len(text) else None


def _not_supported(data: bytes, subject: str) -> ImageError:
    supported = f"Supported formats: {_SUPPORTED_TEXT}."
    seen = _looks_like(data)
    if seen is None:
        return ImageError(
            f"{subject} is not an image in a supported format. {supported}",
            hint="save or export the picture again in one of them",
        )
    what, is_image = seen
    if is_image:
        return ImageError(
            f"{subject} is {what}, an unsupported format. {supported}",
            hint="convert it to JPEG or PNG first"
            + (" (iPhone: Settings > Camera > Formats > Most Compatible saves JPEG)" if what == "a HEIC image" else ""),
        )
    hints = {
        "an HTML page": "a web page was saved instead of the picture: open the image itself and save that",
        "a PDF document": "export the page as PNG or JPEG",
    }
    return ImageError(
        f"{subject} is not an image: it looks like {what}. {supported}",
        hint=hints.get(what, "choose the picture file itself"),
    )
