"""Is the explanation pointing at the right thing? Two measurements (book chapter 11).

**Localisation** (synthetic data only, where the evidence is known, :mod:`protoecg_lib.synthetic`):
for each time-localised (morphology) prototype and each *correctly predicted* ECG of its class (true
label and fused probability >= threshold), the prototype's best-matching window in that ECG (arg-max
of its window similarity, mapped to samples with ``window_to_samples``, spec §5/§7.2) is a **hit**
when it overlaps, in time, a ground-truth evidence span of that label on any lead that carries it.
Morphology prototypes span all 12 leads (the 2D stem kernel covers the lead axis, spec §2.2), so the
lead condition reduces to "some lead with evidence for the label". The **chance rate** of a pair is
the fraction of the record's windows that would hit if the window were chosen at random; its mean
is the hit rate a prototype that ignores the signal would reach.

**Deletion check** (real or synthetic data): for each (ECG, morphology label) pair, take the label's
best prototype for that ECG (largest contribution ``W[c, j] * s[j]`` to the fused logit, as rank 1
of :func:`~protoecg_lib.evaluation.explain.explain_ecg`), replace its best-matching window on all 12 leads by a
neutral segment, and record how much the label's fused probability (and logit) drops; do the same
for a random window of the same length that does not overlap it. If the explanation is faithful the
first drop should exceed the second. The neutral segment is, by default, a **straight line per lead
between the samples just outside the window** (``neutral='interpolate'``): it removes the waveform
without adding a step at the window edges, which a flat line at the window's median
(``neutral='median'``, also offered) would add whenever the baseline differs across the window --
and a step is itself a morphology the network can react to.

Every function returns DataFrames/dicts; :func:`plot_localisation` and :func:`plot_deletion` return
Figures.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure

from ..labels import BRANCHES, LABEL_SETS

__all__ = [
    "NEUTRAL_SEGMENTS", "window_cover", "localisation_hits", "localisation_summary", "run_localisation",
    "neutralize", "deletion_check", "deletion_summary", "run_deletion_check", "plot_localisation", "plot_deletion",
]

NEUTRAL_SEGMENTS = ("interpolate", "median")


# --------------------------------------------------------------------------- shared forward pass
@torch.no_grad()
def _forward_all(model, signals, branch: str, batch_size: int, device: str):
    """Fused logits (N, 71), pooled similarities of all prototypes (N, sum P) and the branch's best
    window index and window similarity per prototype, (N, P_branch) each."""
    model.eval().to(device)
    logits, feats, best_w, best_s = [], [], [], []
    for start in range(0, len(signals), batch_size):
        x = torch.from_numpy(np.array(signals[start:start + batch_size], dtype=np.float32)).to(device)
        out = model(x)
        logits.append(out.logits.double().cpu())
        feats.append(torch.cat([out.branches[n].similarity for n in BRANCHES], dim=1).double().cpu())
        s, w = out.branches[branch].window_similarity.float().max(dim=2)       # (B, P), (B, P)
        best_w.append(w.cpu())
        best_s.append(s.cpu())
    return torch.cat(logits).numpy(), torch.cat(feats).numpy(), torch.cat(best_w).numpy(), torch.cat(best_s).numpy()


def _check_local(model, branch: str):
    if branch not in BRANCHES:
        raise ValueError(f"unknown branch {branch!r}; choose one of {BRANCHES}")
    b = model.branches[branch]
    if b.config.backbone != "2d" or b.config.is_global:
        raise ValueError(f"the {branch} branch has global prototypes (no time window to localise or delete); "
                         "use the morphology branch")
    return b


def _label_columns(split, model) -> np.ndarray:
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

    b = _check_local(model, branch)
    y = _label_columns(split, model)
    num_samples = split.signals.shape[-1]
    spans = b.window_spans(num_samples).numpy()                                  # (W, 2)
    logits, _, best_w, best_s = _forward_all(model, split.signals, branch, batch_size, device)
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
    from .explain import load_run_data
    from ..runs.run import Run

    run = run if isinstance(run, Run) else Run(run)
    data = data if data is not None else load_run_data(run)
    if data.source != "synthetic":
        raise ValueError(f"{data.root} holds {data.source} data: localisation needs a synthetic root with "
                         "ground-truth evidence (protoecg data synth --root DIR, then a pipeline run on it)")
    hits = localisation_hits(run.load_model(), data.split(split, "all"), load_evidence(data.root),
                             threshold=threshold, correct_only=correct_only, device=device)
    return {"hits": hits, "summary": localisation_summary(hits)}


# --------------------------------------------------------------------------- deletion
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
    b = _check_local(model, branch)
    y = _label_columns(split, model)
    labels = list(b.labels if labels is None else labels)
    unknown = [c for c in labels if c not in b.labels]
    if unknown:
        raise ValueError(f"labels {unknown} are not {branch} labels (only time-localised prototypes have a window)")
    num_samples = split.signals.shape[-1]
    spans = b.window_spans(num_samples).numpy()                                  # (W, 2)
    if len(spans) < 2:
        raise ValueError(f"a {num_samples}-sample record has a single window: nothing to compare with")
    logits, feats, best_w, _ = _forward_all(model, split.signals, branch, batch_size, device)
    probs = 1.0 / (1.0 + np.exp(-logits))
    col = {c: i for i, c in enumerate(model.labels)}
    weight = model.fusion.weight.detach().double().cpu().numpy()                # (71, sum P)
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
        out.append(model(x).logits.double().cpu())
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
    from .explain import load_run_data
    from ..runs.run import Run

    run = run if isinstance(run, Run) else Run(run)
    data = data if data is not None else load_run_data(run)
    df = deletion_check(run.load_model(), data.split(split, "all"), **kwargs)
    return {"pairs": df, "summary": deletion_summary(df)}


# --------------------------------------------------------------------------- figures
def plot_localisation(summary: pd.DataFrame, *, title: str | None = None, max_labels: int = 30) -> Figure:
    """Hit rate per label (bars) with the chance rate (black ticks); the ``all`` row on top.

    Returns
    -------
    Figure
        One Axes; bars have gid ``"hit-rate"``, chance markers gid ``"chance"``; the legend is
        ``fig.legends[0]``, under the axes.
    """
    from ..plotting.style import house_style, new_figure

    if summary.empty:
        raise ValueError("the localisation summary is empty: no correctly predicted ECG with evidence")
    rows = summary.drop(index="all", errors="ignore").sort_values("pairs", ascending=False).head(max_labels)
    if "all" in summary.index:
        rows = pd.concat([summary.loc[["all"]], rows])
    n = len(rows)
    with house_style() as style:
        fig = new_figure((6.0, 0.9 + 0.28 * n), style)
        ax = fig.add_subplot()
        ypos = np.arange(n)[::-1]
        ax.barh(ypos, rows["hit_rate"], color=[style.palette[2] if k == "all" else style.palette[0]
                                               for k in rows.index], height=0.7, gid="hit-rate", label="hit rate")
        ax.scatter(rows["chance_rate"], ypos, marker="|", s=220, color="black", linewidths=2, zorder=3,
                   gid="chance", label="chance (random window)")
        ax.set_yticks(ypos, [f"{k} (n={int(p)})" for k, p in zip(rows.index, rows["pairs"])])
        ax.set_xlim(0, 1)
        ax.set_xlabel("fraction of matched windows overlapping the evidence")
        ax.set_title(title or "localisation of time-localised prototypes", loc="left")
        # under the axes: bars often reach 1 (evidence in every beat), where a corner legend would sit
        handles, names = ax.get_legend_handles_labels()
        fig.legend(handles, names, loc="lower center", ncol=2, frameon=False)
        fig.tight_layout(rect=(0, 0.35 / fig.get_size_inches()[1], 1, 1))
    return fig


def plot_deletion(df: pd.DataFrame, *, title: str | None = None) -> Figure:
    """Left: histograms of the probability drop for the top-matching and a random window. Right:
    paired logit drops (random on x, top on y) with the diagonal; points above it favour the
    explanation.

    Returns
    -------
    Figure
        Two Axes; ``fig._protoecg_deletion`` holds the summary (:func:`deletion_summary`).
    """
    from ..plotting.style import house_style, new_figure

    if not len(df):
        raise ValueError("no (ECG, label) pair to plot: the deletion check selected none")
    s = deletion_summary(df)
    with house_style() as style:
        fig = new_figure((10.0, 3.8), style)
        ax1, ax2 = fig.subplots(1, 2)
        values = np.concatenate([df["drop_top"], df["drop_random"]])
        edges = np.histogram_bin_edges(values, bins=25)
        for name, col, color in (("top-matching window", "drop_top", style.palette[0]),
                                 ("random window", "drop_random", style.palette[1])):
            ax1.hist(df[col], bins=edges, histtype="stepfilled", alpha=0.35, color=color, edgecolor=color,
                     label=f"{name}: mean {df[col].mean():+.3f}, median {df[col].median():+.3f}")
        ax1.set_xlabel("drop in fused probability")
        ax1.set_ylabel("pairs (ECG, label)")
        low, high = ax1.get_ylim()
        ax1.set_ylim(low, low + 1.5 * (high - low))   # headroom: the drops pile up near 0, under the legend
        ax1.legend(loc="upper right", fontsize=7)
        ax1.set_title(f"{s['pairs']} pairs; top > random in {100 * s['fraction_top_greater']:.0f}%", loc="left")
        lo = float(min(df["logit_drop_top"].min(), df["logit_drop_random"].min(), 0.0))
        hi = float(max(df["logit_drop_top"].max(), df["logit_drop_random"].max(), 0.0))
        pad = 0.05 * (hi - lo or 1.0)
        ax2.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color="0.5", lw=1, ls="--", gid="diagonal")
        ax2.scatter(df["logit_drop_random"], df["logit_drop_top"], s=12, alpha=0.6, color=style.palette[0],
                    linewidths=0, gid="pairs")
        ax2.set_xlabel("logit drop, random window")
        ax2.set_ylabel("logit drop, top-matching window")
        ax2.set_title(f"neutral segment: {df.attrs.get('neutral', '?')}", loc="left")
        if title:
            fig.suptitle(title, x=0.01, ha="left")
        fig.tight_layout()
    fig._protoecg_deletion = s
    return fig
