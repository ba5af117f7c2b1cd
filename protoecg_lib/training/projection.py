"""Prototype projection ("push", spec §5): every prototype becomes the latent of a real training ECG.

For each prototype ``j`` of class ``c``, over the training ECGs that carry ``c`` ("class-specific
push"), score each ECG with the *current* prototypes (1D: cosine of its latent vector; 2D: the best
window's scaled cosine), keep the best-scoring ECG (strictly greater replaces, so ties keep the first
ECG in split order), and after the sweep set ``p_j`` to that ECG's latent vector (1D) or latent
window ``Z[:, :, w*:w*+T]`` (2D). Everything is batched: one forward pass per batch serves all
prototypes at once.

Provenance per prototype (DEVELOPING.md): source ``ecg_id``, class, window index, start sample and
length at the input rate, similarity, the source ECG's labels, and duplicates (prototypes projected
onto the same ECG window). A prototype whose class has no training positive cannot be projected: it
keeps its learned value and the provenance says why (the official code silently zeroes it, §9.2b).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Mapping

import numpy as np
import torch

from ..data.dataset import Split
from ..data.torchdata import as_batch
from ..models import ProtoBranch

__all__ = ["project_prototypes", "provenance_summary", "save_provenance", "load_provenance",
           "source_similarities"]


@torch.no_grad()
def project_prototypes(
    branch: ProtoBranch,
    split: Split,
    *,
    codes: Mapping[int, tuple[str, ...]] | None = None,
    batch_size: int = 64,
    device: str = "cpu",
    progress: bool = False,
) -> list[dict]:
    """Project every prototype of ``branch`` onto its best training window (spec §5), in place.

    Parameters
    ----------
    branch : ProtoBranch
        Put in eval mode; its prototypes are overwritten at the end of the sweep.
    split : Split
        The training split for the branch's label set (``split.labels == branch.labels``).
    codes : mapping ecg_id -> SCP codes, optional
        All codes of each record, stored in the provenance (default: the branch labels it carries).
    batch_size, device, progress
        Sweep settings.

    Returns
    -------
    list of dict
        Provenance, one entry per prototype in prototype order.
    """
    if tuple(split.labels) != tuple(branch.labels):
        raise ValueError(f"projection needs the {branch.name!r} label set; got a split with {len(split.labels)} labels")
    branch.eval().to(device)
    proto_class = branch.prototype_class.to(device)                # (P,)
    num_p, num_samples = branch.num_prototypes, split.signals.shape[-1]
    best_score = torch.full((num_p,), -float("inf"), device=device)
    best_row = torch.full((num_p,), -1, dtype=torch.long, device=device)
    best_window = torch.zeros(num_p, dtype=torch.long, device=device)
    best_patch = torch.zeros(num_p, branch.prototype_layer.window_size, device=device)
    targets = torch.as_tensor(split.targets, device=device)
    starts = range(0, len(split), batch_size)
    if progress:
        from tqdm.auto import tqdm

        starts = tqdm(starts, desc=f"projecting {branch.name}", unit="batch")
    for start in starts:
        x = as_batch(split.signals[start:start + batch_size], device)
        out = branch(x)
        score, window = out.window_similarity.float().max(dim=2)   # (B, P) best window per ECG
        eligible = targets[start:start + len(x)][:, proto_class] > 0   # (B, P) ECG carries the class
        score = torch.where(eligible, score, torch.full_like(score, -float("inf")))
        batch_best, batch_row = score.max(dim=0)                    # (P,), (P,) first max in the batch
        better = batch_best > best_score                            # strictly greater replaces
        if better.any():
            patches = branch.latent_windows(out.latent).float()      # (B, W, K)
            cols = torch.arange(num_p, device=device)
            win = window[batch_row, cols]                           # (P,)
            chosen = patches[batch_row, win]                        # (P, K)
            best_score = torch.where(better, batch_best, best_score)
            best_row = torch.where(better, batch_row + start, best_row)
            best_window = torch.where(better, win, best_window)
            best_patch = torch.where(better[:, None], chosen, best_patch)
    projected = best_row >= 0
    if projected.any():
        idx = torch.nonzero(projected).flatten()
        branch.set_prototypes(best_patch[idx], idx)

    provenance, seen = [], {}
    labels = branch.labels
    for j in range(num_p):
        c = int(proto_class[j])
        entry = {"index": j, "branch": branch.name, "class": labels[c], "class_index": c,
                 "projected": bool(projected[j]), "reason": None, "ecg_id": None, "source_labels": None,
                 "window_index": None, "start_sample": None, "length_samples": None,
                 "sampling_rate": int(split.fs), "similarity": None, "duplicate_of": None}
        if projected[j]:
            row, w = int(best_row[j]), int(best_window[j])
            ecg_id = int(split.ecg_id[row])
            start_s, length = branch.window_to_samples(w, num_samples)
            src = codes.get(ecg_id) if codes is not None else None
            if src is None:
                src = tuple(l for l, y in zip(labels, split.targets[row]) if y > 0)
            entry.update(ecg_id=ecg_id, source_labels=list(src), window_index=w, start_sample=int(start_s),
                         length_samples=int(length), similarity=float(best_score[j]))
            if (ecg_id, w) in seen:
                entry["duplicate_of"] = seen[(ecg_id, w)]
            else:
                seen[(ecg_id, w)] = j
        else:
            entry["reason"] = (f"class {labels[c]} has no positive ECG in the training split "
                               f"({len(split)} records): the prototype keeps its learned value")
        provenance.append(entry)
    return provenance


def provenance_summary(provenance: list[dict]) -> dict:
    """Counts for a report: projected, not projected (and why), duplicates, mean similarity per class."""
    proj = [p for p in provenance if p["projected"]]
    dups = [p for p in proj if p["duplicate_of"] is not None]
    per_class: dict[str, list[float]] = {}
    for p in proj:
        per_class.setdefault(p["class"], []).append(p["similarity"])
    return {
        "prototypes": len(provenance),
        "projected": len(proj),
        "not_projected": len(provenance) - len(proj),
        "classes_without_training_positive": sorted({p["class"] for p in provenance if not p["projected"]}),
        "duplicates": len(dups),
        "duplicate_pairs": [(p["duplicate_of"], p["index"]) for p in dups],
        "distinct_source_ecgs": len({p["ecg_id"] for p in proj}),
        "mean_similarity": float(np.mean([p["similarity"] for p in proj])) if proj else None,
        "mean_similarity_per_class": {c: float(np.mean(v)) for c, v in per_class.items()},
    }


def save_provenance(provenance: list[dict], path: str | Path) -> Path:
    """Write provenance as JSON (a list, one object per prototype)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(provenance, indent=1))
    tmp.replace(path)
    return path


def load_provenance(path: str | Path) -> list[dict]:
    """Read provenance written by :func:`save_provenance` and check its fields."""
    path = Path(path)
    data = json.loads(path.read_text())
    required = {"index", "branch", "class", "projected", "ecg_id", "window_index", "start_sample", "length_samples"}
    if not isinstance(data, list) or any(not required <= set(d) for d in data):
        raise ValueError(f"{path}: not a prototype provenance file (a list of objects with {sorted(required)})")
    if [d["index"] for d in data] != list(range(len(data))):
        raise ValueError(f"{path}: prototype indices are not 0..{len(data) - 1} in order")
    return data


@torch.no_grad()
def source_similarities(branch: ProtoBranch, split: Split, provenance: list[dict], device: str = "cpu") -> np.ndarray:
    """For every projected prototype, its window similarity to its own source window (NaN if not
    projected). After projection, with the branch in eval mode, this is the maximum possible value
    (1 for 1D cosine, the scale 13 / 4 for 2D, up to the epsilon terms)."""
    branch.eval().to(device)
    row_of = {int(e): i for i, e in enumerate(split.ecg_id)}
    out = np.full(len(provenance), np.nan)
    for p in provenance:
        if not p["projected"]:
            continue
        x = as_batch(split.signals[row_of[p["ecg_id"]]][None], device)
        ws = branch(x).window_similarity                                 # (1, P, W)
        out[p["index"]] = float(ws[0, p["index"], p["window_index"]])
    return out
