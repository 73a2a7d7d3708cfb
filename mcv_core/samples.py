"""The labelled sample set that ships with the project: scikit-image's bundled sample photos.

Only photos inside the scikit-image wheel (`skimage/data/`) are used, read straight from the package folder
with Pillow: nothing is downloaded, and `skimage` itself is not imported. Each sample's `expected` labels say
what the image truly shows, in the words an answer would use (`scoring` matches whole words, plurals
included); they were written by looking at the photos, never taken from what our models answer.

`sample_images()` encodes each photo as JPEG (quality 92) the same way every time, so the bytes, and with
them the sha256 and the S3 key, are stable from one run to the next on the same Pillow.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from PIL import Image

from .bench import BenchImage

JPEG_QUALITY = 92


@dataclass(frozen=True)
class Sample:
    name: str
    file_name: str  # the name the image carries in results and history
    source_file: str  # in skimage/data/
    expected: tuple[str, ...]
    note: str


SAMPLES: tuple[Sample, ...] = (
    Sample(
        "chelsea",
        "chelsea.jpg",
        "chelsea.png",
        ("cat", "kitten", "tabby"),
        "Chelsea the cat, a tabby, 451x300 colour; CC0, Stefan van der Walt.",
    ),
    Sample(
        "coffee",
        "coffee.jpg",
        "coffee.png",
        ("espresso", "coffee", "cup"),
        "An espresso in a cup on a saucer, 600x400 colour; CC0, Rachel Michetti for Pikolo Espresso Bar.",
    ),
    Sample(
        "astronaut",
        "astronaut.jpg",
        "astronaut.png",
        ("astronaut", "space suit", "spacesuit", "woman", "person"),
        "Astronaut Eileen Collins in her space suit, 512x512 colour; NASA, public domain.",
    ),
    Sample(
        "camera",
        "camera.jpg",
        "camera.png",
        ("camera", "tripod", "photographer", "cameraman", "man", "person"),
        "A man behind a camera on a tripod, 512x512 grey; CC0, Lav Varshney.",
    ),
    Sample(
        "rocket",
        "rocket.jpg",
        "rocket.jpg",
        ("rocket", "missile", "space shuttle", "launch"),
        "Falcon 9 carrying DSCOVR on its launch pad at dusk, 640x427 colour; SpaceX, public domain.",
    ),
    Sample(
        "page",
        "page.jpg",
        "page.png",
        ("segmentation", "text", "page", "document"),
        "A scanned page of printed text headed 'Region-based segmentation', 384x191 grey; scikit-image.",
    ),
    Sample(
        "clock",
        "clock.jpg",
        "clock_motion.png",
        ("clock",),
        "A wall clock, motion blurred, 400x300 grey; public domain, Stefan van der Walt.",
    ),
    Sample(
        "coins",
        "coins.jpg",
        "coins.png",
        ("coin",),
        "Greek coins from Pompeii on a grey background, 384x303 grey; Brooklyn Museum, no known restrictions.",
    ),
    Sample(
        "horse",
        "horse.jpg",
        "horse.png",
        ("horse",),
        "A black horse silhouette, 400x328 (RGBA in the wheel, flattened onto white, grey); CC0, Andreas Preuss.",
    ),
    Sample(
        "motorcycle",
        "motorcycle.jpg",
        "motorcycle_left.png",
        ("motorcycle", "motorbike", "moped", "scooter"),
        "A red motorcycle in a garage, left image of a Middlebury 2014 stereo pair, 741x500 colour.",
    ),
)


def sample(name: str) -> Sample:
    for item in SAMPLES:
        if item.name == name:
            return item
    raise KeyError(f"no sample named {name!r}; there are {', '.join(s.name for s in SAMPLES)}")


def sample_images() -> list[BenchImage]:
    """Every sample as a JPEG-encoded BenchImage with its expected labels, in SAMPLES order."""
    return [_encoded(item) for item in SAMPLES]


@lru_cache(maxsize=None)
def _encoded(item: Sample) -> BenchImage:
    with resources.as_file(resources.files("skimage") / "data" / item.source_file) as path, Image.open(path) as im:
        im.load()
        if im.mode == "RGBA":
            # JPEG has no alpha: flatten onto white, as scikit-image's own loader does for this silhouette.
            background = Image.new("RGBA", im.size, (255, 255, 255, 255))
            im = Image.alpha_composite(background, im).convert("L")
        elif im.mode not in ("RGB", "L"):
            im = im.convert("RGB")
        buffer = io.BytesIO()
        # Grey stays grey (a one-channel JPEG); the loader converts it for the providers.
        im.save(buffer, "JPEG", quality=JPEG_QUALITY)
        width, height = im.size
    return BenchImage(item.file_name, buffer.getvalue(), item.expected, width=width, height=height)
