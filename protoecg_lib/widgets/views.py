"""Two small ipywidgets apps: the explanation explorer and the clinicians' prototype review (spec §7, §8.3).

Each app is a thin view over a plain Python state object that tests (and scripts) drive without a
display: :class:`ExplorerState` and :class:`ReviewSession`. Only standard ipywidgets are used
(Dropdown, Button, RadioButtons, ToggleButton, Textarea, Text, HTML, Output, VBox/HBox), which
exist in ipywidgets 7 (Colab) and 8 (Jupyter). Figures are put into ``widgets.Output`` as PNG
display data at construction time, so the first state of an app renders in a static page too.

Review CSV (one row per reviewer and prototype; saving again updates the row)::

    reviewer, branch, class, prototype_index, source_ecg_id, representativeness, clarity,
    best, bad, comment, timestamp

Likert scales (spec §8.3): 1 strongly disagree ... 5 strongly agree, with the paper's questions.
"""
from __future__ import annotations

import base64
import html
import io
import os
import tempfile
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from ..labels import BRANCHES, LABEL_SETS, branch_of

__all__ = [
    "LIKERT", "QUESTIONS", "REVIEW_COLUMNS", "Rating", "ReviewSession", "read_reviews", "summarize_reviews",
    "ExplorerState", "explanation_explorer", "prototype_review", "figure_output",
]

#: The 5-point Likert scale of the review (spec §8.3).
LIKERT = {1: "strongly disagree", 2: "disagree", 3: "neither agree nor disagree", 4: "agree", 5: "strongly agree"}
#: The paper's two review questions (spec §8.3).
QUESTIONS = {
    "representativeness": "To what extent does the prototype reflect a typical/defining presentation of the target "
                          "diagnostic class?",
    "clarity": "Is the signal in the prototype interpretable and clear, or does it contain a lot of noise/artifacts?",
}
REVIEW_COLUMNS = ("reviewer", "branch", "class", "prototype_index", "source_ecg_id", "representativeness", "clarity",
                  "best", "bad", "comment", "timestamp")


# =========================================================================== figures in Output widgets
def figure_output(fig, dpi: int = 80) -> dict:
    """A Figure as one Jupyter ``display_data`` output (PNG), for ``widgets.Output.outputs``.

    Setting the outputs directly (instead of ``with out: display(fig)``) needs no running kernel, so
    an app's first figure is in place as soon as it is built (and is saved with the widget state).
    """
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, facecolor="white")
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return {"output_type": "display_data", "metadata": {},
            "data": {"image/png": data, "text/plain": "<Figure>"}}


def _show(out, fig, dpi: int = 80) -> None:
    out.outputs = (figure_output(fig, dpi),)


def _message(out, text: str) -> None:
    out.outputs = ({"output_type": "display_data", "metadata": {},
                    "data": {"text/plain": text, "text/html": f"<p><i>{html.escape(text)}</i></p>"}},)


# =========================================================================== review state
@dataclass(frozen=True)
class Rating:
    """One reviewer's rating of one prototype (spec §8.3). ``None`` = not rated yet."""

    representativeness: int | None = None
    clarity: int | None = None
    best: bool = False
    bad: bool = False
    comment: str = ""
    saved: bool = False


def _likert(value, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or int(value) != value or not 1 <= int(value) <= 5:
        raise ValueError(f"{name} must be a Likert score 1-5 (1 {LIKERT[1]} ... 5 {LIKERT[5]}); got {value!r}")
    return int(value)


def read_reviews(csv_path: str | Path) -> pd.DataFrame:
    """Read a review CSV (empty DataFrame with the review columns when the file does not exist)."""
    path = Path(csv_path)
    if not path.is_file():
        return pd.DataFrame(columns=list(REVIEW_COLUMNS))
    df = pd.read_csv(path, dtype={"reviewer": str, "branch": str, "class": str, "comment": str},
                     keep_default_na=False, na_values={"representativeness": [""], "clarity": [""],
                                                       "source_ecg_id": [""]})
    missing = [c for c in REVIEW_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{path} is not a prototype review file: columns {missing} are missing "
                         f"(expected {list(REVIEW_COLUMNS)})")
    for col in ("best", "bad"):
        df[col] = df[col].map(lambda v: str(v).strip().lower() in ("true", "1", "yes"))
    return df[list(REVIEW_COLUMNS)]


def _write_reviews(df: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    os.close(fd)
    df[list(REVIEW_COLUMNS)].to_csv(tmp, index=False)
    os.replace(tmp, path)


class ReviewSession:
    """The prototype review as plain state: choose a class, page through its prototypes, rate, save.

    Parameters
    ----------
    provenance : dict branch -> list of dict, or Run
        Prototype provenance of the three branches (only projected prototypes can be reviewed).
    reviewer : str
        Name written into every saved row (needed to save).
    csv_path : path
        The review file; ratings this reviewer saved before are loaded, so a session can resume.

    Notes
    -----
    Every prototype has one :class:`Rating` draft; :meth:`rate`, :meth:`flag` and :meth:`set_comment`
    edit the draft of the current prototype and :meth:`save` writes it to the CSV (adding or
    replacing the row of this reviewer and prototype). One "best prototype" per class and reviewer:
    saving a prototype as best clears the flag on the other prototypes of its class.
    """

    def __init__(self, provenance, reviewer: str = "", csv_path: str | Path | None = None):
        if hasattr(provenance, "provenance") and hasattr(provenance, "path"):  # a Run
            run = provenance
            provenance = {b: run.provenance(b) for b in BRANCHES}
            csv_path = csv_path or run.path / "prototype_reviews.csv"
        if csv_path is None:
            raise ValueError("ReviewSession needs csv_path (where ratings are saved)")
        self.csv_path = Path(csv_path)
        self.reviewer = str(reviewer).strip()
        self.by_class: dict[str, list[dict]] = {}
        self.unprojected: dict[str, int] = {}
        for name in BRANCHES:
            for rec in provenance.get(name, []):
                if rec.get("projected"):
                    self.by_class.setdefault(rec["class"], []).append(dict(rec))
                else:
                    self.unprojected[rec["class"]] = self.unprojected.get(rec["class"], 0) + 1
        order = {c: i for i, c in enumerate(LABEL_SETS["all"])}
        self.classes = sorted(self.by_class, key=lambda c: (BRANCHES.index(branch_of(c)), order.get(c, 0)))
        if not self.classes:
            raise ValueError("no projected prototype to review (every prototype's class lacked a training positive)")
        self.class_code = self.classes[0]
        self.position = 0
        self._drafts: dict[tuple[str, int], Rating] = {}
        self.load()

    # -- navigation -----------------------------------------------------------------------------
    @property
    def prototypes(self) -> list[dict]:
        """Provenance records of the current class, in prototype order."""
        return self.by_class[self.class_code]

    @property
    def current(self) -> dict:
        return self.prototypes[self.position]

    @property
    def key(self) -> tuple[str, int]:
        return self.current["branch"], int(self.current["index"])

    @property
    def page(self) -> str:
        """``"k/N"`` (1-based) within the current class."""
        return f"{self.position + 1}/{len(self.prototypes)}"

    def select(self, class_code: str) -> "ReviewSession":
        if class_code not in self.by_class:
            why = (f"its {self.unprojected[class_code]} prototype(s) were not projected" if class_code in self.unprojected
                   else "it is not a class of these prototypes")
            raise KeyError(f"cannot review class {class_code!r}: {why}; classes to review: {self.classes}")
        self.class_code, self.position = class_code, 0
        return self

    def next(self) -> "ReviewSession":
        self.position = min(self.position + 1, len(self.prototypes) - 1)
        return self

    def prev(self) -> "ReviewSession":
        self.position = max(self.position - 1, 0)
        return self

    def go(self, position: int) -> "ReviewSession":
        if not 0 <= position < len(self.prototypes):
            raise IndexError(f"class {self.class_code} has {len(self.prototypes)} prototypes; got position {position}")
        self.position = int(position)
        return self

    # -- editing ----------------------------------------------------------------------------------
    @property
    def rating(self) -> Rating:
        """The current prototype's rating (saved or draft)."""
        return self._drafts.get(self.key, Rating())

    def _edit(self, **changes) -> Rating:
        r = replace(self.rating, saved=False, **changes)
        self._drafts[self.key] = r
        return r

    def rate(self, representativeness: int | None = None, clarity: int | None = None) -> Rating:
        """Set one or both Likert scores (1-5) of the current prototype."""
        changes = {}
        if representativeness is not None:
            changes["representativeness"] = _likert(representativeness, "representativeness")
        if clarity is not None:
            changes["clarity"] = _likert(clarity, "clarity")
        return self._edit(**changes)

    def flag(self, best: bool | None = None, bad: bool | None = None) -> Rating:
        """Mark the current prototype as the best of its class and/or as bad (one excludes the other)."""
        if best and bad:
            raise ValueError("a prototype cannot be both the best and a bad prototype")
        changes = {}
        if best is not None:
            changes["best"] = bool(best)
            if best:
                changes["bad"] = False
        if bad is not None:
            changes["bad"] = bool(bad)
            if bad:
                changes["best"] = False
        return self._edit(**changes)

    def set_comment(self, text: str) -> Rating:
        return self._edit(comment=str(text or ""))

    # -- persistence ------------------------------------------------------------------------------
    def load(self) -> None:
        """Read this reviewer's saved ratings from the CSV into the drafts."""
        if not self.reviewer:
            return
        df = read_reviews(self.csv_path)
        for _, row in df[df["reviewer"] == self.reviewer].iterrows():
            key = (row["branch"], int(row["prototype_index"]))
            self._drafts[key] = Rating(
                representativeness=None if pd.isna(row["representativeness"]) else int(row["representativeness"]),
                clarity=None if pd.isna(row["clarity"]) else int(row["clarity"]), best=bool(row["best"]),
                bad=bool(row["bad"]), comment=str(row["comment"] or ""), saved=True)

    def set_reviewer(self, name: str) -> None:
        """Change the reviewer (their saved ratings are loaded; unsaved drafts are dropped)."""
        self.reviewer = str(name).strip()
        self._drafts = {}
        self.load()

    def save(self) -> Path:
        """Write the current prototype's rating to the CSV (add or replace the reviewer's row)."""
        if not self.reviewer:
            raise ValueError("enter the reviewer's name before saving (ReviewSession(reviewer=...) or set_reviewer)")
        r = self.rating
        if r.representativeness is None or r.clarity is None:
            raise ValueError(f"rate both representativeness and clarity (1-5) of {self.class_code} prototype "
                             f"{self.current['index']} before saving")
        rec = self.current
        df = read_reviews(self.csv_path)
        same = (df["reviewer"] == self.reviewer) & (df["branch"] == rec["branch"]) & \
               (df["prototype_index"].astype(int) == int(rec["index"]))
        df = df[~same]
        if r.best:  # one best prototype per class and reviewer
            others = (df["reviewer"] == self.reviewer) & (df["class"] == rec["class"]) & df["best"]
            df.loc[others, "best"] = False
            for key, d in list(self._drafts.items()):
                if key != self.key and d.best and any(p["branch"] == key[0] and int(p["index"]) == key[1]
                                                      for p in self.by_class[rec["class"]]):
                    self._drafts[key] = replace(d, best=False)
        row = {"reviewer": self.reviewer, "branch": rec["branch"], "class": rec["class"],
               "prototype_index": int(rec["index"]), "source_ecg_id": rec.get("ecg_id"),
               "representativeness": r.representativeness, "clarity": r.clarity, "best": bool(r.best),
               "bad": bool(r.bad), "comment": r.comment,
               "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        df = pd.concat([df, pd.DataFrame([row])], ignore_index=True) if len(df) else pd.DataFrame([row])
        _write_reviews(df, self.csv_path)
        self._drafts[self.key] = replace(r, saved=True)
        return self.csv_path

    def progress(self) -> dict:
        """Prototypes of the current class saved by this reviewer, and in total."""
        saved = {k for k, r in self._drafts.items() if r.saved}
        in_class = sum((p["branch"], int(p["index"])) in saved for p in self.prototypes)
        total = sum(len(v) for v in self.by_class.values())
        return {"class": self.class_code, "saved_in_class": in_class, "in_class": len(self.prototypes),
                "saved": len(saved), "total": total}


def summarize_reviews(csv_path, by: str = "branch") -> pd.DataFrame:
    """Review results per branch (or per class): mean and SD of both scales, counts, best/bad flags.

    Parameters
    ----------
    csv_path : path or DataFrame
        A review CSV (or :func:`read_reviews`'s frame).
    by : {'branch', 'class'}

    Returns
    -------
    DataFrame
        Indexed by branch (or class) plus an ``all`` row; columns ``ratings``, ``prototypes``,
        ``reviewers``, ``representativeness_mean``, ``representativeness_sd``, ``clarity_mean``,
        ``clarity_sd`` (sample SD, NaN for a single rating), ``best``, ``bad``.
    """
    if by not in ("branch", "class"):
        raise ValueError(f"by must be 'branch' or 'class'; got {by!r}")
    df = csv_path if isinstance(csv_path, pd.DataFrame) else read_reviews(csv_path)
    cols = ["ratings", "prototypes", "reviewers", "representativeness_mean", "representativeness_sd", "clarity_mean",
            "clarity_sd", "best", "bad"]
    if df.empty:
        return pd.DataFrame(columns=cols).rename_axis(by)

    def stats(g: pd.DataFrame) -> dict:
        rep, cla = g["representativeness"].astype(float), g["clarity"].astype(float)
        return {"ratings": len(g), "prototypes": g[["branch", "prototype_index"]].drop_duplicates().shape[0],
                "reviewers": g["reviewer"].nunique(), "representativeness_mean": rep.mean(),
                "representativeness_sd": rep.std(ddof=1), "clarity_mean": cla.mean(), "clarity_sd": cla.std(ddof=1),
                "best": int(g["best"].sum()), "bad": int(g["bad"].sum())}

    order = list(BRANCHES) if by == "branch" else list(LABEL_SETS["all"])
    keys = sorted(df[by].unique(), key=lambda k: order.index(k) if k in order else len(order))
    rows = {k: stats(df[df[by] == k]) for k in keys}
    rows["all"] = stats(df)
    return pd.DataFrame.from_dict(rows, orient="index")[cols].rename_axis(by)


# =========================================================================== the review widget
def _signal_getter(data) -> Callable[[int], np.ndarray]:
    return data.signal


def prototype_review(run, data=None, reviewer: str = "", csv_path: str | Path | None = None, *, dpi: int = 70):
    """The clinicians' prototype review (spec §8.3) as a widget.

    Choose a class, browse its prototypes one by one (the source training ECG in print layout with
    the prototype window shaded, a ``k/N`` pager), rate Representativeness and Clarity on 5-point
    Likert scales, mark the best / a bad prototype, comment, save (appends or updates
    ``csv_path``, default ``RUN/prototype_reviews.csv``). :func:`summarize_reviews` reads the file.

    Parameters
    ----------
    run : Run or path
    data : PTBXL, optional
        The run's data (default: loaded from the run's root).
    reviewer : str
    csv_path : path, optional

    Returns
    -------
    ipywidgets.VBox
        With ``.session`` (the :class:`ReviewSession`) and ``.refresh()``.
    """
    import ipywidgets as W

    from ..evaluation.explain import load_run_data, prototype_figure
    from ..runs.run import Run

    run = run if isinstance(run, Run) else Run(run)
    session = ReviewSession(run, reviewer=reviewer, csv_path=csv_path or run.path / "prototype_reviews.csv")
    data = data if data is not None else load_run_data(run)
    get = _signal_getter(data)
    figures: dict[tuple[str, int], object] = {}

    def class_text(c):
        n = len(session.by_class[c])
        return f"{c} ({branch_of(c)}, {n} prototype{'s' * (n != 1)})"

    class_dd = W.Dropdown(options=[(class_text(c), c) for c in session.classes], value=session.class_code,
                          description="class")
    prev_b, next_b = W.Button(description="< previous"), W.Button(description="next >")
    pager = W.HTML()
    figure = W.Output()
    info = W.HTML()
    likert = [("not rated", 0)] + [(f"{k} {v}", k) for k, v in LIKERT.items()]
    rep = W.RadioButtons(options=likert, value=0)
    cla = W.RadioButtons(options=likert, value=0)
    best = W.ToggleButton(description="best prototype", icon="star")
    bad = W.ToggleButton(description="bad prototype", icon="times")
    comment = W.Textarea(placeholder="free-text comment", continuous_update=False, layout=W.Layout(width="95%"))
    who = W.Text(value=session.reviewer, description="reviewer", placeholder="your name")
    save_b = W.Button(description="save", button_style="primary")
    status = W.HTML()
    busy = {"on": False}

    def refresh_status():
        r, prog = session.rating, session.progress()
        status.value = (("saved" if r.saved else "not saved") + f" | {prog['saved_in_class']}/{prog['in_class']} "
                        f"of this class, {prog['saved']}/{prog['total']} in all")

    def refresh():
        """Show the current prototype: pager, provenance line, figure, and its rating in the controls."""
        busy["on"] = True
        try:
            rec, r = session.current, session.rating
            pager.value = f"<b>{html.escape(session.class_code)}</b> prototype {session.page}"
            sim = rec.get("similarity")
            info.value = (f"{rec['branch']} prototype {rec['index']}: training ECG {rec.get('ecg_id')} "
                          f"[{html.escape(', '.join(rec.get('source_labels') or []))}]"
                          + (f", projection similarity {sim:.2f}" if sim is not None else "")
                          + (f"; same window as prototype {rec['duplicate_of']}" if rec.get("duplicate_of") is not None
                             else ""))
            rep.value, cla.value = r.representativeness or 0, r.clarity or 0
            best.value, bad.value, comment.value = r.best, r.bad, r.comment
            refresh_status()
            key = session.key
            if key not in figures:
                try:
                    figures[key] = prototype_figure(rec, get(rec["ecg_id"]), data.fs, width=9.0)
                except KeyError as exc:
                    figures[key] = str(exc.args[0])
            if isinstance(figures[key], str):
                _message(figure, figures[key])
            else:
                _show(figure, figures[key], dpi)
        finally:
            busy["on"] = False

    def on_class(change):
        session.select(change["new"])
        refresh()

    def on_rating(change):
        if busy["on"]:
            return
        if change["owner"] is rep and rep.value:
            session.rate(representativeness=rep.value)
        elif change["owner"] is cla and cla.value:
            session.rate(clarity=cla.value)
        elif change["owner"] is best:
            session.flag(best=best.value)
        elif change["owner"] is bad:
            session.flag(bad=bad.value)
        elif change["owner"] is comment:
            session.set_comment(comment.value)
        busy["on"] = True
        try:  # best and bad exclude each other: show what the session made of the click
            best.value, bad.value = session.rating.best, session.rating.bad
        finally:
            busy["on"] = False
        refresh_status()

    def on_save(_):
        try:
            if who.value.strip() != session.reviewer:
                pending = {k: v for k, v in session._drafts.items() if not v.saved}
                session.set_reviewer(who.value)
                session._drafts.update(pending)
            path = session.save()
            refresh_status()
            status.value = f"saved to {html.escape(str(path))} | " + status.value
        except ValueError as exc:
            status.value = f"<span style='color:#D55E00'>{html.escape(str(exc))}</span>"

    class_dd.observe(on_class, names="value")
    prev_b.on_click(lambda _: (session.prev(), refresh()))
    next_b.on_click(lambda _: (session.next(), refresh()))
    for w in (rep, cla, best, bad, comment):
        w.observe(on_rating, names="value")
    save_b.on_click(on_save)
    refresh()

    questions = W.HBox([
        W.VBox([W.HTML(f"<b>Representativeness</b><br>{html.escape(QUESTIONS['representativeness'])}"), rep],
               layout=W.Layout(width="50%")),
        W.VBox([W.HTML(f"<b>Clarity</b><br>{html.escape(QUESTIONS['clarity'])}"), cla], layout=W.Layout(width="50%")),
    ])
    box = W.VBox([W.HBox([class_dd, prev_b, pager, next_b]), info, figure, questions, W.HBox([best, bad]), comment,
                  W.HBox([who, save_b]), status])
    box.session, box.refresh = session, refresh
    box.controls = dict(class_dropdown=class_dd, prev=prev_b, next=next_b, pager=pager, figure=figure,
                        representativeness=rep, clarity=cla, best=best, bad=bad, comment=comment, reviewer=who,
                        save=save_b, status=status)
    return box


# =========================================================================== explanation explorer
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
        from ..evaluation.explain import load_run_data
        from ..runs.run import Run

        self.run = run if isinstance(run, Run) else Run(run)
        self.data = data if data is not None else load_run_data(self.run)
        self.model = model if model is not None else self.run.load_model()
        self.provenance = {b: self.run.provenance(b) for b in BRANCHES}
        self.top_k, self.threshold = top_k, threshold
        if ecg_ids is None:
            ecg_ids = self.data.split("test").ecg_id.tolist()
        self.ecg_ids = [int(e) for e in ecg_ids]
        if not self.ecg_ids:
            raise ValueError(f"no ECG to explore: the test fold of {self.data.root} is empty; pass ecg_ids=")
        self._cache: dict[int, object] = {}

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
            kwargs = dict(model=self.model, provenance=self.provenance, top_k=self.top_k, threshold=self.threshold)
            ex = explain_run_ecg(self.run, ecg_id, self.data, **kwargs)
            missed = [c for c in self.true_labels(ecg_id) if c not in ex.predicted]
            if missed and ex.predicted:
                ex = explain_run_ecg(self.run, ecg_id, self.data, labels=[*ex.predicted, *missed], **kwargs)
            elif missed:   # nothing predicted: the missed true labels, most probable first
                ex = explain_run_ecg(self.run, ecg_id, self.data, labels=sorted(missed, key=lambda c: -ex.probabilities[c]),
                                     **kwargs)
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
                 "predicted": ex.probabilities[c] >= ex.threshold, "true": c in truth} for c in show]
        return pd.DataFrame(rows).sort_values("probability", ascending=False).set_index("label")

    def prototype_options(self, ecg_id: int, label: str) -> list[tuple[str, int]]:
        """Dropdown entries for the listed prototypes of one explained label."""
        entry = self.explain(ecg_id).label(label)
        return [(f"{k + 1}. {ev.branch} #{ev.prototype}: contribution {ev.contribution:+.2f}, similarity "
                 f"{ev.similarity:.2f} (source ECG {ev.source_ecg_id})", k) for k, ev in enumerate(entry.prototypes)]

    def figure(self, ecg_id: int, label: str, rank: int = 0):
        from ..evaluation.explain import explanation_figure

        return explanation_figure(self.explain(ecg_id), rank, label, width=9.0)


def _table_html(df: pd.DataFrame) -> str:
    rows = "".join(
        f"<tr><td><b>{html.escape(c)}</b></td><td>{html.escape(r['branch'])}</td><td>{r['probability']:.3f}</td>"
        f"<td>{'yes' if r['predicted'] else ''}</td><td>{'yes' if r['true'] else ''}</td></tr>"
        for c, r in df.iterrows())
    head = "<tr><th>label</th><th>branch</th><th>probability</th><th>predicted</th><th>true</th></tr>"
    return f"<table style='border-collapse:collapse' cellpadding='3'>{head}{rows}</table>"


def explanation_explorer(run, data=None, *, ecg_ids: Sequence[int] | None = None, model=None, top_k: int = 3,
                         threshold: float = 0.5, dpi: int = 70):
    """Pick a test ECG, see its predictions and, per explained label, its prototypes (spec §7).

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
            _message(figure, f"label {label_dd.value}: no prototype to show")
            return
        ev = ex.label(label_dd.value).prototypes[proto_dd.value]
        detail.value = f"<code>{html.escape(ev.describe())}</code>"
        try:
            _show(figure, state.figure(ecg_dd.value, label_dd.value, proto_dd.value), dpi)
        except ValueError as exc:
            _message(figure, str(exc))

    def on_ecg(_=None):
        busy["on"] = True
        try:
            ex = state.explain(ecg_dd.value)
            table.value = _table_html(state.predictions_table(ecg_dd.value))
            missed = sum(1 for e in ex.labels if not e.predicted)
            note.value = (f"<i>{len(ex.predicted)} label(s) reach the threshold {ex.threshold:g}"
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
