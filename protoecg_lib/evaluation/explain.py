"""Case-based explanation of one ECG (spec §7): predictions, prototypes, contributions, windows.

For one ECG the fused model (spec §6) gives 71 logits ``z = W s + b`` over the concatenated
pooled prototype similarities ``s`` (rhythm, morphology, global). Every prototype ``j`` therefore
adds exactly ``W[c, j] * s[j]`` to the logit of label ``c``: its **contribution**. The explanation
of a predicted label lists

* the top-k prototypes *of that label's class*, ranked by contribution (spec §7.2 ranks by
  similarity only; both ranks are given), each with its branch, similarity, fusion weight, the
  source training ECG it was projected onto (ecg_id, SCP codes, sample span, spec §5) and, for
  time-localised prototypes, the best-matching window in the ECG being explained (arg-max of the
  window similarity mapped to samples with ``window_to_samples``, spec §5/§7.2);
* "what argues against": the most negative contributions to that logit, from any prototype, and
  the mirror list ``strongest``: the largest positive contributions from any prototype (with the
  default unmasked fusion head, other classes' prototypes can carry most of a logit);
* the logit split into bias + per-branch sums (all contributions plus the bias give the logit).

Prototype kinds (how a prototype is drawn, spec §5 and §7.3):

``global-1d``  rhythm branch: the whole record through all leads; shaded on the rhythm strip.
``local-2d``   morphology branch: a time window (0.93 s for T=3 at 100 Hz) on all 12 leads.
``global-2d``  global branch: the whole record ("whole record", no shading).
"""
from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np
import torch
from matplotlib.figure import Figure

from ..labels import BRANCHES, branch_of

__all__ = [
    "PROTOTYPE_KINDS", "PrototypeEvidence", "LabelExplanation", "Explanation", "explain_ecg", "explain_run_ecg",
    "load_run_data", "prototype_kind", "prototype_highlights", "explanation_figure", "prototype_figure",
    "save_explanation", "check_provenance",
]

#: How each kind of prototype is shown (spec §5, §7.3).
PROTOTYPE_KINDS = {
    "global-1d": "rhythm prototype: the whole record (shaded on the rhythm strip)",
    "local-2d": "time-localised prototype: one window on all 12 leads",
    "global-2d": "global prototype: the whole record",
}
_WINDOW_COLOR = "#0072B2"   # house palette blue
_AGAINST_COLOR = "#D55E00"  # house palette vermillion


def prototype_kind(branch) -> str:
    """``'global-1d'``, ``'local-2d'`` or ``'global-2d'`` for a :class:`~protoecg_lib.models.ProtoBranch`."""
    cfg = branch.config
    if cfg.backbone == "1d":
        return "global-1d"
    return "global-2d" if cfg.is_global else "local-2d"


# --------------------------------------------------------------------------- the result
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
        Pooled similarity the fusion head reads (window mean for 2D partial prototypes, spec §2.2).
    weight : float
        Fusion weight ``W[c, index]`` to the explained label ``c``.
    contribution : float
        ``weight * similarity``: what the prototype adds to the label's logit.
    rank_by_contribution : int
        1-based rank in the list this entry belongs to (highest contribution first among the
        label's prototypes; most negative first in the "against" list; most positive first in
        the "strongest" list).
    rank_by_similarity : int
        1-based rank by ``similarity`` among the prototypes of its own class (spec §7.2's ranking).
    match_window, match_start, match_length, match_similarity
        Best-matching window in the explained ECG (arg-max window index, its span in samples and
        its window similarity). Global prototypes match the whole record (window 0).
    source_ecg_id, source_labels, source_start, source_length, source_fs
        Provenance of the prototype (spec §5): the training ECG and the sample span it was
        projected onto (None when it was not projected).
    projected : bool
    duplicate_of : int or None
        An earlier prototype of the branch projected onto the same window.
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

    def describe(self) -> str:
        """One line for a text report."""
        src = (f"source ECG {self.source_ecg_id} ({' '.join(self.source_labels or [])})"
               if self.projected else "not projected")
        where = ("whole record" if self.kind != "local-2d" else
                 f"window {self.match_window} (samples {self.match_start}-{self.match_start + self.match_length})")
        return (f"#{self.rank_by_contribution} {self.branch} prototype {self.prototype} [{self.label}]: "
                f"similarity {self.similarity:.3f} (rank {self.rank_by_similarity} in its class), weight "
                f"{self.weight:+.3f} -> contribution {self.contribution:+.3f}; best match {where}, "
                f"{self.match_similarity:.3f}; {src}")


@dataclass
class LabelExplanation:
    """Why the fused model gives label ``label`` its logit.

    ``bias + sum(branch_totals.values()) == logit`` (up to float rounding): the branch totals sum
    the contributions of *all* prototypes, of every class. ``own_class_total`` is the part due to
    the label's own prototypes; with the default unmasked fusion head (spec §6) the rest -- many
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
    """A case-based explanation of one ECG (spec §7). JSON-able with :meth:`to_dict`.

    Attributes
    ----------
    ecg_id : int or None
    fs : float
        Sampling rate of ``signals``.
    num_samples : int
    true_labels : list of str or None
    threshold : float
        Probability at or above which a label counts as predicted (spec §7.1: 0.5).
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

    def label(self, code: str) -> LabelExplanation:
        """The explanation of one explained label."""
        for entry in self.labels:
            if entry.label == code:
                return entry
        raise KeyError(f"label {code!r} is not explained for ECG {self.ecg_id}; explained: "
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
            Path(path).write_text(text)
        return text

    def summary(self) -> str:
        """A readable text report."""
        head = f"ECG {self.ecg_id}" + (f" ({self.split} fold)" if self.split else "")
        lines = [head + (f", true labels: {', '.join(self.true_labels) or '(none)'}" if self.true_labels is not None
                         else "")]
        if self.predicted:
            lines.append("predicted (fused probability >= {:g}): ".format(self.threshold)
                         + ", ".join(f"{c} {self.probabilities[c]:.2f}" for c in self.predicted))
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


# --------------------------------------------------------------------------- computing it
def check_provenance(model, provenance: Mapping[str, Sequence[Mapping]]) -> dict[str, list[dict]]:
    """Check that ``provenance[branch]`` has one entry per prototype of each of the model's branches."""
    if not isinstance(provenance, Mapping):
        raise TypeError("provenance must be a dict branch -> list of prototype records "
                        f"(Run.provenance(branch) for each branch); got {type(provenance).__name__}")
    out = {}
    for name in BRANCHES:
        if name not in provenance:
            raise ValueError(f"provenance has no {name!r} entry; pass {{b: run.provenance(b) for b in BRANCHES}}")
        records = list(provenance[name])
        expected = model.branches[name].num_prototypes
        if len(records) != expected:
            raise ValueError(f"the {name} provenance lists {len(records)} prototypes but the model's {name} branch "
                             f"has {expected}; the provenance and the model come from different runs")
        for j, rec in enumerate(records):
            if rec.get("index", j) != j:
                raise ValueError(f"{name} provenance entry {j} has index {rec.get('index')}; entries must be in "
                                 "prototype order (DEVELOPING.md)")
        out[name] = records
    return out


def _as_signals(signals) -> torch.Tensor:
    x = signals.detach().cpu() if isinstance(signals, torch.Tensor) else torch.from_numpy(
        np.array(signals, dtype=np.float32))
    if x.ndim != 2 or x.shape[0] != 12:
        hint = " (that is a batch: pass one ECG, signals[i])" if x.ndim == 3 else ""
        hint = hint or (" (it looks like (T, 12): pass signals.T)" if x.ndim == 2 and x.shape[1] == 12 else "")
        raise ValueError(f"signals must be one ECG of shape (12, T) in mV; got shape {tuple(x.shape)}{hint}")
    if not torch.isfinite(x).all():
        raise ValueError("signals hold NaN/inf values; clean the record before explaining it")
    return x.float()


def _prototype_table(model, outputs, provenance, num_samples: int) -> list[dict]:
    """Per concatenated prototype: branch, local index, class, kind, best window and provenance."""
    rows = []
    for name in BRANCHES:
        branch = model.branches[name]
        kind = prototype_kind(branch)
        ws = outputs.branches[name].window_similarity[0].float()               # (P, W)
        best_sim, best_w = ws.max(dim=1)                                        # (P,), (P,)
        classes = branch.prototype_class.tolist()
        for j in range(branch.num_prototypes):
            w = int(best_w[j])
            start, length = branch.window_to_samples(w, num_samples) if kind == "local-2d" else (0, num_samples)
            rec = provenance[name][j]
            projected = bool(rec.get("projected"))
            rows.append(dict(branch=name, prototype=j, label=branch.labels[classes[j]], kind=kind, match_window=w,
                             match_start=int(start), match_length=int(length), match_similarity=float(best_sim[j]),
                             projected=projected,
                             source_ecg_id=int(rec["ecg_id"]) if projected else None,
                             source_labels=list(rec.get("source_labels") or []) if projected else None,
                             source_start=rec.get("start_sample") if projected else None,
                             source_length=rec.get("length_samples") if projected else None,
                             source_fs=rec.get("sampling_rate") if projected else None,
                             duplicate_of=rec.get("duplicate_of")))
    return rows


@torch.no_grad()
def explain_ecg(model, signals, provenance: Mapping[str, Sequence[Mapping]], *, true_labels: Sequence[str] | None = None,
                ecg_id: int | None = None, fs: float = 100.0, top_k: int = 3, threshold: float = 0.5,
                num_fallback: int = 3, max_labels: int | None = None, split: str | None = None,
                labels: Sequence[str] | None = None) -> Explanation:
    """Explain the fused prediction for one ECG with prototypes (spec §7.1-7.2).

    Parameters
    ----------
    model : ProtoECGNet
        The fused model (``Run.load_model()``); put in eval mode.
    signals : array or Tensor, shape (12, T)
        One preprocessed ECG in mV (as the model was trained on).
    provenance : dict branch -> list of dict
        Prototype provenance of each branch (``{b: run.provenance(b) for b in BRANCHES}``).
    true_labels : sequence of str, optional
        The ECG's SCP codes (shown beside the predictions).
    ecg_id : int, optional
    fs : float
        Sampling rate of ``signals`` (for figures; windows are in samples).
    top_k : int
        Prototypes listed per label in each list (for, against, strongest).
    threshold : float
        A label is predicted when its fused probability is ``>= threshold`` (spec §7.1).
    num_fallback : int
        Labels explained (highest logits first) when no label passes the threshold.
    max_labels : int, optional
        Explain at most this many predicted labels (the most probable); all by default.
    split : str, optional
        Informative.
    labels : sequence of str, optional
        Explain exactly these labels, in this order, whether predicted or not (e.g. to read why a
        label was missed); default: the predicted labels.

    Returns
    -------
    Explanation
    """
    if not (hasattr(model, "branches") and hasattr(model, "fusion") and hasattr(model, "prototype_class")):
        raise TypeError(f"explain_ecg needs the fused ProtoECGNet (Run.load_model()); got {type(model).__name__}")
    if int(top_k) != top_k or top_k < 1:
        raise ValueError(f"top_k must be a positive integer; got {top_k!r}")
    if not 0.0 < float(threshold) < 1.0:
        raise ValueError(f"threshold must be a probability in (0, 1); got {threshold!r}")
    provenance = check_provenance(model, provenance)
    x = _as_signals(signals)                                                    # (12, T)
    num_samples = int(x.shape[1])
    model.eval()
    device = next(model.parameters()).device
    out = model(x[None].to(device))
    features = torch.cat([out.branches[n].similarity for n in BRANCHES], dim=1)[0].double().cpu()  # (sum P,)
    weight = model.fusion.weight.detach().double().cpu()                        # (71, sum P)
    bias = (model.fusion.bias.detach().double().cpu() if model.fusion.bias is not None
            else torch.zeros(weight.shape[0], dtype=torch.float64))             # (71,)
    logits = out.logits[0].double().cpu()                                       # (71,)
    probs = torch.sigmoid(logits)
    requested, labels = labels, tuple(model.labels)
    if requested is not None:
        requested = [str(c) for c in requested]
        unknown = [c for c in requested if c not in labels]
        if unknown or not requested:
            raise ValueError(f"labels {unknown or requested!r}: pass one or more of the model's {len(labels)} labels "
                             "(protoecg_lib.labels.label_set('all'))")
    proto_class = model.prototype_class.cpu()                                   # (sum P,) label column
    table = _prototype_table(model, out, provenance, num_samples)
    slices = model.feature_slices
    truth = None if true_labels is None else {str(c) for c in true_labels}

    predicted = [labels[i] for i in torch.argsort(-probs).tolist() if probs[i] >= threshold]
    if max_labels is not None and (int(max_labels) != max_labels or max_labels < 1):
        raise ValueError(f"max_labels must be a positive integer or None; got {max_labels!r}")
    if requested is not None:
        chosen, fallback = requested, False
        shown = ", ".join(f"{c} {'predicted' if probs[labels.index(c)] >= threshold else 'not predicted'}"
                          for c in requested)
        note = f"{len(predicted)} label(s) reach the threshold {threshold:g}; explained on request: {shown}."
    elif predicted:
        chosen, fallback = predicted[:max_labels], False
        note = f"{len(predicted)} label(s) reach the threshold {threshold:g}; " + (
            "each is explained below." if len(chosen) == len(predicted) else
            f"the {len(chosen)} most probable are explained below.")
    else:
        chosen = [labels[i] for i in torch.argsort(-logits)[:num_fallback].tolist()]
        fallback = True
        note = (f"No label reaches the threshold {threshold:g} (highest probability {float(probs.max()):.3f}); "
                f"the {len(chosen)} top-scoring labels are explained instead.")

    # rank by similarity within each class (1 = most similar)
    sim_rank = torch.empty(len(features), dtype=torch.long)
    for c in proto_class.unique().tolist():
        idx = torch.nonzero(proto_class == c).flatten()
        order = idx[torch.argsort(-features[idx], stable=True)]
        sim_rank[order] = torch.arange(1, len(order) + 1)

    def evidence(g: int, c: int, rank: int, contrib: torch.Tensor) -> PrototypeEvidence:
        return PrototypeEvidence(index=g, similarity=float(features[g]), weight=float(weight[c, g]),
                                 contribution=float(contrib[g]), rank_by_contribution=rank,
                                 rank_by_similarity=int(sim_rank[g]), **table[g])

    explained = []
    for code in chosen:
        c = labels.index(code)
        contrib = weight[c] * features                                          # (sum P,)
        own = torch.nonzero(proto_class == c).flatten()
        own = own[torch.argsort(-contrib[own], stable=True)][:top_k]
        neg = torch.argsort(contrib, stable=True)
        neg = neg[contrib[neg] < 0][:top_k]
        pos = torch.argsort(-contrib, stable=True)
        pos = pos[contrib[pos] > 0][:top_k]
        explained.append(LabelExplanation(
            label=code, branch=branch_of(code), probability=float(probs[c]), logit=float(logits[c]),
            bias=float(bias[c]), predicted=bool(probs[c] >= threshold), true=None if truth is None else code in truth,
            branch_totals={n: float(contrib[s].sum()) for n, s in slices.items()},
            own_class_total=float(contrib[proto_class == c].sum()),
            prototypes=[evidence(int(g), c, r + 1, contrib) for r, g in enumerate(own.tolist())],
            against=[evidence(int(g), c, r + 1, contrib) for r, g in enumerate(neg.tolist())],
            strongest=[evidence(int(g), c, r + 1, contrib) for r, g in enumerate(pos.tolist())]))
    return Explanation(
        ecg_id=None if ecg_id is None else int(ecg_id), fs=float(fs), num_samples=num_samples,
        true_labels=None if true_labels is None else [str(c) for c in true_labels], threshold=float(threshold),
        top_k=int(top_k), probabilities={code: float(p) for code, p in zip(labels, probs.tolist())},
        predicted=predicted, labels=explained, fallback=fallback, note=note, split=split,
        signals=x.numpy())


# --------------------------------------------------------------------------- from a run directory
def load_run_data(run):
    """The PTB-XL root a run was trained on, loaded with the same options (``RUN/config.json``)."""
    from ..data import load_ptbxl

    data = run.config.get("data", {})
    root = data.get("root")
    if not root or not (Path(root) / "ptbxl_database.csv").is_file():
        raise FileNotFoundError(f"{run.path}: the run was trained on the PTB-XL root {root!r}, which is not there; "
                                "load the data yourself and pass data=load_ptbxl(ROOT)")
    options = dict(data.get("options") or {})
    keep = {k: options[k] for k in ("sampling_rate", "target_rate", "highpass", "standardize", "likelihood_threshold",
                                    "folds") if k in options}
    return load_ptbxl(root, **keep)


def explain_run_ecg(run, ecg_id: int, data=None, *, model=None, provenance=None, top_k: int = 3,
                    threshold: float = 0.5, num_fallback: int = 3, max_labels: int | None = None,
                    labels: Sequence[str] | None = None) -> Explanation:
    """Explain one ECG of a run's data root with the run's fused model (spec §7).

    Parameters
    ----------
    run : Run or path
        A finished pipeline run directory.
    ecg_id : int
        Any loaded record (usually one of the test fold).
    data : PTBXL, optional
        The run's data, loaded (default: :func:`load_run_data`). Pass it when explaining several ECGs.
    model, provenance : optional
        Already loaded ``run.load_model()`` / ``{b: run.provenance(b)}`` (speed when called repeatedly).
    top_k, threshold, num_fallback, max_labels, labels
        See :func:`explain_ecg`.

    Returns
    -------
    Explanation
        With the source ECGs of the listed prototypes attached (figures need them).
    """
    from ..runs.run import Run

    run = run if isinstance(run, Run) else Run(run)
    data = data if data is not None else load_run_data(run)
    model = model if model is not None else run.load_model()
    provenance = provenance if provenance is not None else {b: run.provenance(b) for b in BRANCHES}
    try:
        row = data.records.loc[int(ecg_id)]
    except KeyError:
        raise KeyError(f"ecg_id {ecg_id} is not among the {len(data)} records loaded from {data.root}; pick one "
                       "listed in the run's predictions/test.csv") from None
    rates = {rec.get("sampling_rate") for recs in provenance.values() for rec in recs if rec.get("projected")}
    if rates and rates != {data.fs}:
        raise ValueError(f"the prototypes were projected at {sorted(rates)} Hz but the data are at {data.fs} Hz; "
                         "load the data at the run's sampling rate")
    expl = explain_ecg(model, data.signal(int(ecg_id)), provenance, true_labels=list(row["codes"]), ecg_id=int(ecg_id),
                       fs=data.fs, top_k=top_k, threshold=threshold, num_fallback=num_fallback, max_labels=max_labels,
                       split=str(row["split"]), labels=labels)

    def get(eid):
        return data.signal(eid)

    return expl.attach_sources(get, fs=data.fs)


# --------------------------------------------------------------------------- figures
def prototype_highlights(kind: str, start: int | None, length: int | None, fs: float, num_samples: int,
                         label: str | None = None, color: str = _WINDOW_COLOR) -> list:
    """The bands showing a prototype (or its match) on an ECG page (spec §5, §7.3).

    ``local-2d``: one band over ``[start, start + length)`` on every lead; ``global-1d``: the whole
    rhythm strip (:meth:`Highlight.strip_only`); ``global-2d``: no band (the whole record).
    """
    from ..plotting import Highlight

    if kind not in PROTOTYPE_KINDS:
        raise ValueError(f"unknown prototype kind {kind!r}; choose one of {sorted(PROTOTYPE_KINDS)}")
    duration = num_samples / float(fs)
    if kind == "global-2d":
        return []
    if kind == "global-1d":
        return [Highlight.strip_only(0.0, duration, label=label, color=color)]
    if start is None or length is None:
        raise ValueError("a time-localised prototype needs its start and length in samples")
    return [Highlight(start / fs, min(duration, (start + length) / fs), label=label, color=color)]


def _codes(codes) -> str:
    return ", ".join(codes) if codes else "(none)"


def _window_text(kind: str, start, length, fs: float) -> str:
    if kind == "global-2d":
        return "whole record"
    if kind == "global-1d":
        return "whole record (rhythm)"
    return f"{start / fs:.2f}-{(start + length) / fs:.2f} s"


def explanation_figure(explanation: Explanation, prototype_rank: int = 0, label: str | None = None, *,
                       which: str = "for", arrangement: str = "vertical", width: float | None = None) -> Figure:
    """The ECG being explained beside one prototype's source ECG (spec §7.2-7.3).

    Top page: the explained ECG in print layout with the best-matching window shaded; bottom page:
    the prototype's source training ECG with the prototype window shaded (:func:`plot_ecg_pair`).
    Rhythm (1D) prototypes shade the rhythm strip; global 2D prototypes shade nothing ("whole record").

    Parameters
    ----------
    explanation : Explanation
        With its source ECGs attached (:func:`explain_run_ecg` does it).
    prototype_rank : int
        0-based position in the label's list (0 = the largest contribution).
    label : str, optional
        An explained label (default: the first one).
    which : {'for', 'against', 'strongest'}
        The list ``prototype_rank`` indexes: the label's own prototypes (default), the most negative
        contributions, or the largest positive contributions of any class.
    arrangement : {'vertical', 'horizontal'}

    Returns
    -------
    Figure
        Two page Axes (explained ECG first); titles carry the label, similarity and contribution.
    """
    from ..plotting import plot_ecg_pair

    if explanation.signals is None:
        raise ValueError("this Explanation carries no signals (was it read back from JSON?); recompute it with "
                         "explain_ecg or explain_run_ecg")
    if not explanation.labels:
        raise ValueError(f"ECG {explanation.ecg_id}: nothing is explained")
    entry = explanation.label(label) if label is not None else explanation.labels[0]
    items = entry.listed(which)
    against = which == "against"
    if not 0 <= prototype_rank < len(items):
        what = {"for": "own-class prototypes", "against": "negative contributions",
                "strongest": "positive contributions"}[which]
        raise IndexError(f"prototype_rank {prototype_rank} out of range: label {entry.label} lists {len(items)} {what}")
    ev = items[prototype_rank]
    if not ev.projected:
        raise ValueError(f"{ev.branch} prototype {ev.prototype} was never projected onto a training ECG (its class "
                         "had no training positive), so it has no source ECG to show")
    if ev.source_ecg_id not in explanation.sources:
        raise ValueError(f"the source ECG {ev.source_ecg_id} of {ev.branch} prototype {ev.prototype} is not attached; "
                         "use explain_run_ecg, or explanation.attach_sources(data.signal)")
    src = explanation.sources[ev.source_ecg_id]
    fs, src_fs = explanation.fs, explanation.source_fs or explanation.fs
    color = _AGAINST_COLOR if against else _WINDOW_COLOR
    left_hl = prototype_highlights(ev.kind, ev.match_start, ev.match_length, fs, explanation.num_samples,
                                   label="best-matching window" if ev.kind == "local-2d" else "rhythm strip",
                                   color=color)
    s_start = ev.source_start
    s_len = ev.source_length
    if s_start is not None and ev.source_fs and float(ev.source_fs) != src_fs:  # provenance at another rate
        s_start, s_len = round(s_start * src_fs / ev.source_fs), round(s_len * src_fs / ev.source_fs)
    right_hl = prototype_highlights(ev.kind, s_start, s_len, src_fs, src.shape[1],
                                    label="prototype window" if ev.kind == "local-2d" else "rhythm strip", color=color)
    side = which
    truth = "" if entry.true is None else (" (true)" if entry.true else " (not in the labels)")
    match = _window_text(ev.kind, ev.match_start, ev.match_length, fs)
    if ev.kind == "local-2d":
        match += f", window similarity {ev.match_similarity:.2f}"
    left_title = (f"ECG {explanation.ecg_id}: {entry.label}{truth}, p = {entry.probability:.2f} | {side} #"
                  f"{ev.rank_by_contribution}: {ev.branch} prototype {ev.prototype} [{ev.label}]\n"
                  f"similarity {ev.similarity:.2f}, contribution {ev.contribution:+.2f} = {ev.weight:+.3f} x "
                  f"{ev.similarity:.2f} | match: {match}")
    right_title = (f"prototype {ev.prototype} of {ev.label} ({ev.branch}): source training ECG {ev.source_ecg_id}\n"
                   f"[{_codes(ev.source_labels)}], {_window_text(ev.kind, s_start, s_len, src_fs)}")
    fig = plot_ecg_pair(explanation.signals, src, (fs, src_fs), left_title, right_title, left_hl, right_hl,
                        arrangement=arrangement, width=width)
    fig._protoecg_explanation = dict(label=entry.label, evidence=ev, which=which)
    return fig


def prototype_figure(record: Mapping, signals, fs: float, *, title: str | None = None, kind: str | None = None,
                     width: float = 11.0) -> Figure:
    """A prototype on its source ECG in print layout, its window shaded (spec §5, §8.3 review).

    Parameters
    ----------
    record : dict
        One provenance record (``<branch>/prototypes.json``).
    signals : array, shape (12, T)
        The source ECG at ``fs``.
    kind : str, optional
        Default: from the record's branch (rhythm -> ``global-1d``, global -> ``global-2d``,
        morphology -> ``local-2d``).
    """
    from ..plotting import plot_ecg

    if not record.get("projected"):
        raise ValueError(f"prototype {record.get('index')} of {record.get('class')} was not projected "
                         f"({record.get('reason') or 'no reason recorded'}); there is no source ECG to show")
    kind = kind or {"rhythm": "global-1d", "global": "global-2d"}.get(record.get("branch"), "local-2d")
    x = np.asarray(signals)
    rate = float(record.get("sampling_rate") or fs)
    start, length = record.get("start_sample"), record.get("length_samples")
    if start is not None and rate != fs:
        start, length = round(start * fs / rate), round(length * fs / rate)
    hl = prototype_highlights(kind, start, length, fs, x.shape[1], label="prototype window" if kind == "local-2d"
                              else "rhythm strip")
    if title is None:
        sim = record.get("similarity")
        title = (f"{record.get('class')} prototype {record.get('index')} ({record.get('branch')}): training ECG "
                 f"{record.get('ecg_id')} [{_codes(record.get('source_labels'))}], "
                 f"{_window_text(kind, start, length, fs)}"
                 + (f", projection similarity {sim:.2f}" if sim is not None else ""))
    return plot_ecg(x, fs, title=title, highlights=hl, width=width)


def _safe(code: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]+", "-", code).strip("-") or "label"


def save_explanation(explanation: Explanation, out_dir: str | Path, *, dpi: int = 100) -> list[Path]:
    """Write ``ecg<ID>_explanation.json`` and one PNG per (label, prototype) into ``out_dir``.

    PNG names: ``ecg<ID>_<label>_for<rank>_<branch><prototype>.png`` (label codes made file-safe:
    ``LAO/LAE`` -> ``LAO-LAE``). Prototypes without an available source ECG get no PNG.

    Returns
    -------
    list of Path
        The JSON first, then the PNGs.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"ecg{explanation.ecg_id}" if explanation.ecg_id is not None else "ecg"
    paths = [out / f"{stem}_explanation.json"]
    explanation.to_json(paths[0])
    for entry in explanation.labels:
        for rank, ev in enumerate(entry.prototypes):
            if not ev.projected or ev.source_ecg_id not in explanation.sources:
                continue
            fig = explanation_figure(explanation, rank, entry.label)
            path = out / f"{stem}_{_safe(entry.label)}_for{rank + 1}_{ev.branch}{ev.prototype}.png"
            fig.savefig(path, dpi=dpi, facecolor="white")
            paths.append(path)
    return paths
