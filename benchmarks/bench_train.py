"""Training throughput per branch and stage, and projection time, on the excerpt's training split.

    python benchmarks/bench_train.py [--root ../shared/data/ptb-xl] [--presets fast paper] [--threads 2]

For every preset and branch it runs the library's own stages (``train_branch``, the code path that
``protoecg pipeline`` uses) for two epochs on the whole training split and reports the **second**
epoch (the first pays for warm-up): ECGs per second through one training pass, for the
``prototypes`` stage (prototype vectors only) and the ``joint`` stage (backbone, add-on and
prototypes), then the time of the projection sweep over the training split (``project_prototypes``)
and of the ``classifier`` stage (similarities computed once, then the last layer trained on them).
Validation uses 16 ECGs so that the epoch time is the training pass. Figures are wall-clock on
this machine, indicative only when its CPU is shared.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import tempfile
import time
import warnings
from pathlib import Path

import torch

from protoecg_lib.data import load_ptbxl
from protoecg_lib.labels import BRANCHES
from protoecg_lib.models import ProtoBranch, get_preset
from protoecg_lib.training.projection import project_prototypes
from protoecg_lib.training import TrainConfig, train_branch, train_presets

REPO = Path(__file__).resolve().parents[1]


def second_epoch(log: Path) -> dict:
    records = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    return records[-1]


def bench_branch(ds, preset: str, name: str, threads: int) -> dict:
    torch.manual_seed(0)
    cfg = get_preset(preset).branches[name]
    branch = ProtoBranch(cfg)
    train, val = ds.split("train", cfg.label_set), ds.split("val", cfg.label_set)
    val = dataclasses.replace(val, signals=val.signals[:16], targets=val.targets[:16], ecg_id=val.ecg_id[:16],
                              patient_id=val.patient_id[:16])
    stages = train_presets(preset)
    row = {"preset": preset, "branch": name, "train ECGs": len(train), "prototypes": cfg.num_prototypes}
    with tempfile.TemporaryDirectory() as tmp:
        for stage in ("prototypes", "joint"):
            st = stages[stage].replace(num_epochs=2, patience=5, scheduler="constant")
            out = Path(tmp) / stage
            train_branch(branch, (train, val), stage, st, out, device="cpu", verbose=False)
            rec = second_epoch(out / "metrics.jsonl")
            row[f"{stage} ECG/s"] = round(len(train) / rec["time_s"], 1)
        t0 = time.perf_counter()
        project_prototypes(branch, train, device="cpu")
        row["projection s"] = round(time.perf_counter() - t0, 2)
        st: TrainConfig = stages["classifier"]
        t0 = time.perf_counter()
        train_branch(branch, (train, val), "classifier", st, Path(tmp) / "classifier", device="cpu", verbose=False)
        row["classifier stage s"] = round(time.perf_counter() - t0, 2)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", default=os.environ.get("PROTOECG_DATA", str(REPO.parent / "shared" / "data" / "ptb-xl")))
    ap.add_argument("--presets", nargs="+", default=["fast", "paper"])
    ap.add_argument("--branches", nargs="+", default=list(BRANCHES))
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    torch.set_num_threads(args.threads)
    ds = load_ptbxl(args.root)
    print(f"training throughput on {ds.root} ({ds.source}, {ds.fs} Hz), CPU, {args.threads} threads, "
          f"torch {torch.__version__}")
    rows = [bench_branch(ds, p, b, args.threads) for p in args.presets for b in args.branches]
    cols = list(rows[0])
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in cols}
    print("  ".join(c.rjust(widths[c]) for c in cols))
    for r in rows:
        print("  ".join(str(r[c]).rjust(widths[c]) for c in cols))


if __name__ == "__main__":
    main()
