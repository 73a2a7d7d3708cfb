"""SageMaker PyTorch inference handler: EfficientNet-Lite0 (TorchScript) ImageNet top-k labels.

Deployed unchanged to a SageMaker PyTorch serverless endpoint and served locally by
mcv_core.local.sagemaker_worker, so it imports only torch, numpy, Pillow and the standard library, and it
keeps to Python 3.10 syntax (the PyTorch 2.0.1 inference container runs Python 3.10).

Requests: `application/json` {"image": "<base64 JPEG/PNG/WebP/GIF>", "top_k": 5}, or the raw image bytes
as image/jpeg, image/png, image/webp, image/gif, application/x-image or application/octet-stream.
Response (application/json): {"model", "framework", "labels": [{"label", "score", "index"}...],
"cold_start", "model_load_ms", "preprocess_ms", "inference_ms", "torch_threads"}.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import logging
import os
import threading
import time

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

logger = logging.getLogger(__name__)

MODEL_NAME = "efficientnet-lite0"
INPUT_SIZE = 224
MEAN = 0.498
STD = 0.502
MAX_PIXELS = 40_000_000
DEFAULT_TOP_K = 5
MAX_TOP_K = 20

JSON_TYPE = "application/json"
IMAGE_TYPES = frozenset(
    {"image/jpeg", "image/png", "image/webp", "image/gif", "application/x-image", "application/octet-stream"}
)
IMAGE_FORMATS = ("JPEG", "PNG", "WEBP", "GIF")
# The profiling executor specialises a TorchScript graph (and oneDNN fuses it) during its first two calls, 5-10x
# slower here; paying that inside model_fn keeps it in the cold start, where it belongs, and inference_ms steady.
WARMUP_RUNS = 3
# Pillow >= 9.1 moved the filters to Image.Resampling; older ones only have the module constants.
_BILINEAR = getattr(Image, "Resampling", Image).BILINEAR

try:
    # In the AWS containers an exception must derive from this for its status code to reach the client;
    # any other exception becomes a 500.
    from sagemaker_inference.errors import BaseInferenceToolkitError as _ToolkitError
except ImportError:  # outside the container (the local worker, tests)
    _ToolkitError = Exception


class InvalidRequestError(ValueError, _ToolkitError):
    """The request cannot be served as sent: the message says what to change. Maps to a 4xx."""

    def __init__(self, message: str, status_code: int = 400) -> None:
        Exception.__init__(self, message)
        # The attributes the container's error handler reads.
        self.status_code = status_code
        self.message = message
        self.phrase = message

    def __str__(self) -> str:
        return self.message


class LoadedModel:
    """What model_fn returns: the TorchScript module, its labels and the cold-start bookkeeping."""

    def __init__(self, module: torch.jit.ScriptModule, labels: list[str], load_ms: float) -> None:
        self.module = module
        self.labels = labels
        self.load_ms = load_ms
        self._fresh = True
        self._lock = threading.Lock()

    def take_cold_start(self) -> bool:
        """True exactly once: for the first answer after this load, which paid the cold start."""
        with self._lock:
            fresh, self._fresh = self._fresh, False
            return fresh


def _load_and_warm(model_dir: str) -> tuple[torch.jit.ScriptModule, torch.Tensor | None]:
    module = torch.jit.load(os.path.join(model_dir, "model.pt"), map_location="cpu")
    module.eval()
    logits = None
    with torch.inference_mode():
        for _ in range(WARMUP_RUNS):
            logits = module(torch.zeros(1, 3, INPUT_SIZE, INPUT_SIZE))
    return module, logits


def model_fn(model_dir: str) -> LoadedModel:
    """Called once per worker process with the unpacked model.tar.gz directory."""
    started = time.perf_counter()
    threads = os.environ.get("OMP_NUM_THREADS", "").strip()
    if threads.isdigit() and int(threads) > 0:
        # Something may have changed torch's pool after OpenMP read the variable; the variable wins.
        torch.set_num_threads(int(threads))
    # model.pt is frozen and channels-last already (build.py): freezing here instead would cost every cold start.
    # oneDNN Graph fuses the frozen graph's conv/batch-norm/activation chains once the profiling executor has
    # seen the input shape (the warm-up below): measured about 1.5x faster warm on CPU, logits within 1e-5. A
    # torch whose fuser fails on this graph serves it unfused rather than not at all.
    with open(os.path.join(model_dir, "labels.json"), encoding="utf-8") as f:
        labels = json.load(f)
    torch.jit.enable_onednn_fusion(True)
    try:
        module, logits = _load_and_warm(model_dir)
    except RuntimeError as exc:
        logger.warning("oneDNN fusion failed on model.pt (%s); serving it unfused", exc)
        torch.jit.enable_onednn_fusion(False)
        module, logits = _load_and_warm(model_dir)
    if logits is None or logits.shape[-1] != len(labels):
        raise RuntimeError(f"model.pt and labels.json disagree in {model_dir}: cannot serve")
    return LoadedModel(module, labels, (time.perf_counter() - started) * 1000.0)


def input_fn(request_body: bytes | str, request_content_type: str | None) -> dict:
    """Request -> {"tensor": 1x3x224x224 float tensor, "top_k": int, "preprocess_ms": float}."""
    started = time.perf_counter()
    media_type = _media_type(request_content_type)
    if media_type == JSON_TYPE:
        data, top_k = _parse_json(request_body)
    elif media_type in IMAGE_TYPES:
        # The containers hand over bytes for every type but JSON and CSV.
        if not isinstance(request_body, (bytes, bytearray, memoryview)):
            raise InvalidRequestError(f"a {media_type} request body must be the image file's bytes")
        data, top_k = bytes(request_body), DEFAULT_TOP_K
    else:
        accepted = ", ".join(sorted(IMAGE_TYPES | {JSON_TYPE}))
        raise InvalidRequestError(
            f"unsupported content type {request_content_type!r}: send one of {accepted}", status_code=415
        )
    tensor = _to_tensor(_decode_image(data))
    return {"tensor": tensor, "top_k": top_k, "preprocess_ms": (time.perf_counter() - started) * 1000.0}


def predict_fn(input_data: dict, model: LoadedModel) -> dict:
    """input_fn's result and model_fn's model -> the response document."""
    started = time.perf_counter()
    with torch.inference_mode():
        probs = torch.softmax(model.module(input_data["tensor"]), dim=1)[0]
        scores, indices = torch.topk(probs, input_data["top_k"])
    inference_ms = (time.perf_counter() - started) * 1000.0
    return {
        "model": MODEL_NAME,
        "framework": "torchscript",
        "labels": [
            {"label": model.labels[i], "score": round(s, 6), "index": i}
            for s, i in zip(scores.tolist(), indices.tolist())
        ],
        "cold_start": model.take_cold_start(),
        "model_load_ms": round(model.load_ms, 3),
        "preprocess_ms": round(input_data["preprocess_ms"], 3),
        "inference_ms": round(inference_ms, 3),
        "torch_threads": torch.get_num_threads(),
    }


def output_fn(prediction: dict, response_content_type: str | None) -> str:
    """Serialise for the request's Accept (the container passes its default for */* or none)."""
    # Accept may list several types ("application/json, text/plain;q=0.5"); JSON is all this model speaks.
    wanted = {_media_type(part) for part in (response_content_type or "").split(",")}
    if not wanted & {"", "*/*", "application/*", JSON_TYPE}:
        raise InvalidRequestError(
            f"cannot answer as {response_content_type!r}: this model responds with {JSON_TYPE}", status_code=406
        )
    return json.dumps(prediction)


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def _parse_json(body: bytes | str) -> tuple[bytes, int]:
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidRequestError(f"request body is not valid JSON: {exc}") from exc
    if not isinstance(payload, dict):
        raise InvalidRequestError('JSON body must be an object like {"image": "<base64>", "top_k": 5}')
    image = payload.get("image")
    if not isinstance(image, str) or not image:
        raise InvalidRequestError('JSON body needs "image": the image file\'s bytes as a base64 string')
    top_k = payload.get("top_k", DEFAULT_TOP_K)
    # bool is an int subclass: reject it explicitly so {"top_k": true} does not mean 1.
    if isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= MAX_TOP_K:
        raise InvalidRequestError(f'"top_k" must be an integer from 1 to {MAX_TOP_K}, got {top_k!r}')
    try:
        # Line-wrapped base64 (as the `base64` tool writes it) is fine; any other stray character is not.
        data = base64.b64decode("".join(image.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidRequestError(f'"image" is not valid base64 ({exc}); send the standard base64 alphabet') from exc
    return data, top_k


def _decode_image(data: bytes) -> Image.Image:
    if not data:
        raise InvalidRequestError("the image is empty: send the bytes of a JPEG, PNG, WebP or GIF file")
    try:
        # open() reads only the header, so the size check below runs before any pixel is decoded.
        image = Image.open(io.BytesIO(data), formats=IMAGE_FORMATS)
    except Image.DecompressionBombError as exc:
        raise InvalidRequestError(f"the image is far too large: {exc}", status_code=413) from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise InvalidRequestError("the data is not a JPEG, PNG, WebP or GIF image") from exc
    width, height = image.size
    if width * height > MAX_PIXELS:
        raise InvalidRequestError(
            f"the image is {width}x{height} ({width * height / 1e6:.1f} megapixels); the limit is "
            f"{MAX_PIXELS / 1e6:.0f} megapixels: downscale it first",
            status_code=413,
        )
    try:
        image.load()
        return ImageOps.exif_transpose(image)
    except (OSError, SyntaxError, ValueError) as exc:
        raise InvalidRequestError(f"the {image.format} image is truncated or corrupt: {exc}") from exc


def _to_tensor(image: Image.Image) -> torch.Tensor:
    """RGB (alpha composited on white), shorter side to 224, centre crop 224x224, normalised NCHW."""
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        image = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
    image = image.convert("RGB")
    width, height = image.size
    if (width, height) != (INPUT_SIZE, INPUT_SIZE):
        scale = INPUT_SIZE / min(width, height)
        size = (max(INPUT_SIZE, round(width * scale)), max(INPUT_SIZE, round(height * scale)))
        # Pillow's bilinear resize filters over the whole source footprint when it shrinks: antialiased.
        image = image.resize(size, _BILINEAR)
        left, top = (size[0] - INPUT_SIZE) // 2, (size[1] - INPUT_SIZE) // 2
        image = image.crop((left, top, left + INPUT_SIZE, top + INPUT_SIZE))
    pixels = np.asarray(image, dtype=np.float32) / 255.0
    pixels = (pixels - MEAN) / STD
    return torch.from_numpy(np.ascontiguousarray(pixels.transpose(2, 0, 1))).unsqueeze(0)
