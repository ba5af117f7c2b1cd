"""Training curves: loss and validation AUROC per epoch of every stage, read from a run's
``metrics.jsonl`` (DEVELOPING.md, "Run directory")."""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Mapping

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from .style import house_style, new_figure

__all__ = ["read_metrics", "plot_training_curves"]


def read_metrics(run) -> list[dict]:
    """Epoch records of a run: a :class:`~protoecg_lib.runs.run.Run`, its directory, its ``metrics.jsonl``
    or a list of dicts, as a list.

    Each record needs ``branch``, ``stage`` and ``epoch`` (DEVELOPING.md); a clear error names the
    file and line of a bad one.
    """
    if hasattr(run, "path") and isinstance(getattr(run, "path"), Path):  # a protoecg_lib.runs.run.Run
        run = run.path
    if isinstance(run, (str, Path)):
        path = Path(run)
        if path.is_dir():
            path = path / "metrics.jsonl"
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no metrics.jsonl here; pass a run directory written by train")
        records = []
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError as err:
                    raise ValueError(f"{path}:{n}: not a JSON object ({err.msg}); one JSON object per line") from None
        where = str(path)
    else:
        records, where = list(run), "metrics"
    for n, rec in enumerate(records):
        missing = [k for k in ("branch", "stage", "epoch") if k not in rec]
        if missing:
            raise ValueError(f"{where}: record {n} lacks {missing}; expected the metrics.jsonl format of DEVELOPING.md")
    if not records:
        raise ValueError(f"{where}: no epoch records to plot")
    return records


def _number(value) -> float:
    if isinstance(value, Mapping):  # e.g. {"macro": 0.91, ...}
        value = value.get("macro", next(iter(value.values()), None))
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def plot_training_curves(run, branch: str | None = None, *, title: str | None = None) -> Figure:
    """Loss and validation AUROC per epoch, per branch and stage, from ``metrics.jsonl`` (method §4.1).

    Stages of a branch (e.g. joint, projection, classifier) are drawn one after the other on a
    running epoch axis, each in its own colour, with dotted lines between them.

    Parameters
    ----------
    run : Run, path or list of dict
        A run, its directory, its ``metrics.jsonl``, or the epoch records themselves.
    branch : str, optional
        Only this branch (or ``"fusion"``); all branches in order of appearance otherwise.

    Returns
    -------
    Figure
        One row per branch: loss (train solid, validation dashed) and validation AUROC.
    """
    records = read_metrics(run)
    branches = list(dict.fromkeys(str(r["branch"]) for r in records))
    if branch is not None:
        if branch not in branches:
            raise ValueError(f"no epoch record of branch {branch!r}; the run has {branches}")
        branches = [branch]
    all_stages = list(dict.fromkeys(str(r["stage"]) for r in records))
    stages = [s for s in all_stages if any(str(r["branch"]) in branches and str(r["stage"]) == s for r in records)]
    with house_style() as style:
        # colours keyed on the run's stages, so that a stage keeps its colour whichever branch is drawn
        colors = {s: style.palette[k % len(style.palette)] for k, s in enumerate(all_stages)}
        fig = new_figure((10.0, 2.9 * len(branches) + 0.3), style)
        axes = fig.subplots(len(branches), 2, squeeze=False)
        for row, b in enumerate(branches):
            ax_loss, ax_auc = axes[row]
            offset = 0
            for s in stages:
                recs = sorted((r for r in records if str(r["branch"]) == b and str(r["stage"]) == s),
                              key=lambda r: _number(r["epoch"]))
                if not recs:
                    continue
                x = offset + np.arange(1, len(recs) + 1)
                for ax, key, ls in ((ax_loss, "train_loss", "-"), (ax_loss, "val_loss", "--"), (ax_auc, "val_auroc", "-")):
                    y = np.array([_number(r.get(key)) for r in recs])
                    if np.isfinite(y).any():
                        ax.plot(x, y, ls=ls, marker="o", ms=2.5, color=colors[s], gid=f"{key}-{s}")
                if offset:
                    for ax in (ax_loss, ax_auc):
                        ax.axvline(offset + 0.5, color="0.6", ls=":", lw=0.8)
                offset += len(recs)
            ax_loss.set_title(f"{b}: loss", loc="left")
            for ax in (ax_loss, ax_auc):
                ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax_auc.set_title(f"{b}: validation macro AUROC", loc="left")
            ax_loss.set_ylabel("loss")
            ax_auc.set_ylabel("AUROC")
            for ax in (ax_loss, ax_auc):
                ax.set_xlabel("epoch (stages in sequence)")
        handles = [Line2D([], [], color=colors[s], label=s) for s in stages]
        handles += [Line2D([], [], color="0.3", ls="-", label="train"), Line2D([], [], color="0.3", ls="--", label="validation")]
        fig.legend(handles=handles, loc="upper right", ncol=len(handles), fontsize=8)
        if title:
            fig.suptitle(title, x=0.01, ha="left")
        fig.tight_layout(rect=(0, 0, 1, 1 - 0.3 / fig.get_size_inches()[1]))
    return fig
