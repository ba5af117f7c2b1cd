"""Data, training and evaluation figures: label frequencies, co-occurrence, filter responses, curves, AUROC bars.

The co-occurrence heatmap shows the Jaccard matrix of spec §1.7, the frequency-response plot the
gain of the baseline-wander high-pass of spec §1.2, training curves read a run's
``metrics.jsonl`` (DEVELOPING.md, "Run directory"), and the AUROC bars show per-label AUROC with
bootstrap confidence intervals (spec §8.1).
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, MaxNLocator

from ..labels import BRANCH_OF, BRANCHES
from .ecg_grid import _to_numpy
from .style import house_style, new_figure

__all__ = ["plot_cooccurrence", "plot_frequency_response", "plot_training_curves", "plot_auroc_bars",
           "plot_label_frequencies", "read_metrics"]


def _tick_fontsize(n: int) -> float:
    """Tick-label size that keeps ``n`` labels readable without overlap."""
    return 8.0 if n <= 20 else max(5.5, 9.0 - n / 25)


def plot_cooccurrence(jaccard, labels: Sequence[str] | None = None, title: str | None = None,
                      annotate: bool | None = None, *, mask_upper: bool = False, cmap: str = "rocket_r",
                      figsize: tuple[float, float] | None = None) -> Figure:
    """Heatmap of the label co-occurrence (Jaccard) matrix (spec §1.7).

    Parameters
    ----------
    jaccard : array or DataFrame, shape (C, C)
        Symmetric Jaccard indices in [0, 1] (NaN allowed: drawn blank).
    labels : sequence of str, length C, optional
        Tick labels; a DataFrame's index by default.
    annotate : bool, optional
        Print the values in the cells; by default only when C <= 16.
    mask_upper : bool
        Hide the (redundant) upper triangle, diagonal kept.

    Returns
    -------
    Figure
        Axes 0 holds the heatmap (a QuadMesh of C x C cells), Axes 1 the colour bar.
    """
    import seaborn as sns

    if labels is None and isinstance(jaccard, pd.DataFrame):
        labels = [str(v) for v in jaccard.index]
    j = _to_numpy(jaccard)
    if j.ndim != 2 or j.shape[0] != j.shape[1]:
        raise ValueError(f"jaccard must be a square (C, C) matrix; got shape {j.shape}")
    c = j.shape[0]
    labels = [str(v) for v in (labels if labels is not None else range(c))]
    if len(labels) != c:
        raise ValueError(f"{len(labels)} labels for a jaccard matrix of shape {j.shape}; pass one label per row")
    finite = j[np.isfinite(j)]
    if finite.size and (finite.min() < -1e-9 or finite.max() > 1 + 1e-9):
        raise ValueError(f"jaccard values must lie in [0, 1]; got {finite.min():.3g} to {finite.max():.3g}")
    annotate = c <= 16 if annotate is None else bool(annotate)
    cell = 0.42 if annotate else 0.16  # inches per cell: room for "0.00" when annotated
    side = figsize or (min(max(4.5, cell * c + 2.4), 15.0), min(max(3.8, cell * c + 1.0), 14.0))
    fs = _tick_fontsize(c)
    with house_style():
        fig = new_figure(side)
        ax = fig.add_subplot()
        mask = np.triu(np.ones_like(j, dtype=bool), k=1) if mask_upper else None
        sns.heatmap(j, mask=mask, ax=ax, cmap=cmap, vmin=0.0, vmax=1.0, square=True, xticklabels=labels,
                    yticklabels=labels, annot=annotate, fmt=".2f", annot_kws={"fontsize": 7},
                    linewidths=0.3 if c <= 30 else 0.0, linecolor="white",
                    cbar_kws={"label": "Jaccard index", "shrink": 0.6})
        ax.tick_params(axis="both", labelsize=fs, length=1.5, pad=1)
        ax.set_xticklabels(ax.get_xticklabels(), rotation=90)
        ax.set_yticklabels(ax.get_yticklabels(), rotation=0)
        ax.set_title(title or f"label co-occurrence ({c} labels)", loc="left")
        fig.tight_layout()
    return fig


def plot_frequency_response(freqs_hz, gains, *, cutoff_hz: float | None = None,
                            bands: Mapping[str, tuple[float, float]] | None = None, title: str | None = None,
                            figsize: tuple[float, float] | None = None) -> Figure:
    """Gain of a filter against frequency on a log axis, with its cutoff and labelled bands (spec §1.2).

    Parameters
    ----------
    freqs_hz : array, shape (F,)
        Frequencies in Hz, positive and increasing (e.g. the ``w`` of ``scipy.signal.freqz(..., fs=fs)``
        without its 0 Hz entry).
    gains : array, shape (F,), or mapping name -> array, shape (F,)
        Linear magnitudes ``|H(f)| >= 0`` (``np.abs(h)``), one curve per entry of a mapping. For a
        zero-phase (forward-backward) filter the effective gain is ``|H(f)|**2``.
    cutoff_hz : float, optional
        Drawn as a dashed vertical line (gid ``"cutoff"``).
    bands : mapping label -> (low_hz, high_hz), optional
        Frequency ranges to shade (gid ``"band"``), labelled at the top of the plot (e.g. where
        baseline wander, the heart rate and the QRS complex live).
    title : str, optional

    Returns
    -------
    Figure
        One Axes, log-scaled frequency axis; one Line2D per curve with gid ``"response"`` and the
        curve's name as label.
    """
    f = np.asarray(freqs_hz, dtype=float)
    if f.ndim != 1 or f.size < 2:
        raise ValueError(f"freqs_hz must be a 1-D array of at least 2 frequencies; got shape {f.shape}")
    if not (np.isfinite(f).all() and (f > 0).all() and (np.diff(f) > 0).all()):
        raise ValueError("freqs_hz must be finite, > 0 and increasing (drop the 0 Hz entry of freqz for a log axis)")
    curves = dict(gains) if isinstance(gains, Mapping) else {"gain": gains}
    if not curves:
        raise ValueError("gains is empty: pass one array, or a mapping name -> array")
    checked = {}
    for name, g in curves.items():
        g = np.asarray(g)
        if np.iscomplexobj(g):
            raise ValueError(f"gains[{name!r}] is complex; pass magnitudes (np.abs(h), or np.abs(h)**2 for zero phase)")
        g = g.astype(float)
        if g.shape != f.shape:
            raise ValueError(f"gains[{name!r}] has shape {g.shape}; it needs one value per frequency, shape {f.shape}")
        if not np.isfinite(g).all() or (g < 0).any():
            raise ValueError(f"gains[{name!r}] must be finite and >= 0 (linear magnitudes)")
        checked[str(name)] = g
    for label, (lo, hi) in (bands or {}).items():
        if not (0 < lo < hi):
            raise ValueError(f"band {label!r} must satisfy 0 < low < high (Hz); got ({lo}, {hi})")
    top = max(1.0, max(float(g.max()) for g in checked.values())) * 1.15
    with house_style() as style:
        fig = new_figure(figsize or (7.5, 3.6), style)
        ax = fig.add_subplot()
        for k, (label, (lo, hi)) in enumerate((bands or {}).items()):
            ax.axvspan(lo, hi, color=style.palette[(k + 2) % len(style.palette)], alpha=0.12, lw=0, gid="band")
            ax.text(math.sqrt(lo * hi), top * 0.985, label, ha="center", va="top", fontsize=7.5, color="0.25",
                    gid="band-label")
        for k, (name, g) in enumerate(checked.items()):
            ax.plot(f, g, color=style.palette[k % len(style.palette)], label=name, gid="response")
        if cutoff_hz is not None:
            ax.axvline(cutoff_hz, color="0.3", ls="--", lw=0.9, gid="cutoff")
            ax.text(cutoff_hz * 1.06, 0.04 * top, f"cutoff {cutoff_hz:g} Hz", fontsize=7.5, color="0.3", gid="cutoff-label")
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))  # 0.1, 1, 10 rather than 10^k
        ax.set_xlim(f[0], f[-1])
        ax.set_ylim(0, top)
        ax.set_xlabel("frequency (Hz)")
        ax.set_ylabel("gain (output / input amplitude)")
        ax.grid(True, which="both", color="0.92", lw=0.6)
        ax.set_axisbelow(True)
        if isinstance(gains, Mapping):
            ax.legend(loc="center right")
        if title:
            ax.set_title(title, loc="left")
        fig.tight_layout()
    return fig


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
    """Loss and validation AUROC per epoch, per branch and stage, from ``metrics.jsonl`` (spec §4.1).

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
    """Per-label AUROC as horizontal bars with confidence intervals and support (spec §8.1).

    Parameters
    ----------
    table : DataFrame
        Columns ``label``, ``auroc`` and, when available, ``lo``, ``hi`` (CI bounds) and ``support``
        (positives in the test set). A NaN AUROC (label without positives) is marked "n/a".
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
            for i in np.flatnonzero(~np.isfinite(auc)):
                ax.text(x_min + 0.004, pos[i], "n/a", va="center", fontsize=_tick_fontsize(n) - 1, color="0.3",
                        gid="no-auroc")
        if "support" in t:  # the first model's test support, written once per label after its bars
            support = t["support"].to_numpy(float)
            for i in np.flatnonzero(np.isfinite(support)):
                ax.text(end[i] + 0.004, y[i], f"n={int(support[i])}", va="center", fontsize=_tick_fontsize(n) - 1,
                        color="0.3", gid="support")
        ax.axvline(0.5, color="0.5", lw=0.8)
        ax.set_yticks(y, labels, fontsize=_tick_fontsize(n))
        ax.set_ylim(n - 0.5, -0.5)
        ax.set_xlim(x_min, 1.06)
        ax.set_xlabel("AUROC (95% CI)")
        ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=2, borderaxespad=0.2)
        if title:  # above the legend, so that the two never overlap
            fig.suptitle(title, x=0.01, ha="left")
        fig.tight_layout()
    return fig


def _counts(counts) -> pd.Series:
    if isinstance(counts, Mapping):
        s = pd.Series(dict(counts), dtype=float)
    elif isinstance(counts, pd.Series):
        s = counts.astype(float)
    elif isinstance(counts, pd.DataFrame):
        if {"label", "count"} <= set(counts.columns):
            s = counts.set_index("label")["count"].astype(float)
        else:
            numeric = counts.select_dtypes("number").columns
            if len(numeric) != 1:
                raise ValueError(f"counts DataFrame needs columns label and count, or one numeric column indexed by "
                                 f"label; it has {list(counts.columns)}")
            s = counts[numeric[0]].astype(float)
    else:
        raise TypeError(f"counts must be a dict code -> count, a Series or a DataFrame; got {type(counts).__name__}")
    if s.empty:
        raise ValueError("counts is empty: nothing to plot")
    if (s < 0).any() or not np.isfinite(s.to_numpy()).all():
        raise ValueError("counts must be finite and >= 0")
    s.index = s.index.astype(str)
    return s


def plot_label_frequencies(counts, *, sort: bool = True, log: bool = False, title: str | None = None,
                           figsize: tuple[float, float] | None = None) -> Figure:
    """How many ECGs carry each label, one horizontal bar per label coloured by branch (spec §1.4).

    Parameters
    ----------
    counts : dict, Series or DataFrame
        Count per SCP code (``{code: n}``, a Series indexed by code, or a DataFrame with columns
        ``label`` and ``count``).
    sort : bool
        Most frequent label on top; input order otherwise.
    log : bool
        Logarithmic count axis (PTB-XL's labels span four orders of magnitude).

    Returns
    -------
    Figure
        One Axes, bars (gid ``"label-bar"``) coloured by :data:`protoecg_lib.labels.BRANCH_OF`.
    """
    s = _counts(counts)
    if sort:
        s = s.sort_values(ascending=False, kind="stable")
    n = len(s)
    with house_style() as style:
        fig = new_figure(figsize or (6.0, 0.17 * n + 1.2), style)
        ax = fig.add_subplot()
        branches = [BRANCH_OF.get(code, "other") for code in s.index]
        colors = [style.branch_color(b) for b in branches]
        bars = ax.barh(np.arange(n), s.to_numpy(), color=colors, height=0.8)
        for bar in bars:
            bar.set_gid("label-bar")
        for i, v in enumerate(s.to_numpy()):
            if log and v <= 0:
                continue
            ax.text(v, i, f" {int(v)}", va="center", fontsize=_tick_fontsize(n) - 1, color="0.3")
        ax.set_yticks(np.arange(n), list(s.index), fontsize=_tick_fontsize(n))
        ax.set_ylim(n - 0.5, -0.5)
        if log:
            ax.set_xscale("log")
        ax.set_xlabel("ECGs with the label" + (" (log scale)" if log else ""))
        present = [b for b in (*BRANCHES, "other") if b in branches]
        ax.legend(handles=[Patch(color=style.branch_color(b), label=b) for b in present], loc="lower right")
        if title:
            ax.set_title(title, loc="left")
        fig.tight_layout()
    return fig
