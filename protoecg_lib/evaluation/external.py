"""Explain and predict ECGs that are not in the run's data: records read from WFDB files (method §7).

:func:`read_record_for_run` reads any 12-lead WFDB record (``.dat`` or ``.mat`` signal, any rate,
any lead order; see :mod:`protoecg_lib.data.external` for the policy) and preprocesses it as the
run's training data were (the same rate, the same high-pass, the run's standardiser when it used
one). :func:`explain_record` then explains it like any ECG of the run, with the prototype figures
drawn from the run's own training ECGs, and :func:`predict_records` gives the label probabilities
of several records through :func:`protoecg_lib.runs.probabilities`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import torch

from ..data.external import ExternalRecord, read_external_record
from ..data.sanity import check_ecg_input
from ..labels import BRANCHES
from ..runs.probabilities import listed, probabilities
from .explain import explain_ecg
from .explanation import Explanation

__all__ = ["run_sampling_rate", "read_record_for_run", "explain_record", "predict_records"]


def _open(run):
    from ..runs.run import Run

    return run if isinstance(run, Run) else Run(run)


def run_sampling_rate(run) -> tuple[int, bool, bool]:
    """``(fs, highpass, standardize)`` of the data a run was trained on (``config.json``)."""
    data = _open(run).config.get("data", {})
    options = data.get("options") or {}
    fs = data.get("fs") or options.get("target_rate") or options.get("sampling_rate") or 100
    return int(fs), bool(options.get("highpass", True)), bool(options.get("standardize", False))


def read_record_for_run(run, path: str | Path, data=None) -> ExternalRecord:
    """One WFDB record, read and preprocessed as ``run``'s training data: ``signals (12, 10 s * fs)`` in mV.

    ``data`` (the run's loaded data) is needed only when the run standardised its signals (the
    per-lead statistics of its training split); it is loaded when not given.
    """
    run = _open(run)
    fs, hp, standardize = run_sampling_rate(run)
    record = read_external_record(path, fs=fs, highpass=hp)
    if standardize:
        data = data if data is not None else run.load_data()
        record.signals = data.standardizer.transform(record.signals[None])[0]
        record.notes.append("standardised with the run's training statistics")
    return record


def _training_data(run, data):
    """The run's data for the prototypes' source ECGs; a clear error when it cannot be found."""
    if data is not None:
        return data
    try:
        return run.load_data()
    except FileNotFoundError as exc:
        raise FileNotFoundError(f"{exc}. The prototype figures show the run's training ECGs, so they need that root "
                                "(protoecg explain --data-root ROOT)") from None


def explain_record(run, path: str | Path, *, data=None, model=None, sources=None, top_k: int = 3,
                   threshold: float = 0.5, num_fallback: int = 3, max_labels: int | None = None,
                   labels: Sequence[str] | None = None, highlight: str | None = "ig") -> Explanation:
    """Explain one WFDB record with the run's fused model; prototype sources from the run's training data.

    Parameters
    ----------
    run : Run or path
        A finished pipeline run.
    path : path
        The record (``RECORD.hea``; its ``.dat`` or ``.mat`` signal beside it).
    data : PTBXL, optional
        The run's training data (default: :meth:`Run.load_data`), for the prototypes' source ECGs.
    model, sources, top_k, threshold, num_fallback, max_labels, labels, highlight
        See :func:`~protoecg_lib.evaluation.explain.explain_ecg` (a record from a file has no
        ground-truth evidence, so its highlights come without an evidence check).

    Returns
    -------
    Explanation
        ``record`` holds the record's name and ``notes`` what was done to it (resampled, cropped...);
        the source ECGs of the listed prototypes are attached, so figures can be drawn.
    """
    run = _open(run)
    data = _training_data(run, data)
    record = read_record_for_run(run, path, data=data)
    model = model if model is not None else run.load_model()
    sources = sources if sources is not None else run.all_prototype_sources()
    expl = explain_ecg(model, record.signals, sources, fs=record.fs, top_k=top_k, threshold=threshold,
                       num_fallback=num_fallback, max_labels=max_labels, labels=labels, highlight=highlight,
                       standardized=data.standardizer is not None, run=run)
    expl.record, expl.notes = record.name, list(record.notes)
    return expl.attach_sources(data.signal, fs=data.fs)


@torch.no_grad()
def predict_records(run, paths: Sequence[str | Path], *, model=None) -> pd.DataFrame:
    """Label probabilities of WFDB records: one row per record (index: the record's path), one column per label.

    Probabilities come from :func:`protoecg_lib.runs.probabilities` (the run's calibration when it has
    one). ``frame.attrs["notes"]`` maps each record to what was done to it; for a calibrated run
    ``frame.attrs["listed"]`` maps it to the labels the calibration's operating point lists.
    """
    run = _open(run)
    if not paths:
        raise ValueError("pass one or more records (PATH.hea)")
    model = model if model is not None else run.load_model()
    model.eval()
    device = next(model.parameters()).device
    rows, notes, logits = [], {}, []
    fs, _, standardize = run_sampling_rate(run)
    num_samples = {b.config.num_samples for b in model.branches.values()}
    for path in paths:
        record = read_record_for_run(run, path)
        x = check_ecg_input(record.signals, fs, expected_fs=fs, num_samples=num_samples.pop() if len(num_samples) == 1
                            else None, check_units=not standardize, where=str(path))   # what explain_ecg checks too
        out = model(torch.from_numpy(x)[None].to(device))
        logits.append(out.logits[0].float().cpu().numpy())
        rows.append(str(path))
        notes[str(path)] = list(record.notes)
    probs = probabilities(run, np.stack(logits))
    frame = pd.DataFrame(probs, index=pd.Index(rows, name="record"), columns=list(model.labels))
    frame.attrs["notes"] = notes
    if run.calibration() is not None:      # the labels the run's calibrated operating point lists, most probable first
        chosen = listed(run, np.stack(logits))
        frame.attrs["listed"] = {r: [c for c in frame.loc[r].sort_values(ascending=False).index
                                     if chosen[i, list(model.labels).index(c)]] for i, r in enumerate(rows)}
    frame.attrs["branches"] = {b: list(model.branches[b].labels) for b in BRANCHES}
    return frame
