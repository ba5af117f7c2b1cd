"""Evaluate a finished run from its saved predictions (method §8.1): ``protoecg evaluate``.

Everything is computed once over the whole split from ``RUN/predictions/*.csv`` (never averaged
over batches, §9.2 B3), ranking by the saved logits (:attr:`Predictions.scores`):

* for the fused ProtoECGNet, each branch's own classifier and the black-box baseline: macro and
  weighted AUROC over the labels with both classes, with 95 % percentile bootstrap intervals that
  resample **patients**; a per-label table (support, AUROC with its interval, the threshold tuned
  on validation to maximise F1, and the F1 it gives on the split); the labels skipped and why;
* the "interpretability price": baseline minus ProtoECGNet, macro and weighted, with a paired
  bootstrap interval (both models scored on the same patient resamples), and per label;
* the fused model's AUROC restricted to each branch's labels (comparable with the branch's own
  classifier on the same labels);
* for a calibrated run (``RUN/calibration*.json``): expected calibration error, Brier score and the
  labels listed per ECG at the operating point, calibrated vs ``sigmoid(logit) >= 0.5``, beside the
  true counts (:func:`~protoecg_lib.evaluation.calibration.calibration_report`). ``f1_at_0.5``
  stays the paper's rule, ``sigmoid(logit) >= 0.5``, also in a calibrated run.

:func:`evaluate_run` returns a JSON-able dict, writes ``RUN/evaluation_<split>.json``;
:func:`format_evaluation` prints it; :func:`per_label_frame` gives the per-label table as a DataFrame.
"""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd

from ..labels import BRANCHES, LABEL_SETS, branch_of
from .calibration import calibration_report
from .metrics import bootstrap_ci, evaluation_table, f1_scores, sigmoid, tune_thresholds

__all__ = ["MODELS", "evaluate_predictions", "evaluate_run", "paired_difference", "format_evaluation", "per_label_frame",
           "comparison_frame"]

#: The models a run holds predictions for, in report order (``who`` of :meth:`Run.predictions`).
MODELS = ("fusion", "rhythm", "morphology", "global", "baseline")
_NAMES = {"fusion": "ProtoECGNet (fusion, 71 labels)", "rhythm": "rhythm branch (own classifier)",
          "morphology": "morphology branch (own classifier)", "global": "global branch (own classifier)",
          "baseline": "black-box baseline (71 labels)"}


def _branch(code: str) -> str | None:
    """The branch of an SCP code; None for a name that is not one of the 71 statements."""
    try:
        return branch_of(code)
    except KeyError:
        return None


def _none(x):
    x = float(x)
    return None if math.isnan(x) else x


def evaluate_predictions(test, val=None, *, n_boot: int = 1000, seed: int = 0, alpha: float = 0.05) -> dict:
    """The evaluation of one model on one split from :class:`~protoecg_lib.evaluation.metrics.Predictions`.

    Parameters
    ----------
    test : Predictions
        The split being evaluated (ranked by ``test.scores``: logits when saved).
    val : Predictions, optional
        Validation predictions of the same model and labels: per-label thresholds maximising F1 are
        tuned on them (on the same score scale), and F1 is reported on ``test``.
    n_boot, seed, alpha
        Patient bootstrap settings (``n_boot=0``: no intervals).

    Returns
    -------
    dict
        :func:`~protoecg_lib.evaluation.metrics.evaluation_table`'s result; with ``val`` also per-label
        ``threshold`` (on the score scale), ``threshold_prob`` (as a probability when the scores are
        logits), ``threshold_source`` and ``f1``, and overall ``f1`` (macro, micro) plus
        ``f1_at_0.5`` (``sigmoid(logit) >= 0.5``, method §7.1's fixed threshold; probabilities when no
        logits were saved).
    """
    result = evaluation_table(test.y_true, test.scores, test.labels, groups=test.patient_id, n_boot=n_boot,
                              seed=seed, alpha=alpha)
    logit_scores = test.y_logit is not None
    result["scores"] = "logits" if logit_scores else "probabilities"
    if val is not None:
        if tuple(val.labels) != tuple(test.labels):
            raise ValueError("validation and evaluated predictions have different label columns; they must come "
                             "from the same model")
        if (val.y_logit is None) != (test.y_logit is None):
            raise ValueError("one predictions file has logit_ columns and the other not; re-run the predictions")
        thresholds = tune_thresholds(val.y_true, val.scores, default=0.0 if logit_scores else 0.5)
        has_pos = val.y_true.sum(axis=0) > 0
        f1, f1_macro, f1_micro = f1_scores(test.y_true, test.scores, thresholds)
        probs = sigmoid(thresholds) if logit_scores else thresholds
        for entry, t, p, f, ok in zip(result["per_label"], thresholds, probs, f1, has_pos):
            entry.update(threshold=float(t), threshold_prob=float(p), f1=_none(f),
                         threshold_source="validation" if ok else "default 0.5 (no validation positive)")
        # method §7.1's rule on the model's own sigmoid (a calibrated run's prob_ columns are calibrated:
        # its operating point is reported under "calibration")
        raw = sigmoid(test.y_logit) if logit_scores else test.y_prob
        _, m05, u05 = f1_scores(test.y_true, raw, 0.5)
        result["f1"] = {"macro": _none(f1_macro), "micro": _none(f1_micro),
                        "thresholds": "tuned per label on validation (max F1)",
                        "labels_without_validation_positive": int((~has_pos).sum())}
        result["f1_at_0.5"] = {"macro": _none(m05), "micro": _none(u05)}
    for entry in result["per_label"]:
        entry["branch"] = _branch(entry["label"])
    return result


def _subset(pred, codes):
    """Predictions restricted to some label columns (same object type)."""
    idx = [pred.labels.index(c) for c in codes]
    return type(pred)(pred.ecg_id, pred.patient_id, tuple(codes), pred.y_true[:, idx], pred.y_prob[:, idx],
                      None if pred.y_logit is None else pred.y_logit[:, idx])


def paired_difference(a, b, metric: str = "macro", n_boot: int = 1000, seed: int = 0, alpha: float = 0.05,
                      labels=None) -> dict:
    """``b - a`` in macro or weighted AUROC with a paired patient-bootstrap interval (method §8.1).

    Both models are scored on the same patient resamples (same ``seed``), so the interval is the
    one of the difference, not of each model alone.

    Parameters
    ----------
    a, b : Predictions
        Of the same ECGs in the same order (e.g. ProtoECGNet and the baseline, or two runs on one
        test fold); ranked by their ``scores`` (logits).
    metric : {'macro', 'weighted'}
    n_boot, seed, alpha
        Bootstrap settings (``1 - alpha`` interval); ``n_boot=0`` gives the point estimates only.
    labels : sequence of str, optional
        Restrict both to these label columns.

    Returns
    -------
    dict
        ``a``, ``b`` (point estimates), ``difference`` (b - a), ``lo``, ``hi`` and
        ``fraction_b_better`` (share of resamples where b wins); the last three are None when some
        resample left no label with both classes.
    """
    if not np.array_equal(np.asarray(a.ecg_id), np.asarray(b.ecg_id)):
        raise ValueError("the two predictions list different ECGs (or in another order); they must cover the "
                         "same split")
    if int(n_boot) != n_boot or n_boot < 0:
        raise ValueError(f"n_boot must be a non-negative integer; got {n_boot!r}")
    if labels is not None:
        a, b = _subset(a, labels), _subset(b, labels)
    ci_a = bootstrap_ci(a.y_true, a.scores, a.patient_id, metric, max(n_boot, 1), seed, alpha)
    ci_b = bootstrap_ci(b.y_true, b.scores, b.patient_id, metric, max(n_boot, 1), seed, alpha)
    out = {"a": _none(ci_a.point), "b": _none(ci_b.point), "difference": _none(ci_b.point - ci_a.point),
           "lo": None, "hi": None, "fraction_b_better": None}
    if n_boot > 0 and ci_a.n_valid == ci_b.n_valid == n_boot:
        diff = ci_b.samples - ci_a.samples                                        # (n_boot,)
        lo, hi = np.percentile(diff, [100 * alpha / 2, 100 * (1 - alpha / 2)])
        out.update(lo=float(lo), hi=float(hi), fraction_b_better=float((diff > 0).mean()))
    return out


def _paired_difference(a, b, metric: str, n_boot: int, seed: int, alpha: float) -> dict:
    """The interpretability price: :func:`paired_difference` with a = ProtoECGNet, b = the baseline."""
    d = paired_difference(a, b, metric, n_boot, seed, alpha)
    out = {"protoecgnet": d["a"], "baseline": d["b"], "difference": d["difference"], "lo": d["lo"], "hi": d["hi"]}
    if d["fraction_b_better"] is not None:
        out["fraction_baseline_better"] = d["fraction_b_better"]
    return out


def evaluate_run(run, split: str = "test", *, n_boot: int | None = None, seed: int | None = None,
                 alpha: float = 0.05, write: bool = True) -> dict:
    """Evaluate every model of a run on ``split`` (method §8.1) and write ``RUN/evaluation_<split>.json``.

    Parameters
    ----------
    run : Run or path
    split : {'test', 'val'}
        Thresholds are always tuned on ``val`` (so F1 on ``val`` itself is optimistic).
    n_boot : int, optional
        Bootstrap resamples (default: the run's ``n_boot``, 1000 paper / 200 fast).
    seed : int, optional
        Bootstrap seed (default: the run's seed). The same seed gives every model the same
        patient resamples, which makes the paired differences meaningful.
    alpha : float
    write : bool
        Write the JSON next to the run's summary.

    Returns
    -------
    dict
        ``split``, ``n_boot``, ``seed``, ``models`` (model -> :func:`evaluate_predictions` result;
        models without a predictions file are left out and listed in ``missing``),
        ``fusion_per_branch`` (branch -> AUROC of the fused model on that branch's labels, beside the
        branch's own classifier), ``interpretability_price`` (macro and weighted baseline - fusion with
        paired intervals, and per label).
    """
    from ..runs.run import Run

    run = run if isinstance(run, Run) else Run(run)
    if split not in ("test", "val"):
        raise ValueError(f"split must be 'test' or 'val' (predictions are saved for those); got {split!r}")
    cfg = run.config.get("pipeline", {})
    n_boot = int(cfg.get("n_boot", 1000) if n_boot is None else n_boot)
    seed = int(cfg.get("seed", 0) if seed is None else seed)
    if n_boot < 0:
        raise ValueError(f"n_boot must be >= 0; got {n_boot}")
    preds, missing = {}, []
    for who in MODELS:
        try:
            preds[who] = (run.predictions(split, who), run.predictions("val", who))
        except FileNotFoundError:
            missing.append(who)
    if "fusion" not in preds:
        raise FileNotFoundError(f"{run.path / 'predictions'} has no {split}.csv: the run has no fused predictions "
                                "yet (finish it with `protoecg pipeline --out RUN`)")
    result = {"run": str(run.path), "split": split, "n_boot": n_boot, "seed": seed, "alpha": alpha,
              "resampling": "patient", "missing": missing, "models": {}}
    for who, (test, val) in preds.items():
        result["models"][who] = evaluate_predictions(test, val, n_boot=n_boot, seed=seed, alpha=alpha)
        cal = run.calibration(who)
        if cal is not None and test.y_logit is not None:
            result["models"][who]["calibration"] = {**calibration_report(cal, test.y_logit, test.y_true),
                                                    "method": cal.method, "operating_point": cal.info.get("operating_point")}

    fusion_test = preds["fusion"][0]
    per_branch = {}
    for name in BRANCHES:
        codes = [c for c in LABEL_SETS[name] if c in fusion_test.labels]
        sub = _subset(fusion_test, codes)
        table = evaluation_table(sub.y_true, sub.scores, sub.labels, groups=sub.patient_id, n_boot=n_boot,
                                 seed=seed, alpha=alpha)
        entry = {"labels": len(codes), "labels_evaluated": table["labels_evaluated"],
                 "macro_auroc": table["macro_auroc"], "weighted_auroc": table["weighted_auroc"]}
        own = result["models"].get(name)
        if own is not None:
            entry["own_classifier_macro_auroc"] = own["macro_auroc"]
            entry["own_classifier_weighted_auroc"] = own["weighted_auroc"]
        per_branch[name] = entry
    result["fusion_per_branch"] = per_branch

    if "baseline" in preds:
        base_test = preds["baseline"][0]
        price = {m: _paired_difference(fusion_test, base_test, m, n_boot, seed, alpha) for m in ("macro", "weighted")}
        fus = {e["label"]: e for e in result["models"]["fusion"]["per_label"]}
        base = {e["label"]: e for e in result["models"]["baseline"]["per_label"]}
        price["per_label"] = [
            {"label": c, "branch": _branch(c), "support": fus[c]["support"], "protoecgnet": fus[c]["auroc"],
             "baseline": base[c]["auroc"] if c in base else None,
             "difference": (None if fus[c]["auroc"] is None or c not in base or base[c]["auroc"] is None
                            else base[c]["auroc"] - fus[c]["auroc"])}
            for c in fusion_test.labels]
        price["note"] = "difference = baseline - ProtoECGNet (positive: the black box is better)"
        result["interpretability_price"] = price
    if write:
        path = run.path / f"evaluation_{split}.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(result, indent=1))
        tmp.replace(path)
        result["written_to"] = str(path)
    return result


def per_label_frame(result: dict, model: str = "fusion") -> pd.DataFrame:
    """The per-label table of one model as a DataFrame indexed by label (what
    :func:`protoecg_lib.plotting.plot_auroc_bars` draws)."""
    if model not in result["models"]:
        raise KeyError(f"no model {model!r} in this evaluation; it has {list(result['models'])}")
    return pd.DataFrame(result["models"][model]["per_label"]).set_index("label")


def comparison_frame(result: dict) -> pd.DataFrame:
    """ProtoECGNet vs. the baseline per label (AUROC of both and the difference)."""
    if "interpretability_price" not in result:
        raise KeyError("this evaluation has no baseline (the run has no predictions/<split>_baseline.csv)")
    return pd.DataFrame(result["interpretability_price"]["per_label"]).set_index("label")


def _ci(d: dict) -> str:
    if d.get("point") is None:
        return "n/a"
    if d.get("lo") is None:
        return f"{d['point']:.3f}"
    return f"{d['point']:.3f} ({d['lo']:.3f}-{d['hi']:.3f})"


def _f(x, fmt=".3f") -> str:
    return "n/a" if x is None else format(x, fmt)


def format_evaluation(result: dict, per_label: bool = False) -> str:
    """A readable report of :func:`evaluate_run`'s result."""
    models = result["models"]
    first = next(iter(models.values()))
    pct = int(round(100 * (1 - result["alpha"])))
    lines = [f"{result['split']} fold: {first['n_ecgs']} ECGs of {first['n_patients']} patients; "
             f"{pct}% CIs from {result['n_boot']} patient-bootstrap resamples (seed {result['seed']}); "
             f"ranked by {first.get('scores', 'scores')}", ""]
    head = f"{'model':<38}{'macro AUROC (' + str(pct) + '% CI)':<26}{'weighted AUROC':<26}{'labels':>9}{'F1 macro':>10}"
    lines += [head, "-" * len(head)]
    for who, m in models.items():
        f1 = m.get("f1", {}).get("macro")
        lines.append(f"{_NAMES.get(who, who):<38}{_ci(m['macro_auroc']):<26}{_ci(m['weighted_auroc']):<26}"
                     f"{m['labels_evaluated']:>5}/{m['n_labels']:<3}{_f(f1):>10}")
    lines.append("F1: per-label thresholds tuned on validation; labels without a validation positive use 0.5.")
    price = result.get("interpretability_price")
    if price:
        lines += ["", "interpretability price (black-box baseline - ProtoECGNet):"]
        for metric in ("macro", "weighted"):
            p = price[metric]
            ci = "" if p["lo"] is None else f" (paired {pct}% CI {p['lo']:+.3f} to {p['hi']:+.3f})"
            lines.append(f"  {metric:<9} {_f(p['baseline'])} - {_f(p['protoecgnet'])} = {_f(p['difference'], '+.3f')}{ci}")
    calibrated = {who: m["calibration"] for who, m in models.items() if m.get("calibration")}
    if calibrated:
        lines += ["", "calibrated probabilities (fitted on validation): expected calibration error and labels listed "
                      "per ECG (median, mean), raw sigmoid >= 0.5 -> calibrated operating point:"]
        for who, c in calibrated.items():
            raw, cal = c["raw"], c["calibrated"]
            lines.append(f"  {who:<11} ECE {raw['ece']:.3f} -> {cal['ece']:.3f}   listed {raw['median_listed']:g} "
                         f"({raw['mean_listed']:.1f}) -> {cal['median_listed']:g} ({cal['mean_listed']:.1f}), "
                         f"true {c['true_median']:g} ({c['true_mean']:.1f})")
    lines += ["", "fused model on each branch's labels vs. the branch's own classifier (macro AUROC):"]
    for name, b in result["fusion_per_branch"].items():
        own = b.get("own_classifier_macro_auroc")
        lines.append(f"  {name:<11} fusion {_ci(b['macro_auroc']):<24} own {_ci(own) if own else 'n/a':<24}"
                     f"{b['labels_evaluated']:>3}/{b['labels']} labels")
    lines += ["", "labels skipped (no AUROC on this split):"]
    for who, m in models.items():
        reasons = m["labels_skipped"]["by_reason"]
        text = "; ".join(f"{r}: {len(codes)}" for r, codes in reasons.items()) or "none"
        lines.append(f"  {who:<11} {m['labels_skipped']['count']:>3}  ({text})")
    if result.get("missing"):
        lines.append(f"no predictions for: {', '.join(result['missing'])}")
    if per_label:
        lines += ["", _per_label_text(result)]
    if result.get("written_to"):
        lines += ["", f"written to {result['written_to']}"]
    return "\n".join(lines)


def _per_label_text(result: dict) -> str:
    fus = per_label_frame(result, "fusion")
    base = per_label_frame(result, "baseline") if "baseline" in result["models"] else None
    head = (f"{'label':<9}{'branch':<11}{'support':>8}{'AUROC':>8}{'95% CI':>15}{'thr (p)':>9}{'F1':>7}"
            + (f"{'baseline':>10}" if base is not None else ""))
    lines = ["per label (ProtoECGNet fusion):", head]
    for code, r in fus.iterrows():
        ci = "" if pd.isna(r.get("lo")) or r.get("lo") is None else f"{r['lo']:.2f}-{r['hi']:.2f}"
        auc = "skip" if r["auroc"] is None or pd.isna(r["auroc"]) else f"{r['auroc']:.3f}"
        thr = "" if "threshold_prob" not in r or pd.isna(r["threshold_prob"]) else f"{r['threshold_prob']:.3f}"
        f1 = "" if "f1" not in r or r["f1"] is None or pd.isna(r["f1"]) else f"{r['f1']:.2f}"
        line = f"{code:<9}{r['branch'] or '':<11}{int(r['support']):>8}{auc:>8}{ci:>15}{thr:>9}{f1:>7}"
        if base is not None:
            b = base.loc[code, "auroc"] if code in base.index else None
            line += f"{'skip' if b is None or pd.isna(b) else format(b, '.3f'):>10}"
        lines.append(line)
    return "\n".join(lines)


MODEL_TITLES = {"fusion": "ProtoECGNet (fusion)", "rhythm": "rhythm branch", "morphology": "morphology branch",
                "global": "global branch", "baseline": "black-box baseline"}


def models_frame(result: dict) -> pd.DataFrame:
    """One row per model of an :func:`~protoecg_lib.evaluation.evaluate.evaluate_run` result.

    Parameters
    ----------
    result : dict
        What ``evaluate_run(run, split)`` returned.

    Returns
    -------
    DataFrame indexed by model (``fusion``, the branches, ``baseline``), columns ``labels``,
    ``labels_evaluated``, ``macro``, ``macro_lo``, ``macro_hi``, ``weighted``, ``weighted_lo``,
    ``weighted_hi``, ``f1_tuned`` (macro F1 at thresholds tuned on validation) and ``f1_at_0.5``.
    Missing values are NaN.
    """
    if "models" not in result:
        raise KeyError("not an evaluate_run result: it has no 'models' entry")

    def num(x):
        return math.nan if x is None else float(x)

    rows = {}
    for who, m in result["models"].items():
        rows[who] = {"labels": m["n_labels"], "labels_evaluated": m["labels_evaluated"],
                     **{f"{metric}{suffix}": num(m[f"{metric}_auroc"].get(key))
                        for metric in ("macro", "weighted") for suffix, key in (("", "point"), ("_lo", "lo"), ("_hi", "hi"))},
                     "f1_tuned": num(m.get("f1", {}).get("macro")), "f1_at_0.5": num(m.get("f1_at_0.5", {}).get("macro"))}
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = "model"
    return frame
