"""Does removing the matched window lower the prediction? The deletion check (real or synthetic data).

For each (ECG, morphology label) pair, take the label's best prototype for that ECG (largest
contribution ``W[c, j] * s[j]`` to the fused logit, as rank 1 of
:func:`~protoecg_lib.evaluation.explain.explain_ecg`), replace its best-matching window on all 12
leads by a neutral segment, and record how much the label's fused probability (and logit) drops; do
the same for a random window of the same length that does not overlap it. If the explanation is
faithful the first drop should exceed the second. The neutral segment is, by default, a **straight
line per lead between the samples just outside the window** (``neutral='interpolate'``): it removes
the waveform without adding a step at the window edges, which a flat line at the window's median
(``neutral='median'``, also offered) would add whenever the baseline differs across the window -- and
a step is itself a morphology the network can react to.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
import torch

from .localisation import check_local_branch, forward_all, label_columns

__all__ = ["NEUTRAL_SEGMENTS", "neutralize", "deletion_check", "deletion_summary", "run_deletion_check"]


NEUTRAL_SEGMENTS = ("interpolate", "median")


def neutralize(signals, start: int, length: int, neutral: str = "interpolate") -> np.ndarray:
    """A copy of ``signals (12, T)`` with samples ``[start, start + length)`` made neutral on every lead.

    ``'interpolate'``: per lead, a straight line from the sample just before the window to the one
    just after it (the window's own edge samples at the record ends); ``'median'``: per lead, a flat
    line at the window's median.
    """
    x = np.array(signals, dtype=np.float32)                                     # (12, T) copy
    if x.ndim != 2:
        raise ValueError(f"signals must be one ECG (12, T); got shape {x.shape}")
    t = x.shape[1]
    start, length = int(start), int(length)
    if length < 1 or start < 0 or start + length > t:
        raise ValueError(f"window [{start}, {start + length}) does not fit a record of {t} samples")
    if neutral not in NEUTRAL_SEGMENTS:
        raise ValueError(f"neutral must be one of {NEUTRAL_SEGMENTS}; got {neutral!r}")
    end = start + length
    if neutral == "median":
        x[:, start:end] = np.median(x[:, start:end], axis=1, keepdims=True)
        return x
    left = x[:, start - 1] if start > 0 else x[:, start]                        # (12,)
    right = x[:, end] if end < t else x[:, end - 1]                             # (12,)
    frac = (np.arange(1, length + 1) / (length + 1))[None, :]                   # (1, L) strictly inside
    x[:, start:end] = left[:, None] + (right - left)[:, None] * frac
    return x


def _random_window(rng, spans: np.ndarray, top: int) -> int:
    a, n = spans[top]
    free = [w for w, (s, l) in enumerate(spans) if s + l <= a or s >= a + n]   # no overlap with the top window
    pool = free or [w for w in range(len(spans)) if w != top]
    return int(rng.choice(pool))


@torch.no_grad()
def deletion_check(model, split, *, labels: Sequence[str] | None = None, select: str = "predicted",
                   threshold: float = 0.5, neutral: str = "interpolate", num_random: int = 1, seed: int = 0,
                   max_pairs: int | None = None, branch: str = "morphology", batch_size: int = 32,
                   device: str = "cpu") -> pd.DataFrame:
    """Delete the best-matching window vs. a random window and measure the fused probability drop.

    Parameters
    ----------
    model : ProtoECGNet
    split : Split
        ``data.split(name, 'all')`` (71 labels in the model's order), real or synthetic.
    labels : sequence of str, optional
        Labels to test (default: every label of ``branch``, the time-localised one).
    select : {'predicted', 'correct', 'true'}
        Pairs (ECG, label) taken: fused probability >= threshold; that and the label is true; or
        every ECG carrying the label.
    threshold : float
    neutral : {'interpolate', 'median'}
        See :func:`neutralize` and the module docstring.
    num_random : int
        Random windows per pair (their drops are averaged).
    seed : int
    max_pairs : int, optional
        Keep at most this many pairs (a seeded random subset) to bound the cost.

    Returns
    -------
    DataFrame
        One row per pair: ``ecg_id``, ``label``, ``prototype`` (the label's best prototype by
        contribution, index within the branch), ``top_window``, ``random_window`` (the first one),
        ``start``, ``length``, ``p``, ``p_top``, ``p_random``, ``logit``, ``logit_top``,
        ``logit_random``, ``drop_top = p - p_top``, ``drop_random = p - p_random`` (and the same on
        logits: ``logit_drop_top``, ``logit_drop_random``).
    """
    if select not in ("predicted", "correct", "true"):
        raise ValueError(f"select must be 'predicted', 'correct' or 'true'; got {select!r}")
    if num_random < 1:
        raise ValueError(f"num_random must be >= 1; got {num_random}")
    b = check_local_branch(model, branch)
    y = label_columns(split, model)
    labels = list(b.labels if labels is None else labels)
    unknown = [c for c in labels if c not in b.labels]
    if unknown:
        raise ValueError(f"labels {unknown} are not {branch} labels (only time-localised prototypes have a window)")
    num_samples = split.signals.shape[-1]
    spans = b.window_spans(num_samples).numpy()                                  # (W, 2)
    if len(spans) < 2:
        raise ValueError(f"a {num_samples}-sample record has a single window: nothing to compare with")
    logits, feats, best_w, _ = forward_all(model, split.signals, branch, batch_size, device)
    probs = 1.0 / (1.0 + np.exp(-logits))
    col = {c: i for i, c in enumerate(model.labels)}
    weight = model.fusion.weight.detach().cpu().double().numpy()                # (71, sum P)
    offset = model.feature_slices[branch].start
    classes = np.asarray(b.prototype_class.tolist())
    pairs = []
    for code in labels:
        c = col[code]
        keep = {"predicted": probs[:, c] >= threshold, "true": y[:, c],
                "correct": y[:, c] & (probs[:, c] >= threshold)}[select]
        pairs += [(int(i), code) for i in np.flatnonzero(keep)]
    rng = np.random.default_rng(seed)
    if max_pairs is not None and len(pairs) > max_pairs:
        pairs = [pairs[k] for k in sorted(rng.choice(len(pairs), size=max_pairs, replace=False))]
    rows, modified = [], []
    for i, code in pairs:
        c = col[code]
        own = np.flatnonzero(classes == b.labels.index(code))                   # prototypes of the label
        contrib = weight[c, offset + own] * feats[i, offset + own]
        j = int(own[int(np.argmax(contrib))])
        top = int(best_w[i, j])
        rand = [_random_window(rng, spans, top) for _ in range(num_random)]
        x = np.asarray(split.signals[i])
        modified.append(neutralize(x, spans[top, 0], spans[top, 1], neutral))
        modified += [neutralize(x, spans[w, 0], spans[w, 1], neutral) for w in rand]
        rows.append(dict(ecg_id=int(split.ecg_id[i]), label=code, prototype=j, top_window=top, random_window=rand[0],
                         start=int(spans[top, 0]), length=int(spans[top, 1]), p=float(probs[i, c]),
                         logit=float(logits[i, c])))
    cols = ["ecg_id", "label", "prototype", "top_window", "random_window", "start", "length", "p", "p_top",
            "p_random", "logit", "logit_top", "logit_random", "drop_top", "drop_random", "logit_drop_top",
            "logit_drop_random"]
    if not rows:
        df = pd.DataFrame(columns=cols)
        df.attrs.update(neutral=neutral, select=select, threshold=threshold)
        return df
    out = []
    model.eval().to(device)
    for start in range(0, len(modified), batch_size):
        x = torch.from_numpy(np.stack(modified[start:start + batch_size])).to(device)
        out.append(model(x).logits.cpu().double())
    new_logits = torch.cat(out).numpy().reshape(len(rows), 1 + num_random, -1)   # (pairs, 1 + R, 71)
    for r, row in enumerate(rows):
        c = col[row["label"]]
        lt, lr = new_logits[r, 0, c], new_logits[r, 1:, c]
        pt, pr = 1 / (1 + np.exp(-lt)), 1 / (1 + np.exp(-lr))
        row.update(logit_top=float(lt), logit_random=float(lr.mean()), p_top=float(pt), p_random=float(pr.mean()))
        row.update(drop_top=row["p"] - row["p_top"], drop_random=row["p"] - row["p_random"],
                   logit_drop_top=row["logit"] - row["logit_top"], logit_drop_random=row["logit"] - row["logit_random"])
    df = pd.DataFrame(rows)[cols]
    df.attrs.update(neutral=neutral, select=select, threshold=threshold)
    return df


def deletion_summary(df: pd.DataFrame) -> dict:
    """Both drop distributions (mean, median), the fraction of pairs where deleting the top window
    lowers the probability more than deleting a random one (ties reported apart), the same on logits,
    and a one-sided Wilcoxon signed-rank p-value on the paired logit drops."""
    out = {"pairs": int(len(df)), "ecgs": int(df["ecg_id"].nunique()) if len(df) else 0,
           "labels": int(df["label"].nunique()) if len(df) else 0,
           "neutral": df.attrs.get("neutral"), "select": df.attrs.get("select")}
    if not len(df):
        return out
    for name in ("drop_top", "drop_random", "logit_drop_top", "logit_drop_random"):
        out[f"{name}_mean"] = float(df[name].mean())
        out[f"{name}_median"] = float(df[name].median())
    diff = df["drop_top"] - df["drop_random"]
    ldiff = df["logit_drop_top"] - df["logit_drop_random"]
    out["fraction_top_greater"] = float((diff > 0).mean())
    out["fraction_tied"] = float((diff == 0).mean())
    out["fraction_top_greater_logit"] = float((ldiff > 0).mean())
    try:
        from scipy.stats import wilcoxon

        out["wilcoxon_p_logit"] = float(wilcoxon(ldiff, alternative="greater").pvalue) if (ldiff != 0).any() else None
    except ValueError:
        out["wilcoxon_p_logit"] = None
    return out


def run_deletion_check(run, data=None, *, split: str = "test", **kwargs) -> dict:
    """:func:`deletion_check` and :func:`deletion_summary` for a run (real or synthetic data)."""
    from ..runs import Run

    run = run if isinstance(run, Run) else Run(run)
    data = data if data is not None else run.load_data()
    df = deletion_check(run.load_model(), data.split(split, "all"), **kwargs)
    return {"pairs": df, "summary": deletion_summary(df)}
