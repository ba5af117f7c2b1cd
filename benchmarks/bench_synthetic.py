"""Speed of the synthetic PTB-XL generator: records per second, one thread.

    python benchmarks/bench_synthetic.py [--records 400]

Prints generation alone at 100 Hz and 500 Hz, generation + WFDB writing (the fast writer and
``wfdb.wrsamp``), and a whole ``write_synthetic_root`` of the tiny tier. Figures depend on the
machine and on its load (indicative only on a shared CPU).
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from protoecg_lib import synthetic as syn  # noqa: E402
from protoecg_lib.synthetic.record import plan_record, render_plan  # noqa: E402
from protoecg_lib.synthetic.writer import to_digital, write_wfdb_fast, write_wfdb_lib  # noqa: E402


def _rate(n: int, seconds: float) -> str:
    return f"{n / seconds:8.0f} records/s  ({1000 * seconds / n:6.2f} ms/record, n={n})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=400)
    n = ap.parse_args().records
    cfg = syn.SyntheticConfig()
    rng = np.random.default_rng(0)
    labels = [syn.sample_labels(rng, cfg) for _ in range(n)]

    print("generation only (generate_record; labels drawn beforehand)")
    for fs in (100, 500):
        syn.generate_record(labels[0], fs, 0)                     # warm-up
        t = time.perf_counter()
        for i, ls in enumerate(labels):
            syn.generate_record(ls, fs, i)
        print(f"  {fs:3d} Hz: {_rate(n, time.perf_counter() - t)}")

    print("generation + writing one WFDB record")
    with tempfile.TemporaryDirectory() as tmp:
        for fs in (100, 500):
            for name, writer in (("fast writer", write_wfdb_fast), ("wfdb.wrsamp", write_wfdb_lib)):
                m = n if name == "fast writer" else max(20, n // 4)
                out = Path(tmp) / f"{fs}-{name.split()[0]}"
                out.mkdir()
                t = time.perf_counter()
                for i, ls in enumerate(labels[:m]):
                    plan = plan_record(ls, np.random.default_rng(i), cfg)
                    writer(out / f"{i:05d}", to_digital(render_plan(plan, fs)), fs)
                print(f"  {fs:3d} Hz, {name:11s}: {_rate(m, time.perf_counter() - t)}")

        print("whole roots (labels, records, metadata, evidence, marker)")
        for size, rates in ((syn.TIERS["tiny"], (100,)), (n, (100,)), (n // 4, (100, 500))):
            t = time.perf_counter()
            root = syn.write_synthetic_root(Path(tmp) / f"root-{size}-{len(rates)}", size, seed=0, sampling_rates=rates)
            dt = time.perf_counter() - t
            mb = sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) / 2 ** 20
            print(f"  {size:5d} records at {rates}: {dt:6.2f} s  ({size / dt:6.0f} records/s, {mb:.1f} MiB on disk)")


if __name__ == "__main__":
    main()
