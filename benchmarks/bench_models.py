"""Speed, memory and FLOPs of the ProtoECGNet branches on CPU (plain script, prints a table).

    python benchmarks/bench_models.py [--presets paper fast] [--threads 2] [--batch 32] [--repeats 5]

For every preset and branch (and the full fused model) it reports, per ECG at batch 32:

* forward time (eval mode, no autograd) and forward+backward time (train mode, loss = sum of logits);
* FLOPs per ECG counted by ``torch.utils.flop_counter.FlopCounterMode``: "useful" FLOPs (2D 3x3
  convolutions counted on the one kernel row that sees data, via the row shortcut) and, for 2D
  rows, "dense" FLOPs (the whole 3x3 kernel, as method §10 counts: 1.01 GFLOPs for the backbone);
* achieved GFLOP/s (useful FLOPs / time) and that as a fraction of the CPU's practical ceiling,
  measured as the GFLOP/s of a 2048^3 float32 matmul with the same thread count;
* peak memory: growth of the max RSS (``resource.getrusage``) during the measured passes, in a
  fresh subprocess per case (inference and training measured separately).

Timing uses the library default (plain convolutions). Rows marked "row conv" time the same
branch with the height-1 row shortcut on, for comparison. Timings on a shared machine are
indicative only.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from protoecg_lib.models import ProtoBranch, ProtoECGNet, get_preset, set_row_shortcut

CASES = ("rhythm", "morphology", "global", "full")


def _maxrss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux reports KiB


def _build(preset: str, case: str) -> torch.nn.Module:
    torch.manual_seed(0)
    config = get_preset(preset)
    return ProtoECGNet(config) if case == "full" else ProtoBranch(config.branches[case])


def _step(model: torch.nn.Module, x: torch.Tensor, backward: bool) -> None:
    if backward:
        model(x).logits.sum().backward()
        model.zero_grad(set_to_none=True)
    else:
        with torch.no_grad():
            model(x)


def _count_flops(model: torch.nn.Module, x: torch.Tensor, backward: bool, row: bool) -> int:
    set_row_shortcut(model, row)
    with FlopCounterMode(display=False) as counter:
        _step(model, x, backward)
    return counter.get_total_flops()


def run_case(preset: str, case: str, mode: str, batch: int, repeats: int, threads: int, row: bool) -> dict:
    """One measurement in this process (called in a subprocess by :func:`main`)."""
    torch.set_num_threads(threads)
    model = _build(preset, case)
    backward = mode == "train"
    model.train(backward)
    x = torch.randn(batch, 12, 1000)
    params = model.num_parameters() if case == "full" else sum(p.numel() for p in model.parameters())
    result = {"preset": preset, "case": case + (" (row conv)" if row else ""), "mode": mode, "params": params}
    result["flops_per_ecg"] = _count_flops(model, x[:1], backward, row=True)
    if case != "rhythm":
        result["dense_flops_per_ecg"] = _count_flops(model, x[:1], backward, row=False)
    set_row_shortcut(model, row)
    base = _maxrss_mib()
    _step(model, x, backward)  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        _step(model, x, backward)
        times.append(time.perf_counter() - t0)
    best = min(times)
    result["s_per_ecg"] = best / batch
    result["gflops_per_s"] = result["flops_per_ecg"] * batch / best / 1e9
    result["peak_mib"] = _maxrss_mib() - base
    return result


def matmul_ceiling(threads: int, n: int = 2048, repeats: int = 5) -> float:
    """GFLOP/s of an ``n x n`` float32 matmul: the practical throughput ceiling of this CPU."""
    torch.set_num_threads(threads)
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t0)
    return 2 * n ** 3 / min(times) / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["paper", "fast"])
    parser.add_argument("--cases", nargs="+", default=list(CASES))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-row", action="store_true", help="skip the row-shortcut comparison rows")
    parser.add_argument("--case-json", help=argparse.SUPPRESS)  # internal: run one case
    args = parser.parse_args()

    if args.case_json:
        print(json.dumps(run_case(**json.loads(args.case_json))))
        return

    ceiling = matmul_ceiling(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads, batch {args.batch}, best of {args.repeats}")
    print(f"practical ceiling (2048^3 float32 matmul): {ceiling:.1f} GFLOP/s")
    print("numbers are indicative: the CPU is shared with other work\n")
    header = (f"{'preset':6} {'case':22} {'mode':5} {'params':>11} {'GFLOP/ECG':>9} {'dense':>6} "
              f"{'ms/ECG':>7} {'GFLOP/s':>8} {'%ceil':>6} {'peak MiB':>8}")
    print(header)
    print("-" * len(header))
    jobs = []
    for preset in args.presets:
        for case in args.cases:
            for mode in ("infer", "train"):
                jobs.append(dict(preset=preset, case=case, mode=mode, row=False))
        if not args.no_row and "morphology" in args.cases:
            jobs += [dict(preset=preset, case="morphology", mode=m, row=True) for m in ("infer", "train")]
    for job in jobs:
        spec = dict(job, batch=args.batch, repeats=args.repeats, threads=args.threads)
        proc = subprocess.run([sys.executable, __file__, "--case-json", json.dumps(spec)],
                              capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            print(f"{job['preset']:6} {job['case']:22} {job['mode']:5} FAILED: {proc.stderr.strip()[-300:]}")
            continue
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        dense = f"{r['dense_flops_per_ecg'] / 1e9:6.3f}" if "dense_flops_per_ecg" in r else f"{'':6}"
        print(f"{r['preset']:6} {r['case']:22} {r['mode']:5} {r['params']:11,d} {r['flops_per_ecg'] / 1e9:9.3f} "
              f"{dense} {r['s_per_ecg'] * 1e3:7.2f} {r['gflops_per_s']:8.1f} "
              f"{100 * r['gflops_per_s'] / ceiling:5.0f}% {r['peak_mib']:8.0f}", flush=True)


if __name__ == "__main__":
    main()
