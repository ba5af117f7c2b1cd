"""Does a prototype's best-matching window fall on the evidence? Localisation on synthetic data.

For each time-localised (morphology) prototype and each *correctly predicted* ECG of its class (true
label and fused probability >= threshold), the prototype's best-matching window in that ECG (arg-max
of its window similarity, mapped to samples with ``window_to_samples``, method §5/§7.2) is a **hit**
when it overlaps, in time, a ground-truth evidence span of that label on any lead that carries it
(:mod:`protoecg_lib.synthetic` records the evidence). Morphology prototypes span all 12 leads (the 2D
stem kernel covers the lead axis, method §2.2), so the lead condition reduces to "some lead with
evidence for the label". The **chance rate** of a pair is the fraction of the record's windows that
would hit if the window were chosen at random; its mean is the hit rate a prototype that ignores the
signal would reach. The deletion check is :mod:`~protoecg_lib.evaluation.deletion`; the figures are
in :mod:`protoecg_lib.plotting.quality`.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from ..labels import BRANCHES, LABEL_SETS

__all__ = ["window_cover", "localisation_hits", "localisation_summary", "run_localisation", "forward_all",
           "sources_on_evidence"]


# --------------------------------------------------------------------------- shared forward pass
@torch.no_grad()
def forward_all(model, signals, branch: str, batch_size: int, device: str):
    """Fused logits (N, 71), pooled similarities of all prototypes (N, sum P) and the branch's best
    window index and window similarity per prototype, (N, P_branch) each."""
    model.eval().to(device)
    logits, feats, best_w, best_s = [], [], [], []
    for start in range(0, len(signals), batch_size):
        x = torch.from_numpy(np.array(signals[start:start + batch_size], dtype=np.float32)).to(device)
        out = model(x)
        logits.append(out.logits.cpu().double())
        feats.append(torch.cat([out.branches[n].similarity for n in BRANCHES], dim=1).cpu().double())
        s, w = out.branches[branch].window_similarity.float().max(dim=2)       # (B, P), (B, P)
        best_w.append(w.cpu())
        best_s.append(s.cpu())
    return torch.cat(logits).numpy(), torch.cat(feats).numpy(), torch.cat(best_w).numpy(), torch.cat(best_s).numpy()


def check_local_branch(model, branch: str):
    if branch not in BRANCHES:
        raise ValueError(f"unknown branch {branch!r}; choose one of {BRANCHES}")
    b = model.branches[branch]
    if b.config.backbone != "2d" or b.config.is_global:
        raise ValueError(f"the {branch} branch has global prototypes (no time window to localise or delete); "
                         "use the morphology branch")
    return b


def label_columns(split, model) -> np.ndarray:
    if tuple(split.labels) != tuple(model.labels):
        raise ValueError(f"the split must carry the 71-label set in the model's order (data.split(name, 'all')); "
                         f"got {len(split.labels)} labels")
    return np.asarray(split.targets) > 0.5


# --------------------------------------------------------------------------- localisation
def window_cover(mask: np.ndarray, spans: np.ndarray) -> np.ndarray:
    """For every window, whether it overlaps the evidence mask on any lead.

    Parameters
    ----------
    mask : ndarray, shape (12, T), bool
        Evidence of one label in one ECG (:func:`~protoecg_lib.synthetic.evidence_mask`).
    spans : ndarray, shape (W, 2)
        ``(start, length)`` in samples of every window (``ProtoBranch.window_spans``).

    Returns
    -------
    ndarray, shape (W,), bool
        ``cover[w]`` is a hit for window ``w``; ``cover.mean()`` is the chance rate.
    """
    any_lead = np.asarray(mask, dtype=bool).any(axis=0)                          # (T,)
    csum = np.concatenate([[0], np.cumsum(any_lead)])                           # (T+1,)
    spans = np.asarray(spans, dtype=np.int64)
    return (csum[spans[:, 0] + spans[:, 1]] - csum[spans[:, 0]]) > 0            # (W,)


def localisation_hits(model, split, evidence: Mapping[int, Mapping[str, Sequence]], *, threshold: float = 0.5,
                      correct_only: bool = True, branch: str = "morphology", batch_size: int = 32,
                      device: str = "cpu") -> pd.DataFrame:
    """Hit or miss of every (time-localised prototype, correctly predicted ECG of its class) pair.

    Parameters
    ----------
    model : ProtoECGNet
    split : Split
        Usually ``data.split('test', 'all')`` of a synthetic root (71 labels in the model's order).
    evidence : dict ecg_id -> {label: [EvidenceSpan]}
        :func:`~protoecg_lib.synthetic.load_evidence`.
    threshold : float
        Fused probability at which a label counts as predicted.
    correct_only : bool
        Only ECGs that carry the label *and* are predicted positive (default); False: all that carry it.
    branch : str
        A branch with time-localised prototypes.

    Returns
    -------
    DataFrame
        One row per pair: ``prototype``, ``label``, ``ecg_id``, ``window``, ``start``, ``length``,
        ``similarity`` (the window similarity), ``probability`` (fused), ``hit`` (bool), ``chance``
        (fraction of windows that would hit). Pairs whose label has no evidence span in that ECG are
        left out (``df.attrs['no_evidence']`` counts them).
    """
    from ..synthetic import evidence_mask

    b = check_local_branch(model, branch)
    y = label_columns(split, model)
    num_samples = split.signals.shape[-1]
    spans = b.window_spans(num_samples).numpy()                                  # (W, 2)
    logits, _, best_w, best_s = forward_all(model, split.signals, branch, batch_size, device)
    probs = 1.0 / (1.0 + np.exp(-logits))                                       # (N, 71)
    col = {c: i for i, c in enumerate(model.labels)}
    classes = b.prototype_class.tolist()
    rows, no_evidence, covers = [], 0, {}
    for j in range(b.num_prototypes):
        code = b.labels[classes[j]]
        c = col[code]
        chosen = y[:, c] & (probs[:, c] >= threshold) if correct_only else y[:, c]
        for i in np.flatnonzero(chosen):
            ecg_id = int(split.ecg_id[i])
            key = (ecg_id, code)
            if key not in covers:
                spans_ev = evidence.get(ecg_id, {}).get(code) or []
                covers[key] = window_cover(evidence_mask(spans_ev, split.fs, num_samples), spans) if spans_ev else None
            cover = covers[key]
            if cover is None:
                no_evidence += 1
                continue
            w = int(best_w[i, j])
            rows.append(dict(prototype=j, label=code, ecg_id=ecg_id, window=w, start=int(spans[w, 0]),
                             length=int(spans[w, 1]), similarity=float(best_s[i, j]), probability=float(probs[i, c]),
                             hit=bool(cover[w]), chance=float(cover.mean())))
    cols = ["prototype", "label", "ecg_id", "window", "start", "length", "similarity", "probability", "hit", "chance"]
    df = pd.DataFrame(rows, columns=cols)
    df.attrs["no_evidence"] = no_evidence
    df.attrs["threshold"] = threshold
    return df


def localisation_summary(hits: pd.DataFrame) -> pd.DataFrame:
    """Hit rate per label and overall, beside the chance rate.

    Returns
    -------
    DataFrame
        Indexed by label plus ``all``: ``pairs``, ``prototypes``, ``ecgs``, ``hits``, ``hit_rate``,
        ``chance_rate`` (mean chance of the pairs), ``expected_hits`` (sum of chances) and ``lift``
        (hit rate / chance rate).
    """
    cols = ["pairs", "prototypes", "ecgs", "hits", "hit_rate", "chance_rate", "expected_hits", "lift"]

    def stats(g):
        hit, chance = g["hit"].mean(), g["chance"].mean()
        return {"pairs": len(g), "prototypes": g["prototype"].nunique(), "ecgs": g["ecg_id"].nunique(),
                "hits": int(g["hit"].sum()), "hit_rate": hit, "chance_rate": chance,
                "expected_hits": float(g["chance"].sum()), "lift": hit / chance if chance > 0 else np.nan}

    if hits.empty:
        return pd.DataFrame(columns=cols).rename_axis("label")
    order = list(LABEL_SETS["all"])
    labels = sorted(hits["label"].unique(), key=order.index)
    rows = {c: stats(hits[hits["label"] == c]) for c in labels}
    rows["all"] = stats(hits)
    return pd.DataFrame.from_dict(rows, orient="index")[cols].rename_axis("label")


def run_localisation(run, data=None, *, split: str = "test", threshold: float = 0.5, correct_only: bool = True,
                     device: str = "cpu") -> dict:
    """:func:`localisation_hits` and :func:`localisation_summary` for a run trained on a synthetic root."""
    from ..synthetic import load_evidence
    from ..runs import Run

    run = run if isinstance(run, Run) else Run(run)
    data = data if data is not None else run.load_data()
    if data.source != "synthetic":
        raise ValueError(f"{data.root} holds {data.source} data: localisation needs a synthetic root with "
                         "ground-truth evidence (protoecg data synth --root DIR, then a pipeline run on it)")
    hits = localisation_hits(run.load_model(), data.split(split, "all"), load_evidence(data.root),
                             threshold=threshold, correct_only=correct_only, device=device)
    return {"hits": hits, "summary": localisation_summary(hits)}


def chance_tail_probability(hits) -> float:
    """Probability that a signal-blind pointer scores at least the observed number of hits.

    Each (prototype, ECG) pair ``i`` of :func:`protoecg_lib.evaluation.quality.localisation_hits` is a hit with
    probability ``chance_i`` when its window is drawn at random; the number of hits is then a sum of
    independent Bernoulli variables (a Poisson-binomial distribution). This returns its upper tail
    ``P(H >= observed hits)``, computed exactly by convolution. It treats pairs as independent, which
    they are not quite (one ECG serves several prototypes of its label), so read it as a rough guide.

    Parameters
    ----------
    hits : DataFrame
        With boolean ``hit`` and float ``chance`` columns, one row per pair.

    Returns
    -------
    float
        In [0, 1]; 1.0 for an empty frame.
    """
    if len(hits) == 0:
        return 1.0
    chance = np.clip(np.asarray(hits["chance"], dtype=np.float64), 0.0, 1.0)      # (n,)
    observed = int(np.asarray(hits["hit"], dtype=bool).sum())
    dist = np.zeros(len(chance) + 1)                                             # P(H = k), k = 0..n
    dist[0] = 1.0
    for k, p in enumerate(chance, start=1):
        dist[1:k + 1] = dist[1:k + 1] * (1 - p) + dist[0:k] * p
        dist[0] *= 1 - p
    return float(min(1.0, dist[observed:].sum()))


def sources_on_evidence(sources: Sequence, evidence: Mapping[int, Mapping[str, Sequence]], fs: float,
                        num_samples: int, labels: Sequence[str] | None = None) -> pd.DataFrame:
    """Projection check: does each prototype's source window hold its own label's evidence?

    A time-localised prototype is projected onto one window of one training ECG of its class
    (method §5). If that window does not hold the class's evidence in the source ECG, the prototype is
    not a picture of the finding, and no highlight can make its explanations point at the evidence.

    Parameters
    ----------
    sources : list of PrototypeSource
        ``run.prototype_sources('morphology')``.
    evidence : dict ecg_id -> {label: [EvidenceSpan]}
        Ground truth of the training ECGs (``load_evidence(root)``).
    fs, num_samples : float, int
        Sampling rate and length of the records the windows index.
    labels : sequence of str, optional
        Only prototypes of these labels (e.g. the episodic ones).

    Returns
    -------
    DataFrame
        One row per projected prototype whose source ECG has evidence for its label: ``prototype``,
        ``label``, ``ecg_id``, ``start``, ``length``, ``on_evidence`` (the window overlaps the label's
        evidence) and ``chance`` (the share of same-length windows of that ECG that would).
    """
    from ..synthetic import evidence_mask

    rows = []
    for rec in sources:
        if not rec.projected or (labels is not None and rec.label not in labels):
            continue
        spans = evidence.get(int(rec.ecg_id), {}).get(rec.label)
        if not spans or rec.start_sample is None:
            continue
        scale = fs / float(rec.sampling_rate or fs)
        start, length = int(round(rec.start_sample * scale)), int(round(rec.length_samples * scale))
        any_lead = evidence_mask(spans, fs, num_samples).any(axis=0)                 # (T,)
        csum = np.concatenate([[0], np.cumsum(any_lead)])
        covered = (csum[length:] - csum[:-length]) > 0                               # every window start
        rows.append(dict(prototype=rec.index, label=rec.label, ecg_id=int(rec.ecg_id), start=start, length=length,
                         on_evidence=bool(any_lead[start:start + length].any()), chance=float(covered.mean())))
    return pd.DataFrame(rows, columns=["prototype", "label", "ecg_id", "start", "length", "on_evidence", "chance"])
