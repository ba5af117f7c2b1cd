"""The result of a case-based explanation (method §7): what each prototype adds to each label's logit.

:class:`Explanation` (one ECG) holds a :class:`LabelExplanation` per explained label, which lists
:class:`PrototypeEvidence` entries: the label's own prototypes, what argues against it, and the
strongest contributions of any class. Computed by :func:`protoecg_lib.evaluation.explain.explain_ecg`.

Prototype kinds (how a prototype is drawn, method §5 and §7.3):

``global-1d``  rhythm branch: the whole record through all leads; shaded on the rhythm strip.
``local-2d``   morphology branch: a time window (0.93 s for T=3 at 100 Hz) on all 12 leads.
``global-2d``  global branch: the whole record ("whole record", no shading).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Mapping

import numpy as np

__all__ = ["PROTOTYPE_KINDS", "prototype_kind", "PrototypeEvidence", "LabelExplanation", "Explanation"]


#: How each kind of prototype is shown (method §5, §7.3).
PROTOTYPE_KINDS = {
    "global-1d": "rhythm prototype: the whole record (shaded on the rhythm strip)",
    "local-2d": "time-localised prototype: one window on all 12 leads",
    "global-2d": "global prototype: the whole record",
}


def prototype_kind(branch) -> str:
    """``'global-1d'``, ``'local-2d'`` or ``'global-2d'`` for a :class:`~protoecg_lib.models.ProtoBranch`."""
    cfg = branch.config
    if cfg.backbone == "1d":
        return "global-1d"
    return "global-2d" if cfg.is_global else "local-2d"


@dataclass
class PrototypeEvidence:
    """One prototype's part in one label's logit.

    Attributes
    ----------
    index : int
        Column of the prototype in the concatenated fusion features (rhythm, morphology, global).
    branch : str
    prototype : int
        Index within its branch (the ``index`` of ``<branch>/prototypes.json``).
    label : str
        The prototype's own class.
    kind : str
        See :data:`PROTOTYPE_KINDS`.
    similarity : float
        Pooled similarity the fusion head reads (window mean for 2D partial prototypes, method §2.2).
    weight : float
        Fusion weight ``W[c, index]`` to the explained label ``c``.
    contribution : float
        ``weight * similarity``: what the prototype adds to the label's logit.
    rank_by_contribution : int
        1-based rank in the list this entry belongs to (highest contribution first among the
        label's prototypes; most negative first in the "against" list; most positive first in
        the "strongest" list).
    rank_by_similarity : int
        1-based rank by ``similarity`` among the prototypes of its own class (method §7.2's ranking).
    match_window, match_start, match_length, match_similarity
        Best-matching window in the explained ECG (arg-max window index, its span in samples and
        its window similarity). Global prototypes match the whole record (window 0).
    source_ecg_id, source_labels, source_start, source_length, source_fs
        Provenance of the prototype (method §5): the training ECG and the sample span it was
        projected onto (None when it was not projected).
    projected : bool
    duplicate_of : int or None
        An earlier prototype of the branch projected onto the same window.
    highlights : dict or None
        Time-localised prototypes the explanation shows: ``{"window": ..., "<method>": ...}``, the
        nominal window (not an attribution) and the faithful highlight of the match's window
        similarity, each labelled (:meth:`~protoecg_lib.evaluation.highlights.SimilarityHighlight.to_json`).
    evidence_check : dict or None
        Whether the shaded window holds the evidence
        (:func:`~protoecg_lib.evaluation.evidence_check.check_evidence`): ``holds``, ``basis``, ``why``.
    """

    index: int
    branch: str
    prototype: int
    label: str
    kind: str
    similarity: float
    weight: float
    contribution: float
    rank_by_contribution: int
    rank_by_similarity: int
    match_window: int
    match_start: int
    match_length: int
    match_similarity: float
    source_ecg_id: int | None
    source_labels: list[str] | None
    source_start: int | None
    source_length: int | None
    source_fs: float | None
    projected: bool
    duplicate_of: int | None = None
    highlights: dict | None = None
    evidence_check: dict | None = None

    def describe(self) -> str:
        """One line for a text report."""
        src = (f"source ECG {self.source_ecg_id} ({' '.join(self.source_labels or [])})"
               if self.projected else "not projected")
        where = ("whole record" if self.kind != "local-2d" else
                 f"window {self.match_window} (samples {self.match_start}-{self.match_start + self.match_length})")
        check = ""
        if self.evidence_check:
            c = self.evidence_check
            verdict = {True: "holds", False: "does NOT hold", None: "cannot be checked"}[c.get("holds")]
            check = f"; evidence check ({c.get('basis')}): {verdict}: {c.get('why')}"
        return (f"#{self.rank_by_contribution} {self.branch} prototype {self.prototype} [{self.label}]: "
                f"similarity {self.similarity:.3f} (rank {self.rank_by_similarity} in its class), weight "
                f"{self.weight:+.3f} -> contribution {self.contribution:+.3f}; best match {where}, "
                f"{self.match_similarity:.3f}; {src}{check}")


@dataclass
class LabelExplanation:
    """Why the fused model gives label ``label`` its logit.

    ``bias + sum(branch_totals.values()) == logit`` (up to float rounding): the branch totals sum
    the contributions of *all* prototypes, of every class. ``own_class_total`` is the part due to
    the label's own prototypes; with the default unmasked fusion head (method §6) the rest -- many
    small contributions of other classes' prototypes -- can dominate, which ``strongest`` (the
    largest positive contributions from any prototype) makes visible.

    Attributes
    ----------
    prototypes : list of PrototypeEvidence
        The label's own prototypes with the largest contributions (at most ``top_k``).
    against : list of PrototypeEvidence
        The most negative contributions, from any prototype (at most ``top_k``).
    strongest : list of PrototypeEvidence
        The largest positive contributions, from any prototype (at most ``top_k``).
    """

    label: str
    branch: str
    probability: float
    logit: float
    bias: float
    predicted: bool
    true: bool | None
    branch_totals: dict[str, float]
    own_class_total: float
    prototypes: list[PrototypeEvidence]
    against: list[PrototypeEvidence]
    strongest: list[PrototypeEvidence]

    @property
    def total_contribution(self) -> float:
        """Sum of all prototypes' contributions (``logit - bias``)."""
        return float(sum(self.branch_totals.values()))

    def listed(self, which: str = "for") -> list[PrototypeEvidence]:
        """One of the three lists: ``'for'`` (own-class prototypes), ``'against'`` (most negative
        contributions) or ``'strongest'`` (largest positive contributions, any class)."""
        lists = {"for": self.prototypes, "against": self.against, "strongest": self.strongest}
        if which not in lists:
            raise ValueError(f"which must be one of {sorted(lists)}; got {which!r}")
        return lists[which]


@dataclass
class Explanation:
    """A case-based explanation of one ECG (method §7). JSON-able with :meth:`to_dict`.

    Attributes
    ----------
    ecg_id : int or None
    fs : float
        Sampling rate of ``signals``.
    num_samples : int
    true_labels : list of str or None
    threshold : float
        Probability at or above which a label counts as predicted (method §7.1: 0.5).
    top_k : int
    probabilities : dict
        Fused probability of all 71 labels.
    predicted : list of str
        Labels at or above the threshold, most probable first.
    labels : list of LabelExplanation
        The explained labels: the predicted ones, or the top-scoring ones when none is predicted.
    fallback : bool
        True when no label passed the threshold and the top-scoring labels are explained instead.
    note : str
        Says what was explained and why.
    split : str or None
        The split the ECG belongs to, when known.
    signals : ndarray, shape (12, T)
        The explained ECG (not in :meth:`to_dict`).
    sources : dict ecg_id -> ndarray (12, T_src)
        Prototype source ECGs for figures (not in :meth:`to_dict`); see :meth:`attach_sources`.
    source_fs : float or None
        Sampling rate of ``sources`` (default ``fs``).
    operating_point : str or None
        How labels were listed when a calibration chose them (probabilities are then calibrated and
        ``threshold`` is not used); None for ``probability >= threshold``.
    record : str or None
        The name of a record read from a file (:func:`~protoecg_lib.evaluation.external.explain_record`),
        which has no ``ecg_id``.
    notes : list of str
        What was done to such a record before the model saw it (resampled, cropped, units converted).
    """

    ecg_id: int | None
    fs: float
    num_samples: int
    true_labels: list[str] | None
    threshold: float
    top_k: int
    probabilities: dict[str, float]
    predicted: list[str]
    labels: list[LabelExplanation]
    fallback: bool
    note: str
    split: str | None = None
    signals: np.ndarray | None = field(default=None, repr=False)
    sources: dict[int, np.ndarray] = field(default_factory=dict, repr=False)
    source_fs: float | None = None
    operating_point: str | None = None
    record: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        """``'ECG 123'`` for a PTB-XL record, ``'record NAME'`` for one read from a file."""
        return f"record {self.record}" if self.record is not None else f"ECG {self.ecg_id}"

    def label(self, code: str) -> LabelExplanation:
        """The explanation of one explained label."""
        for entry in self.labels:
            if entry.label == code:
                return entry
        raise KeyError(f"label {code!r} is not explained for {self.name}; explained: "
                       f"{[e.label for e in self.labels]}")

    def source_ecg_ids(self) -> list[int]:
        """Distinct source ECGs of every listed prototype (for, against, strongest)."""
        ids = []
        for entry in self.labels:
            for ev in entry.prototypes + entry.against + entry.strongest:
                if ev.source_ecg_id is not None and ev.source_ecg_id not in ids:
                    ids.append(ev.source_ecg_id)
        return ids

    def attach_sources(self, get_signals: Callable[[int], np.ndarray] | Mapping[int, np.ndarray],
                       fs: float | None = None) -> "Explanation":
        """Load the source ECGs of the listed prototypes (for figures); missing ones are skipped."""
        for ecg_id in self.source_ecg_ids():
            try:
                x = get_signals[ecg_id] if isinstance(get_signals, Mapping) else get_signals(ecg_id)
            except KeyError:
                continue
            self.sources[int(ecg_id)] = np.asarray(x, dtype=np.float32)
        self.source_fs = float(fs) if fs is not None else self.fs
        return self

    def to_dict(self) -> dict:
        """Everything but the signals, as plain JSON types."""
        d = {k: v for k, v in asdict(self).items() if k not in ("signals", "sources", "source_fs")}
        for entry in d["labels"]:
            entry["total_contribution"] = float(sum(entry["branch_totals"].values()))
        return json.loads(json.dumps(d, default=_plain))

    def to_json(self, path: str | Path | None = None) -> str:
        text = json.dumps(self.to_dict(), indent=1)
        if path is not None:
            from ..files import atomic_write_text

            atomic_write_text(path, text)
        return text

    def summary(self) -> str:
        """A readable text report."""
        head = self.name + (f" ({self.split} fold)" if self.split else "")
        lines = [head + (f", true labels: {', '.join(self.true_labels) or '(none)'}" if self.true_labels is not None
                         else "")]
        lines += [f"  note: {n}" for n in self.notes]
        if self.predicted:
            how = self.operating_point or "fused probability >= {:g}".format(self.threshold)
            lines.append(f"predicted ({how}): " + ", ".join(f"{c} {self.probabilities[c]:.2f}" for c in self.predicted))
        lines.append(self.note)
        for e in self.labels:
            truth = "" if e.true is None else (" [true]" if e.true else " [not in the labels]")
            parts = " + ".join(f"{b} {v:+.2f}" for b, v in e.branch_totals.items())
            lines.append(f"\n{e.label} ({e.branch} label){truth}: p = {e.probability:.3f}, logit {e.logit:+.2f} = "
                         f"bias {e.bias:+.2f} + {parts}")
            lines.append("  for:")
            lines += [f"    {p.describe()}" for p in e.prototypes] or ["    (no prototype of this class)"]
            lines.append(f"  own-class prototypes add {e.own_class_total:+.2f} of the {e.logit - e.bias:+.2f} "
                         "from prototypes")
            lines.append("  against:")
            lines += [f"    {p.describe()}" for p in e.against] or ["    (no negative contribution)"]
            lines.append("  strongest positive contributions, any class:")
            lines += [f"    {p.describe()}" for p in e.strongest] or ["    (no positive contribution)"]
        return "\n".join(lines)


def _plain(x):
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (np.floating,)):
        return float(x)
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, Path):
        return str(x)
    raise TypeError(f"not JSON-able: {type(x).__name__}")
