"""Speed of the dataset-level metrics at test-set scale (method §8.1): ~2,200 ECGs x 71 labels.

Prints wall-clock figures; run ``python benchmarks/bench_metrics.py``. Numbers depend on the machine
(and on whatever else shares its CPU); they are indicative only.
"""
import time

import numpy as np
from sklearn.metrics import roc_auc_score

from protoecg_lib.evaluation.metrics import bootstrap_ci, bootstrap_counts, evaluation_table, macro_auroc


def fake_test_split(n=2198, c=71, patients=1900, seed=0):
    rng = np.random.default_rng(seed)
    y = (rng.random((n, c)) < rng.uniform(0.001, 0.4, c)).astype(np.float32)
    p = 1 / (1 + np.exp(-(rng.normal(size=(n, c)) + 2.0 * y)))
    return y, p.astype(np.float32), rng.integers(0, patients, n)


def timed(fn, *args, repeat=3, **kwargs):
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn(*args, **kwargs)
        best = min(best, time.perf_counter() - start)
    return best, out


def main():
    y, p, groups = fake_test_split()
    print(f"data: {y.shape[0]} ECGs, {y.shape[1]} labels, {len(np.unique(groups))} patients")
    t, value = timed(macro_auroc, y, p)
    print(f"macro_auroc (one pass):                 {t * 1e3:8.1f} ms  -> {value:.4f}")
    t, ci = timed(bootstrap_ci, y, p, groups, n_boot=1000, repeat=2)
    print(f"bootstrap_ci, 1000 patient resamples:   {t:8.2f} s   -> {ci.point:.4f} [{ci.lo:.4f}, {ci.hi:.4f}]")
    t, _ = timed(evaluation_table, y, p, None, groups, n_boot=1000, repeat=1)
    print(f"evaluation_table (macro + weighted CI): {t:8.2f} s")

    # reference: explicit resampling with scikit-learn, a few resamples, extrapolated to 1000
    counts = bootstrap_counts(groups, n_boot=10, seed=0)
    start = time.perf_counter()
    for row in counts:
        idx = np.repeat(np.arange(len(y)), row)
        keep = [k for k in range(y.shape[1]) if 0 < y[idx, k].sum() < len(idx)]
        roc_auc_score(y[idx][:, keep], p[idx][:, keep], average="macro")
    per = (time.perf_counter() - start) / len(counts)
    print(f"scikit-learn loop, per resample:        {per * 1e3:8.1f} ms  (x1000 = {per * 1000:.1f} s)")


if __name__ == "__main__":
    main()
