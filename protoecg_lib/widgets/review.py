"""The clinicians' prototype review widget (method §8.3) over :class:`~protoecg_lib.widgets.reviews.ReviewSession`."""
from __future__ import annotations

import html
from pathlib import Path
from typing import Callable

import numpy as np

from ..labels import branch_of
from .display import show_figure, show_message
from .reviews import LIKERT, QUESTIONS, ReviewSession

__all__ = ["prototype_review", "FIGURE_WIDTH"]

#: Width of the review's figure in inches: 630 pixels at the default ``dpi=70``, inside the
#: 700-800-pixel content column of the book's pages and of a notebook (the image also shrinks with the
#: column where the page allows).
FIGURE_WIDTH = 9.0


def _signal_getter(data) -> Callable[[int], np.ndarray]:
    return data.signal


def prototype_review(run, data=None, reviewer: str = "", csv_path: str | Path | None = None, *, dpi: int = 70):
    """The clinicians' prototype review (method §8.3) as a widget.

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
        With ``.session`` (the :class:`ReviewSession`), ``.refresh()`` and ``.figures`` (the figures
        drawn so far, by (class, page)).
    """
    import ipywidgets as W

    from ..plotting.explanation import prototype_figure
    from ..runs.run import Run

    run = run if isinstance(run, Run) else Run(run)
    session = ReviewSession(run, reviewer=reviewer, csv_path=csv_path or run.path / "prototype_reviews.csv")
    data = data if data is not None else run.load_data()
    get = _signal_getter(data)
    figures: dict[tuple[str, int], object] = {}

    def class_text(c):
        n = len(session.by_class[c])
        return f"{c} ({branch_of(c)}, {n} prototype{'s' * (n != 1)})"

    class_dd = W.Dropdown(options=[(class_text(c), c) for c in session.classes], value=session.class_code,
                          description="class")
    narrow = dict(width="100px")                 # the class row fits a 640-pixel column on one line
    prev_b = W.Button(description="< previous", layout=W.Layout(**narrow))
    next_b = W.Button(description="next >", layout=W.Layout(**narrow))
    pager = W.HTML(layout=W.Layout(margin="0 8px"))
    figure = W.Output(layout=W.Layout(max_width="100%"))
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
        """Show the current prototype: pager, source line, figure, and its rating in the controls."""
        busy["on"] = True
        try:
            rec, r = session.current, session.rating
            pager.value = f"<b>{html.escape(session.class_code)}</b> prototype {session.page}"
            sim = rec.similarity
            info.value = (f"{rec.branch} prototype {rec.index}: training ECG {rec.ecg_id} "
                          f"[{html.escape(', '.join(rec.source_labels or ()))}]"
                          + (f", projection similarity {sim:.2f}" if sim is not None else "")
                          + (f"; same window as prototype {rec.duplicate_of}" if rec.duplicate_of is not None
                             else ""))
            rep.value, cla.value = r.representativeness or 0, r.clarity or 0
            best.value, bad.value, comment.value = r.best, r.bad, r.comment
            refresh_status()
            key = session.key
            if key not in figures:
                try:
                    # FIGURE_WIDTH inches at ``dpi`` fit a 700-pixel column; the line above the figure
                    # names the source ECG, so the figure's title stays short (clear of its legend)
                    figures[key] = prototype_figure(rec, get(rec.ecg_id), data.fs, width=FIGURE_WIDTH,
                                                    title=f"{rec.label} prototype {rec.index} ({rec.branch})")
                except KeyError as exc:
                    figures[key] = str(exc.args[0])
            if isinstance(figures[key], str):
                show_message(figure, figures[key])
            else:
                show_figure(figure, figures[key], dpi)
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
    wrap = W.Layout(flex_flow="row wrap", max_width="100%")     # a narrow column wraps the controls
    box = W.VBox([W.HBox([class_dd, prev_b, pager, next_b], layout=wrap), info, figure, questions,
                  W.HBox([best, bad]), comment, W.HBox([who, save_b], layout=wrap), status],
                 layout=W.Layout(max_width="100%"))
    box.session, box.refresh, box.figures = session, refresh, figures     # figures: drawn ones, by (class, page)
    box.controls = dict(class_dropdown=class_dd, prev=prev_b, next=next_b, pager=pager, figure=figure,
                        representativeness=rep, clarity=cla, best=best, bad=bad, comment=comment, reviewer=who,
                        save=save_b, status=status)
    return box
