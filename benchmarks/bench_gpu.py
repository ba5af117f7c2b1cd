"""GPU throughput of the paper preset's joint stage at PTB-XL's full size, per precision, and the fast pipeline.

    python benchmarks/bench_gpu.py --out results.json            # on a CUDA machine (bounded by --budget-s, 480 s)
    python benchmarks/bench_gpu.py --out r.json --device cpu --tiny --preset fast   # the CPU check the tests run

Self-contained: the data are synthesised in memory with PTB-XL's split sizes (17,418 training,
2,183 validation and 2,198 test ECGs of 12 x 1,000 samples; every one of the 71 statements adds its
own fixed waveform to the ECGs that carry it, on top of noise, so the labels are learnable) and
handed to the library as a :class:`~protoecg_lib.data.dataset.PTBXL` object -- nothing is read or
written outside a temporary folder. What it measures, with the library's own code paths:

1. for each branch of the paper preset and each precision -- ``fp32`` (TF32 off), ``tf32`` (TF32
   matmuls and convolutions) and ``amp`` (float16 autocast with gradient scaling, what
   ``TrainConfig.amp`` does on CUDA) -- one joint-stage epoch over the 17,418 training ECGs
   (``training.train_branch``, batch 32, the same seed and data in every precision) after a short
   warm-up: training ECGs/s, validation time, peak GPU memory and the validation macro AUROC after
   the epoch, and the AUROC difference of ``tf32`` and ``amp`` from ``fp32``;
2. the whole ``fast`` pipeline (``training.pipeline.run_pipeline``: joint, projection, classifier,
   predictions, fusion, baseline, summary) on the same data, in a child process bounded by the time
   left in ``--budget-s``: wall time per stage, test macro AUROCs, peak GPU memory.

Progress lines with elapsed times are printed as it goes; the JSON written to ``--out`` holds every
figure, the GPU and the versions. Without CUDA it stops at once with a message, unless
``--device cpu --tiny`` asks for the small CPU check.
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch

FULL = {"train": 17_418, "val": 2_183, "test": 2_198}       # PTB-XL v1.0.3, folds 1-8 / 9 / 10
TINY = {"train": 64, "val": 48, "test": 48}
MODES = ("fp32", "tf32", "amp")
T0 = time.perf_counter()


def say(msg: str) -> None:
    print(f"[{time.perf_counter() - T0:7.1f} s] {msg}", flush=True)


# --------------------------------------------------------------------------- synthetic data

def synthetic_ptbxl(sizes: dict, seed: int = 0, num_samples: int = 1000):
    """A PTBXL object held in memory: multi-hot labels drawn per statement, signals = noise + the fixed
    waveform of every statement the ECG carries (so that every label is learnable)."""
    from protoecg_lib.data.dataset import PTBXL
    from protoecg_lib.labels import label_set

    labels = label_set("all")
    rng = np.random.default_rng(seed)
    n = sum(sizes.values())
    prevalence = np.exp(rng.uniform(np.log(0.01), np.log(0.35), len(labels)))       # (C,)
    y = rng.random((n, len(labels))) < prevalence                                     # (N, C)
    y[np.arange(n), rng.integers(0, len(labels), n)] = True                         # at least one label
    t = np.arange(num_samples) / 100.0
    templates = np.zeros((len(labels), 12, num_samples), np.float32)                 # (C, 12, T) in mV
    for c in range(len(labels)):
        for _ in range(3):
            lead = rng.random(12) < 0.5
            freq, phase, centre = rng.uniform(0.5, 12.0), rng.uniform(0, 2 * np.pi), rng.uniform(1, 9)
            bump = np.exp(-0.5 * ((t - centre) / rng.uniform(0.2, 2.0)) ** 2) * np.sin(2 * np.pi * freq * t + phase)
            templates[c, lead] += (0.15 * bump).astype(np.float32)
    signals = np.empty((n, 12, num_samples), np.float32)
    flat = templates.reshape(len(labels), -1)
    for start in range(0, n, 2048):
        block = y[start:start + 2048].astype(np.float32) @ flat                         # (b, 12 * T)
        noise = rng.standard_normal(block.shape, dtype=np.float32) * 0.1
        signals[start:start + 2048] = (block + noise).reshape(-1, 12, num_samples)
    split = np.repeat(["train", "val", "test"], [sizes["train"], sizes["val"], sizes["test"]])
    ecg_id = np.arange(1, n + 1)
    codes = [tuple(labels[j] for j in np.flatnonzero(row)) for row in y]
    records = pd.DataFrame({"ecg_id": ecg_id, "patient_id": ecg_id, "split": split, "codes": codes,
                            "strat_fold": np.where(split == "train", 1, np.where(split == "val", 9, 10))},
                           index=pd.Index(ecg_id, name="ecg_id"))
    return PTBXL(root=Path("synthetic-in-memory"), records=records, signals=signals, fs=100, source="synthetic",
                 skipped=pd.DataFrame({"ecg_id": [], "reason": []}), options={"synthetic_seed": seed, "sizes": sizes})


# --------------------------------------------------------------------------- precisions

@contextlib.contextmanager
def precision(mode: str, device: str):
    """TF32 off (``fp32``) or on (``tf32``, ``amp``) for CUDA matmuls and convolutions, restored after."""
    if not device.startswith("cuda"):
        yield
        return
    allow = mode != "fp32"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        old = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
        torch.backends.cuda.matmul.allow_tf32 = allow
        torch.backends.cudnn.allow_tf32 = allow
    try:
        yield
    finally:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def joint_epoch(ds, preset: str, name: str, mode: str, device: str, warmup: int) -> dict:
    """One joint-stage epoch of one branch in one precision (library code: ``train_branch``)."""
    from protoecg_lib.evaluation.auroc import macro_auroc
    from protoecg_lib.models import ProtoBranch, get_preset
    from protoecg_lib.training import train_branch, train_presets
    from protoecg_lib.training.heads import predict_logits

    train, val = ds.split("train", name), ds.split("val", name)
    cfg = train_presets("paper")["joint"].replace(num_epochs=1, amp=(mode == "amp"), scheduler="constant")
    with precision(mode, device):
        torch.manual_seed(0)
        model = ProtoBranch(get_preset(preset).branches[name])
        if warmup:   # kernels chosen, memory pools filled: on a throwaway copy and a few batches
            scratch = copy.deepcopy(model)
            train_branch(scratch, (train.head(warmup * cfg.batch_size), val.head(cfg.batch_size)), "joint", cfg,
                         None, device=device, verbose=False)
            del scratch
        if device.startswith("cuda"):
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        _sync(device)
        t0 = time.perf_counter()
        result = train_branch(model, (train, val), "joint", cfg, None, device=device, verbose=False)
        _sync(device)
        epoch_s = time.perf_counter() - t0
        t1 = time.perf_counter()
        logits = predict_logits(lambda x: model(x).logits, val.signals, cfg.eval_batch_size, device)
        _sync(device)
        val_s = time.perf_counter() - t1
    auroc = macro_auroc(val.targets, logits)
    record = result.history[0]
    train_s = max(record["time_s"] - val_s, 1e-9)
    out = {"branch": name, "mode": mode, "train_ecgs": len(train), "epoch_s": round(epoch_s, 3),
           "epoch_record_s": record["time_s"], "validation_s": round(val_s, 3), "train_s": round(train_s, 3),
           "train_ecgs_per_s": round(len(train) / train_s, 1), "val_ecgs_per_s": round(len(val) / val_s, 1),
           "val_macro_auroc": float(auroc), "train_loss": record["train_loss"],
           "peak_gpu_mb": (round(torch.cuda.max_memory_allocated() / 2**20, 1) if device.startswith("cuda") else None)}
    del model
    return out


# --------------------------------------------------------------------------- the fast pipeline

def pipeline_child(args) -> None:
    """Run the fast pipeline on the synthetic data (called in a child process); print one JSON line."""
    from protoecg_lib.training.config import pipeline_config
    from protoecg_lib.training.pipeline import run_pipeline

    ds = synthetic_ptbxl(TINY if args.tiny else FULL, seed=args.seed)
    config = pipeline_config("fast")
    if args.tiny:   # the check only: one epoch per network stage, a few for the linear heads
        for stage, epochs in (("joint", 1), ("feature_extractor", 1), ("classifier", 3), ("fusion", 3)):
            config.train[stage] = config.train[stage].replace(num_epochs=epochs)
        config.n_boot = 20
    if args.device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    run_pipeline(data=ds, out=args.pipeline_out, config=config, device=args.device, verbose=True)
    wall = time.perf_counter() - t0
    summary = json.loads((Path(args.pipeline_out) / "summary.json").read_text())
    point = lambda m: m["point"] if isinstance(m, dict) else m   # noqa: E731
    print("PIPELINE_RESULT " + json.dumps({
        "wall_s": round(wall, 1), "timings_s": summary.get("timings_s"),
        "test_macro_auroc": {**{k: point(v["macro_auroc"]) for k, v in summary["branches"].items()},
                             "fusion": point(summary["fusion"]["macro_auroc"]),
                             "baseline": point(summary["baseline"]["macro_auroc"]) if summary.get("baseline") else None},
        "peak_gpu_mb": (round(torch.cuda.max_memory_allocated() / 2**20, 1) if args.device.startswith("cuda") else None),
        "peak_rss_mb": summary.get("peak_rss_mb")}), flush=True)


def run_pipeline_bounded(args, seconds: float) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, __file__, "--pipeline-child", "--device", args.device, "--seed", str(args.seed),
               "--pipeline-out", str(Path(tmp) / "run"), "--out", str(Path(tmp) / "unused.json")]
        if args.tiny:
            cmd.append("--tiny")
        env = {**os.environ, "PROTOECG_CACHE": str(Path(tmp) / "cache")}
        lines = []
        try:
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
            deadline = time.perf_counter() + seconds
            for line in proc.stdout:                     # echo the pipeline's progress as it comes
                lines.append(line.rstrip())
                if not line.startswith("PIPELINE_RESULT"):
                    say("  pipeline | " + line.rstrip())
                if time.perf_counter() > deadline:
                    proc.kill()
                    return {"status": f"stopped after {seconds:.0f} s (the --budget-s limit)", "log_tail": lines[-20:]}
            proc.wait(timeout=max(5.0, deadline - time.perf_counter()))
        except subprocess.TimeoutExpired:
            proc.kill()
            return {"status": f"stopped after {seconds:.0f} s (the --budget-s limit)", "log_tail": lines[-20:]}
        found = [x for x in lines if x.startswith("PIPELINE_RESULT ")]
        if proc.returncode != 0 or not found:
            return {"status": f"failed with exit code {proc.returncode}", "log_tail": lines[-30:]}
        return {"status": "ok", **json.loads(found[-1][len("PIPELINE_RESULT "):])}


# --------------------------------------------------------------------------- main

def environment(device: str) -> dict:
    env = {"torch": torch.__version__, "python": platform.python_version(), "device": device,
           "cpu_threads": torch.get_num_threads()}
    if device.startswith("cuda"):
        props = torch.cuda.get_device_properties(0)
        env.update(gpu=props.name, gpu_memory_gb=round(props.total_memory / 2**30, 1), cuda=torch.version.cuda,
                   cudnn=torch.backends.cudnn.version())
    return env


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="JSON file for the results")
    ap.add_argument("--device", default="cuda", help="cuda (default) or cpu (only with --tiny)")
    ap.add_argument("--tiny", action="store_true", help="a few dozen ECGs: checks the script, measures nothing")
    ap.add_argument("--preset", choices=("paper", "fast"), default="paper", help="model preset of the epoch timings")
    ap.add_argument("--branches", nargs="+", default=["rhythm", "morphology", "global"])
    ap.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    ap.add_argument("--warmup", type=int, default=8, help="warm-up batches before each timed epoch")
    ap.add_argument("--budget-s", type=float, default=480.0,
                    help="stop starting new measurements after this many seconds (the pipeline gets what is left)")
    ap.add_argument("--skip-pipeline", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--pipeline-child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--pipeline-out", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("bench_gpu: CUDA is not available on this machine (torch "
              f"{torch.__version__}); run it where a GPU is lent, or check the script with "
              "--device cpu --tiny", file=sys.stderr)
        return 2
    if not args.device.startswith("cuda") and not args.tiny:
        print(f"bench_gpu: --device {args.device} is only for the small check; add --tiny "
              "(the full-size epochs take hours on a CPU)", file=sys.stderr)
        return 2
    if args.pipeline_child:
        pipeline_child(args)
        return 0
    if args.device.startswith("cuda"):
        torch.backends.cudnn.benchmark = True
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    sizes = TINY if args.tiny else FULL
    results = {"environment": environment(args.device), "sizes": sizes, "preset": args.preset, "batch_size": 32,
               "modes": args.modes, "epochs": [], "auroc_difference_vs_fp32": {}, "skipped": []}
    say(f"bench_gpu on {args.device} ({results['environment'].get('gpu', 'cpu')}), torch {torch.__version__}; "
        f"synthesising {sum(sizes.values())} ECGs")
    ds = synthetic_ptbxl(sizes, seed=args.seed)
    say(f"data ready: {ds.signals.nbytes / 2**30:.2f} GiB of signals")

    def save() -> None:
        results["elapsed_s"] = round(time.perf_counter() - T0, 1)
        out.write_text(json.dumps(results, indent=1))

    for name in args.branches:
        for mode in args.modes:
            if time.perf_counter() - T0 > args.budget_s:
                results["skipped"].append(f"{name}/{mode}: over the time budget")
                say(f"{name} {mode}: skipped (over the {args.budget_s:.0f} s budget)")
                continue
            say(f"{name} {mode}: joint epoch over {sizes['train']} ECGs ...")
            r = joint_epoch(ds, args.preset, name, mode, args.device, 0 if args.tiny else args.warmup)
            results["epochs"].append(r)
            say(f"{name} {mode}: {r['train_ecgs_per_s']:.0f} training ECGs/s ({r['train_s']:.1f} s), validation "
                f"{r['validation_s']:.1f} s, peak GPU {r['peak_gpu_mb']} MB, val macro AUROC {r['val_macro_auroc']:.4f}")
            save()
        base = next((r for r in results["epochs"] if r["branch"] == name and r["mode"] == "fp32"), None)
        if base is not None:
            results["auroc_difference_vs_fp32"][name] = {
                r["mode"]: round(r["val_macro_auroc"] - base["val_macro_auroc"], 5)
                for r in results["epochs"] if r["branch"] == name and r["mode"] != "fp32"}
            say(f"{name}: AUROC difference from fp32 {results['auroc_difference_vs_fp32'][name]}")
    if args.skip_pipeline:
        results["pipeline"] = {"status": "skipped (--skip-pipeline)"}
    else:
        left = args.budget_s - (time.perf_counter() - T0) + 60.0
        if left < 30:
            results["pipeline"] = {"status": "skipped: no time left in --budget-s"}
        else:
            say(f"fast pipeline on the same data (at most {left:.0f} s) ...")
            results["pipeline"] = run_pipeline_bounded(args, left)
            say(f"fast pipeline: {results['pipeline'].get('status')}, wall {results['pipeline'].get('wall_s')} s, "
                f"test macro AUROC {results['pipeline'].get('test_macro_auroc')}")
    save()
    say(f"results written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
