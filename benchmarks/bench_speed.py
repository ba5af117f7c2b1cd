"""This project's default (the exact fast paths) against its plain-layer version, side by side on the CPU.

    python benchmarks/bench_speed.py [--root ../shared/data/ptb-xl] [--threads 2] [--batch 32]
                                     [--rounds 7] [--branches rhythm morphology global]
                                     [--parts train forward projection memory]

Paper configuration, real excerpt ECGs. Ratios are default / plain (< 1 is faster or smaller):

* **train step** (joint stage): ``training.branch.joint_step`` -- fused Adam, gradients freed before the
  forward, row layout -- against the plain layers (``models.set_fast_paths(model, False)``) with
  the per-parameter Adam and the step order the project had before (forward, loss, zero_grad,
  backward);
* **forward only** (eval mode, batch ``--batch``): inference mode and row layout against ``no_grad``
  and the plain layers;
* **projection** over the training split (344 ECGs in the excerpt): ``project_prototypes`` as it is
  (inference mode, 128 ECGs a batch) against the plain layers at the former 64 a batch;
* **peak resident memory** during one joint-stage epoch over the training split plus validation:
  the peak resident size (``VmHWM``, reset just before the epoch) minus the resident size then, in
  a fresh process per measurement; the default streams batches from the cache, the plain version
  holds a copy of the split, as the project did before. (``ru_maxrss`` would not do: on Linux a
  child started by ``fork``/``exec`` inherits its parent's peak.)

Timings alternate in one process (default, plain, plain, default, ... per round), so slow
phases of a shared machine hit both. Each line gives the median wall time of both, the median of
the per-round ratios and their range, the ratio of the fastest runs (the least disturbed ones: on
a shared machine noise only adds time) and the ratio of median process CPU times. Memory runs
alternate between fresh processes.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from protoecg_lib.data import load_ptbxl
from protoecg_lib.data.torchdata import SplitDataset, as_batch
from protoecg_lib.labels import BRANCHES
from protoecg_lib.models import ProtoBranch, get_preset, set_fast_paths
from protoecg_lib.training import TrainConfig
from protoecg_lib.training.branch import joint_step, set_stage
from protoecg_lib.training.heads import predict_logits
from protoecg_lib.training.loop import make_optimizer
from protoecg_lib.training.objective import PrototypeLoss
from protoecg_lib.training.projection import project_prototypes

REPO = Path(__file__).resolve().parents[1]


def plain_step(branch, criterion, optimizer, x, y):
    """The joint step as the project ran it before: forward, loss, zero_grad, backward, step."""
    out = branch(x)
    loss, _ = criterion(out.logits.float(), out.similarity.float(), branch.prototype_layer.prototypes, y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.detach()


def build(name: str, train, fast: bool):
    """A paper-configuration branch (seeded), its loss and optimiser, in the joint stage."""
    torch.manual_seed(0)
    branch = ProtoBranch(get_preset("paper").branches[name])
    set_fast_paths(branch, fast)
    criterion = PrototypeLoss(train.class_weights(), branch.class_identity, train.cooccurrence())
    params = set_stage(branch, "joint")
    optimizer = make_optimizer(params, TrainConfig(), fused=None if fast else False)
    return branch, criterion, optimizer


def _timed(fn) -> tuple[float, float]:
    """Wall-clock and process CPU seconds of ``fn()``."""
    c0, t0 = time.process_time(), time.perf_counter()
    fn()
    return time.perf_counter() - t0, time.process_time() - c0


def time_branch(ds, name: str, args) -> dict:
    train = ds.split("train", name)
    fast, crit_f, opt_f = build(name, train, True)
    plain, crit_p, opt_p = build(name, train, False)
    scaler = torch.amp.GradScaler("cuda", enabled=False)
    rows = np.arange(args.batch)
    x = torch.from_numpy(np.array(train.signals[rows], dtype=np.float32))
    y = torch.from_numpy(train.targets[rows].copy())
    jobs = {}
    if "train" in args.parts:
        jobs["train step"] = (lambda: joint_step(fast, fast, crit_f, opt_f, scaler, x, y),
                              lambda: plain_step(plain, crit_p, opt_p, x, y))

    def fwd_fast():
        fast.eval()
        with torch.inference_mode():
            fast(x)
        set_stage(fast, "joint")

    def fwd_plain():
        plain.eval()
        with torch.no_grad():
            plain(x)
        set_stage(plain, "joint")

    if "forward" in args.parts:
        jobs["forward"] = (fwd_fast, fwd_plain)
    if "projection" in args.parts:
        proj_f, proj_p = copy.deepcopy(fast).eval(), copy.deepcopy(plain).eval()
        keep_f, keep_p = proj_f.prototype_layer.prototypes.detach().clone(), proj_p.prototype_layer.prototypes.detach().clone()

        def project(branch, keep, batch_size):
            project_prototypes(branch, train, batch_size=batch_size)
            branch.set_prototypes(keep)           # the next round projects the same branch again

        jobs["projection"] = (lambda: project(proj_f, keep_f, 128), lambda: project(proj_p, keep_p, 64))
    result = {}
    for part, (run_fast, run_plain) in jobs.items():
        run_fast(), run_plain()                   # warm-up (oneDNN primitives, allocator)
        wall = {run_fast: [], run_plain: []}
        cpu = {run_fast: [], run_plain: []}
        for r in range(args.rounds):
            for fn in ((run_fast, run_plain) if r % 2 == 0 else (run_plain, run_fast)):
                w, c = _timed(fn)
                wall[fn].append(w)
                cpu[fn].append(c)
        ratios = [f / p for f, p in zip(wall[run_fast], wall[run_plain])]
        med = statistics.median
        result[part] = {
            "ratio_median": med(ratios), "ratio_min": min(ratios), "ratio_max": max(ratios),
            "ratio_of_minima": min(wall[run_fast]) / min(wall[run_plain]),
            "cpu_ratio_of_medians": med(cpu[run_fast]) / med(cpu[run_plain]),
            "fast_s": wall[run_fast], "plain_s": wall[run_plain], "fast_cpu_s": cpu[run_fast], "plain_cpu_s": cpu[run_plain]}
        print(f"  {name:10} {part:11} default {med(wall[run_fast]):7.3f} s (min {min(wall[run_fast]):.3f})  plain "
              f"{med(wall[run_plain]):7.3f} s (min {min(wall[run_plain]):.3f})  ratio median {med(ratios):.3f} "
              f"[{min(ratios):.3f}, {max(ratios):.3f}], of minima {result[part]['ratio_of_minima']:.3f}, "
              f"CPU time {result[part]['cpu_ratio_of_medians']:.3f}", flush=True)
    return result


def _status_mb(key: str) -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return float(line.split()[1]) / 1024           # kB
    except OSError:
        pass
    return None


def _peak_mb() -> float:
    """Peak resident memory of this process image: VmHWM (Linux), else ru_maxrss (which on Linux also
    counts the parent's memory before exec, so it is only a fallback)."""
    hwm = _status_mb("VmHWM")
    return hwm if hwm is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def memory_run(root: str, name: str, fast: bool, threads: int) -> float:
    """One joint-stage epoch over the training split and validation; returns the growth of the peak
    resident memory over the resident memory before it, in MB."""
    torch.set_num_threads(threads)
    ds = load_ptbxl(root)
    train, val = ds.split("train", name), ds.split("val", name)
    branch, criterion, optimizer = build(name, train, fast)
    try:
        Path("/proc/self/clear_refs").write_text("5")         # reset VmHWM to the current resident size
    except OSError:
        pass
    base = _status_mb("VmRSS") or _peak_mb()
    scaler = torch.amp.GradScaler("cuda", enabled=False)
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(0)).split(32)
    if fast:
        data = SplitDataset(train)                       # batches streamed from the cache
        for index in order:
            x, y, _ = data[index]
            joint_step(branch, branch, criterion, optimizer, scaler, x, y)
        branch.eval()
        predict_logits(lambda t: branch(t).logits, val.signals, 128)
    else:
        xs, ys = torch.from_numpy(np.array(train.signals, dtype=np.float32)), torch.from_numpy(train.targets.copy())
        for index in order:
            plain_step(branch, criterion, optimizer, xs[index], ys[index])
        branch.eval()
        val_x = torch.from_numpy(np.array(val.signals, dtype=np.float32))
        with torch.no_grad():
            for s in range(0, len(val_x), 128):
                branch(val_x[s:s + 128])
    return _peak_mb() - base


def memory(args) -> dict:
    out = {}
    for name in args.branches:
        growth = {True: [], False: []}
        for r in range(args.memory_rounds):
            for fast in ((True, False) if r % 2 == 0 else (False, True)):
                spec = json.dumps({"root": args.root, "name": name, "fast": fast, "threads": args.threads})
                proc = subprocess.run([sys.executable, __file__, "--memory-json", spec], capture_output=True,
                                      text=True, check=False, env={**os.environ, "OMP_NUM_THREADS": str(args.threads)})
                if proc.returncode != 0:
                    raise RuntimeError(f"memory run failed: {proc.stderr[-2000:]}")
                growth[fast].append(float(proc.stdout.strip().splitlines()[-1]))
        f, p = statistics.median(growth[True]), statistics.median(growth[False])
        out[name] = {"default_mb": growth[True], "plain_mb": growth[False], "ratio_median": f / p}
        print(f"  {name:10} peak memory growth default {f:6.0f} MB  plain {p:6.0f} MB  ratio {f / p:.3f}"
              f"  (default {[round(v) for v in growth[True]]}, plain {[round(v) for v in growth[False]]})", flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default=os.environ.get("PROTOECG_DATA", str(REPO.parent / "shared" / "data" / "ptb-xl")))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--memory-rounds", type=int, default=2)
    ap.add_argument("--branches", nargs="+", default=list(BRANCHES))
    ap.add_argument("--parts", nargs="+", default=["train", "forward", "projection", "memory"])
    ap.add_argument("--json", default=None, help="also write the figures to this JSON file")
    ap.add_argument("--memory-json", help=argparse.SUPPRESS)     # internal: one memory run
    args = ap.parse_args()
    if args.memory_json:
        spec = json.loads(args.memory_json)
        print(memory_run(spec["root"], spec["name"], spec["fast"], spec["threads"]))
        return
    torch.set_num_threads(args.threads)
    ds = load_ptbxl(args.root)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"default (exact fast paths) / plain layers, paper configuration, {args.threads} threads, batch {args.batch}, "
          f"{args.rounds} alternating rounds, torch {torch.__version__}, load average {load:.2f}\n"
          f"data: {ds.root} ({len(ds.split('train'))} training ECGs)", flush=True)
    results = {"threads": args.threads, "batch": args.batch, "rounds": args.rounds, "load_average_start": load}
    for name in args.branches:
        results[name] = time_branch(ds, name, args)
    if "memory" in args.parts:
        results["memory"] = memory(args)
    results["load_average_end"] = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
