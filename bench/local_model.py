"""The SageMaker handler's model: warm inference against eager PyTorch at batch 1, and the cold start.

    python -m bench.local_model [--quick] [--json]

The model is the one `make model` packs (sagemaker_model/build/model.tar.gz: TorchScript EfficientNet-Lite0
traced from the packaged ImageNet weights; built here with `python -m sagemaker_model.build` if missing),
unpacked and its code/inference.py imported by file path as the container (and the local worker) does.

Warm: each setting runs in its own "handler process", a child that loads the model as the handler does
(model_fn) next to the variants, all fed the same 1x3x224x224 tensor, made by the handler's own input_fn from
the classifier payload of the 12 MP bench photo. The parent interleaves single calls across every process and
variant, the order rotated each round, after a warm-up, with a short pause between calls so that one
process's OpenMP threads still spinning do not land on the next call.

  ours      the handler's warm predict path as deployed: `predict_fn` on the TorchScript module model_fn loaded
            (inference_mode, softmax, top-5), torch's default threads, the default environment;
  baseline  the same architecture and weights as an eager torch.nn.Module (sagemaker_model.build's
            load_eager_model) in plain eval mode with default threads, as a naive handler runs it: no_grad,
            softmax, top-5, same input tensor.

Variants (full run): eager with inference_mode or channels_last, each in a process with default threads, with
1 thread, with OMP_WAIT_POLICY=PASSIVE (as the local worker sets it), and with oneDNN fusion off (the handler's
torch.jit.enable_onednn_fusion made a no-op: what the frozen channels-last model.pt gives on its own). Logits are
compared with the eager model's. (torch.jit.optimize_for_inference on the frozen model fails under oneDNN fusion
in torch 2.13, and brought nothing without it; it is not measured.)

Cold: a fresh process from spawn to the first answer (import, model_fn, input_fn, predict_fn, output_fn),
repeated and alternated with the eager equivalent (import torch and the model package, build, first answer),
with the handler with fusion off and with OMP_WAIT_POLICY=PASSIVE (full run).

--quick: the default and 1-thread settings, ours and the baseline only, one cold start each.

Target: ours at least 1.5x faster than the baseline at the median; cold start reported.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import common

NAME = "local_model"
TARGET_SPEEDUP = 1.5
REPO = Path(__file__).resolve().parents[1]
MODEL_TAR = REPO / "sagemaker_model" / "build" / "model.tar.gz"
PAUSE_S = 0.02  # between calls: libgomp threads spin a few ms after a parallel region before they sleep
LOGIT_TOLERANCE = 1e-4  # the build's own trace tolerance

OURS, BASELINE = "handler as is", "eager no_grad"
NO_FUSION = "oneDNN fusion off"  # a process setting: the handler with torch.jit.enable_onednn_fusion a no-op
FUSION_ENV = "MCV_BENCH_ONEDNN_FUSION"
# name -> (model, channels_last, transform, grad mode)
VARIANTS: dict[str, tuple[str, bool, str | None, str]] = {
    OURS: ("torchscript", False, None, "handler"),
    BASELINE: ("eager", False, None, "no_grad"),
    "eager inference_mode": ("eager", False, None, "handler"),
    "eager channels_last": ("eager", True, None, "no_grad"),
}
SHORT_VARIANTS = (OURS, BASELINE)
# process setting -> (torch threads or None for torch's default, environment added, variants in a full run)
SETTINGS: dict[str, tuple[int | None, dict[str, str], tuple[str, ...]]] = {
    "default": (None, {}, tuple(VARIANTS)),
    "1 thread": (1, {}, tuple(VARIANTS)),
    "OMP_WAIT_POLICY=PASSIVE": (None, {"OMP_WAIT_POLICY": "PASSIVE"}, SHORT_VARIANTS),
    NO_FUSION: (None, {FUSION_ENV: "0"}, SHORT_VARIANTS),
}


# ------------------------------------------------------------------------------------------ the handler process


def _load_handler(model_dir: str) -> Any:
    import importlib.util

    path = os.path.join(model_dir, "code", "inference.py")
    spec = importlib.util.spec_from_file_location("bench_sagemaker_handler", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _child(config_json: str) -> None:
    """A handler process: load the handler and the variants, answer READY, then time one call per `run <name>`."""
    config = json.loads(config_json)
    import torch

    if config["threads"]:
        torch.set_num_threads(config["threads"])
    if os.environ.get(FUSION_ENV) == "0":
        torch.jit.enable_onednn_fusion = lambda enabled: None  # the handler's call does nothing here
    handler = _load_handler(config["model_dir"])
    from sagemaker_model.build import load_eager_model

    load_ms: dict[str, float] = {}
    started = time.perf_counter()
    loaded = handler.model_fn(config["model_dir"])
    load_ms[OURS] = (time.perf_counter() - started) * 1000
    started = time.perf_counter()
    eager = load_eager_model()
    load_ms["eager"] = (time.perf_counter() - started) * 1000
    with open(config["input"], "rb") as f:
        tensor = handler.input_fn(f.read(), "image/jpeg")["tensor"]
    model_pt = os.path.join(config["model_dir"], "model.pt")

    def build(kind: str, channels_last: bool, transform: str | None) -> Any:
        if kind == "eager":
            return eager
        if not channels_last and transform is None:
            return loaded.module
        module = torch.jit.load(model_pt, map_location="cpu").eval()
        if channels_last:
            module = module.to(memory_format=torch.channels_last)
        if transform == "freeze":
            module = torch.jit.freeze(module)
        elif transform == "optimize":
            module = torch.jit.optimize_for_inference(module)
        return module

    with torch.no_grad():
        reference = eager(tensor)  # the eager model's first call: eager needs no other warm-up
    calls: dict[str, Any] = {}
    checks: dict[str, Any] = {}
    eager_cl = None
    for name in config["variants"]:
        kind, channels_last, transform, grad = VARIANTS[name]
        started = time.perf_counter()
        if True:
            if kind == "eager" and channels_last:  # a copy: the no_grad baseline keeps contiguous weights
                import copy

                eager_cl = eager_cl or copy.deepcopy(eager).to(memory_format=torch.channels_last)
                module = eager_cl
            else:
                module = build(kind, channels_last, transform)
            model = loaded if name == OURS else handler.LoadedModel(module, loaded.labels, 0.0)
        x = tensor.contiguous(memory_format=torch.channels_last) if channels_last else tensor
        with torch.inference_mode():
            # A TorchScript module model_fn did not load gets model_fn's warm-up runs, the logit check last.
            fresh_script = kind == "torchscript" and module is not loaded.module
            for _ in range(handler.WARMUP_RUNS - 1 if fresh_script else 0):
                module(x)
            logits = reference if name == BASELINE else module(x)
        if name != OURS:
            load_ms[name] = (time.perf_counter() - started) * 1000
        checks[name] = {
            "max_abs_logit_diff_vs_eager": float((logits - reference).abs().max()),
            "top5": torch.topk(torch.softmax(logits, dim=1)[0], 5).indices.tolist(),
        }

        def call(model: Any = model, channels_last: bool = channels_last, grad: str = grad) -> dict:
            x = tensor.contiguous(memory_format=torch.channels_last) if channels_last else tensor
            data = {"tensor": x, "top_k": 5, "preprocess_ms": 0.0}
            if grad == "handler":
                return handler.predict_fn(data, model)
            with torch.no_grad():  # a naive handler: what predict_fn does, under no_grad
                probs = torch.softmax(model.module(data["tensor"]), dim=1)[0]
                scores, indices = torch.topk(probs, 5)
            return {"labels": [{"label": model.labels[i], "score": round(s, 6), "index": i}
                               for s, i in zip(scores.tolist(), indices.tolist())]}

        calls[name] = call

    print("READY " + json.dumps({"threads": torch.get_num_threads(), "load_ms": load_ms, "checks": checks,
                                 "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY")}), flush=True)
    for line in sys.stdin:
        command, _, name = line.strip().partition(" ")
        if command != "run":
            break
        call = calls[name]
        started = time.perf_counter()
        call()
        print(f"{(time.perf_counter() - started) * 1000:.4f}", flush=True)


class HandlerProcess:
    """The parent's handle on one `_child`."""

    def __init__(self, setting: str, variants: list[str], model_dir: str, input_path: str) -> None:
        threads, extra_env, _ = SETTINGS[setting]
        self.setting = setting
        config = {"threads": threads, "model_dir": model_dir, "input": input_path,
                  "variants": variants}
        env = {**_env(), **extra_env}
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "import sys; from bench.local_model import _child; _child(sys.argv[1])",
             json.dumps(config)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO, env=env,
        )  # fmt: skip
        self.ready: dict[str, Any] | None = None

    def wait_ready(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("READY "):
                self.ready = json.loads(line[6:])
                return self.ready
        raise RuntimeError(f"handler process {self.setting!r} exited: {self._stderr()}")

    def run(self, variant: str) -> float:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(f"run {variant}\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"handler process {self.setting!r} died: {self._stderr()}")
        return float(line)

    def _stderr(self) -> str:
        return self.proc.stderr.read()[-2000:] if self.proc.stderr else ""

    def close(self) -> None:
        try:
            if self.proc.stdin:
                self.proc.stdin.write("quit\n")
                self.proc.stdin.close()
            self.proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait(timeout=10)


# ------------------------------------------------------------------------------------------------ cold start

COLD_HANDLER = r"""
import importlib.util, json, os, sys, time
t0 = time.perf_counter()
model_dir, image = sys.argv[1], sys.argv[2]
import torch
if os.environ.get("MCV_BENCH_ONEDNN_FUSION") == "0":
    torch.jit.enable_onednn_fusion = lambda enabled: None
t1 = time.perf_counter()
spec = importlib.util.spec_from_file_location("handler", os.path.join(model_dir, "code", "inference.py"))
handler = importlib.util.module_from_spec(spec); spec.loader.exec_module(handler)
t2 = time.perf_counter()
model = handler.model_fn(model_dir)
t3 = time.perf_counter()
with open(image, "rb") as f:
    body = handler.output_fn(handler.predict_fn(handler.input_fn(f.read(), "image/jpeg"), model), "application/json")
t4 = time.perf_counter()
print(json.dumps({"import_torch_ms": (t1 - t0) * 1000, "import_handler_ms": (t2 - t1) * 1000,
                  "load_ms": (t3 - t2) * 1000, "first_answer_ms": (t4 - t3) * 1000,
                  "top": json.loads(body)["labels"][0]["index"]}), flush=True)
"""

COLD_EAGER = r"""
import importlib.util, json, os, sys, time
t0 = time.perf_counter()
model_dir, image = sys.argv[1], sys.argv[2]
import torch
t1 = time.perf_counter()
spec = importlib.util.spec_from_file_location("handler", os.path.join(model_dir, "code", "inference.py"))
handler = importlib.util.module_from_spec(spec); spec.loader.exec_module(handler)  # its input_fn, for the same tensor
from sagemaker_model.build import load_eager_model
t2 = time.perf_counter()
model = load_eager_model()
labels = json.load(open(os.path.join(model_dir, "labels.json")))
t3 = time.perf_counter()
with open(image, "rb") as f:
    x = handler.input_fn(f.read(), "image/jpeg")["tensor"]
with torch.no_grad():
    scores, indices = torch.topk(torch.softmax(model(x), dim=1)[0], 5)
top = [{"label": labels[i], "score": s, "index": i} for s, i in zip(scores.tolist(), indices.tolist())]
body = json.dumps({"labels": top})
t4 = time.perf_counter()
print(json.dumps({"import_torch_ms": (t1 - t0) * 1000, "import_handler_ms": (t2 - t1) * 1000,
                  "load_ms": (t3 - t2) * 1000, "first_answer_ms": (t4 - t3) * 1000,
                  "top": json.loads(body)["labels"][0]["index"]}), flush=True)
"""


def _env() -> dict[str, str]:
    """This environment, the repository importable, OMP_WAIT_POLICY at libgomp's default."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    env.pop("OMP_WAIT_POLICY", None)
    return env


def cold_start(code: str, model_dir: str, image: str, extra_env: dict[str, str]) -> dict[str, float]:
    """Spawn -> the first answer on stdout, ms; with the child's own phases (the rest is interpreter start)."""
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code, model_dir, image], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=REPO, env={**_env(), **extra_env})
    assert proc.stdout is not None
    line = proc.stdout.readline()
    total = (time.perf_counter() - started) * 1000
    _, err = proc.communicate(timeout=60)
    if not line:
        raise RuntimeError(f"cold start child failed: {err[-2000:]}")
    phases = json.loads(line)
    phases["total_ms"] = total
    phases["interpreter_start_ms"] = total - sum(v for k, v in phases.items() if k.endswith("_ms") and k != "total_ms")
    return phases


# --------------------------------------------------------------------------------------------------- run


def ensure_model() -> Path:
    if not MODEL_TAR.is_file():  # what `make model` runs
        subprocess.run([sys.executable, "-m", "sagemaker_model.build", "--out", str(MODEL_TAR)], cwd=REPO, check=True)
    return MODEL_TAR


def input_jpeg() -> bytes:
    """The classifier payload the product sends for the 12 MP bench photo (224 x 224 JPEG)."""
    from mcv_core.images import prepare
    from mcv_core.models import CLASSIFIER

    return prepare(common.photo(), CLASSIFIER).data


def run(quick: bool = False) -> dict[str, Any]:
    from mcv_core.local.sagemaker_worker import extract_model

    load_at_start = os.getloadavg()
    tar = ensure_model()
    settings = ["default", "1 thread"] if quick else list(SETTINGS)
    variants = {s: [OURS, BASELINE] if quick else list(SETTINGS[s][2]) for s in settings}
    # Rounds until the budget is spent, within bounds: on a loaded machine one call at 2 threads can take seconds.
    max_rounds, min_rounds, budget_s = (10, 2, 5.0) if quick else (40, 4, 40.0)
    cold_reps = 1 if quick else 3
    phases: dict[str, float] = {}
    phase_started = time.perf_counter()

    with tempfile.TemporaryDirectory(prefix="bench-local-model-") as tmp:
        model_dir = str(extract_model(tar, Path(tmp) / "model"))
        image_path = os.path.join(tmp, "input.jpg")
        Path(image_path).write_bytes(input_jpeg())
        phases["prepare_s"] = time.perf_counter() - phase_started

        # Before READY every variant was warmed up in its process as model_fn warms up the module it loads.
        procs = {s: HandlerProcess(s, variants[s], model_dir, image_path) for s in settings}
        try:
            ready = {s: p.wait_ready() for s, p in procs.items()}
            phases["start_processes_s"] = time.perf_counter() - phase_started - sum(phases.values())
            arms = [(s, v) for s in settings for v in variants[s]]
            samples: dict[tuple[str, str], list[float]] = {arm: [] for arm in arms}
            started = time.perf_counter()
            rounds = 0
            while rounds < max_rounds and (rounds < min_rounds or time.perf_counter() - started < budget_s):
                shift = rounds % len(arms)
                for s, v in arms[shift:] + arms[:shift]:  # interleaved, the order rotated each round
                    samples[(s, v)].append(procs[s].run(v))
                    time.sleep(PAUSE_S)
                rounds += 1
            phases["warm_s"] = time.perf_counter() - started
        finally:
            for p in procs.values():
                p.close()

        cold_kinds = {"handler": (COLD_HANDLER, model_dir, {}), "eager": (COLD_EAGER, model_dir, {}),
                      "handler_no_fusion": (COLD_HANDLER, model_dir, {FUSION_ENV: "0"}),
                      "handler_passive": (COLD_HANDLER, model_dir, {"OMP_WAIT_POLICY": "PASSIVE"})}
        if quick:
            cold_kinds = {k: v for k, v in cold_kinds.items() if k in ("handler", "eager")}
        cold: dict[str, list[dict[str, float]]] = {kind: [] for kind in cold_kinds}
        started = time.perf_counter()
        for i in range(cold_reps):
            kinds = list(cold_kinds)
            for kind in kinds[i % len(kinds):] + kinds[: i % len(kinds)]:  # rotated
                code, folder, extra_env = cold_kinds[kind]
                cold[kind].append(cold_start(code, folder, image_path, extra_env))
        phases["cold_s"] = time.perf_counter() - started

    stats = {f"{s} | {v}": common.summary(samples[(s, v)], 2) for s, v in arms}
    ours = stats[f"default | {OURS}"]
    base = stats[f"default | {BASELINE}"]
    ratio = round(base["median_ms"] / ours["median_ms"], 3)
    fastest = min(stats, key=lambda k: stats[k]["median_ms"])
    checks = {f"{s} | {v}": ready[s]["checks"][v] for s, v in arms}
    ref_top = checks[f"default | {BASELINE}"]["top5"]
    for check in checks.values():
        check["same_top5_as_eager"] = check["top5"] == ref_top
        check["within_tolerance"] = check["max_abs_logit_diff_vs_eager"] <= LOGIT_TOLERANCE

    def cold_summary(runs: list[dict[str, float]]) -> dict[str, Any]:
        keys = ("total_ms", "interpreter_start_ms", "import_torch_ms", "import_handler_ms", "load_ms",
                "first_answer_ms")
        return {f"{k[:-3]}_median_ms": round(statistics.median(r[k] for r in runs), 1) for k in keys} | {
            "total_all_ms": [round(r["total_ms"], 1) for r in runs]}

    cold_handler, cold_eager = cold_summary(cold["handler"]), cold_summary(cold["eager"])
    cold_no_fusion = cold_summary(cold["handler_no_fusion"]) if cold.get("handler_no_fusion") else None
    cold_passive = cold_summary(cold["handler_passive"]) if cold.get("handler_passive") else None

    # The fair view of each variant: against the eager baseline in the same process setting.
    same_setting = {
        s: {v: round(stats[f"{s} | {BASELINE}"]["median_ms"] / stats[f"{s} | {v}"]["median_ms"], 3)
            for v in variants[s]}
        for s in settings
    }
    reading = []
    if "1 thread" in settings:
        slowdown = stats[f"default | {OURS}"]["median_ms"] / stats[f"1 thread | {OURS}"]["median_ms"]
        reading.append(
            f"handler as is: default threads ({ready['default']['threads']}) {slowdown:.1f}x the 1-thread time"
            + (": the default setting is oversubscribed by the machine's other load (load average in environment), "
               "its figures measure contention more than the model" if slowdown > 2 else "")
        )
    for s in settings:
        reading.append(f"{s}: handler {same_setting[s][OURS]}x eager no_grad")
    return {
        "name": NAME,
        "target": (
            f"the SageMaker handler's warm inference (predict_fn on its TorchScript module, batch 1) at least "
            f"{TARGET_SPEEDUP:g}x faster than eager PyTorch (same weights, eval, no_grad, default threads) at the "
            f"median; cold start from process start to first answer reported"
        ),
        "baseline": {"warm_median_ms": base["median_ms"], "warm_p95_ms": base["p95_ms"],
                     "cold_start_median_ms": cold_eager["total_median_ms"]},
        "ours": {"warm_median_ms": ours["median_ms"], "warm_p95_ms": ours["p95_ms"],
                 "cold_start_median_ms": cold_handler["total_median_ms"]},
        "ratio": ratio,
        "met": ratio >= TARGET_SPEEDUP,
        "details": {
            "figure_compared": "baseline warm median / ours warm median (default process setting)",
            "target_speedup": TARGET_SPEEDUP,
            "ratio_p95": round(base["p95_ms"] / ours["p95_ms"], 3),
            "rounds": rounds,
            "pause_between_calls_s": PAUSE_S,
            "warm": stats,
            "speedup_vs_baseline": {k: round(base["median_ms"] / v["median_ms"], 3) for k, v in stats.items()},
            "fastest": {"arm": fastest, "median_ms": stats[fastest]["median_ms"],
                        "speedup_vs_baseline": round(base["median_ms"] / stats[fastest]["median_ms"], 3)},
            "processes": {s: {"torch_threads": ready[s]["threads"], "omp_wait_policy": ready[s]["omp_wait_policy"],
                              "setup_ms": {k: round(v, 1) for k, v in ready[s]["load_ms"].items()}} for s in settings},
            "setup_ms_note": "each variant's load and warm-up runs inside its process, the processes starting "
                             "together: not a cold start (see cold_start)",
            "equivalence": checks,
            "logit_tolerance": LOGIT_TOLERANCE,
            "speedup_vs_eager_same_setting": same_setting,
            "reading": reading,
            "cold_start": {"handler": cold_handler, "eager": cold_eager,
                           "handler_onednn_fusion_off": cold_no_fusion,
                           "handler_omp_wait_policy_passive": cold_passive,
                           "note": "spawn to the first answer; interpreter_start is the rest (Python start, site)"},
            "phase_seconds": {k: round(v, 1) for k, v in phases.items()},
            "model_tar": str(tar.relative_to(REPO)),
            "torch_default_threads_note": "default = torch's own (the CPU count unless OMP_NUM_THREADS is set)",
            "omp_num_threads_env": os.environ.get("OMP_NUM_THREADS"),
        },
        "environment": common.environment(load_at_start),
    }


def render(result: dict[str, Any]) -> str:
    d, b, o = result["details"], result["baseline"], result["ours"]
    rows = []
    for arm, s in d["warm"].items():
        eq = d["equivalence"][arm]
        rows.append((arm, s["median_ms"], s["p95_ms"], s["min_ms"], d["speedup_vs_baseline"][arm],
                     f"{eq['max_abs_logit_diff_vs_eager']:.1e}", "yes" if eq["same_top5_as_eager"] else "NO"))
    ch, ce = d["cold_start"]["handler"], d["cold_start"]["eager"]
    cold_rows = [
        (label, c["total_median_ms"], c["interpreter_start_median_ms"], c["import_torch_median_ms"],
         c["import_handler_median_ms"], c["load_median_ms"], c["first_answer_median_ms"], c["total_all_ms"])
        for label, c in (("handler (TorchScript)", ch), ("eager", ce),
                         ("handler, oneDNN fusion off",
                          d["cold_start"]["handler_onednn_fusion_off"]),
                         ("handler, OMP_WAIT_POLICY=PASSIVE", d["cold_start"]["handler_omp_wait_policy_passive"]))
        if c is not None
    ]
    procs = "; ".join(f"{s}: {p['torch_threads']} threads, OMP_WAIT_POLICY {p['omp_wait_policy']}"
                      for s, p in d["processes"].items())
    return "\n".join(
        [
            f"{result['name']}: {result['target']}",
            f"{d['rounds']} interleaved rounds after warm-up runs, {d['pause_between_calls_s'] * 1000:g} ms between "
            f"calls; {procs}",
            common.table(("setting | variant", "median ms", "p95 ms", "min ms", "x vs baseline", "logit diff", "top-5"),
                         rows),
            "cold start, spawn to first answer (median ms):",
            common.table(
                ("", "total", "interpreter", "import torch", "import code", "load model", "first answer", "all"),
                cold_rows,
            ),
            *d["reading"],
            f"ours {o['warm_median_ms']} ms vs baseline {b['warm_median_ms']} ms: {result['ratio']}x against "
            f"{d['target_speedup']:g}x -> target {'met' if result['met'] else 'NOT met'}; "
            f"fastest: {d['fastest']['arm']} "
            f"({d['fastest']['median_ms']} ms, {d['fastest']['speedup_vs_baseline']}x)",
            common.environment_line(result["environment"]),
        ]
    )


if __name__ == "__main__":
    sys.exit(common.main(run, render, description=__doc__.split("\n\n")[0]))
