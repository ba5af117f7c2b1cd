"""The explanation explorer (method §7): pick a test ECG, one of its predicted (or missed) labels and a
prototype, and see the ECG beside the prototype's source. :class:`ExplorerState` holds the logic;
:func:`explanation_explorer` is the widget over it."""
from __future__ import annotations

import html
from typing import Sequence

import pandas as pd

from ..labels import branch_of
from .display import show_figure, show_message, table_html

__all__ = ["ExplorerState", "explanation_explorer"]


class ExplorerState:
    """State of the explanation explorer: the run, its model and data, and explanations computed so far.

    Parameters
    ----------
    run : Run or path
    data : PTBXL, optional
        Default: the run's data root, loaded with the run's options.
    ecg_ids : sequence of int, optional
        ECGs to offer (default: the test fold, in file order).
    top_k, threshold
        Passed to :func:`~protoecg_lib.evaluation.explain.explain_ecg`.
    """

    def __init__(self, run, data=None, *, ecg_ids: Sequence[int] | None = None, model=None, top_k: int = 3,
                 threshold: float = 0.5):
        from ..runs.run import Run

        self.run = run if isinstance(run, Run) else Run(run)
        self.data = data if data is not None else self.run.load_data()
        self.model = model if model is not None else self.run.load_model()
        self.sources = self.run.all_prototype_sources()
        self.top_k, self.threshold = top_k, threshold
        if ecg_ids is None:
            ecg_ids = self.data.split("test").ecg_id.tolist()
        self.ecg_ids = [int(e) for e in ecg_ids]
        if not self.ecg_ids:
            raise ValueError(f"no ECG to explore: the test fold of {self.data.root} is empty; pass ecg_ids=")
        self._cache: dict[int, object] = {}
        self._highlighted: set[tuple[int, str]] = set()
        self._evidence: dict[int, tuple] = {}

    def true_labels(self, ecg_id: int) -> list[str]:
        return list(self.data.records.loc[int(ecg_id), "codes"])

    def options(self) -> list[tuple[str, int]]:
        """Dropdown entries ``("<ecg_id>: <true labels>", ecg_id)``."""
        return [(f"{e}: {', '.join(self.true_labels(e)) or '(no label)'}", e) for e in self.ecg_ids]

    def explain(self, ecg_id: int):
        """The :class:`~protoecg_lib.evaluation.explain.Explanation` of one ECG (computed once, then cached).

        It explains the predicted labels (most probable first) and then the ECG's true labels that
        were missed, so that the explorer can show why a label was not predicted as well.
        """
        from ..evaluation.explain import explain_run_ecg

        ecg_id = int(ecg_id)
        if ecg_id not in self._cache:
            kwargs = dict(model=self.model, sources=self.sources, top_k=self.top_k, threshold=self.threshold)
            ex = explain_run_ecg(self.run, ecg_id, self.data, highlight=None, **kwargs)   # what to explain
            missed = [c for c in self.true_labels(ecg_id) if c not in ex.predicted]
            if missed and ex.predicted:
                labels = [*ex.predicted, *missed]
            elif missed:   # nothing predicted: the missed true labels, most probable first
                labels = sorted(missed, key=lambda c: -ex.probabilities[c])
            else:
                labels = None
            ex = explain_run_ecg(self.run, ecg_id, self.data, labels=labels, highlight=None, **kwargs)
            self._cache[ecg_id] = ex
        return self._cache[ecg_id]

    def label_options(self, ecg_id: int) -> list[tuple[str, str]]:
        """Dropdown entries for the explained labels: ``("<code> p=<prob> (<verdict>)", code)``, where
        the verdict is *correct*, *false alarm* or *missed* against the ECG's true labels."""
        ex = self.explain(ecg_id)
        truth = set(self.true_labels(ecg_id))

        def verdict(e) -> str:
            if e.predicted:
                return "correct" if e.label in truth else "false alarm"
            return "missed" if e.label in truth else "not predicted"

        return [(f"{e.label} p={e.probability:.2f} ({verdict(e)})", e.label) for e in ex.labels]

    def first_label(self, ecg_id: int) -> str | None:
        """The label the explorer opens on: the most probable correct detection, else the first listed."""
        ex = self.explain(ecg_id)
        truth = set(self.true_labels(ecg_id))
        correct = [e.label for e in ex.labels if e.predicted and e.label in truth]
        return correct[0] if correct else (ex.labels[0].label if ex.labels else None)

    def predictions_table(self, ecg_id: int) -> pd.DataFrame:
        """Labels predicted, true or explained, with fused probability, most probable first."""
        ex = self.explain(ecg_id)
        truth = set(ex.true_labels or [])
        show = set(ex.predicted) | truth | {e.label for e in ex.labels}
        rows = [{"label": c, "branch": branch_of(c), "probability": ex.probabilities[c],
                 "predicted": c in ex.predicted, "true": c in truth} for c in show]
        return pd.DataFrame(rows).sort_values("probability", ascending=False).set_index("label")

    def prototype_options(self, ecg_id: int, label: str) -> list[tuple[str, int]]:
        """Dropdown entries for the listed prototypes of one explained label."""
        entry = self.explain(ecg_id).label(label)
        return [(f"{k + 1}. {ev.branch} #{ev.prototype}: contribution {ev.contribution:+.2f}, similarity "
                 f"{ev.similarity:.2f} (source ECG {ev.source_ecg_id})", k) for k, ev in enumerate(entry.prototypes)]

    def highlighted(self, ecg_id: int, label: str):
        """The explanation with highlights and the evidence check attached for ``label`` (computed when the
        label is first shown: about 0.03-0.2 s per listed prototype on a CPU, not for every label at once)."""
        from ..evaluation.evidence_check import attach_highlights, ecg_evidence

        ex = self.explain(ecg_id)
        key = (int(ecg_id), label)
        if key not in self._highlighted:
            if self._evidence.get(int(ecg_id)) is None:
                self._evidence[int(ecg_id)] = ecg_evidence(self.data, int(ecg_id))
            evidence, basis = self._evidence[int(ecg_id)]
            attach_highlights(ex, self.model, evidence=evidence, basis=basis, labels=[label])
            self._highlighted.add(key)
        return ex

    def highlight_text(self, ecg_id: int, label: str, rank: int = 0) -> str:
        """What the figure shades, each labelled for what it is, and the evidence check's verdict.

        ``''`` for a prototype without a window (rhythm and global prototypes match the whole record).
        """
        from ..plotting.explanation import evidence_verdict

        ev = self.highlighted(ecg_id, label).label(label).prototypes[rank]
        if not ev.highlights:
            return ""
        parts = []
        for method, entry in ev.highlights.items():
            if method == "window":
                parts.append(f"nominal window {entry['window']['start_s']:.2f}-{entry['window']['end_s']:.2f} s "
                             "(blue; not an attribution)")
            else:
                parts.append(f"{method} peak {entry['top']['peak_s']:.2f} s (green; {entry['label']})")
        verdict = evidence_verdict(ev)
        return " | ".join(parts) + (f" | {verdict}" if verdict else "")

    def figure(self, ecg_id: int, label: str, rank: int = 0):
        from ..plotting.explanation import explanation_figure

        return explanation_figure(self.highlighted(ecg_id, label), rank, label, width=9.0)


def explanation_explorer(run, data=None, *, ecg_ids: Sequence[int] | None = None, model=None, top_k: int = 3,
                         threshold: float = 0.5, dpi: int = 70):
    """Pick a test ECG, see its predictions and, per explained label, its prototypes (method §7).

    The first ECG, label and prototype are rendered when the widget is built (a static page shows
    that state).

    Parameters
    ----------
    run : Run or path
    data : PTBXL, optional
    ecg_ids, model, top_k, threshold
        See :class:`ExplorerState`.

    Returns
    -------
    ipywidgets.VBox
        With ``.state`` (:class:`ExplorerState`) and ``.controls``.
    """
    import ipywidgets as W

    state = ExplorerState(run, data, ecg_ids=ecg_ids, model=model, top_k=top_k, threshold=threshold)
    ecg_dd = W.Dropdown(options=state.options(), value=state.ecg_ids[0], description="ECG",
                        layout=W.Layout(width="60%"))
    table = W.HTML()
    note = W.HTML()
    label_dd = W.Dropdown(description="label")
    proto_dd = W.Dropdown(description="prototype", layout=W.Layout(width="80%"))
    detail = W.HTML()
    figure = W.Output()
    busy = {"on": False}

    def show_prototype():
        ex = state.explain(ecg_dd.value)
        if label_dd.value is None or proto_dd.value is None:
            detail.value = ""
            show_message(figure, f"label {label_dd.value}: no prototype to show")
            return
        ev = ex.label(label_dd.value).prototypes[proto_dd.value]
        shaded = state.highlight_text(ecg_dd.value, label_dd.value, proto_dd.value)
        detail.value = f"<code>{html.escape(ev.describe())}</code>" + (
            f"<br><b>shaded:</b> {html.escape(shaded)}" if shaded else "")
        try:
            show_figure(figure, state.figure(ecg_dd.value, label_dd.value, proto_dd.value), dpi)
        except ValueError as exc:
            show_message(figure, str(exc))

    def on_ecg(_=None):
        busy["on"] = True
        try:
            ex = state.explain(ecg_dd.value)
            table.value = table_html(state.predictions_table(ecg_dd.value))
            missed = sum(1 for e in ex.labels if not e.predicted)
            point = ex.operating_point or f"threshold {ex.threshold:g}"
            note.value = (f"<i>{len(ex.predicted)} label(s) listed ({point})"
                          + (f"; {missed} true label(s) were missed and are listed after them" if missed else "")
                          + ". Pick a label to see the prototypes behind it.</i>")
            label_dd.options = state.label_options(ecg_dd.value)
            label_dd.value = state.first_label(ecg_dd.value)
            on_label_options()
        finally:
            busy["on"] = False
        show_prototype()

    def on_label_options():
        opts = state.prototype_options(ecg_dd.value, label_dd.value) if label_dd.value else []
        proto_dd.options = opts
        proto_dd.value = 0 if opts else None

    def on_label(_):
        if busy["on"]:
            return
        busy["on"] = True
        try:
            on_label_options()
        finally:
            busy["on"] = False
        show_prototype()

    def on_proto(_):
        if not busy["on"]:
            show_prototype()

    ecg_dd.observe(on_ecg, names="value")
    label_dd.observe(on_label, names="value")
    proto_dd.observe(on_proto, names="value")
    on_ecg()
    box = W.VBox([ecg_dd, table, note, W.HBox([label_dd]), proto_dd, detail, figure])
    box.state = state
    box.controls = dict(ecg=ecg_dd, table=table, note=note, label=label_dd, prototype=proto_dd, detail=detail,
                        figure=figure)
    return box
