"""Render time of the ECG figures: build + draw + savefig to an in-memory PNG.

    python benchmarks/bench_plotting.py [--repeats 10] [--dpi 100]

Uses the first record of the mini PTB-XL excerpt when present (else a synthetic ECG). Prints the
median and best of ``--repeats`` runs after one warm-up (font cache). Numbers depend on the machine
and on its load: they are indicative only.
"""
from __future__ import annotations

import argparse
import io
import statistics
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402

from protoecg_lib.plotting import (Highlight, plot_ecg, plot_ecg_pair, plot_lead_strip,  # noqa: E402
                                   plot_prototype_gallery, plot_segment)

RECORD = Path(__file__).resolve().parents[2] / "shared" / "data" / "ptb-xl" / "records100" / "00000" / "00001_lr"


def load_ecg() -> tuple[np.ndarray, float, str]:
    if RECORD.with_suffix(".hea").exists():
        import wfdb
        rec = wfdb.rdrecord(str(RECORD))
        return rec.p_signal.T.astype(np.float32), float(rec.fs), f"PTB-XL {RECORD.name}"
    t = np.arange(1000) / 100
    return (np.sin(2 * np.pi * 1.2 * t)[None, :] * np.linspace(0.2, 1.2, 12)[:, None]).astype(np.float32), 100.0, "synthetic"


def render(make, dpi: int) -> float:
    start = time.perf_counter()
    fig = make()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--dpi", type=int, default=100)
    args = parser.parse_args()
    x, fs, source = load_ecg()
    x500 = np.repeat(x, 5, axis=1)  # a 500-Hz-sized record (5000 samples per lead)
    window = [Highlight(2.0, 2.93, label="prototype window")]
    prov = [{"index": k, "branch": "morphology", "class": "IMI", "projected": True, "ecg_id": k, "start_sample": 31 * k,
             "length_samples": 93, "sampling_rate": 100, "similarity": 11.0} for k in range(12)]
    cases = {
        "print layout, 100 Hz": lambda: plot_ecg(x, fs, title="ecg", highlights=window),
        "print layout, 500 Hz": lambda: plot_ecg(x500, 500, title="ecg", highlights=window),
        "explanation pair, 100 Hz": lambda: plot_ecg_pair(x, x, fs, "explained", "prototype source", window, window),
        "lead strip": lambda: plot_lead_strip(x, fs, "II", [Highlight.strip_only(0, 10)]),
        "3x4 segment": lambda: plot_segment(x, fs, 2.0, 2.93),
        "gallery, 12 prototypes": lambda: plot_prototype_gallery(prov, lambda _: x, fs),
    }
    print(f"ECG: {source}; dpi {args.dpi}; {args.repeats} repeats after one warm-up (indicative: shared CPU)")
    print(f"{'figure':28s} {'median s':>9s} {'best s':>8s}")
    for name, make in cases.items():
        render(make, args.dpi)
        times = [render(make, args.dpi) for _ in range(args.repeats)]
        print(f"{name:28s} {statistics.median(times):9.3f} {min(times):8.3f}")


if __name__ == "__main__":
    main()
