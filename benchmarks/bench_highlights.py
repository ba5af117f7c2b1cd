"""Cost of each highlight method per explanation (one ECG, one prototype) on the CPU.

    python benchmarks/bench_highlights.py [--threads 1] [--repeats 5] [--presets paper fast]

Prints seconds per explanation (median and maximum over repeats x 3 prototypes, after one warm-up)
for the morphology branch of each preset, standard and local-prototype variant (``local_windows``),
each time including the search for the best window ``w*``; then the receptive-field measurement
(theoretical spans and the effective span of one latent step over 4 inputs). Randomly initialised
branches (the cost does not depend on the weights) at the real input length (1,000 samples).
Numbers depend on the machine and on its load: they are indicative only.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from protoecg_lib.evaluation.highlights import HIGHLIGHT_METHODS, best_window, highlight
from protoecg_lib.evaluation.receptive_field import receptive_field, theoretical_spans
from protoecg_lib.models import ProtoBranch, get_preset


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--presets", nargs="+", default=["paper", "fast"], choices=("paper", "fast"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    x = (0.2 * rng.standard_normal((12, 1000))).astype(np.float32)
    print(f"highlight cost per explanation (s), CPU, {args.threads} thread(s), median and max of "
          f"{args.repeats} x 3 prototypes")
    print(f"{'preset':8s} {'branch':9s} {'method':12s} {'median_s':>9s} {'max_s':>7s}")
    for preset in args.presets:
        for local in (False, True):
            torch.manual_seed(0)
            cfg = get_preset(preset).branches["morphology"].replace(local_windows=local)
            branch = ProtoBranch(cfg).eval()
            name = "local" if local else "standard"
            best_window(branch, x, 0)                                             # warm-up
            times = []
            for _ in range(args.repeats):
                t = time.perf_counter()
                best_window(branch, x, 0)
                times.append(time.perf_counter() - t)
            print(f"{preset:8s} {name:9s} {'best window':12s} {np.median(times):9.3f} {np.max(times):7.3f}")
            protos = [0, branch.num_prototypes // 2, branch.num_prototypes - 1]
            for method in HIGHLIGHT_METHODS:
                highlight(branch, x, 0, method)                                   # warm-up
                times = [highlight(branch, x, j, method).seconds for _ in range(args.repeats) for j in protos]
                print(f"{preset:8s} {name:9s} {method:12s} {np.median(times):9.3f} {np.max(times):7.3f}")
        branch = ProtoBranch(get_preset(preset).branches["morphology"]).eval()
        t = time.perf_counter()
        theoretical_spans(branch, 1000)
        t_theo = time.perf_counter() - t
        t = time.perf_counter()
        receptive_field(branch, signals=np.repeat(x[None], 4, axis=0), steps=[16])
        t_eff = time.perf_counter() - t
        print(f"{preset:8s} {'standard':9s} {'RF theory':12s} {t_theo:9.3f}")
        print(f"{preset:8s} {'standard':9s} {'RF effective':12s} {t_eff:9.3f}   (one step, 4 inputs)")


if __name__ == "__main__":
    main()
