"""What the chapters on localisation share: the small sparse synthetic run, and the committed
full-size measurements (chapters 4, 8, 10, "Do the prototypes point at the evidence?" and 11).

The chapters run in CI on two CPU cores, so they measure on a *small* sparse-tier root with a fast
run trained once and cached (:func:`sparse_run`); the full-size numbers (1,500 records, several
training seeds) are too slow for CI and are read from a committed file (:func:`full_size_measurements`),
which records the command, the commit and the date that produced them.
"""
from __future__ import annotations

import json
from pathlib import Path

__all__ = ["SPARSE_RECORDS", "sparse_run", "full_size_measurements", "MEASUREMENTS_FILE", "showcase", "case_figure",
           "explain_case", "source_figure"]

#: Records of the chapters' sparse synthetic root (the full-size measurements use 1,500).
SPARSE_RECORDS = 500
#: The committed full-size measurements, in the repository's ``book/data``.
MEASUREMENTS_FILE = Path(__file__).resolve().parents[2] / "book" / "data" / "evidence_quality.json"


def sparse_run(num_records: int = SPARSE_RECORDS, seed: int = 0, *, local_windows: bool = False, verbose: bool = False):
    """A sparse-tier synthetic root and a fast pipeline run on it (no baseline), both cached.

    Parameters
    ----------
    num_records : int
        Size of the root (``synthetic_root(num_records, evidence='sparse')``).
    local_windows : bool
        The local-prototype variant of the morphology branch instead of the standard one.

    Returns
    -------
    (Path, Run)
        The root and the finished run (trained once per root and configuration, then loaded from
        ``$PROTOECG_CACHE/runs``; the fast preset in every mode, as a check of the mechanism).
    """
    from ..synthetic import synthetic_root
    from ..training import cached_run
    from ..training.config import pipeline_config

    root = synthetic_root(int(num_records), seed=seed, evidence="sparse")
    config = pipeline_config("fast", baseline=False, local_windows=local_windows)
    return root, cached_run(root, config=config, verbose=verbose)


def full_size_measurements(path: str | Path | None = None) -> dict:
    """The committed full-size measurements: ``{"provenance": {"command", "commit", "date", ...}, ...}``.

    Raises
    ------
    FileNotFoundError
        Naming the file, when it is missing (an installed package without the book's data).
    """
    path = Path(path) if path is not None else MEASUREMENTS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: the full-size measurements ship with the book's repository "
                                "(book/data/evidence_quality.json); run the chapter from a clone")
    return json.loads(path.read_text())


def showcase(model, split, evidence, labels, *, method: str = "ig", correct_only: bool = True) -> dict:
    """Cases chosen by measurement: :func:`~protoecg_lib.evaluation.quality.pick_cases` over every
    (prototype of ``labels``, ECG of ``split`` with evidence) pair, scored with ``window`` and ``method``.

    Chapters pass the **validation** fold. Returns ``pick_cases``' dict plus ``"pairs"`` (the frame).
    """
    from ..evaluation.quality import highlight_pairs, pick_cases

    pairs = highlight_pairs(model, split, evidence, labels=labels, methods=("window", method),
                            correct_only=correct_only)
    if not len(pairs):
        return {"localises": None, "fails": None, "counts": {"pairs": 0, "hits": 0}, "pairs": pairs}
    return {**pick_cases(pairs, method), "pairs": pairs}


def case_figure(model, split, evidence, row, *, method: str = "ig", what: str = "case",
                methods=("window", "occlusion", "gradient", "ig")):
    """One showcase pair drawn with its highlights and ground truth, and a sentence saying whether it holds.

    Parameters
    ----------
    model : ProtoECGNet
    split : Split
        The fold the pair comes from.
    evidence : dict ecg_id -> {label: [EvidenceSpan]}
    row : Series
        A row of :func:`showcase` (``ecg_id``, ``prototype``, ``label``, ``window``).
    method : str
        The highlight whose peak the verdict reads.

    Returns
    -------
    (Figure, str)
    """
    import numpy as np

    from ..evaluation.highlights import highlights
    from ..plotting.highlights import plot_highlights

    i = int(np.flatnonzero(np.asarray(split.ecg_id) == int(row["ecg_id"]))[0])
    x = np.asarray(split.signals[i])
    hs = highlights(model.branches["morphology"], x, int(row["prototype"]), methods=methods,
                    window=int(row["window"]), fs=split.fs)
    spans = evidence[int(row["ecg_id"])][row["label"]]
    peak = hs[method].peak / split.fs
    start, length = hs["window"].nominal
    a, b = start / split.fs, (start + length) / split.fs
    on = any(s.start <= peak <= s.end for s in spans)
    window_on = any(s.start < b and a < s.end for s in spans)
    text = (f"{what}: ECG {int(row['ecg_id'])}, {row['label']} prototype {int(row['prototype'])}. Evidence at "
            + ", ".join(f"{s.start:.2f}-{s.end:.2f} s" for s in spans)
            + f"; the shaded (nominal) window {a:.2f}-{b:.2f} s {'overlaps' if window_on else 'misses'} it; the "
            f"{method} peak at {peak:.2f} s is {'ON' if on else 'NOT on'} it, so this highlight "
            f"{'holds' if on else 'does not hold'}.")
    fig = plot_highlights(x, hs, fs=split.fs, evidence=spans,
                          title=f"{what}: ECG {int(row['ecg_id'])}, {row['label']} prototype {int(row['prototype'])} "
                                "(black bars: the evidence)")
    return fig, text


def explain_case(run, data, row, *, model=None, sources=None):
    """The explanation of one showcase pair (:func:`showcase`), for ``explanation_figure``.

    Explains the pair's label in the pair's ECG with every own-class prototype listed (so the pair's
    prototype is among them) and the highlights and evidence check attached.

    Returns
    -------
    (Explanation, int)
        The explanation and the 0-based position of the pair's prototype in the label's list.
    """
    from ..evaluation.explain import explain_run_ecg

    model = model if model is not None else run.load_model()
    top_k = model.branches["morphology"].config.prototypes_per_class
    ex = explain_run_ecg(run, int(row["ecg_id"]), data, model=model, sources=sources, labels=[row["label"]],
                         top_k=top_k)
    listed = ex.label(row["label"]).prototypes
    k = next(i for i, ev in enumerate(listed) if ev.branch == "morphology" and ev.prototype == int(row["prototype"]))
    return ex, k


def source_figure(run, data, evidence, prototype: int, *, what: str = "prototype"):
    """A morphology prototype on its source training ECG, its window shaded and the ground truth of its
    label marked, with a sentence saying whether the window holds that evidence (chapter 8).

    Returns
    -------
    (Figure, str)
    """
    from ..plotting import Highlight, plot_ecg
    from ..plotting.gallery import evidence_highlights

    rec = run.prototype_sources("morphology")[int(prototype)]
    if not rec.projected:
        raise ValueError(f"morphology prototype {prototype} was not projected ({rec.reason}); nothing to show")
    spans = evidence.get(int(rec.ecg_id), {}).get(rec.label, [])
    scale = data.fs / float(rec.sampling_rate or data.fs)
    a, b = rec.start_sample * scale / data.fs, (rec.start_sample + rec.length_samples) * scale / data.fs
    holds = any(s.start < b and a < s.end for s in spans)
    text = (f"{what}: {rec.label} prototype {rec.index}, projected onto training ECG {rec.ecg_id}, window "
            f"{a:.2f}-{b:.2f} s; the {rec.label} evidence of that ECG lies at "
            + (", ".join(f"{s.start:.2f}-{s.end:.2f} s" for s in spans) or "(none found)")
            + f": the prototype's window {'HOLDS' if holds else 'does NOT hold'} it.")
    fig = plot_ecg(data.signal(int(rec.ecg_id)), data.fs, width=10.0,
                   highlights=[Highlight(a, b, label=f"prototype {rec.index} window (nominal)")]
                   + evidence_highlights(spans, label=f"{rec.label} evidence"),
                   title=f"source ECG {rec.ecg_id} of {rec.label} prototype {rec.index}")
    return fig, text
