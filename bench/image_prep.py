"""Image preparation: a 12 MP JPEG to every provider's payload, against the naive Pillow way.

    python -m bench.image_prep [--quick] [--json]

Input: a generated 12 MP phone-photo JPEG (`common.photo_jpeg`, 4032 x 3024, quality 90). Ours is the product's
path from upload bytes to the payloads: `mcv_core.images.load_image` (validation, sha256, a reduced-size JPEG
decode through `Image.draft`, one LANCZOS resample to the working size) then `prepare_all` (each spec's
payload: a LANCZOS step down, a crop for the classifier, a JPEG encode), for the image specs of the three
default targets (`targets.defaults`: the classifier's, Claude's and gpt-4o-mini's, from mcv_core/models.py),
one "provider" below being one of those targets. Two baselines, timed in the same run,
interleaved with ours (order rotated each round), after a warm-up:

  naive per provider  for each provider: Image.open, full decode, convert RGB, resize from full size to the
                      spec's size with LANCZOS (then the centre crop for the classifier), JPEG encode at the
                      spec's quality: what a provider module written on its own does;
  naive decode once   decode and convert once, then the same full-size LANCZOS resize and encode per provider.

Equivalence: every payload of ours, decoded, against the naive payload of the same provider, decoded: PSNR
(and SSIM, scikit-image), with a threshold; for scale, the JPEG encode's own loss (the naive payload against
the naive resize it was encoded from) is reported next to it.

Target: ours at least 4x faster than naive per provider (median), and every payload equivalent.
"""

from __future__ import annotations

import io
import math
import os
import statistics
import sys
import time
from typing import Any, Callable

from bench import common

NAME = "image_prep"
TARGET_SPEEDUP = 4.0
PSNR_MIN_DB = 35.0
SSIM_MIN = 0.95


# ------------------------------------------------------------------------------------------- the baselines


def naive_one(data: bytes, spec: Any, width: int, height: int, full: Any = None) -> tuple[bytes, Any]:
    """One provider's payload the naive way: full decode (unless given), RGB, LANCZOS from full size, crop, encode.
    Returns the JPEG and the resized image it was encoded from."""
    from PIL import Image

    if full is None:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            full = im.convert("RGB")
    rw, rh = spec.resize_size(width, height)
    out = full.resize((rw, rh), Image.Resampling.LANCZOS)
    if spec.crop is not None:
        cw, ch = spec.target_size(width, height)
        left, top = (rw - cw) // 2, (rh - ch) // 2
        out = out.crop((left, top, left + cw, top + ch))
    buf = io.BytesIO()
    out.save(buf, "JPEG", quality=spec.quality)
    return buf.getvalue(), out


def naive_per_provider(data: bytes, specs: Any, width: int, height: int) -> dict[str, bytes]:
    return {spec.name: naive_one(data, spec, width, height)[0] for spec in specs}


def naive_decode_once(data: bytes, specs: Any, width: int, height: int) -> dict[str, bytes]:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        im.load()
        full = im.convert("RGB")
    return {spec.name: naive_one(data, spec, width, height, full)[0] for spec in specs}


def ours(data: bytes, settings: Any, specs: Any) -> dict[str, bytes]:
    from mcv_core.images import load_image, prepare_all

    src = load_image(data, "bench-photo.jpg", max_bytes=settings.max_image_bytes, max_pixels=settings.max_pixels,
                     specs=specs)
    return {name: p.data for name, p in prepare_all(src, specs).items()}


# ---------------------------------------------------------------------------------------------- equivalence


def decoded(jpeg: bytes) -> Any:
    import numpy as np
    from PIL import Image

    with Image.open(io.BytesIO(jpeg)) as im:
        return np.asarray(im.convert("RGB"))


def psnr(a: Any, b: Any) -> float:
    import numpy as np

    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)


def ssim(a: Any, b: Any) -> float | None:
    try:
        from skimage.metrics import structural_similarity
    except ImportError:
        return None
    return float(structural_similarity(a, b, channel_axis=2, data_range=255))


# --------------------------------------------------------------------------------------------------- run


def timed(fn: Callable[[], Any]) -> float:
    started = time.perf_counter()
    fn()
    return (time.perf_counter() - started) * 1000


def stage_split(data: bytes, settings: Any, specs: Any, rounds: int) -> dict[str, float]:
    """Where ours spends its time: load_image (of which the draft decode) and prepare per spec, medians in ms."""
    from PIL import Image

    from mcv_core.images import load_image, prepare

    stages: dict[str, list[float]] = {"load_image": [], "draft_decode_only": []}
    for spec in specs:
        stages[f"prepare_{spec.name}"] = []
    for _ in range(rounds):
        started = time.perf_counter()
        src = load_image(data, "bench-photo.jpg", max_bytes=settings.max_image_bytes, max_pixels=settings.max_pixels,
                         specs=specs)
        stages["load_image"].append((time.perf_counter() - started) * 1000)
        for spec in specs:
            stages[f"prepare_{spec.name}"].append(timed(lambda s=spec: prepare(src, s)))

        def draft() -> None:
            with Image.open(io.BytesIO(data)) as im:
                im.draft("RGB", src.pixels.size)
                im.load()

        stages["draft_decode_only"].append(timed(draft))
    return {k: round(statistics.median(v), 2) for k, v in stages.items()}


def run(quick: bool = False) -> dict[str, Any]:
    from PIL import Image, features

    from mcv_core import targets
    from mcv_core.config import Settings

    load_at_start = os.getloadavg()
    rounds = 4 if quick else 15
    settings = Settings()
    # The payloads of the three default targets (classifier, Claude, gpt-4o-mini), as a workbench of them makes.
    specs = tuple(t.image_spec for t in targets.defaults(settings).targets)
    data = common.photo_jpeg()
    with Image.open(io.BytesIO(data)) as im:
        width, height = im.size

    arms: dict[str, Callable[[], dict[str, bytes]]] = {
        "ours": lambda: ours(data, settings, specs),
        "naive_per_provider": lambda: naive_per_provider(data, specs, width, height),
        "naive_decode_once": lambda: naive_decode_once(data, specs, width, height),
    }
    for fn in arms.values():  # warm-up: imports, libjpeg's and Pillow's first allocations
        fn()
    samples: dict[str, list[float]] = {arm: [] for arm in arms}
    order = list(arms)
    for i in range(rounds):
        for arm in order[i % 3:] + order[: i % 3]:  # interleaved, the order rotated
            samples[arm].append(timed(arms[arm]))
    stats = {arm: common.summary(s, 1) for arm, s in samples.items()}
    split = stage_split(data, settings, specs, 2 if quick else 5)

    # Equivalence, per provider: ours against the naive payload (the naive way's own JPEG loss for scale).
    import numpy as np

    ours_payloads = arms["ours"]()
    equivalence: dict[str, Any] = {}
    for spec in specs:
        naive_jpeg, naive_pixels = naive_one(data, spec, width, height)
        a, b = decoded(ours_payloads[spec.name]), decoded(naive_jpeg)
        ref = np.asarray(naive_pixels)
        entry: dict[str, Any] = {
            "size": [int(a.shape[1]), int(a.shape[0])],
            "same_size": a.shape == b.shape,
            "bytes": {"ours": len(ours_payloads[spec.name]), "naive": len(naive_jpeg)},
        }
        if a.shape == b.shape:
            entry["psnr_db"] = round(psnr(a, b), 2)
            entry["ssim"] = None if (v := ssim(a, b)) is None else round(v, 4)
            entry["max_abs_diff"] = int(np.abs(a.astype(np.int16) - b.astype(np.int16)).max())
            entry["naive_jpeg_own_loss_psnr_db"] = round(psnr(b, ref), 2)
            ssim_ok = entry["ssim"] is None or entry["ssim"] >= SSIM_MIN
            entry["equivalent"] = entry["psnr_db"] >= PSNR_MIN_DB and ssim_ok
        else:
            entry["equivalent"] = False
        equivalence[spec.name] = entry

    ours_med = stats["ours"]["median_ms"]
    speedup = round(stats["naive_per_provider"]["median_ms"] / ours_med, 2)
    speedup_once = round(stats["naive_decode_once"]["median_ms"] / ours_med, 2)
    equivalent = all(e["equivalent"] for e in equivalence.values())
    return {
        "name": NAME,
        "target": (
            f"a 12 MP JPEG to every provider's payload (load_image + prepare_all) at least {TARGET_SPEEDUP:g}x faster "
            f"than the naive Pillow way per provider (open, full decode, RGB, LANCZOS resize, encode), median, with "
            f"every payload equivalent to the naive one (PSNR >= {PSNR_MIN_DB:g} dB and SSIM >= {SSIM_MIN:g})"
        ),
        "baseline": {
            "naive_per_provider_median_ms": stats["naive_per_provider"]["median_ms"],
            "naive_per_provider_p95_ms": stats["naive_per_provider"]["p95_ms"],
            "naive_decode_once_median_ms": stats["naive_decode_once"]["median_ms"],
            "naive_decode_once_p95_ms": stats["naive_decode_once"]["p95_ms"],
        },
        "ours": {"median_ms": ours_med, "p95_ms": stats["ours"]["p95_ms"]},
        "ratio": speedup,
        "met": speedup >= TARGET_SPEEDUP and equivalent,
        "details": {
            "figure_compared": "naive per provider median / ours median",
            "target_speedup": TARGET_SPEEDUP,
            "speedup_vs_naive_per_provider": speedup,
            "speedup_vs_naive_decode_once": speedup_once,
            "speedup_vs_naive_per_provider_p95": round(
                stats["naive_per_provider"]["p95_ms"] / stats["ours"]["p95_ms"], 2),
            "all_payloads_equivalent": equivalent,
            "equivalence_thresholds": {"psnr_db_min": PSNR_MIN_DB, "ssim_min": SSIM_MIN},
            "equivalence": equivalence,
            "ours_stages_median_ms": split,
            "timings": stats,
            "rounds": rounds,
            "image": {"width": width, "height": height, "bytes": len(data)},
            "specs": [spec.name for spec in specs],
            "pillow": Image.__version__,
            "libjpeg_turbo": features.check_feature("libjpeg_turbo"),
        },
        "environment": common.environment(load_at_start),
    }


def render(result: dict[str, Any]) -> str:
    d, b, o = result["details"], result["baseline"], result["ours"]
    rows = [
        ("ours (load_image + prepare_all)", o["median_ms"], o["p95_ms"], 1.0),
        ("naive per provider", b["naive_per_provider_median_ms"], b["naive_per_provider_p95_ms"],
         d["speedup_vs_naive_per_provider"]),
        ("naive decode once", b["naive_decode_once_median_ms"], b["naive_decode_once_p95_ms"],
         d["speedup_vs_naive_decode_once"]),
    ]
    eq_rows = [
        (name, "x".join(map(str, e["size"])), e.get("psnr_db"), e.get("ssim"), e.get("max_abs_diff"),
         e.get("naive_jpeg_own_loss_psnr_db"), "yes" if e["equivalent"] else "NO")
        for name, e in d["equivalence"].items()
    ]
    return "\n".join(
        [
            f"{result['name']}: {result['target']}",
            f"image {d['image']['width']}x{d['image']['height']} ({d['image']['bytes']} bytes), "
            f"{d['rounds']} interleaved rounds after a warm-up; Pillow {d['pillow']}, "
            f"libjpeg-turbo {d['libjpeg_turbo']}",
            common.table(("path", "median ms", "p95 ms", "ours is x faster"), rows),
            f"ours by stage (median ms): {d['ours_stages_median_ms']}",
            common.table(("payload", "size", "PSNR dB", "SSIM", "max diff", "naive JPEG own loss dB", "equivalent"),
                         eq_rows),
            f"speedup {result['ratio']}x against {d['target_speedup']:g}x, payloads equivalent: "
            f"{d['all_payloads_equivalent']} -> target {'met' if result['met'] else 'NOT met'}",
            common.environment_line(result["environment"]),
        ]
    )


if __name__ == "__main__":
    sys.exit(common.main(run, render, description=__doc__.split("\n\n")[0]))
