"""Is the synthetic PTB-XL learnable but not trivial? A plain small 1D CNN, trained briefly.

    python benchmarks/synthetic_learnability.py [--epochs 8] [--seed 0] [--cache DIR] [--root DIR]

Generates (or reuses) the default synthetic tier, reads it the way any PTB-XL user would (WFDB
records with ``wfdb``, metadata with ``pandas``), trains a 4-block 1D CNN on folds 1-8 for all 71
labels, and prints the macro AUROC on fold 10 over the labels that occur there (with both
classes), overall and per branch. A number near 1.0 would mean the data are too easy.
"""
from __future__ import annotations

import argparse
import ast
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import wfdb
from scipy.signal import butter, filtfilt
from sklearn.metrics import roc_auc_score
from torch import nn

from protoecg_lib.synthetic import synthetic_root
from protoecg_lib.labels import BRANCH_OF, LABEL_SETS

CODES = LABEL_SETS["all"]


def load(root: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """signals (N, 12, 1000) float32 high-passed at 0.5 Hz, targets (N, 71), strat_fold (N,)."""
    meta = pd.read_csv(root / "ptbxl_database.csv", index_col="ecg_id")
    x = np.stack([wfdb.rdsamp(str(root / f))[0].T for f in meta.filename_lr]).astype(np.float32)   # (N, 12, T)
    b, a = butter(1, 0.5 / 50, btype="highpass")
    x = filtfilt(b, a, x, axis=-1).astype(np.float32)
    y = np.zeros((len(meta), len(CODES)), dtype=np.float32)
    for i, codes in enumerate(meta.scp_codes.map(ast.literal_eval)):
        for c in codes:
            y[i, CODES.index(c)] = 1
    return x, y, meta.strat_fold.to_numpy()


class SmallCNN(nn.Module):
    """Four conv blocks (12 -> 32 -> 64 -> 128 -> 128 channels, stride 2), global avg+max pool, linear."""

    def __init__(self, num_classes: int):
        super().__init__()
        chans = [12, 32, 64, 128, 128]
        blocks = []
        for cin, cout, k in zip(chans[:-1], chans[1:], (9, 7, 5, 5)):
            blocks += [nn.Conv1d(cin, cout, k, stride=2, padding=k // 2, bias=False), nn.BatchNorm1d(cout), nn.ReLU()]
        self.features = nn.Sequential(*blocks)
        self.head = nn.Linear(2 * chans[-1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.features(x)                                                  # (B, 128, T/16)
        return self.head(torch.cat([h.mean(-1), h.amax(-1)], dim=1))          # (B, C)


def macro_auroc(y: np.ndarray, p: np.ndarray, codes) -> tuple[float, dict[str, float]]:
    per = {c: roc_auc_score(y[:, i], p[:, i]) for i, c in enumerate(codes) if 0 < y[:, i].sum() < len(y)}
    return float(np.mean(list(per.values()))), per


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cache", default=None, help="cache base folder (default PROTOECG_CACHE)")
    ap.add_argument("--root", default=None, help="an existing PTB-XL-style root instead of the default tier")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)

    t0 = time.perf_counter()
    root = Path(args.root) if args.root else synthetic_root("default", seed=0, cache=args.cache)
    x, y, fold = load(root)
    print(f"data: {root} ({len(x)} records) read in {time.perf_counter() - t0:.1f} s")
    tr, te = fold <= 8, fold == 10
    xtr, ytr = torch.from_numpy(x[tr]), torch.from_numpy(y[tr])
    xte = torch.from_numpy(x[te])
    print(f"train {tr.sum()} records, test {te.sum()} records, {int((y[te].sum(0) > 0).sum())} labels in the test fold")

    model = SmallCNN(len(CODES))
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4)
    loss_fn = nn.BCEWithLogitsLoss()
    g = torch.Generator().manual_seed(args.seed)
    for epoch in range(args.epochs):
        model.train()
        t = time.perf_counter()
        order = torch.randperm(len(xtr), generator=g)
        total = 0.0
        for i in range(0, len(order), 64):
            idx = order[i:i + 64]
            opt.zero_grad()
            loss = loss_fn(model(xtr[idx]), ytr[idx])
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        model.eval()
        with torch.no_grad():
            p = torch.sigmoid(torch.cat([model(xte[i:i + 256]) for i in range(0, len(xte), 256)])).numpy()
        auc, _ = macro_auroc(y[te], p, CODES)
        print(f"epoch {epoch + 1}: train loss {total / len(xtr):.4f}  test macro AUROC {auc:.3f}  "
              f"({time.perf_counter() - t:.1f} s)")

    auc, per = macro_auroc(y[te], p, CODES)
    print(f"\nfold-10 macro AUROC over {len(per)} labels: {auc:.3f}")
    for branch in ("rhythm", "morphology", "global"):
        vals = [v for c, v in per.items() if BRANCH_OF[c] == branch]
        print(f"  {branch:10s}: {np.mean(vals):.3f} over {len(vals)} labels")
    ranked = sorted(per.items(), key=lambda kv: kv[1])
    print("  hardest:", ", ".join(f"{c} {v:.2f}" for c, v in ranked[:8]))
    print("  easiest:", ", ".join(f"{c} {v:.2f}" for c, v in ranked[-8:]))


if __name__ == "__main__":
    main()
