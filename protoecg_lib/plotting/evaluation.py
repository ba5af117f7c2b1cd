"""Evaluation figures: per-label AUROC bars with bootstrap intervals (method §8.1), and macro and
weighted AUROC with intervals per model (chapter 9)."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from .style import house_style, new_figure
from ..evaluation.evaluate import MODEL_TITLES, models_frame
from .data import tick_fontsize

__all__ = ["plot_auroc_bars", "plot_model_aurocs"]


def plot_model_aurocs(result: dict, *, title: str | None = None) -> Figure:
    """Macro and weighted AUROC of every model with its 95 % patient-bootstrap interval (method §8.1).

    Parameters
    ----------
    result : dict
        What :func:`~protoecg_lib.evaluation.evaluate.evaluate_run` returned.
    title : str, optional

    Returns
    -------
    Figure
        Two Axes (macro, weighted), one row per model. Filled markers (gid ``"model-auroc"``) are each
        model on its own labels; on a branch's row a hollow marker (gid ``"fusion-on-branch"``) is the
        fused model scored on that branch's labels only.
    """
    frame = models_frame(result)
    per_branch = result.get("fusion_per_branch", {})
    names = list(frame.index)
    with house_style() as style:
        colors = {"fusion": style.palette[3], "baseline": style.palette[7]}
        fig = new_figure((9.0, 0.45 * len(names) + 1.4), style)
        axes = fig.subplots(1, 2, sharey=True)
        y = np.arange(len(names))
        for ax, metric in zip(axes, ("macro", "weighted")):
            for i, who in enumerate(names):
                row = frame.loc[who]
                color = colors.get(who, style.branch_color(who))
                if math.isfinite(row[metric]):
                    err = None
                    if math.isfinite(row[f"{metric}_lo"]):
                        err = [[max(row[metric] - row[f"{metric}_lo"], 0)], [max(row[f"{metric}_hi"] - row[metric], 0)]]
                    ax.errorbar([row[metric]], [i], xerr=err, fmt="o", color=color, ms=6, capsize=3, gid="model-auroc")
                fused = per_branch.get(who, {}).get(f"{metric}_auroc", {})
                if fused.get("point") is not None:
                    err = None
                    if fused.get("lo") is not None:
                        err = [[max(fused["point"] - fused["lo"], 0)], [max(fused["hi"] - fused["point"], 0)]]
                    ax.errorbar([fused["point"]], [i + 0.25], xerr=err, fmt="o", mfc="white", color=colors["fusion"],
                                ms=5, capsize=2, lw=0.8, gid="fusion-on-branch")
            ax.axvline(0.5, color="0.6", lw=0.8, ls=":")
            ax.set_title(f"{metric} AUROC (95% CI)", loc="left")
            ax.set_xlabel("AUROC")
        axes[0].set_yticks(y, [f"{MODEL_TITLES.get(w, w)}\n{int(frame.loc[w, 'labels_evaluated'])}/"
                               f"{int(frame.loc[w, 'labels'])} labels" for w in names])
        axes[0].set_ylim(len(names) - 0.5, -0.6)
        if per_branch:
            handle = Line2D([], [], marker="o", mfc="white", color=colors["fusion"], ls="none",
                            label="ProtoECGNet (fusion) on the branch's labels only")
            fig.legend(handles=[handle], loc="upper right", fontsize=8)
        if title:
            fig.suptitle(title, x=0.01, ha="left")
        fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / fig.get_size_inches()[1]))
    return fig


def _auroc_table(table, name: str) -> pd.DataFrame:
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"{name} must be a DataFrame with columns label, auroc, lo, hi, support; got {type(table).__name__}")
    missing = [c for c in ("label", "auroc") if c not in table.columns]
    if missing:
        raise ValueError(f"{name} lacks columns {missing}; it needs label, auroc (and lo, hi, support); "
                         f"it has {list(table.columns)}")
    return table.reset_index(drop=True)


def plot_auroc_bars(table: pd.DataFrame, second: pd.DataFrame | None = None, *,
                    names: tuple[str, str] = ("ProtoECGNet", "baseline"), sort: bool = True,
                    title: str | None = None, figsize: tuple[float, float] | None = None) -> Figure:
    """Per-label AUROC as horizontal bars with confidence intervals and support (method §8.1).

    Parameters
    ----------
    table : DataFrame
        Columns ``label``, ``auroc`` and, when available, ``lo``, ``hi`` (CI bounds) and ``support``
        (positives in the test set). A NaN AUROC (a label without positive or without negative test
        ECGs) is marked "n/a", with its support: one annotation per label, right of its bars.
    second : DataFrame, optional
        A second model in the same format (e.g. a black-box baseline), drawn beside the first.
    names : (str, str)
        Legend names of the two models.
    sort : bool
        Sort labels by the first model's AUROC, best on top; table order otherwise.

    Returns
    -------
    Figure
        One Axes; bars have gid ``"auroc-bar"`` (first model) and ``"auroc-bar-second"``.
    """
    t = _auroc_table(table, "table")
    if sort:
        t = t.sort_values("auroc", ascending=False, na_position="last", kind="stable").reset_index(drop=True)
    labels = [str(v) for v in t["label"]]
    models = [(t, names[0], "auroc-bar")]
    if second is not None:
        s2 = _auroc_table(second, "second")
        s2.index = s2["label"].astype(str)
        models.append((s2.reindex(labels).reset_index(drop=True), names[1], "auroc-bar-second"))
    n = len(labels)
    height = 0.8 / len(models)
    lo_all = np.concatenate([m[0].get("lo", m[0]["auroc"]).to_numpy(float) for m in models])
    x_min = min(0.5, math.floor((np.nanmin(lo_all) if np.isfinite(lo_all).any() else 0.5) * 20) / 20 - 0.05)
    with house_style() as style:
        fig = new_figure(figsize or (6.5, 0.2 * n * len(models) ** 0.5 + 1.3), style)
        ax = fig.add_subplot()
        y = np.arange(n)
        end = np.full(n, x_min + 0.03)  # right end of each label's bars and CIs, for the support text
        for k, (m, name, gid) in enumerate(models):
            color = style.palette[k]
            pos = y - 0.4 + height * (k + 0.5)
            auc = m["auroc"].to_numpy(float)
            macro = float(np.mean(auc[np.isfinite(auc)])) if np.isfinite(auc).any() else math.nan
            bars = ax.barh(pos, np.nan_to_num(auc - x_min, nan=0.0), left=x_min, height=height * 0.92, color=color,
                           label=f"{name} (macro {macro:.3f})", gid=gid)
            for bar in bars:
                bar.set_gid(gid)
            end = np.fmax(end, auc)
            if "lo" in m and "hi" in m:
                lo, hi = m["lo"].to_numpy(float), m["hi"].to_numpy(float)
                err = np.clip(np.vstack([auc - lo, hi - auc]), 0, None)
                ok = np.isfinite(err).all(axis=0) & np.isfinite(auc)
                ax.errorbar(auc[ok], pos[ok], xerr=err[:, ok], fmt="none", ecolor="0.2", elinewidth=0.7, capsize=1.5,
                            gid=f"{gid}-ci")
                end = np.where(ok, np.fmax(end, hi), end)
            if math.isfinite(macro):
                ax.axvline(macro, color=color, ls="--", lw=0.8, gid=f"{gid}-macro")
        # one annotation per label, right of its bars: "n=12" (test support), or "n/a" where a model has no
        # AUROC (no positive or no negative test ECG), with the support when known: "n/a (n=0)"
        missing = np.array([[not math.isfinite(v) for v in m["auroc"].to_numpy(float)] for m, _, _ in models])
        support = t["support"].to_numpy(float) if "support" in t else np.full(n, np.nan)
        for i in range(n):
            count = f"n={int(support[i])}" if math.isfinite(support[i]) else ""
            if missing[:, i].any():
                who = "" if missing[:, i].all() or len(models) == 1 else \
                    " for " + ", ".join(name for (_, name, _), gone in zip(models, missing[:, i]) if gone)
                text = f"n/a{who}" + (f" ({count})" if count else "")
                ax.text(end[i] + 0.004, y[i], text, va="center", fontsize=tick_fontsize(n) - 1, color="0.3",
                        gid="no-auroc")
            elif count:
                ax.text(end[i] + 0.004, y[i], count, va="center", fontsize=tick_fontsize(n) - 1, color="0.3",
                        gid="support")
        ax.axvline(0.5, color="0.5", lw=0.8)
        ax.set_yticks(y, labels, fontsize=tick_fontsize(n))
        ax.set_ylim(n - 0.5, -0.5)
        ax.set_xlim(x_min, 1.06)
        ax.set_xlabel("AUROC (95% CI)")
        ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=2, borderaxespad=0.2)
        if title:  # above the legend, so that the two never overlap
            fig.suptitle(title, x=0.01, ha="left")
        fig.tight_layout()
    return fig
