"""Prototype projection (ProtoPNet's "push", method §5): every prototype becomes the latent of a real
training ECG.

For each prototype ``j`` of class ``c``, over the training ECGs that carry ``c`` ("class-specific
push"), score each ECG with the *current* prototypes (1D: cosine of its latent vector; 2D: the best
window's scaled cosine), keep the best-scoring ECG (strictly greater replaces, so ties keep the first
ECG in split order), and after the sweep set ``p_j`` to that ECG's latent vector (1D) or latent
window ``Z[:, :, w*:w*+T]`` (2D). Everything is batched: one forward pass per batch serves all
prototypes at once.

A :class:`~protoecg_lib.runs.records.PrototypeSource` per prototype records the source ``ecg_id``,
class, window index, start sample and length at the input rate, similarity, the source ECG's
labels, duplicates (prototypes projected onto the same ECG window) and, for a rhythm branch that reads
beat timing, the source ECG's R peaks and RR intervals. A prototype whose class has no training positive cannot be projected: it
keeps its learned value and the provenance says why (the official code silently zeroes it, §9.2b).

The sweep runs in inference mode, 128 ECGs at a time; with ``torchrun`` every rank sweeps a block of
the split and the bests are reduced over ranks (:func:`~protoecg_lib.training.distributed.reduce_best`).
"""
from __future__ import annotations

import numpy as np
import torch

from ..data.dataset import Split
from ..data.rr import beat_timing
from ..data.torchdata import as_batch
from ..models import ProtoBranch
from ..runs.records import PrototypeSource
from . import distributed as dist

__all__ = ["project_prototypes", "source_similarities"]


def project_prototypes(
    branch: ProtoBranch,
    split: Split,
    *,
    batch_size: int = 128,
    device: str = "cpu",
    progress: bool = False,
) -> list[dict]:
    """Project every prototype of ``branch`` onto its best training window (method §5), in place.

    The sweep runs in inference mode. In a distributed run each rank sweeps its contiguous block of
    the split and the per-prototype bests are reduced over ranks (highest similarity, ties to the
    first ECG in split order: the one-process result).

    Parameters
    ----------
    branch : ProtoBranch
        Put in eval mode; its prototypes are overwritten at the end of the sweep.
    split : Split
        The training split for the branch's label set (``split.labels == branch.labels``); the
        source ECG's codes come from ``split.codes`` (its own labels when the split lacks them).
    batch_size, device, progress
        Sweep settings.

    Returns
    -------
    list of PrototypeSource
        One per prototype, in prototype order.
    """
    if tuple(split.labels) != tuple(branch.labels):
        raise ValueError(f"projection needs the {branch.name!r} label set; got a split with {len(split.labels)} labels")
    branch.eval().to(device)
    num_p, num_samples = branch.num_prototypes, split.signals.shape[-1]
    with torch.inference_mode():
        best_score, best_row, best_window, best_patch = _sweep(branch, split, batch_size, device, progress)
    best_score, best_row, best_window, best_patch = (t.clone() for t in (best_score, best_row, best_window, best_patch))
    best_score, best_row, best_window, best_patch = dist.reduce_best(best_score, best_row, best_window, best_patch)
    proto_class = branch.prototype_class
    projected = best_row >= 0
    if projected.any():
        idx = torch.nonzero(projected).flatten()
        with torch.no_grad():
            branch.set_prototypes(best_patch[idx], idx)

    sources, seen = [], {}
    labels = branch.labels
    for j in range(num_p):
        c = int(proto_class[j])
        if not projected[j]:
            sources.append(PrototypeSource(
                index=j, branch=branch.name, label=labels[c], class_index=c, projected=False,
                sampling_rate=int(split.fs),
                reason=(f"class {labels[c]} has no positive ECG in the training split ({len(split)} records): "
                        "the prototype keeps its learned value")))
            continue
        row, w = int(best_row[j]), int(best_window[j])
        ecg_id = int(split.ecg_id[row])
        start_s, length = branch.window_to_samples(w, num_samples)
        sources.append(PrototypeSource(
            index=j, branch=branch.name, label=labels[c], class_index=c, projected=True, ecg_id=ecg_id,
            source_labels=split.record_codes(row), window_index=w, start_sample=int(start_s),
            length_samples=int(length), sampling_rate=int(split.fs), similarity=float(best_score[j]),
            duplicate_of=seen.get((ecg_id, w)), beat_timing=_beat_timing(branch, split, row)))
        seen.setdefault((ecg_id, w), j)
    return sources


def _sweep(branch: ProtoBranch, split: Split, batch_size: int, device: str, progress: bool):
    """Best eligible (score, row, window, patch) per prototype over this rank's block of the split."""
    proto_class = branch.prototype_class.to(device)                # (P,)
    num_p = branch.num_prototypes
    best_score = torch.full((num_p,), -float("inf"), device=device)
    best_row = torch.full((num_p,), -1, dtype=torch.long, device=device)
    best_window = torch.zeros(num_p, dtype=torch.long, device=device)
    best_patch = torch.zeros(num_p, branch.prototype_layer.window_size, device=device)
    targets = torch.as_tensor(split.targets, device=device)
    first, stop = dist.local_block(len(split))
    starts = range(first, stop, batch_size)
    if progress and dist.is_main():
        from tqdm.auto import tqdm

        starts = tqdm(starts, desc=f"projecting {branch.name}", unit="batch")
    for start in starts:
        x = as_batch(split.signals[start:min(start + batch_size, stop)], device)
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
    return best_score, best_row, best_window, best_patch


def _beat_timing(branch: ProtoBranch, split: Split, row: int) -> dict | None:
    """The source ECG's R peaks and RR intervals when the branch reads beat timing (else None)."""
    if getattr(branch, "beat_encoder", None) is None:
        return None
    enc = branch.beat_encoder
    return beat_timing(np.asarray(split.signals[row]), split.fs, lead=enc.lead, method=enc.method).to_dict()


@torch.no_grad()
def source_similarities(branch: ProtoBranch, split: Split, sources: list[PrototypeSource],
                        device: str = "cpu") -> np.ndarray:
    """For every projected prototype, its window similarity to its own source window (NaN if not
    projected). After projection, with the branch in eval mode, this is the maximum possible value
    (1 for 1D cosine, the scale 13 / 4 for 2D, up to the epsilon terms)."""
    branch.eval().to(device)
    row_of = {int(e): i for i, e in enumerate(split.ecg_id)}
    out = np.full(len(sources), np.nan)
    for p in sources:
        if not p.projected:
            continue
        x = as_batch(split.signals[row_of[p.ecg_id]][None], device)
        ws = branch(x).window_similarity                                 # (1, P, W)
        out[p.index] = float(ws[0, p.index, p.window_index])
    return out
