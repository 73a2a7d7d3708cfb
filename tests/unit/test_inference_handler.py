"""The SageMaker handler (sagemaker_model/code/inference.py) as the container runs it, on a freshly built artifact."""

from __future__ import annotations

import ast
import base64
import importlib.util
import io
import json
import struct
import sys
import tarfile
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data as samples

from sagemaker_model import build as build_mod

pytestmark = pytest.mark.timeout(300)

EXPECTED_MEMBERS = {"model.pt", "labels.json", "model.json", "code/inference.py", "code/requirements.txt"}
DOMESTIC_CATS = {281, 282, 283, 284, 285}  # tabby, tiger cat, Persian, Siamese, Egyptian cat
ESPRESSO = 967


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_mod.build(tmp_path_factory.mktemp("artifact") / "model.tar.gz")


@pytest.fixture(scope="module")
def model_dir(artifact: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("opt_ml_model")
    with tarfile.open(artifact) as tar:
        tar.extractall(target, filter="data")
    return target


@pytest.fixture(scope="module")
def handler(model_dir: Path):
    path = model_dir / "code" / "inference.py"
    spec = importlib.util.spec_from_file_location("inference_under_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def model(handler, model_dir: Path):
    return handler.model_fn(str(model_dir))


def encode(array_or_image, fmt: str, **save_args) -> bytes:
    image = array_or_image if isinstance(array_or_image, Image.Image) else Image.fromarray(array_or_image)
    buffer = io.BytesIO()
    image.save(buffer, fmt, **save_args)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def cat_jpeg() -> bytes:
    return encode(samples.chelsea(), "JPEG", quality=92)


@pytest.fixture(scope="module")
def coffee_jpeg() -> bytes:
    return encode(samples.coffee(), "JPEG", quality=92)


def json_body(image: bytes, **extra) -> str:
    # The container hands input_fn a str for application/json.
    return json.dumps({"image": base64.b64encode(image).decode("ascii"), **extra})


def invoke(handler, model, body, content_type: str, accept: str = "application/json") -> dict:
    return json.loads(handler.output_fn(handler.predict_fn(handler.input_fn(body, content_type), model), accept))


def png_claiming_size(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height (its pixel data is a single row): a decompression bomb."""
    png = bytearray(encode(Image.new("RGB", (1, 1)), "PNG"))
    ihdr = bytearray(png[16:29])
    ihdr[0:8] = struct.pack(">II", width, height)
    png[16:29] = ihdr
    png[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + bytes(ihdr)))
    return bytes(png)


# ---------------------------------------------------------------- the artifact


def test_archive_layout(artifact: Path) -> None:
    with tarfile.open(artifact) as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert set(members) == EXPECTED_MEMBERS
        assert all(m.isfile() and not m.name.startswith("/") and ".." not in m.name for m in members.values())
        shipped = tar.extractfile("code/inference.py").read()
        labels = json.loads(tar.extractfile("labels.json").read())
        meta = json.loads(tar.extractfile("model.json").read())
        model_head = tar.extractfile("model.pt").read(4)
    assert shipped == (build_mod.CODE_DIR / "inference.py").read_bytes()
    assert model_head == b"PK\x03\x04"  # torch.jit.save writes a zip archive
    assert len(labels) == 1000 and all(isinstance(label, str) and label for label in labels)
    assert labels[285] == "Egyptian cat" and labels[281] == "tabby" and labels[ESPRESSO] == "espresso"
    assert meta["model"] == "efficientnet-lite0"
    assert (meta["input_size"], meta["mean"], meta["std"]) == (224, 0.498, 0.502)
    assert meta["torch_version"] == torch.__version__
    assert meta["created_utc"].endswith("Z")


def test_failed_build_leaves_previous_artifact_and_no_temp_file(tmp_path: Path, monkeypatch) -> None:
    out = tmp_path / "model.tar.gz"
    out.write_bytes(b"previous artifact")
    tiny = torch.jit.trace(torch.nn.Linear(2, 2).eval(), torch.zeros(1, 2))
    monkeypatch.setattr(build_mod, "load_eager_model", lambda: None)
    monkeypatch.setattr(build_mod, "trace_model", lambda model: tiny)

    def refuse(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(build_mod.os, "replace", refuse)
    with pytest.raises(OSError, match="disk full"):
        build_mod.build(out)
    assert out.read_bytes() == b"previous artifact"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.tar.gz"]


def test_handler_imports_only_what_the_container_ships() -> None:
    tree = ast.parse((build_mod.CODE_DIR / "inference.py").read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            imported.add(node.module.split(".")[0])
    third_party = imported - set(sys.stdlib_module_names) - {"__future__"}
    # sagemaker_inference is the container's own toolkit, imported only when present.
    assert third_party <= {"torch", "numpy", "PIL", "sagemaker_inference"}, third_party


# ---------------------------------------------------------------- answers


def assert_well_formed(result: dict, top_k: int) -> None:
    assert result["model"] == "efficientnet-lite0" and result["framework"] == "torchscript"
    labels = result["labels"]
    assert len(labels) == top_k
    scores = [item["score"] for item in labels]
    assert scores == sorted(scores, reverse=True)
    assert all(0.0 < s <= 1.0 for s in scores)
    assert all(isinstance(item["label"], str) and isinstance(item["index"], int) for item in labels)
    assert len({item["index"] for item in labels}) == top_k
    for key in ("model_load_ms", "preprocess_ms", "inference_ms"):
        assert isinstance(result[key], float) and result[key] > 0, key
    assert isinstance(result["cold_start"], bool)
    assert isinstance(result["torch_threads"], int) and result["torch_threads"] >= 1


def test_cat_as_json_base64(handler, model, cat_jpeg: bytes) -> None:
    result = invoke(handler, model, json_body(cat_jpeg, top_k=3), "application/json")
    assert_well_formed(result, 3)
    assert "cat" in result["labels"][0]["label"]
    assert {item["index"] for item in result["labels"]} <= DOMESTIC_CATS


def test_cat_as_raw_jpeg_matches_json(handler, model, cat_jpeg: bytes) -> None:
    raw = invoke(handler, model, cat_jpeg, "image/jpeg")
    as_json = invoke(handler, model, json_body(cat_jpeg).encode(), "application/json; charset=utf-8")
    assert_well_formed(raw, handler.DEFAULT_TOP_K)
    assert "cat" in raw["labels"][0]["label"]
    assert raw["labels"] == as_json["labels"]


@pytest.mark.parametrize("content_type", ["application/x-image", "application/octet-stream", "IMAGE/JPEG"])
def test_other_raw_content_types(handler, model, cat_jpeg: bytes, content_type: str) -> None:
    result = invoke(handler, model, cat_jpeg, content_type)
    assert result["labels"][0]["index"] in DOMESTIC_CATS


def test_coffee_is_espresso(handler, model, coffee_jpeg: bytes) -> None:
    result = invoke(handler, model, json_body(coffee_jpeg), "application/json")
    assert result["labels"][0]["label"] == "espresso"
    assert result["labels"][0]["score"] > 0.5


@pytest.mark.parametrize("top_k", [1, 7, 20])
def test_top_k_respected(handler, model, cat_jpeg: bytes, top_k: int) -> None:
    result = invoke(handler, model, json_body(cat_jpeg, top_k=top_k), "application/json")
    assert_well_formed(result, top_k)


def test_cold_start_only_on_first_answer_after_model_fn(handler, model_dir: Path, cat_jpeg: bytes) -> None:
    fresh = handler.model_fn(str(model_dir))
    bad = json.dumps({"image": "not base64!"})
    with pytest.raises(ValueError):
        handler.input_fn(bad, "application/json")  # a rejected request is not the one that answers cold
    first, second, third = (invoke(handler, fresh, cat_jpeg, "image/jpeg") for _ in range(3))
    assert [first["cold_start"], second["cold_start"], third["cold_start"]] == [True, False, False]
    # model_load_ms is the load this process paid, reported on every answer.
    assert first["model_load_ms"] == second["model_load_ms"] == third["model_load_ms"] > 0
    reloaded = handler.model_fn(str(model_dir))
    assert invoke(handler, reloaded, cat_jpeg, "image/jpeg")["cold_start"] is True


def test_omp_num_threads_is_respected(handler, model_dir: Path, cat_jpeg: bytes, monkeypatch) -> None:
    before = torch.get_num_threads()
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    try:
        loaded = handler.model_fn(str(model_dir))
        assert invoke(handler, loaded, cat_jpeg, "image/jpeg")["torch_threads"] == 1
    finally:
        torch.set_num_threads(before)


def test_accept_variants(handler, model, cat_jpeg: bytes) -> None:
    for accept in ("application/json", "*/*", "", None, "text/plain, application/json;q=0.9"):
        prediction = handler.predict_fn(handler.input_fn(cat_jpeg, "image/jpeg"), model)
        assert json.loads(handler.output_fn(prediction, accept))["labels"]


# ---------------------------------------------------------------- image handling


def test_png_with_alpha_gif_and_webp_accepted(handler, model) -> None:
    cat = samples.chelsea()
    rgba = np.dstack([cat, np.full(cat.shape[:2], 255, np.uint8)])
    rgba[:40, :, 3] = 0  # a transparent band at the top
    bodies = {
        "image/png": encode(rgba, "PNG"),
        "image/gif": encode(Image.fromarray(cat).convert("P", palette=Image.Palette.ADAPTIVE), "GIF"),
        "image/webp": encode(cat, "WEBP", quality=90),
    }
    for content_type, body in bodies.items():
        result = invoke(handler, model, body, content_type)
        assert result["labels"][0]["index"] in DOMESTIC_CATS, (content_type, result["labels"][:3])


def test_alpha_is_composited_on_white(handler) -> None:
    transparent_black = encode(Image.new("RGBA", (300, 260), (0, 0, 0, 0)), "PNG")
    white = encode(Image.new("RGB", (300, 260), (255, 255, 255)), "PNG")
    transparent_gif = Image.new("P", (300, 260), 0)
    transparent_gif.putpalette([0, 0, 0] * 256)
    gif = encode(transparent_gif, "GIF", transparency=0)
    expected = handler.input_fn(white, "image/png")["tensor"]
    assert torch.equal(handler.input_fn(transparent_black, "image/png")["tensor"], expected)
    assert torch.equal(handler.input_fn(gif, "image/gif")["tensor"], expected)
    assert expected.max().item() == pytest.approx((1.0 - 0.498) / 0.502)


def test_exif_orientation_is_applied(handler) -> None:
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 256, (260, 400, 3), dtype=np.uint8)
    stored = Image.fromarray(pixels)
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: the camera was turned; show the stored pixels rotated 90 degrees clockwise
    with_exif = encode(stored, "PNG", exif=exif.tobytes())
    upright = encode(stored.transpose(Image.Transpose.ROTATE_270), "PNG")
    plain = encode(stored, "PNG")
    tensor = handler.input_fn(with_exif, "image/png")["tensor"]
    assert torch.equal(tensor, handler.input_fn(upright, "image/png")["tensor"])
    assert not torch.equal(tensor, handler.input_fn(plain, "image/png")["tensor"])


def test_preprocessing_shape_and_normalisation(handler) -> None:
    rng = np.random.default_rng(2)
    exact = rng.integers(0, 256, (224, 224, 3), dtype=np.uint8)
    tensor = handler.input_fn(encode(exact, "PNG"), "image/png")["tensor"]
    expected = (exact.astype(np.float32) / 255.0 - 0.498) / 0.502
    assert tensor.shape == (1, 3, 224, 224) and tensor.dtype == torch.float32
    assert np.allclose(tensor[0].numpy().transpose(1, 2, 0), expected, atol=1e-6)  # 224x224: not resampled
    for height, width in ((300, 451), (451, 300), (100, 100), (224, 1000)):
        image = encode(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), "PNG")
        assert handler.input_fn(image, "image/png")["tensor"].shape == (1, 3, 224, 224)


def test_shorter_side_resize_then_centre_crop(handler) -> None:
    # 448x224 with a distinct colour in each outer quarter: the centre crop keeps only the middle half.
    image = np.zeros((224, 448, 3), np.uint8)
    image[:, :112] = (255, 0, 0)
    image[:, 112:336] = (0, 255, 0)
    image[:, 336:] = (0, 0, 255)
    tensor = handler.input_fn(encode(image, "PNG"), "image/png")["tensor"][0]
    green = (1.0 - 0.498) / 0.502
    off = (0.0 - 0.498) / 0.502
    assert torch.allclose(tensor[1], torch.full((224, 224), green), atol=1e-6)
    assert torch.allclose(tensor[0], torch.full((224, 224), off), atol=1e-6)


# ---------------------------------------------------------------- bad input


@pytest.fixture(scope="module")
def bad_requests(cat_jpeg: bytes) -> dict[str, tuple[object, str, str, int]]:
    cat_b64 = base64.b64encode(cat_jpeg).decode()
    return {
        "not json": ("{not json", "application/json", "not valid JSON", 400),
        "json array": ("[1, 2]", "application/json", "must be an object", 400),
        "no image": ('{"top_k": 3}', "application/json", '"image"', 400),
        "image not a string": ('{"image": 12}', "application/json", '"image"', 400),
        "bad base64": ('{"image": "%%%not-base64%%%"}', "application/json", "base64", 400),
        "base64 of text": (json_body(b"hello, world"), "application/json", "not a JPEG, PNG, WebP or GIF", 400),
        "top_k zero": (json.dumps({"image": cat_b64, "top_k": 0}), "application/json", "top_k", 400),
        "top_k too big": (json.dumps({"image": cat_b64, "top_k": 21}), "application/json", "top_k", 400),
        "top_k string": (json.dumps({"image": cat_b64, "top_k": "5"}), "application/json", "top_k", 400),
        "top_k bool": (json.dumps({"image": cat_b64, "top_k": True}), "application/json", "top_k", 400),
        "top_k float": (json.dumps({"image": cat_b64, "top_k": 2.5}), "application/json", "top_k", 400),
        "empty raw body": (b"", "image/png", "empty", 400),
        "raw text": (b"just some text", "image/jpeg", "not a JPEG, PNG, WebP or GIF", 400),
        "bmp": (encode(Image.new("RGB", (50, 50)), "BMP"), "image/png", "not a JPEG, PNG, WebP or GIF", 400),
        "truncated jpeg": (cat_jpeg[: len(cat_jpeg) // 2], "image/jpeg", "truncated or corrupt", 400),
        "text/plain": (cat_jpeg, "text/plain", "unsupported content type", 415),
        "no content type": (cat_jpeg, None, "unsupported content type", 415),
        "48 megapixels": (png_claiming_size(8000, 6000), "image/png", "40 megapixels", 413),
        "400 megapixels": (png_claiming_size(20000, 20000), "image/png", "too large", 413),
    }


@pytest.mark.parametrize(
    "case",
    [
        "not json", "json array", "no image", "image not a string", "bad base64", "base64 of text",
        "top_k zero", "top_k too big", "top_k string", "top_k bool", "top_k float", "empty raw body",
        "raw text", "bmp", "truncated jpeg", "text/plain", "no content type", "48 megapixels", "400 megapixels",
    ],
)  # fmt: skip
def test_bad_input_raises_value_error_with_a_useful_message(handler, bad_requests, case: str) -> None:
    body, content_type, fragment, status = bad_requests[case]
    with pytest.raises(ValueError) as caught:
        handler.input_fn(body, content_type)
    assert fragment in str(caught.value)
    assert caught.value.status_code == status


def test_unsupported_accept_is_rejected(handler, model, cat_jpeg: bytes) -> None:
    prediction = handler.predict_fn(handler.input_fn(cat_jpeg, "image/jpeg"), model)
    with pytest.raises(ValueError, match="application/json") as caught:
        handler.output_fn(prediction, "text/csv")
    assert caught.value.status_code == 406


def test_errors_carry_their_status_into_the_aws_toolkit(tmp_path: Path, monkeypatch) -> None:
    # In the AWS containers only a BaseInferenceToolkitError keeps its status code (anything else is a 500).
    # A stand-in with the toolkit's constructor and attributes checks that the handler derives from it there.
    toolkit = tmp_path / "sagemaker_inference"
    toolkit.mkdir()
    (toolkit / "__init__.py").write_text("")
    (toolkit / "errors.py").write_text(
        "class BaseInferenceToolkitError(Exception):\n"
        "    def __init__(self, status_code, message, phrase):\n"
        "        self.status_code, self.message, self.phrase = status_code, message, phrase\n"
        "        super().__init__(status_code, message, phrase)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "sagemaker_inference", raising=False)
    monkeypatch.delitem(sys.modules, "sagemaker_inference.errors", raising=False)
    spec = importlib.util.spec_from_file_location("inference_in_container", build_mod.CODE_DIR / "inference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    from sagemaker_inference.errors import BaseInferenceToolkitError

    with pytest.raises(BaseInferenceToolkitError) as caught:
        module.input_fn(b"x", "text/plain")
    assert isinstance(caught.value, ValueError)
    assert caught.value.status_code == 415
    assert "unsupported content type" in caught.value.message
    assert caught.value.phrase == str(caught.value) == caught.value.message


# ---------------------------------------------------------------- the traced model


def test_traced_model_matches_eager_model(handler, model, cat_jpeg: bytes) -> None:
    eager = build_mod.load_eager_model()
    tensor = handler.input_fn(cat_jpeg, "image/jpeg")["tensor"]
    with torch.inference_mode():
        traced_out = model.module(tensor)
        eager_out = eager(tensor)
    assert traced_out.shape == eager_out.shape == (1, 1000)
    assert torch.allclose(traced_out, eager_out, atol=1e-4, rtol=0)
    assert int(traced_out.argmax()) == int(eager_out.argmax()) in DOMESTIC_CATS


def test_a_fuser_that_fails_on_the_graph_leaves_the_model_served_unfused(handler, model_dir, monkeypatch) -> None:  # noqa: ANN001
    """A fused graph that raises on its first calls (as optimize_for_inference's does in torch 2.13): model_fn
    loads the model again with fusion off and serves it."""
    import torch

    original = handler._load_and_warm
    calls = []

    def failing_then_original(directory: str):  # noqa: ANN202
        calls.append(torch.jit.onednn_fusion_enabled())
        if len(calls) == 1:
            raise RuntimeError("vector::_M_range_check: __n (which is 0) >= this->size() (which is 0)")
        return original(directory)

    monkeypatch.setattr(handler, "_load_and_warm", failing_then_original)
    was = torch.jit.onednn_fusion_enabled()
    try:
        model = handler.model_fn(str(model_dir))
    finally:
        torch.jit.enable_onednn_fusion(was)
    assert calls == [True, False]
    with torch.inference_mode():
        assert model.module(torch.zeros(1, 3, 224, 224)).shape[-1] == len(model.labels) == 1000
