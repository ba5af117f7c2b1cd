"""Typed records a run directory holds: prototype sources and per-ECG predictions.

* :class:`PrototypeSource`: where one prototype was projected (method §5): the training ECG, the window
  and its sample span, the similarity, or why it could not be projected. ``RUN/<branch>/prototypes.json``
  is a JSON list of them, in prototype order.
* :class:`Predictions`: one model's scores on one split, as ``RUN/predictions/<split>[_<who>].csv``:
  ``ecg_id, patient_id``, then ``true_<code>``, ``prob_<code>`` and ``logit_<code>`` per label.
"""
from __future__ import annotations

import io
import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from ..files import atomic_write, atomic_write_text

__all__ = ["PrototypeSource", "save_prototype_sources", "load_prototype_sources", "source_summary",
           "Predictions", "write_predictions", "read_predictions"]


# --------------------------------------------------------------------------- prototype sources
@dataclass(frozen=True)
class PrototypeSource:
    """Where one prototype comes from (method §5; DEVELOPING.md "Prototype sources").

    Attributes
    ----------
    index : int
        The prototype's index in its branch.
    branch : str
    label : str
        The prototype's class (an SCP code of the branch's label set).
    class_index : int
        Column of ``label`` in the branch's label set.
    projected : bool
        False when the class has no training positive (the prototype keeps its learned value).
    reason : str or None
        Why it was not projected.
    ecg_id : int or None
        The training ECG it was projected onto.
    source_labels : tuple of str or None
        All SCP codes of that ECG.
    window_index : int or None
        Latent window of the best match (0 for global prototypes).
    start_sample, length_samples : int or None
        The window's span at ``sampling_rate`` (the nominal span, method §5).
    sampling_rate : int
    similarity : float or None
        The winning similarity during projection.
    duplicate_of : int or None
        An earlier prototype of the branch projected onto the same ECG window.
    beat_timing : dict or None
        For a rhythm branch with beat timing (``BranchConfig.beat_timing='rr'``): the source ECG's
        R peaks and RR intervals (:meth:`protoecg_lib.data.rr.BeatTiming.to_dict`: ``lead``,
        ``peak_times_s``, ``rr_s``, ``features``), the beat-to-beat pattern the prototype carries.
    """

    index: int
    branch: str
    label: str
    class_index: int
    projected: bool
    reason: str | None = None
    ecg_id: int | None = None
    source_labels: tuple[str, ...] | None = None
    window_index: int | None = None
    start_sample: int | None = None
    length_samples: int | None = None
    sampling_rate: int = 100
    similarity: float | None = None
    duplicate_of: int | None = None
    beat_timing: dict | None = None

    def to_dict(self) -> dict:
        d = asdict(self)
        d["source_labels"] = None if self.source_labels is None else list(self.source_labels)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "PrototypeSource":
        d = dict(d)
        if "class" in d and "label" not in d:  # files written before 0.2 called it "class"
            d["label"] = d.pop("class")
        known = {f.name for f in fields(cls)}
        d = {k: v for k, v in d.items() if k in known}
        if d.get("source_labels") is not None:
            d["source_labels"] = tuple(d["source_labels"])
        return cls(**d)

    @property
    def seconds(self) -> tuple[float, float] | None:
        """The source window as ``(start, end)`` in seconds (None when not projected)."""
        if not self.projected or self.start_sample is None:
            return None
        return self.start_sample / self.sampling_rate, (self.start_sample + self.length_samples) / self.sampling_rate


def save_prototype_sources(sources: Sequence[PrototypeSource], path: str | Path) -> Path:
    """Write prototype sources as a JSON list (one object per prototype, in prototype order)."""
    return atomic_write_text(path, json.dumps([s.to_dict() for s in sources], indent=1))


def load_prototype_sources(path: str | Path) -> list[PrototypeSource]:
    """Read ``prototypes.json`` and check it lists prototypes 0..P-1 in order."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: the branch has not been projected yet (run the projection "
                                "stage: `protoecg pipeline` or `protoecg train --stage projection`)")
    data = json.loads(path.read_text())
    required = {"index", "branch", "projected", "ecg_id", "window_index", "start_sample", "length_samples"}
    if not isinstance(data, list) or any(not required <= set(d) or not ({"label", "class"} & set(d)) for d in data):
        raise ValueError(f"{path}: not a prototype sources file (a list of objects with {sorted(required)} "
                         "and a label)")
    sources = [PrototypeSource.from_dict(d) for d in data]
    if [s.index for s in sources] != list(range(len(sources))):
        raise ValueError(f"{path}: prototype indices are not 0..{len(sources) - 1} in order")
    return sources


def source_summary(sources: Iterable[PrototypeSource]) -> dict:
    """Counts for a report: projected, not projected (and why), duplicates, mean similarity per class."""
    sources = list(sources)
    proj = [p for p in sources if p.projected]
    dups = [p for p in proj if p.duplicate_of is not None]
    per_class: dict[str, list[float]] = {}
    for p in proj:
        per_class.setdefault(p.label, []).append(p.similarity)
    return {
        "prototypes": len(sources),
        "projected": len(proj),
        "not_projected": len(sources) - len(proj),
        "classes_without_training_positive": sorted({p.label for p in sources if not p.projected}),
        "duplicates": len(dups),
        "duplicate_pairs": [(p.duplicate_of, p.index) for p in dups],
        "distinct_source_ecgs": len({p.ecg_id for p in proj}),
        "mean_similarity": float(np.mean([p.similarity for p in proj])) if proj else None,
        "mean_similarity_per_class": {c: float(np.mean(v)) for c, v in per_class.items()},
    }


# --------------------------------------------------------------------------- predictions
@dataclass(frozen=True)
class Predictions:
    """Per-ECG predictions of one model on one split, as saved in ``RUN/predictions/``."""

    ecg_id: np.ndarray       # (N,)
    patient_id: np.ndarray   # (N,)
    labels: tuple[str, ...]  # (C,)
    y_true: np.ndarray       # (N, C) float32
    y_prob: np.ndarray       # (N, C) float64
    y_logit: np.ndarray | None = None   # (N, C) float64 when the file has logit_<code> columns

    @property
    def scores(self) -> np.ndarray:
        """What rank-based metrics should use: logits when present (no saturation ties), else probabilities."""
        return self.y_logit if self.y_logit is not None else self.y_prob

    def subset(self, codes: Sequence[str]) -> "Predictions":
        """The same predictions restricted to some label columns."""
        idx = [self.labels.index(c) for c in codes]
        return Predictions(self.ecg_id, self.patient_id, tuple(codes), self.y_true[:, idx], self.y_prob[:, idx],
                           None if self.y_logit is None else self.y_logit[:, idx])


def write_predictions(path: str | Path, ecg_id, patient_id, labels, y_true, y_logit, y_prob=None) -> Path:
    """Write per-record predictions: ``ecg_id, patient_id``, then ``true_<code>``, ``prob_<code>`` and
    ``logit_<code>`` per label (the logits keep the ranking where probabilities saturate).

    ``y_prob`` defaults to ``sigmoid(y_logit)``; pass calibrated probabilities to store those instead.
    """
    from ..evaluation.auroc import sigmoid

    y_logit = np.asarray(y_logit, dtype=np.float64)
    y_prob = sigmoid(y_logit) if y_prob is None else np.asarray(y_prob, dtype=np.float64)
    df = pd.DataFrame({"ecg_id": np.asarray(ecg_id), "patient_id": np.asarray(patient_id)})
    true = pd.DataFrame(np.asarray(y_true).astype(int), columns=[f"true_{c}" for c in labels])
    prob = pd.DataFrame(y_prob, columns=[f"prob_{c}" for c in labels])
    logit = pd.DataFrame(y_logit, columns=[f"logit_{c}" for c in labels])
    buf = io.StringIO()
    pd.concat([df, true, prob, logit], axis=1).to_csv(buf, index=False, float_format="%.8g")
    return atomic_write(path, buf.getvalue().encode("utf-8"))


def read_predictions(path: str | Path) -> Predictions:
    """Read a predictions CSV: ``ecg_id, patient_id``, then ``true_<code>`` and ``prob_<code>`` per label
    (and ``logit_<code>`` when the writer stored them).

    Raises a ValueError naming the file when a column is missing or unpaired.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"predictions file {path} not found; run `protoecg pipeline` (or "
                                "`protoecg train`) on this run first")
    frame = pd.read_csv(path)
    missing = [c for c in ("ecg_id", "patient_id") if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; expected ecg_id, patient_id, true_<code>, prob_<code>")
    labels = tuple(c[len("true_"):] for c in frame.columns if c.startswith("true_"))
    unpaired = [c for c in labels if f"prob_{c}" not in frame.columns]
    unpaired += [c[len("prob_"):] for c in frame.columns
                 if c.startswith("prob_") and c[len("prob_"):] not in labels]
    if not labels or unpaired:
        raise ValueError(f"{path}: every label needs a true_<code> and a prob_<code> column "
                         f"(unpaired: {unpaired or 'no true_ columns'})")
    y_true = frame[[f"true_{c}" for c in labels]].to_numpy(np.float32)
    y_prob = frame[[f"prob_{c}" for c in labels]].to_numpy(np.float64)
    logit_cols = [f"logit_{c}" for c in labels]
    y_logit = frame[logit_cols].to_numpy(np.float64) if all(c in frame.columns for c in logit_cols) else None
    return Predictions(frame["ecg_id"].to_numpy(), frame["patient_id"].to_numpy(), labels, y_true, y_prob, y_logit)
