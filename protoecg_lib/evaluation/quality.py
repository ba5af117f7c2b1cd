"""Do the explanations point at the evidence? The run-level quality report (``protoecg quality``).

For every highlight method (:mod:`~protoecg_lib.evaluation.highlights`: ``window`` = the nominal
span, ``occlusion``, ``gradient``, ``ig``; ``local_window`` for the local-prototype variant) and
every (time-localised prototype, correctly predicted ECG of its class with evidence) pair of the
fold, two measures side by side:

* **localisation**, pointing-game style (Zhang et al., 2018): does the highlight's peak fall on the
  true evidence (synthetic evidence spans, or detected ectopic beats of a real root,
  :mod:`~protoecg_lib.evaluation.ectopic`)? Hit rate, chance rate, lift = hit / chance, and a 95 %
  percentile-bootstrap interval of the lift over *records* (an ECG is resampled with all its pairs);
  the equal-size segment (as long as the nominal window) is the secondary measure;
* **deletion**: delete the highlight's top segment vs a random one of the same length and record
  the drop of the explained window similarity and of the label's fused logit.

The per-window localisation of the dense synthetic tier is :mod:`~protoecg_lib.evaluation.localisation`,
the branch-level deletion check :mod:`~protoecg_lib.evaluation.deletion`.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from .deletion import neutralize
from .localisation import check_local_branch as _check_local
from .localisation import forward_all as _forward_all
from .localisation import label_columns as _label_columns
from .localisation import window_cover

__all__ = ["QUALITY_METHODS", "segment_chance", "highlight_pairs", "localisation_report", "highlight_deletion",
           "deletion_report", "run_quality", "public_report", "pick_cases"]

#: Methods ``protoecg quality`` reports by default.
QUALITY_METHODS = ("window", "occlusion", "gradient", "ig")


# --------------------------------------------------------------------------- highlights: pointing game
def _highlight_method_name(branch, method: str) -> str:
    """Report key of a method: the nominal window of a local-prototype branch is ``local_window``."""
    return "local_window" if method == "window" and getattr(branch, "local_windows", False) else method


def segment_chance(any_lead: np.ndarray, length: int) -> float:
    """Fraction of the positions of a ``length``-sample segment that overlap the evidence ``(T,)``."""
    cs = np.concatenate([[0], np.cumsum(np.asarray(any_lead, dtype=np.int64))])
    return float(((cs[length:] - cs[:-length]) > 0).mean())


def highlight_pairs(model, split, evidence: Mapping[int, Mapping[str, Sequence]], *,
                    methods: Sequence[str] = ("window", "occlusion", "gradient", "ig"),
                    labels: Sequence[str] | None = None, threshold: float = 0.5, correct_only: bool = True,
                    branch: str = "morphology", max_pairs: int | None = None, seed: int = 0, batch_size: int = 32,
                    point_tolerance_s: float = 0.0, device: str = "cpu", **highlight_options) -> pd.DataFrame:
    """Pointing game of every highlight method on every (time-localised prototype, ECG of its class) pair.

    Pairs are those of :func:`localisation_hits` (correctly predicted ECGs of the prototype's class that
    carry evidence for it). For each method (:mod:`protoecg_lib.evaluation.highlights`) the **top** of the
    highlight is scored two ways:

    * pointing game (primary; Zhang et al. 2018): ``point_hit`` -- the highlight's peak sample (the
      window's centre for ``window``) lies on the label's evidence (any lead), dilated by
      ``point_tolerance_s``; ``point_chance`` -- the share of samples where it would;
    * equal-size segment (secondary): ``hit`` -- the top segment (as long as the nominal window)
      overlaps the evidence; ``chance`` -- the share of positions of such a segment that would (for
      ``window``: the share of windows, as :func:`localisation_hits`).

    Parameters
    ----------
    model : ProtoECGNet
    split : Split
        ``data.split(name, 'all')``.
    evidence : dict ecg_id -> {label: [EvidenceSpan]}
        Synthetic evidence (:func:`~protoecg_lib.synthetic.load_evidence`) or detected ectopic
        beats (:func:`~protoecg_lib.evaluation.ectopic.load_detected_evidence`).
    methods : sequence of str
    labels : sequence of str, optional
        Only these labels (e.g. the episodic ones); default every label of the branch.
    max_pairs : int, optional
        A seeded random subset of pairs (bounds the cost).
    **highlight_options
        Passed to :func:`~protoecg_lib.evaluation.highlights.highlight` (``segment_s``, ``signed``, ...).

    Returns
    -------
    DataFrame
        One row per (pair, method): ``prototype``, ``label``, ``ecg_id``, ``method``, ``window``,
        ``top_start``, ``top_length``, ``peak``, ``hit``, ``chance``, ``point_hit``, ``point_chance``,
        ``similarity``, ``seconds``.
    """
    from ..synthetic import evidence_mask
    from .highlights import highlight

    b = _check_local(model, branch)
    y = _label_columns(split, model)
    n_samples = split.signals.shape[-1]
    spans = b.window_spans(n_samples).numpy()
    logits, _, best_w, best_s = _forward_all(model, split.signals, branch, batch_size, device)
    probs = 1.0 / (1.0 + np.exp(-logits))
    col = {c: i for i, c in enumerate(model.labels)}
    classes = b.prototype_class.tolist()
    keep_labels = set(b.labels if labels is None else labels)
    pairs = []
    for j in range(b.num_prototypes):
        code = b.labels[classes[j]]
        if code not in keep_labels:
            continue
        c = col[code]
        chosen = y[:, c] & (probs[:, c] >= threshold) if correct_only else y[:, c]
        for i in np.flatnonzero(chosen):
            if evidence.get(int(split.ecg_id[i]), {}).get(code):
                pairs.append((j, int(i), code))
    if max_pairs is not None and len(pairs) > max_pairs:
        rng = np.random.default_rng(seed)
        pairs = [pairs[k] for k in sorted(rng.choice(len(pairs), size=max_pairs, replace=False))]
    b.eval().to("cpu")
    rows, masks = [], {}
    for j, i, code in pairs:
        ecg_id = int(split.ecg_id[i])
        if (ecg_id, code) not in masks:
            any_lead = evidence_mask(evidence[ecg_id][code], split.fs, n_samples).any(axis=0)
            tol = int(round(point_tolerance_s * split.fs))
            near = np.convolve(any_lead, np.ones(2 * tol + 1), mode="same") > 0 if tol > 0 else any_lead
            masks[(ecg_id, code)] = (any_lead, window_cover(any_lead[None], spans), near)
        any_lead, cover, near = masks[(ecg_id, code)]
        x = np.asarray(split.signals[i])
        w = int(best_w[i, j])
        for m in methods:
            h = highlight(b, x, j, m, window=w, fs=split.fs, **highlight_options)
            a, n = h.top
            if m == "window":
                hit, chance = bool(cover[w]), float(cover.mean())
            else:
                hit, chance = bool(any_lead[a:a + n].any()), segment_chance(any_lead, n)
            rows.append(dict(prototype=j, label=code, ecg_id=ecg_id, method=_highlight_method_name(b, m), window=w,
                             top_start=a, top_length=n, peak=h.peak, hit=hit, chance=chance,
                             point_hit=bool(near[h.peak]), point_chance=float(near.mean()),
                             similarity=float(best_s[i, j]), seconds=h.seconds))
    cols = ["prototype", "label", "ecg_id", "method", "window", "top_start", "top_length", "peak", "hit", "chance",
            "point_hit", "point_chance", "similarity", "seconds"]
    return pd.DataFrame(rows, columns=cols)


def _lift_ci(g: pd.DataFrame, hit: str, chance: str, n_boot: int, rng) -> tuple[float, float]:
    by = g.groupby("ecg_id")[[hit, chance]].sum()
    h, c = by[hit].to_numpy(dtype=float), by[chance].to_numpy(dtype=float)
    if len(h) < 2:
        return float("nan"), float("nan")
    idx = rng.integers(0, len(h), size=(n_boot, len(h)))
    hs, cs = h[idx].sum(1), c[idx].sum(1)
    lifts = np.where(cs > 0, hs / np.maximum(cs, 1e-12), np.nan)
    lo, hi = np.nanpercentile(lifts, [2.5, 97.5])
    return float(lo), float(hi)


def localisation_report(pairs: pd.DataFrame, *, n_boot: int = 1000, seed: int = 0, by_label: bool = False) -> dict:
    """Per method, the pointing game: ``hit_rate``, ``chance``, ``lift`` (= hit rate / chance), ``lift_ci``
    (95 %, bootstrap over records: ECGs resampled with all their pairs), ``pairs``, ``ecgs``; and under
    ``segment`` the same for the equal-size top segment. With ``by_label``, a ``labels`` entry per
    method holds the per-label numbers."""
    out: dict = {}
    for method, g in pairs.groupby("method", sort=False):
        rng = np.random.default_rng(seed)
        entry = _loc_stats(g, n_boot, rng)
        if by_label:
            entry["labels"] = {lab: _loc_stats(gl, n_boot, np.random.default_rng(seed))
                               for lab, gl in g.groupby("label")}
        out[method] = entry
    return out


def _loc_stats(g: pd.DataFrame, n_boot: int, rng) -> dict:
    hit, chance = float(g["hit"].mean()), float(g["chance"].mean())
    phit, pchance = float(g["point_hit"].mean()), float(g["point_chance"].mean())
    return {"hit_rate": phit, "chance": pchance, "lift": phit / pchance if pchance > 0 else None,
            "lift_ci": list(_lift_ci(g, "point_hit", "point_chance", n_boot, rng)), "pairs": int(len(g)),
            "ecgs": int(g["ecg_id"].nunique()),
            "segment": {"hit_rate": hit, "chance": chance, "lift": hit / chance if chance > 0 else None,
                        "lift_ci": list(_lift_ci(g, "hit", "chance", n_boot, rng))},
            "seconds_mean": float(g["seconds"].mean())}


@torch.no_grad()
def highlight_deletion(model, split, pairs: pd.DataFrame, *, neutral: str = "interpolate", seed: int = 0,
                       branch: str = "morphology", batch_size: int = 32) -> pd.DataFrame:
    """Deletion check of every highlight: delete its top segment vs a random segment of the same length.

    For each row of :func:`highlight_pairs`, the top segment (all 12 leads) is replaced by a neutral
    segment (:func:`neutralize`), and so is one random segment of the same length that does not
    overlap it (seeded per pair, the same for every method). Recorded: the drop of the explained window
    similarity ``s_j,w*`` and of the label's fused logit, for the top and the random segment.

    Returns
    -------
    DataFrame
        The pair columns plus ``drop_sim_top``, ``drop_sim_random``, ``drop_logit_top``, ``drop_logit_random``.
    """
    _check_local(model, branch)
    model.eval()
    index = {int(e): i for i, e in enumerate(split.ecg_id)}
    col = {c: i for i, c in enumerate(model.labels)}
    n_samples = split.signals.shape[-1]
    batch, meta = [], []
    base_cache = {}
    for r, row in enumerate(pairs.itertuples(index=False)):
        i = index[int(row.ecg_id)]
        x = np.asarray(split.signals[i])
        a, n = int(row.top_start), int(row.top_length)
        rng = np.random.default_rng((seed, int(row.ecg_id), int(row.prototype)))
        free = [s for s in range(0, n_samples - n + 1) if s + n <= a or s >= a + n]
        s_rand = int(rng.choice(free)) if free else 0
        if i not in base_cache:
            base_cache[i] = len(batch)
            batch.append(x)
            meta.append(None)
        batch += [neutralize(x, a, n, neutral), neutralize(x, s_rand, n, neutral)]
        meta += [(r, "top"), (r, "random")]
    sims, logits = [], []
    for start in range(0, len(batch), batch_size):
        out = model(torch.from_numpy(np.stack(batch[start:start + batch_size]).astype(np.float32)))
        sims.append(out.branches[branch].window_similarity.cpu().double().numpy())
        logits.append(out.logits.cpu().double().numpy())
    sims, logits = np.concatenate(sims), np.concatenate(logits)
    res = pairs.copy()
    for name in ("drop_sim_top", "drop_sim_random", "drop_logit_top", "drop_logit_random"):
        res[name] = np.nan
    for k, m in enumerate(meta):
        if m is None:
            continue
        r, kind = m
        row = pairs.iloc[r]
        i0 = base_cache[index[int(row.ecg_id)]]
        j, w, c = int(row.prototype), int(row.window), col[row.label]
        res.iloc[r, res.columns.get_loc(f"drop_sim_{kind}")] = sims[i0, j, w] - sims[k, j, w]
        res.iloc[r, res.columns.get_loc(f"drop_logit_{kind}")] = logits[i0, c] - logits[k, c]
    return res


def deletion_report(df: pd.DataFrame) -> dict:
    """Per method: mean drops (similarity and logit) for the top vs the random segment, the fraction of
    pairs where the top segment's drop is larger, and a one-sided Wilcoxon p-value on the paired
    similarity drops."""
    from scipy.stats import wilcoxon

    out = {}
    for method, g in df.groupby("method", sort=False):
        d = (g["drop_sim_top"] - g["drop_sim_random"]).to_numpy()
        dl = (g["drop_logit_top"] - g["drop_logit_random"]).to_numpy()
        try:
            p = float(wilcoxon(d, alternative="greater").pvalue) if (d != 0).any() else None
        except ValueError:
            p = None
        out[method] = {"pairs": int(len(g)),
                       "similarity_drop_top": float(g["drop_sim_top"].mean()),
                       "similarity_drop_random": float(g["drop_sim_random"].mean()),
                       "logit_drop_top": float(g["drop_logit_top"].mean()),
                       "logit_drop_random": float(g["drop_logit_random"].mean()),
                       "fraction_top_greater": float((d > 0).mean()),
                       "fraction_top_greater_logit": float((dl > 0).mean()),
                       "wilcoxon_p_similarity": p}
    return out


def run_quality(run, data=None, *, split: str = "test", evidence=None, labels=None,
                methods: Sequence[str] = QUALITY_METHODS, n_boot: int = 1000,
                seed: int = 0, max_pairs: int | None = None, **highlight_options) -> dict:
    """The ``protoecg quality --run RUN --json`` report: localisation and deletion per highlight method.

    Parameters
    ----------
    run : Run or path
    evidence : dict or path, optional
        Default: the root's ``synthetic_evidence.json`` (synthetic roots) or the detected ectopic
        beats of a real root (:func:`protoecg_lib.evaluation.ectopic.detected_evidence`, cached).
    labels : sequence of str, optional
        Default: the root's episodic labels (``marker['episodic_labels']`` of a sparse root; PVC/PAC
        for detected ectopic beats), else every morphology label.

    Returns
    -------
    dict
        ``{"split", "evidence", "labels", "local_windows", "localisation": {method: {"hit_rate",
        "chance", "lift", "lift_ci": [lo, hi], "pairs", "ecgs", "segment": {...}, "seconds_mean"}},
        "localisation_by_label": {method: {label: {...}}}, "deletion": {method: {...}}}`` plus the
        private frames ``_pairs`` and ``_deletion`` (:func:`public_report` drops them).
    """
    from ..runs import Run

    run = run if isinstance(run, Run) else Run(run)
    data = data if data is not None else run.load_data()
    source = "given evidence"
    if evidence is None:
        if data.source == "synthetic":
            from ..synthetic import load_evidence, read_marker

            evidence, source = load_evidence(data.root), "synthetic"
            marker = read_marker(data.root) or {}
            labels = labels or marker.get("episodic_labels")
        else:
            from .ectopic import detected_evidence

            evidence, source = detected_evidence(data), "detected ectopic beats (RR-interval rule)"
            labels = labels or ["PVC", "PAC"]
    elif not isinstance(evidence, Mapping):
        from .ectopic import load_detected_evidence

        evidence, source = load_detected_evidence(evidence), str(evidence)
    model = run.load_model()
    sp = data.split(split, "all")
    pairs = highlight_pairs(model, sp, evidence, methods=methods, labels=labels, max_pairs=max_pairs, seed=seed,
                            **highlight_options)
    deletion = highlight_deletion(model, sp, pairs, seed=seed) if len(pairs) else pairs
    return {"split": split, "evidence": source, "labels": list(labels) if labels else None,
            "local_windows": bool(model.branches["morphology"].local_windows),
            "localisation": localisation_report(pairs, n_boot=n_boot, seed=seed),
            "localisation_by_label": {m: v["labels"] for m, v in
                                      localisation_report(pairs, n_boot=n_boot, seed=seed, by_label=True).items()},
            "deletion": deletion_report(deletion) if len(pairs) else {},
            "_pairs": pairs, "_deletion": deletion}


def public_report(result: Mapping, run=None) -> dict:
    """The JSON-ready part of :func:`run_quality`'s result (``protoecg quality --json``): the private
    frames dropped, the run's path first when given."""
    head = {} if run is None else {"run": str(getattr(run, "path", run))}
    return {**head, **{k: v for k, v in result.items() if not k.startswith("_")}}


def pick_cases(pairs: pd.DataFrame, method: str = "ig") -> dict:
    """A case that localises and one that fails, chosen by measurement from :func:`highlight_pairs` rows.

    Meant for the validation fold (choose nothing on the test fold). ``localises``: a pair whose
    ``method`` peak lies on the evidence, preferring one where the nominal window misses it (the case
    that shows why the highlight matters), then the highest window similarity; ``fails``: the pair
    with the highest similarity whose ``method`` peak misses the evidence. Either is None when the
    fold has no such pair (say so; do not go looking on the test fold).

    Returns
    -------
    dict
        ``{"localises": Series or None, "fails": Series or None, "counts": {"pairs", "hits"}}``.
    """
    if method not in set(pairs["method"]):
        raise ValueError(f"no {method!r} rows in the pairs; compute them with methods=(..., {method!r})")
    m = pairs[pairs["method"] == method].copy()
    window = pairs[pairs["method"].isin(("window", "local_window"))].set_index(["ecg_id", "prototype"])["hit"]
    m["window_hit"] = [bool(window.get((e, p), False)) for e, p in zip(m["ecg_id"], m["prototype"])]
    hits = m[m["point_hit"]].sort_values(["window_hit", "similarity"], ascending=[True, False])
    misses = m[~m["point_hit"]].sort_values("similarity", ascending=False)
    return {"localises": hits.iloc[0] if len(hits) else None, "fails": misses.iloc[0] if len(misses) else None,
            "counts": {"pairs": int(len(m)), "hits": int(m["point_hit"].sum())}}
