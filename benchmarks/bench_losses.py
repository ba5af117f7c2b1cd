"""Cost of the combined prototype loss (method §3) for the three paper branches, forward + backward.

Prints wall-clock figures on CPU (batch 32); run ``python benchmarks/bench_losses.py``. Indicative
only: the CPU may be shared, and on a GPU these terms are negligible next to the backbones.
"""
import time

import numpy as np
import torch

from protoecg_lib.cooccurrence import class_weights, jaccard
from protoecg_lib.training.objective import PrototypeLoss

BRANCHES = {  # name: (classes, prototypes per class, prototype shape after P)
    "rhythm (1D)": (16, 5, (512,)),
    "morphology (2D, T=3)": (52, 18, (512, 1, 3)),
    "global (2D, T=32)": (3, 7, (512, 1, 32)),
}


def main(batch=32, repeat=5):
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, batch {batch}")
    for name, (c, m, shape) in BRANCHES.items():
        train = (rng.random((2000, c)) < 0.1).astype(np.float32)
        p = c * m
        a = torch.zeros(p, c)
        a[torch.arange(p), torch.arange(p) // m] = 1
        loss = PrototypeLoss(class_weights(train), a, jaccard(train))
        protos = torch.randn(p, *shape, requires_grad=True)
        sim = torch.rand(batch, p, requires_grad=True)
        logits = torch.randn(batch, c, requires_grad=True)
        targets = (torch.rand(batch, c) < 0.1).float()
        best = float("inf")
        for _ in range(repeat):
            start = time.perf_counter()
            total, terms = loss(logits, sim, protos, targets)
            total.backward()
            best = min(best, time.perf_counter() - start)
        shown = ", ".join(f"{k}={v.item():.4g}" for k, v in terms.items())
        print(f"{name:22s} P={p:4d}  fwd+bwd {best * 1e3:7.1f} ms   {shown}")


if __name__ == "__main__":
    main()
