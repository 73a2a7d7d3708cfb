"""The bad-input corpus: every file is generated here, in code (nothing is downloaded), one file per case.

Each `Case` is an upload as a user makes it (a file name and its bytes) and the one outcome every surface must
give for it: the core (`Workbench.load_image`), the command line (`python -m mcv_core compare`) and the Compare
page. `Accepted` holds what a correct result shows (the size after EXIF orientation, the format found from the
content, the source colour mode, the frame count, the sanitised display name); `Rejected` holds the exact
message fragment from `mcv_core/images.py` that every surface must show, and nothing else.

The expected values are written out by hand, never computed with the product's own functions, so that a change
in the product shows up as a failure here. `env` is the settings a case runs under (the oversize file uses
MCV_MAX_IMAGE_MB=1, so it is 1 MB and not 20).

Decompression bombs are real ones (valid, complete zlib streams that would decode to hundreds of megapixels)
and cost no pixels to make: the compressed stream is fed one row of zeros at a time. Run this module to print
the corpus: `python -m tests.corpus`.
"""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable, Mapping

import numpy as np
from PIL import Image

MB = 1024 * 1024
SUPPORTED = "Supported formats: JPEG, PNG, WebP, GIF."
PILLOW_WARNS_ABOVE = 89_478_485  # Image.MAX_IMAGE_PIXELS; Pillow raises above twice that


@dataclass(frozen=True)
class Accepted:
    """A correct result: the oriented size, the format found from the content, the source mode, the frames."""

    width: int
    height: int
    format: str
    mode: str
    frames: int = 1

    @property
    def ext(self) -> str:
        return {"JPEG": "jpg", "PNG": "png", "GIF": "gif", "WEBP": "webp"}[self.format]

    def caption(self) -> str:
        """What the Compare page's header caption shows of it."""
        return f"{self.width}×{self.height} {self.format}"


@dataclass(frozen=True)
class Rejected:
    """One clear error containing `fragment`, on every surface."""

    fragment: str


@dataclass(frozen=True)
class Case:
    id: str
    file_name: str  # as the user's browser or shell hands it over, path parts and control characters included
    make: Callable[[], bytes] = field(repr=False)
    outcome: Accepted | Rejected
    shown: str  # the sanitised display name every surface must use
    env: Mapping[str, str] = field(default_factory=dict)
    note: str = ""

    @property
    def accepted(self) -> bool:
        return isinstance(self.outcome, Accepted)

    def data(self) -> bytes:
        return _cached(self.make)


@lru_cache(maxsize=None)
def _cached(make: Callable[[], bytes]) -> bytes:
    return make()


# --- generators ------------------------------------------------------------------------------------------


def encode(im: Image.Image, fmt: str, **params: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **params)
    return buf.getvalue()


@lru_cache(maxsize=None)
def photo() -> Image.Image:
    """A real photo, 451 x 300: scikit-image's bundled cat (inside the wheel, not downloaded)."""
    from skimage import data

    return Image.fromarray(data.chelsea())


def photo_jpeg(quality: int = 85) -> bytes:
    return encode(photo(), "JPEG", quality=quality)


def photo_png(comment: str = "") -> bytes:
    """The photo at 120 x 80 as PNG; a different `comment` gives different bytes (and another S3 key)."""
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    if comment:
        info.add_text("Comment", comment)
    return encode(photo().resize((120, 80)), "PNG", pnginfo=info)


def _gradient(size: tuple[int, int]) -> Image.Image:
    w, h = size
    x = np.linspace(0, 255, w, dtype=np.float64)[None, :].repeat(h, 0)
    y = np.linspace(0, 255, h, dtype=np.float64)[:, None].repeat(w, 1)
    return Image.fromarray(np.stack([x, y, 255 - x], -1).astype(np.uint8))


def truncated_jpeg() -> bytes:
    whole = photo_jpeg()
    return whole[: len(whole) * 2 // 3]


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def png_bomb(width: int, height: int) -> bytes:
    """A valid 1-bit greyscale PNG of width x height zeros: a few KB that decode to width x height pixels."""
    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte + packed bits
    packer = zlib.compressobj(9)
    idat = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


def gif_frame_bomb(width: int, height: int) -> bytes:
    """A GIF whose logical screen is 10 x 10 and whose first frame's descriptor says width x height.

    Pillow grows the image to the frame (GifImagePlugin) and runs its own bomb check on that size.
    """
    small = encode(Image.new("P", (10, 10), 1), "GIF")
    flags = small[10]
    at = 13 + (3 * (2 << (flags & 7)) if flags & 0x80 else 0)  # after the global colour table
    while small[at] == 0x21:  # extension blocks: label, then sub-blocks up to an empty one
        at += 2
        while small[at]:
            at += small[at] + 1
        at += 1
    assert small[at] == 0x2C, "no image descriptor where one was expected"
    return small[: at + 5] + struct.pack("<HH", width, height) + small[at + 9 :]


def jpeg_junk_bomb(width: int, height: int) -> bytes:
    """A JPEG header claiming width x height, with a stray byte before its frame header (Pillow skips it)."""
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 17, 8, height, width, 3) + b"\x01\x22\x00\x02\x11\x01\x03\x11\x01"
    return b"\xff\xd8" + app0 + b"\x00" + sof + b"\xff\xd9"


def padded_jpeg(total: int) -> bytes:
    """A valid JPEG (the photo) padded with comment segments to exactly `total` bytes."""
    base = photo_jpeg()
    pad = total - len(base)
    segments = -(-pad // 65_537)  # a COM segment is at most 2 + 65535 bytes
    sizes = [pad // segments + (1 if i < pad % segments else 0) for i in range(segments)]
    com = b"".join(b"\xff\xfe" + struct.pack(">H", n - 2) + b"\x20" * (n - 4) for n in sizes)
    out = base[:2] + com + base[2:]
    assert len(out) == total
    return out


def exif_rotated_jpeg() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 degrees clockwise to display
    return encode(photo(), "JPEG", quality=85, exif=exif)


def cmyk_jpeg() -> bytes:
    return encode(_gradient((64, 48)).convert("CMYK"), "JPEG", quality=90)


def png_16bit() -> bytes:
    ramp = np.tile(np.linspace(0, 65535, 64).round().astype(np.uint16), (48, 1))
    return encode(Image.fromarray(ramp), "PNG")


def palette_png() -> bytes:
    return encode(_gradient((64, 48)).convert("P", palette=Image.Palette.ADAPTIVE, colors=16), "PNG")


def alpha_png() -> bytes:
    im = _gradient((64, 48)).convert("RGBA")
    alpha = Image.new("L", im.size, 0)
    alpha.paste(255, (16, 12, 48, 36))  # an opaque square on a transparent ground
    im.putalpha(alpha)
    return encode(im, "PNG")


def animated_gif() -> bytes:
    frames = [Image.new("RGB", (40, 30), colour) for colour in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    return encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)


def one_pixel() -> bytes:
    return encode(Image.new("RGB", (1, 1), (200, 30, 30)), "PNG")


def strip_200_to_1() -> bytes:
    return encode(_gradient((2000, 10)), "PNG")


def wide_5000_to_1() -> bytes:
    return encode(Image.new("L", (10_000, 2), 128), "PNG")


def tall_333_to_1() -> bytes:
    return encode(Image.new("P", (3, 1000), 0), "GIF")


SVG = b"""<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"><circle cx="32" cy="32" r="30" fill="orange"/></svg>
"""
HTML = b"""<!DOCTYPE html>
<html><head><title>403 Forbidden</title></head><body><h1>Forbidden</h1><p>You don't have access.</p></body></html>
"""
PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
TEXT = b"Shopping list:\n- milk\n- cat food\n"


# --- the corpus ------------------------------------------------------------------------------------------

CASES: tuple[Case, ...] = (
    # Not images, or not whole ones.
    Case("empty", "empty.jpg", lambda: b"", Rejected("'empty.jpg' is empty (0 bytes)"), "empty.jpg"),
    Case(
        "truncated-jpeg",
        "holiday.jpg",
        truncated_jpeg,
        Rejected("'holiday.jpg' is truncated or corrupt: its JPEG data cannot be decoded"),
        "holiday.jpg",
    ),
    Case(
        "text-as-jpg",
        "notes.jpg",
        lambda: TEXT,
        Rejected(f"'notes.jpg' is not an image: it looks like plain text. {SUPPORTED}"),
        "notes.jpg",
    ),
    Case(
        "html-as-png",
        "download.png",
        lambda: HTML,
        Rejected(f"'download.png' is not an image: it looks like an HTML page. {SUPPORTED}"),
        "download.png",
    ),
    Case(
        "svg-as-png",
        "logo.png",
        lambda: SVG,
        Rejected(f"'logo.png' is an SVG (vector) image, an unsupported format. {SUPPORTED}"),
        "logo.png",
    ),
    Case(
        "pdf-as-jpg",
        "scan.jpg",
        lambda: PDF,
        Rejected(f"'scan.jpg' is not an image: it looks like a PDF document. {SUPPORTED}"),
        "scan.jpg",
    ),
    # Decompression bombs: rejected by MCV_MAX_PIXELS (50 MP) from the header, before Pillow sees them.
    Case(
        "bomb-png-400mp",
        "bomb.png",
        lambda: png_bomb(20_000, 20_000),
        Rejected("'bomb.png' is 20000 x 20000 px (400.0 MP), more than the 50 MP limit (MCV_MAX_PIXELS)"),
        "bomb.png",
        note="far past Pillow's own limit: Pillow alone raises DecompressionBombError",
    ),
    Case(
        "bomb-png-100mp",
        "bomb-100mp.png",
        lambda: png_bomb(10_000, 10_000),
        Rejected("'bomb-100mp.png' is 10000 x 10000 px (100.0 MP), more than the 50 MP limit (MCV_MAX_PIXELS)"),
        "bomb-100mp.png",
        note="between Pillow's 89 MP warning and its 179 MP error: Pillow alone only warns and decodes it",
    ),
    Case(
        "bomb-gif-frame-100mp",
        "frame-bomb.gif",
        lambda: gif_frame_bomb(10_000, 10_000),
        Rejected("'frame-bomb.gif' is 10000 x 10000 px (100.0 MP), more than the 50 MP limit (MCV_MAX_PIXELS)"),
        "frame-bomb.gif",
        note="a 10 x 10 screen whose first frame claims 100 MP",
    ),
    Case(
        "bomb-gif-frame-400mp",
        "frame-bomb-400mp.gif",
        lambda: gif_frame_bomb(20_000, 20_000),
        Rejected(
            "'frame-bomb-400mp.gif' is 20000 x 20000 px (400.0 MP), more than the 50 MP limit (MCV_MAX_PIXELS)"
        ),
        "frame-bomb-400mp.gif",
        note="a 10 x 10 screen whose first frame claims 400 MP",
    ),
    Case(
        "bomb-jpeg-junk-3000mp",
        "junk-bomb.jpg",
        lambda: jpeg_junk_bomb(60_000, 50_000),
        Rejected("'junk-bomb.jpg' is 60000 x 50000 px (3000.0 MP), more than the 50 MP limit (MCV_MAX_PIXELS)"),
        "junk-bomb.jpg",
        note="a JPEG frame header after a stray byte, claiming 3000 MP",
    ),
    # Shapes.
    Case(
        "aspect-5000-to-1",
        "banner.png",
        wide_5000_to_1,
        Rejected(
            "'banner.png' is 10000 x 2 px, an aspect ratio of 5000:1; the vision services accept at most 200:1"
        ),
        "banner.png",
    ),
    Case(
        "aspect-1-to-333",
        "ribbon.gif",
        tall_333_to_1,
        Rejected("'ribbon.gif' is 3 x 1000 px, an aspect ratio of 333:1; the vision services accept at most 200:1"),
        "ribbon.gif",
    ),
    Case("aspect-200-to-1", "strip.png", strip_200_to_1, Accepted(2000, 10, "PNG", "RGB"), "strip.png"),
    Case("one-pixel", "pixel.png", one_pixel, Accepted(1, 1, "PNG", "RGB"), "pixel.png"),
    # Colour modes, frames, orientation: accepted and converted to RGB.
    Case("cmyk-jpeg", "print.jpg", cmyk_jpeg, Accepted(64, 48, "JPEG", "CMYK"), "print.jpg"),
    Case("png-16-bit", "scan16.png", png_16bit, Accepted(64, 48, "PNG", "I;16"), "scan16.png"),
    Case("palette-png", "palette.png", palette_png, Accepted(64, 48, "PNG", "P"), "palette.png"),
    Case("alpha-png", "sticker.png", alpha_png, Accepted(64, 48, "PNG", "RGBA"), "sticker.png"),
    Case("animated-gif", "spinner.gif", animated_gif, Accepted(40, 30, "GIF", "P", frames=3), "spinner.gif"),
    Case(
        "exif-rotated",
        "portrait.jpg",
        exif_rotated_jpeg,
        Accepted(300, 451, "JPEG", "RGB"),  # stored 451 x 300 with orientation 6: shown 300 x 451
        "portrait.jpg",
    ),
    # Size: 1 MiB + 1 byte of an otherwise valid JPEG, under MCV_MAX_IMAGE_MB=1 (a 20 MB file is not needed).
    Case(
        "over-size-limit",
        "big.jpg",
        lambda: padded_jpeg(MB + 1),
        Rejected("'big.jpg' is 1.000001 MB, larger than the 1 MB limit (MCV_MAX_IMAGE_MB)"),
        "big.jpg",
        env={"MCV_MAX_IMAGE_MB": "1"},
    ),
    # File names: valid images under hostile or unusual names are accepted; keys never come from the name.
    Case(
        "name-traversal-posix",
        "../../etc/passwd.jpg",
        photo_jpeg,  # each named case has its own bytes, so that each has its own S3 key to check
        Accepted(451, 300, "JPEG", "RGB"),
        "passwd.jpg",
    ),
    Case(
        "name-traversal-windows",
        "..\\..\\win.ini.png",
        lambda: photo_png("windows"),
        Accepted(120, 80, "PNG", "RGB"),
        "win.ini.png",
    ),
    Case("name-japanese", "猫の写真.jpg", lambda: photo_jpeg(86), Accepted(451, 300, "JPEG", "RGB"), "猫の写真.jpg"),
    Case("name-cafe-emoji", "café ☕.png", lambda: photo_png("café"), Accepted(120, 80, "PNG", "RGB"), "café ☕.png"),
    Case(
        "name-bidi",
        "\u200fصورة\u202e gnp.jpg",  # RLM, Arabic, and a right-to-left override that disguises the extension
        lambda: photo_jpeg(87),
        Accepted(451, 300, "JPEG", "RGB"),
        "صورة gnp.jpg",
    ),
    # Bad names on rejected files: the error must name the file by its sanitised name, on one line.
    Case(
        "name-traversal-rejected",
        "../../uploads/evil.jpg",
        lambda: b"",
        Rejected("'evil.jpg' is empty (0 bytes)"),
        "evil.jpg",
    ),
    Case(
        "name-line-break-rejected",
        "evil\nerror: all good.jpg",
        lambda: TEXT,
        Rejected(f"'evil error: all good.jpg' is not an image: it looks like plain text. {SUPPORTED}"),
        "evil error: all good.jpg",
    ),
    Case(
        "name-bidi-rejected",
        "invoice\u202efdp.jpg",
        lambda: PDF,
        Rejected(f"'invoicefdp.jpg' is not an image: it looks like a PDF document. {SUPPORTED}"),
        "invoicefdp.jpg",
    ),
)

BY_ID: dict[str, Case] = {case.id: case for case in CASES}
ACCEPTED: tuple[Case, ...] = tuple(c for c in CASES if c.accepted)
REJECTED: tuple[Case, ...] = tuple(c for c in CASES if not c.accepted)
assert len(BY_ID) == len(CASES), "case ids must be unique"


def table() -> str:
    """The corpus as a Markdown table: case, file name, bytes, outcome."""
    rows = ["| case | file name | bytes | outcome |", "|---|---|---:|---|"]
    for case in CASES:
        o = case.outcome
        if isinstance(o, Accepted):
            frames = f", {o.frames} frames" if o.frames > 1 else ""
            outcome = f"accepted: {o.width}×{o.height} {o.format}, from {o.mode}{frames}, shown as `{case.shown}`"
        else:
            outcome = f"rejected: {o.fragment}"
        if case.env:
            outcome += " (" + ", ".join(f"{k}={v}" for k, v in case.env.items()) + ")"
        rows.append(f"| {case.id} | `{case.file_name!r}` | {len(case.data()):,} | {outcome} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(table())
