"""Figure of a run's evaluation: macro and weighted AUROC with intervals per model (chapter 9)."""
from __future__ import annotations

import math
import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from .style import house_style, new_figure
from ..evaluation.evaluate import MODEL_TITLES, models_frame

__all__ = ["plot_model_aurocs"]


def plot_model_aurocs(result: dict, *, title: str | None = None) -> Figure:
    """Macro and weighted AUROC of every model with its 95 % patient-bootstrap interval (spec §8.1).

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
