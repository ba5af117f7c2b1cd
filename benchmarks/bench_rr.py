"""R-peak detection benchmark: time per record of each detector, agreement with NeuroKit2, and the
cost of the rhythm branch's beat features cold and memoised (issue 16).

Usage: python benchmarks/bench_rr.py [--root ../shared/data/ptb-xl]

Prints, for every detector of ``data.rr.DETECTORS`` on lead II of every record of the root: ms per
record, records with fewer than 4 peaks, and the F1 of its peaks against NeuroKit2's within 50 ms;
then ``beat_feature_matrix`` over the whole root cold (a fresh cache) and warm (memoised).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from protoecg_lib.data import load_ptbxl, rr

REPO = Path(__file__).resolve().parents[1]


def _f1(a: np.ndarray, b: np.ndarray, tol: int) -> float:
    if len(a) == 0 or len(b) == 0:
        return float(len(a) == len(b))
    hit_a = sum(np.min(np.abs(b - p)) <= tol for p in a)
    hit_b = sum(np.min(np.abs(a - p)) <= tol for p in b)
    return 2 * min(hit_a, hit_b) / (len(a) + len(b))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=str(REPO.parent / "shared" / "data" / "ptb-xl"))
    args = parser.parse_args()
    ds = load_ptbxl(args.root)
    signals = np.asarray(ds.signals)                                   # (N, 12, T)
    print(f"{len(ds)} records at {ds.fs} Hz from {args.root}")
    rr.detect_r_peaks(signals[0], ds.fs)                                # imports (NeuroKit2's first call)
    peaks = {}
    print(f"{'detector':<10}{'ms / record':>12}{'< 4 peaks':>11}{'F1 vs neurokit (50 ms)':>24}")
    for method in rr.DETECTORS:
        t0 = time.perf_counter()
        peaks[method] = [rr.detect_r_peaks(x, ds.fs, method) for x in signals]
        ms = 1000 * (time.perf_counter() - t0) / len(signals)
        few = sum(len(p) < 4 for p in peaks[method])
        tol = int(round(0.05 * ds.fs))
        f1 = np.mean([_f1(a, b, tol) for a, b in zip(peaks[method], peaks["neurokit"])])
        print(f"{method:<10}{ms:>12.2f}{few:>11}{f1:>24.3f}")
    cache = rr.BeatFeatureCache()
    t0 = time.perf_counter()
    rr.beat_feature_matrix(signals, ds.fs, cache=cache)
    cold = time.perf_counter() - t0
    t0 = time.perf_counter()
    rr.beat_feature_matrix(signals, ds.fs, cache=cache)
    warm = time.perf_counter() - t0
    print(f"beat features of all {len(signals)} records: cold {cold:.2f} s, memoised {1000 * warm:.1f} ms "
          f"({cache.hits} hits, {cache.misses} misses)")


if __name__ == "__main__":
    main()
