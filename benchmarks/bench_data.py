"""Data-layer benchmark: decode time per record, cached reload time, peak memory.

Usage: python benchmarks/bench_data.py [--root ../shared/data/ptb-xl] [--full-scale] [--workers 2]

1. The excerpt: a cold load (wfdb decode + high-pass + cache write) and a cached reload, each in a
   fresh process so that peak resident memory (VmHWM) is the load's own.
2. ``--full-scale``: a stand-in for the full 100 Hz PTB-XL: a metadata file with 21,799 rows whose
   records cycle through the excerpt's real WFDB files, so decode, cache and reload run at full size
   for real (the full dataset is not reachable from this machine). Reported: cold decode time, cached
   reload time (load + memory-map + the train split as a torch tensor), peak resident memory.
3. Rebuilds: on a private copy of the excerpt's 100 Hz records (and the stand-in built on it), the
   reload after the header gain of 1 and of 10 records changed (the cache re-decodes those rows only).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
FULL = 21_799

CHILD = textwrap.dedent("""
    import json, sys, time, warnings
    warnings.simplefilter("ignore")
    t0 = time.perf_counter()
    from protoecg_lib.data import load_ptbxl
    t_import = time.perf_counter() - t0
    t0 = time.perf_counter()
    ds = load_ptbxl(sys.argv[1], num_workers=int(sys.argv[2]))
    t_load = time.perf_counter() - t0
    t0 = time.perf_counter()
    sp = ds.split("train", "all")
    x, y = sp.tensors() if sys.argv[3] == "tensors" else (sp.signals, sp.targets)
    checksum = float(x[:, :, ::97].sum())
    t_split = time.perf_counter() - t0
    hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM"))
    print(json.dumps({"records": len(ds), "train": len(sp), "load_s": t_load, "split_s": t_split,
                      "import_s": t_import, "peak_rss_mb": hwm / 1024}))
""")


def run_child(root: Path, cache: Path, workers: int, mode: str) -> dict:
    env = dict(os.environ, PROTOECG_CACHE=str(cache))
    out = subprocess.run([sys.executable, "-c", CHILD, str(root), str(workers), mode], env=env,
                         capture_output=True, text=True, check=True)
    return {**json.loads(out.stdout.strip().splitlines()[-1]), "stderr": out.stderr}


def make_full_scale_root(src: Path, dst: Path) -> Path:
    """A root whose 21,799 metadata rows cycle through ``src``'s real 100 Hz records."""
    df = pd.read_csv(src / "ptbxl_database.csv")
    df = df[[(src / (f + ".dat")).is_file() for f in df["filename_lr"]]]
    reps = -(-FULL // len(df))
    big = pd.concat([df] * reps, ignore_index=True).head(FULL).copy()
    big["ecg_id"] = range(1, FULL + 1)
    big["patient_id"] = big["patient_id"] + 100_000 * (big.index // len(df))
    big["filename_lr"] = [str((src / f).resolve()) for f in big["filename_lr"]]  # absolute: root / abs == abs
    dst.mkdir(parents=True, exist_ok=True)
    big.to_csv(dst / "ptbxl_database.csv", index=False)
    (dst / "scp_statements.csv").write_bytes((src / "scp_statements.csv").read_bytes())
    return dst


def copy_excerpt(src: Path, dst: Path) -> Path:
    """The excerpt's metadata and 100 Hz records, copied (so that their headers can be changed)."""
    shutil.copytree(src / "records100", dst / "records100")
    for name in ("ptbxl_database.csv", "scp_statements.csv"):
        shutil.copyfile(src / name, dst / name)
    time.sleep(0.2)  # past the cache's 50 ms racy window: the first load trusts the copies' time stamps
    return dst


def change_gains(root: Path, count: int) -> None:
    """Toggle the gain of lead I (1000 <-> 500 adu/mV) in the headers of the first ``count`` records."""
    for hea in sorted((root / "records100").rglob("*.hea"))[:count]:
        lines = hea.read_text().splitlines()
        old, new = ("1000.0(", "500.0(") if "1000.0(" in lines[1] else ("500.0(", "1000.0(")
        lines[1] = lines[1].replace(old, new, 1)
        hea.write_text("\n".join(lines) + "\n")
    time.sleep(0.2)


def rebuilds(name: str, root: Path, cache: Path, edit_root: Path, workers: int) -> None:
    for count in (1, 10):
        change_gains(edit_root, count)
        result = run_child(root, cache, workers, "memmap")
        print(f"  {name}: reload after {count} header(s) changed: {result['load_s']:.2f} s "
              f"({result['stderr'].strip()})")


def report(name: str, cold: dict, warm: dict) -> None:
    n = cold["records"]
    print(f"{name}: {n} records")
    print(f"  cold load (wfdb decode + high-pass + cache write): {cold['load_s']:.2f} s "
          f"= {1000 * cold['load_s'] / n:.2f} ms/record; peak RSS {cold['peak_rss_mb']:.0f} MB")
    print(f"  cached reload: {warm['load_s']:.2f} s; train split ({warm['train']} records) as torch tensors "
          f"{warm['split_s']:.2f} s; peak RSS {warm['peak_rss_mb']:.0f} MB (library import {warm['import_s']:.1f} s)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, default=REPO.parent / "shared" / "data" / "ptb-xl")
    ap.add_argument("--full-scale", action="store_true")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cold = run_child(args.root, tmp / "cache-excerpt", 1, "tensors")
        warm = run_child(args.root, tmp / "cache-excerpt", 1, "tensors")
        report(f"excerpt {args.root}", cold, warm)
        per_record = cold["load_s"] / cold["records"]
        print(f"  extrapolated cold decode of {FULL} records: {per_record * FULL:.0f} s on one process")
        copy = copy_excerpt(args.root, tmp / "excerpt-copy")
        run_child(copy, tmp / "cache-copy", 1, "memmap")
        rebuilds("excerpt copy", copy, tmp / "cache-copy", copy, 1)
        if args.full_scale:
            root = make_full_scale_root(copy, tmp / "full-scale")
            cold = run_child(root, tmp / "cache-full", args.workers, "tensors")
            warm = run_child(root, tmp / "cache-full", args.workers, "memmap")
            report(f"full-scale stand-in ({args.workers} decode workers)", cold, warm)
            warm_t = run_child(root, tmp / "cache-full", args.workers, "tensors")
            print(f"  cached reload with the train split copied into torch tensors: load {warm_t['load_s']:.2f} s, "
                  f"split {warm_t['split_s']:.2f} s, peak RSS {warm_t['peak_rss_mb']:.0f} MB")
            rebuilds("full-scale stand-in", root, tmp / "cache-full", copy, args.workers)


if __name__ == "__main__":
    main()
