"""Case-based explanation of one ECG (method §7): predictions, prototypes, contributions, windows.

For one ECG the fused model (method §6) gives 71 logits ``z = W s + b`` over the concatenated
pooled prototype similarities ``s`` (rhythm, morphology, global). Every prototype ``j`` therefore
adds exactly ``W[c, j] * s[j]`` to the logit of label ``c``: its **contribution**. The explanation
of a predicted label lists

* the top-k prototypes *of that label's class*, ranked by contribution (method §7.2 ranks by
  similarity only; both ranks are given), each with its branch, similarity, fusion weight, the
  source training ECG it was projected onto (ecg_id, SCP codes, sample span, method §5) and, for
  time-localised prototypes, the best-matching window in the ECG being explained (arg-max of the
  window similarity mapped to samples with ``window_to_samples``, method §5/§7.2);
* "what argues against": the most negative contributions to that logit, from any prototype, and
  the mirror list ``strongest``: the largest positive contributions from any prototype (with the
  default unmasked fusion head, other classes' prototypes can carry most of a logit);
* the logit split into bias + per-branch sums (all contributions plus the bias give the logit).

The result types are in :mod:`~protoecg_lib.evaluation.explanation`; the figures in
:mod:`protoecg_lib.plotting.explanation`.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import torch

from ..labels import BRANCHES, branch_of
from .explanation import Explanation, LabelExplanation, PrototypeEvidence, prototype_kind
from ..runs.probabilities import calibration_of, listed as listed_at_operating_point, probabilities
from ..runs.records import PrototypeSource

__all__ = ["explain_ecg", "explain_run_ecg", "check_sources", "save_explanation"]


# --------------------------------------------------------------------------- computing it
def check_sources(model, sources: Mapping[str, Sequence]) -> dict[str, list[PrototypeSource]]:
    """Check that ``sources[branch]`` lists one :class:`PrototypeSource` (or its dict) per prototype of
    each of the model's branches, in prototype order; return them as :class:`PrototypeSource` lists."""
    if not isinstance(sources, Mapping):
        raise TypeError("sources must be a dict branch -> list of PrototypeSource (run.all_prototype_sources()); "
                        f"got {type(sources).__name__}")
    out = {}
    for name in BRANCHES:
        if name not in sources:
            raise ValueError(f"sources has no {name!r} entry; pass run.all_prototype_sources()")
        records = [r if isinstance(r, PrototypeSource) else PrototypeSource.from_dict(r) for r in sources[name]]
        expected = model.branches[name].num_prototypes
        if len(records) != expected:
            raise ValueError(f"the {name} sources list {len(records)} prototypes but the model's {name} branch "
                             f"has {expected}; the sources and the model come from different runs")
        for j, rec in enumerate(records):
            if rec.index != j:
                raise ValueError(f"{name} source entry {j} has index {rec.index}; entries must be in "
                                 "prototype order (DEVELOPING.md)")
        out[name] = records
    return out


def _as_signals(model, signals, fs: float, sources, standardized: bool) -> tuple[torch.Tensor, float]:
    """One ECG as the model takes it: shape, rate, length and units checked (``data.sanity``)."""
    from ..data.sanity import check_ecg_input

    x = signals.detach().cpu().numpy() if isinstance(signals, torch.Tensor) else np.asarray(signals)
    rates = {rec.sampling_rate for recs in sources.values() for rec in recs if rec.projected}
    expected_fs = float(rates.pop()) if len(rates) == 1 else None
    num_samples = {b.config.num_samples for b in model.branches.values()}
    x = check_ecg_input(x, fs, expected_fs=expected_fs, num_samples=num_samples.pop() if len(num_samples) == 1 else None,
                        check_units=not standardized)
    return torch.from_numpy(x), (expected_fs or float(fs))


def _prototype_table(model, outputs, sources, num_samples: int) -> list[dict]:
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
            rec = sources[name][j]
            projected = rec.projected
            rows.append(dict(branch=name, prototype=j, label=branch.labels[classes[j]], kind=kind, match_window=w,
                             match_start=int(start), match_length=int(length), match_similarity=float(best_sim[j]),
                             projected=projected,
                             source_ecg_id=int(rec.ecg_id) if projected else None,
                             source_labels=list(rec.source_labels or []) if projected else None,
                             source_start=rec.start_sample if projected else None,
                             source_length=rec.length_samples if projected else None,
                             source_fs=rec.sampling_rate if projected else None,
                             duplicate_of=rec.duplicate_of))
    return rows


@torch.no_grad()
def explain_ecg(model, signals, sources: Mapping[str, Sequence[PrototypeSource]], *, true_labels: Sequence[str] | None = None,
                ecg_id: int | None = None, fs: float = 100.0, top_k: int = 3, threshold: float = 0.5,
                num_fallback: int = 3, max_labels: int | None = None, split: str | None = None,
                labels: Sequence[str] | None = None, highlight: str | None = "ig",
                evidence: Mapping | None = None, evidence_basis: str | None = None,
                standardized: bool = False, run=None, calibration=None) -> Explanation:
    """Explain the fused prediction for one ECG with prototypes (method §7.1-7.2).

    Parameters
    ----------
    model : ProtoECGNet
        The fused model (``Run.load_model()``); put in eval mode.
    signals : array or Tensor, shape (12, T)
        One preprocessed ECG in mV (as the model was trained on). Checked by
        :func:`protoecg_lib.data.sanity.check_ecg_input`: another rate than the prototypes' is
        resampled and values in microvolts or volts are converted (each with a warning); another
        length, a flat lead or amplitudes that fit no unit are refused with a message.
    sources : dict branch -> list of PrototypeSource
        Where each branch's prototypes were projected (``run.all_prototype_sources()``).
    true_labels : sequence of str, optional
        The ECG's SCP codes (shown beside the predictions).
    ecg_id : int, optional
    fs : float
        Sampling rate of ``signals`` in Hz.
    top_k : int
        Prototypes listed per label in each list (for, against, strongest).
    threshold : float
        A label is predicted when its fused probability is ``>= threshold`` (method §7.1); not used
        with ``calibration``.
    calibration : Calibration, optional
        The run's :class:`~protoecg_lib.evaluation.calibration.Calibration` (``Run.calibration()``):
        probabilities are then calibrated (prior correction and Platt scaling fitted on validation)
        instead of ``sigmoid(logit)``, and the labels listed are those of the calibration's operating
        point (each ECG its expected number of labels, by default). Logits and contributions do not change.
    num_fallback : int
        Labels explained (highest logits first) when no label passes the threshold.
    max_labels : int, optional
        Explain at most this many predicted labels (the most probable); all by default.
    split : str, optional
        Informative.
    labels : sequence of str, optional
        Explain exactly these labels, in this order, whether predicted or not (e.g. to read why a
        label was missed); default: the predicted labels.
    highlight : {'ig', 'gradient', 'occlusion'} or None
        The faithful highlight computed for the listed own-class time-localised prototypes, beside
        the nominal window (:func:`~protoecg_lib.evaluation.evidence_check.attach_highlights`);
        default ``ig``, the method chosen on validation. None skips highlights.
    evidence : dict label -> list of EvidenceSpan, optional
        Ground truth for this ECG (synthetic spans, detected ectopic beats) for the evidence check.
    evidence_basis : str, optional
        Where ``evidence`` comes from (shown in the check).
    standardized : bool
        ``signals`` are per-lead z-scores (a run trained with ``standardize=True``): no units check.
    run : Run, optional
        The run the model comes from: its probabilities come from
        :func:`protoecg_lib.runs.probabilities` (the run's calibration when it has one, and the labels
        listed are then its operating point's, as with ``calibration``).

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
    sources = check_sources(model, sources)
    x, fs = _as_signals(model, signals, fs, sources, standardized)              # (12, T)
    num_samples = int(x.shape[1])
    model.eval()
    device = next(model.parameters()).device
    out = model(x[None].to(device))
    features = torch.cat([out.branches[n].similarity for n in BRANCHES], dim=1)[0].cpu().double()  # (sum P,)
    weight = model.fusion.weight.detach().cpu().double()                        # (71, sum P)
    bias = (model.fusion.bias.detach().cpu().double() if model.fusion.bias is not None
            else torch.zeros(weight.shape[0], dtype=torch.float64))             # (71,)
    logits = out.logits[0].cpu().double()                                       # (71,)
    source = calibration if calibration is not None else run                     # who says what is listed
    calibration = calibration_of(source)
    if calibration is not None and tuple(calibration.labels) != tuple(model.labels):
        raise ValueError("the calibration's labels differ from the model's 71; use the calibration of this run's "
                         "fused model (Run.calibration())")
    probs = torch.from_numpy(probabilities(source, logits.numpy()))             # (71,), the run's calibration
    is_listed = torch.from_numpy(listed_at_operating_point(source, logits.numpy(), threshold))   # (71,) bool
    requested, labels = labels, tuple(model.labels)
    if requested is not None:
        requested = [str(c) for c in requested]
        unknown = [c for c in requested if c not in labels]
        if unknown or not requested:
            raise ValueError(f"labels {unknown or requested!r}: pass one or more of the model's {len(labels)} labels "
                             "(protoecg_lib.labels.label_set('all'))")
    proto_class = model.prototype_class.cpu()                                   # (sum P,) label column
    table = _prototype_table(model, out, sources, num_samples)
    slices = model.feature_slices
    truth = None if true_labels is None else {str(c) for c in true_labels}

    predicted = [labels[i] for i in torch.argsort(-probs).tolist() if is_listed[i]]
    point = (f"threshold {threshold:g}" if calibration is None else
             "calibrated operating point" if calibration.rule == "threshold" else
             "expected label count of the calibrated probabilities")
    reach = f"reach the {point}" if calibration is None else f"listed at the {point}"
    if max_labels is not None and (int(max_labels) != max_labels or max_labels < 1):
        raise ValueError(f"max_labels must be a positive integer or None; got {max_labels!r}")
    if requested is not None:
        chosen, fallback = requested, False
        shown = ", ".join(f"{c} {'predicted' if is_listed[labels.index(c)] else 'not predicted'}" for c in requested)
        note = f"{len(predicted)} label(s) {reach}; explained on request: {shown}."
    elif predicted:
        chosen, fallback = predicted[:max_labels], False
        note = f"{len(predicted)} label(s) {reach}; " + (
            "each is explained below." if len(chosen) == len(predicted) else
            f"the {len(chosen)} most probable are explained below.")
    else:
        chosen = [labels[i] for i in torch.argsort(-logits)[:num_fallback].tolist()]
        fallback = True
        note = (f"No label {'reaches' if calibration is None else 'is listed at'} the {point} "
                f"(highest probability {float(probs.max()):.3f}); "
                f"the {len(chosen)} top-scoring labels are explained instead.")

    # rank by similarity within each class (1 = most similar)
    sim_rank = torch.empty(len(features), dtype=torch.long)
    for c in proto_class.unique().tolist():
        idx = torch.nonzero(proto_class == c).flatten()
        order = idx[torch.argsort(-features[idx], stable=True)]
        sim_rank[order] = torch.arange(1, len(order) + 1)

    def listed(g: int, c: int, rank: int, contrib: torch.Tensor) -> PrototypeEvidence:
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
            bias=float(bias[c]), predicted=bool(is_listed[c]), true=None if truth is None else code in truth,
            branch_totals={n: float(contrib[s].sum()) for n, s in slices.items()},
            own_class_total=float(contrib[proto_class == c].sum()),
            prototypes=[listed(int(g), c, r + 1, contrib) for r, g in enumerate(own.tolist())],
            against=[listed(int(g), c, r + 1, contrib) for r, g in enumerate(neg.tolist())],
            strongest=[listed(int(g), c, r + 1, contrib) for r, g in enumerate(pos.tolist())]))
    result = Explanation(
        ecg_id=None if ecg_id is None else int(ecg_id), fs=float(fs), num_samples=num_samples,
        true_labels=None if true_labels is None else [str(c) for c in true_labels], threshold=float(threshold),
        top_k=int(top_k), probabilities={code: float(p) for code, p in zip(labels, probs.tolist())},
        predicted=predicted, labels=explained, fallback=fallback, note=note, split=split,
        signals=x.numpy(), operating_point=None if calibration is None else f"calibrated, {point}")
    if highlight is not None:
        from .evidence_check import attach_highlights

        was = model.training
        if device.type != "cpu":          # highlights build their inputs on the CPU
            model.cpu()
        attach_highlights(result, model, method=highlight, evidence=evidence, basis=evidence_basis)
        model.to(device).train(was)
    return result


# --------------------------------------------------------------------------- from a run directory
def explain_run_ecg(run, ecg_id: int, data=None, *, model=None, sources=None, top_k: int = 3,
                    threshold: float = 0.5, num_fallback: int = 3, max_labels: int | None = None,
                    labels: Sequence[str] | None = None, highlight: str | None = "ig",
                    calibrated: bool = True) -> Explanation:
    """Explain one ECG of a run's data root with the run's fused model (method §7).

    Parameters
    ----------
    run : Run or path
        A finished pipeline run directory.
    ecg_id : int
        Any loaded record (usually one of the test fold).
    data : PTBXL, optional
        The run's data, loaded (default: :meth:`Run.load_data`). Pass it when explaining several ECGs.
    model, sources : optional
        Already loaded ``run.load_model()`` / ``run.all_prototype_sources()`` (speed when called repeatedly).
    top_k, threshold, num_fallback, max_labels, labels, highlight
        See :func:`explain_ecg`. The evidence check uses the root's ground truth for this ECG
        (:func:`~protoecg_lib.evaluation.evidence_check.ecg_evidence`: synthetic spans, or ectopic
        beats detected in a real ECG labelled PVC/PAC).
    calibrated : bool
        Use the run's calibration (``RUN/calibration.json``) when it has one: calibrated
        probabilities and its operating point. False (or a run without one): ``sigmoid`` and ``threshold``.

    Returns
    -------
    Explanation
        With the source ECGs of the listed prototypes attached (figures need them).
    """
    from ..runs.run import Run

    run = run if isinstance(run, Run) else Run(run)
    data = data if data is not None else run.load_data()
    model = model if model is not None else run.load_model()
    sources = sources if sources is not None else run.all_prototype_sources()
    try:
        row = data.records.loc[int(ecg_id)]
    except KeyError:
        raise KeyError(f"ecg_id {ecg_id} is not among the {len(data)} records loaded from {data.root}; pick one "
                       "listed in the run's predictions/test.csv") from None
    rates = {rec.sampling_rate for recs in sources.values() for rec in recs if rec.projected}
    if rates and rates != {data.fs}:
        raise ValueError(f"the prototypes were projected at {sorted(rates)} Hz but the data are at {data.fs} Hz; "
                         "load the data at the run's sampling rate")
    evidence, basis = (None, None)
    if highlight is not None:
        from .evidence_check import ecg_evidence

        evidence, basis = ecg_evidence(data, int(ecg_id))
    expl = explain_ecg(model, data.signal(int(ecg_id)), sources, true_labels=list(row["codes"]), ecg_id=int(ecg_id),
                       fs=data.fs, top_k=top_k, threshold=threshold, num_fallback=num_fallback, max_labels=max_labels,
                       split=str(row["split"]), labels=labels, highlight=highlight, evidence=evidence,
                       evidence_basis=basis, standardized=data.standardizer is not None,
                       run=run if calibrated else None)

    def get(eid):
        return data.signal(eid)

    return expl.attach_sources(get, fs=data.fs)


# --------------------------------------------------------------------------- figures


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
    from ..plotting.explanation import explanation_figure

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = (_safe(explanation.record) if explanation.record is not None
            else f"ecg{explanation.ecg_id}" if explanation.ecg_id is not None else "ecg")
    paths = [out / f"{stem}_explanation.json"]
    explanation.to_json(paths[0])
    for entry in explanation.labels:
        for rank, ev in enumerate(entry.prototypes):
            if not ev.projected or ev.source_ecg_id not in explanation.sources:
                continue
            fig = explanation_figure(explanation, rank, entry.label)
            path = out / f"{stem}_{_safe(entry.label)}_for{rank + 1}_{ev.branch}{ev.prototype}.png"
            fig.savefig(path, dpi=dpi, facecolor="white", bbox_inches="tight")  # three-line titles stay whole
            paths.append(path)
    return paths
