"""Widgets without a display: the review state, its CSV and summary, and both apps' construction."""
from __future__ import annotations

import base64

import numpy as np
import pytest
import torch

from protoecg_lib.data import load_ptbxl
from protoecg_lib.runs import PrototypeSource
from protoecg_lib.widgets import (LIKERT, QUESTIONS, REVIEW_COLUMNS, ExplorerState, ReviewSession,
                                  explanation_explorer, figure_output, prototype_review, read_reviews,
                                  summarize_reviews)
from conftest import build_tiny_run

torch.set_num_threads(1)


def _record(index, cls, branch="morphology", ecg_id=10, projected=True):
    return PrototypeSource(index=index, branch=branch, label=cls, class_index=0, projected=projected,
                           reason=None if projected else "no training positive",
                           ecg_id=ecg_id if projected else None, source_labels=(cls,), window_index=3,
                           start_sample=93, length_samples=93, sampling_rate=100, similarity=12.5)


@pytest.fixture
def sources():
    return {"rhythm": [_record(0, "SR", "rhythm", 1), _record(1, "SR", "rhythm", 2), _record(2, "AFIB", "rhythm",
                                                                                              projected=False)],
            "morphology": [_record(0, "IMI", ecg_id=3), _record(1, "IMI", ecg_id=4), _record(2, "IMI", ecg_id=5)],
            "global": [_record(0, "NORM", "global", 6)]}


# ----------------------------------------------------------------------------- review state
def test_session_navigation(sources, tmp_path):
    s = ReviewSession(sources, "dr a", tmp_path / "r.csv")
    assert s.classes == ["SR", "IMI", "NORM"], "rhythm, morphology, global; unprojected AFIB left out"
    assert s.unprojected == {"AFIB": 1}
    assert s.class_code == "SR" and s.page == "1/2"
    assert s.next().page == "2/2" and s.next().page == "2/2", "the pager stops at the last prototype"
    assert s.prev().prev().page == "1/2"
    s.select("IMI")
    assert s.page == "1/3" and s.current.ecg_id == 3
    assert s.go(2).current.index == 2
    with pytest.raises(KeyError, match="not projected"):
        s.select("AFIB")
    with pytest.raises(KeyError, match="not a class"):
        s.select("LVH")
    with pytest.raises(IndexError):
        s.go(3)


def test_rating_validation(sources, tmp_path):
    s = ReviewSession(sources, "dr a", tmp_path / "r.csv")
    for bad in (0, 6, 2.5, True, "x"):
        with pytest.raises((ValueError, TypeError)):
            s.rate(representativeness=bad)
    with pytest.raises(ValueError, match="both"):
        s.flag(best=True, bad=True)
    s.flag(best=True)
    assert s.flag(bad=True) == s.rating and s.rating.bad and not s.rating.best, "bad clears best"
    with pytest.raises(ValueError, match="rate both"):
        s.save()
    s.rate(representativeness=4)
    with pytest.raises(ValueError, match="rate both"):
        s.save()
    nobody = ReviewSession(sources, "", tmp_path / "r.csv")
    nobody.rate(3, 3)
    with pytest.raises(ValueError, match="reviewer"):
        nobody.save()


def test_review_csv_round_trip_and_update(sources, tmp_path):
    path = tmp_path / "reviews" / "r.csv"
    s = ReviewSession(sources, "dr a", path)
    s.select("IMI").rate(representativeness=5, clarity=4)
    s.set_comment("typical, clean ST elevation, comma, \"quotes\"")
    s.flag(best=True)
    assert s.save() == path and s.rating.saved
    df = read_reviews(path)
    assert list(df.columns) == list(REVIEW_COLUMNS) and len(df) == 1
    row = df.iloc[0]
    assert (row["reviewer"], row["branch"], row["class"], int(row["prototype_index"]), int(row["source_ecg_id"])) == \
           ("dr a", "morphology", "IMI", 0, 3)
    assert (row["representativeness"], row["clarity"], row["best"], row["bad"]) == (5, 4, True, False)
    assert row["comment"] == "typical, clean ST elevation, comma, \"quotes\"" and row["timestamp"]
    # saving the same prototype again replaces its row
    s.rate(clarity=2)
    assert not s.rating.saved
    s.save()
    df = read_reviews(path)
    assert len(df) == 1 and df.iloc[0]["clarity"] == 2
    # a second prototype marked best takes the flag from the first (one best per class and reviewer)
    s.next().rate(3, 3)
    s.flag(best=True)
    s.save()
    df = read_reviews(path).set_index("prototype_index")
    assert bool(df.loc[1, "best"]) and not bool(df.loc[0, "best"])
    # another reviewer adds rows; a new session of dr a resumes with the saved ratings
    other = ReviewSession(sources, "dr b", path)
    other.select("IMI").rate(1, 2)
    other.save()
    assert len(read_reviews(path)) == 3
    again = ReviewSession(sources, "dr a", path).select("IMI")
    assert (again.rating.representativeness, again.rating.clarity, again.rating.best) == (5, 2, False)
    assert again.rating.saved and again.progress()["saved_in_class"] == 2


def test_summary_by_branch_computed_by_hand(sources, tmp_path):
    path = tmp_path / "r.csv"
    ratings = {("dr a", "IMI", 0): (5, 4), ("dr a", "IMI", 1): (3, 2), ("dr b", "IMI", 0): (4, 4),
               ("dr a", "SR", 0): (2, 5)}
    for (who, cls, k), (rep, cla) in ratings.items():
        s = ReviewSession(sources, who, path).select(cls).go(k)
        s.rate(rep, cla)
        s.flag(bad=(rep == 2))
        s.save()
    summary = summarize_reviews(path)
    assert list(summary.index) == ["rhythm", "morphology", "all"]
    m = summary.loc["morphology"]
    assert (m["ratings"], m["prototypes"], m["reviewers"]) == (3, 2, 2)
    assert m["representativeness_mean"] == pytest.approx(4.0)
    assert m["representativeness_sd"] == pytest.approx(1.0)                     # sd of 5, 3, 4
    assert m["clarity_mean"] == pytest.approx(10 / 3)
    assert m["clarity_sd"] == pytest.approx(np.std([4, 2, 4], ddof=1))
    r = summary.loc["rhythm"]
    assert r["ratings"] == 1 and np.isnan(r["representativeness_sd"]) and r["bad"] == 1
    assert summary.loc["all", "ratings"] == 4 and summary.loc["all", "bad"] == 1
    by_class = summarize_reviews(path, by="class")
    assert list(by_class.index) == ["IMI", "SR", "all"]
    empty = summarize_reviews(tmp_path / "none.csv")
    assert empty.empty
    with pytest.raises(ValueError, match="by"):
        summarize_reviews(path, by="lead")
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="not a prototype review file"):
        read_reviews(tmp_path / "bad.csv")


def test_scales_carry_the_papers_questions():
    assert LIKERT[1] == "strongly disagree" and LIKERT[5] == "strongly agree" and len(LIKERT) == 5
    assert "typical/defining presentation" in QUESTIONS["representativeness"]
    assert "noise/artifacts" in QUESTIONS["clarity"]


# ----------------------------------------------------------------------------- the apps
@pytest.fixture(scope="module")
def data(excerpt_root):
    return load_ptbxl(excerpt_root)


@pytest.fixture(scope="module")
def run(data, tmp_path_factory):
    return build_tiny_run(tmp_path_factory.mktemp("widget-run"), data)


def _png(output_widget) -> bytes:
    (out,) = output_widget.outputs
    return base64.b64decode(out["data"]["image/png"])


def test_figure_output_is_png_display_data():
    from matplotlib.figure import Figure

    fig = Figure(figsize=(1, 1))
    out = figure_output(fig)
    assert out["output_type"] == "display_data"
    assert base64.b64decode(out["data"]["image/png"])[:8] == b"\x89PNG\r\n\x1a\n"


def test_prototype_review_widget_without_display(run, data, tmp_path):
    box = prototype_review(run, data, reviewer="dr a", csv_path=tmp_path / "r.csv")
    c, s = box.controls, box.session
    assert _png(c["figure"])[:4] == b"\x89PNG", "the first prototype is drawn at construction"
    assert s.class_code in c["pager"].value and "1/" in c["pager"].value
    first = s.current.index
    if len(s.prototypes) > 1:
        c["next"].click()
        assert s.position == 1 and s.current.index != first
        c["prev"].click()
    c["representativeness"].value = 4
    c["clarity"].value = 5
    c["best"].value = True
    assert (s.rating.representativeness, s.rating.clarity, s.rating.best) == (4, 5, True)
    c["save"].click()
    assert "saved to" in c["status"].value
    df = read_reviews(tmp_path / "r.csv")
    assert len(df) == 1 and df.iloc[0]["prototype_index"] == first and df.iloc[0]["representativeness"] == 4
    other = next(k for k in s.classes if k != s.class_code)
    c["class_dropdown"].value = other
    assert s.class_code == other and s.position == 0 and c["representativeness"].value == 0
    c["save"].click()                                        # not rated: an error message, nothing written
    assert "rate both" in c["status"].value and len(read_reviews(tmp_path / "r.csv")) == 1


def test_prototype_review_figure_fits_a_700_pixel_column(run, data, tmp_path):
    """The review's figure: at most 700 pixels wide, nothing drawn past its edges, title clear of the legend."""
    import io

    from PIL import Image

    box = prototype_review(run, data, csv_path=tmp_path / "r.csv")
    assert Image.open(io.BytesIO(_png(box.controls["figure"]))).size[0] <= 700
    (figure,) = box.figures.values()
    renderer = figure.canvas.get_renderer()
    width = figure.bbox.width
    for ax in figure.axes:
        assert ax.get_window_extent(renderer).x1 <= width and ax.title.get_window_extent(renderer).x1 <= width
        legend = ax.get_legend()
        if legend is not None:
            assert legend.get_window_extent(renderer).x1 <= width
            assert not ax.title.get_window_extent(renderer).overlaps(legend.get_window_extent(renderer))


def test_explanation_explorer_without_display(run, data):
    box = explanation_explorer(run, data, top_k=2)
    state, c = box.state, box.controls
    assert isinstance(state, ExplorerState)
    test_ids = data.split("test").ecg_id.tolist()
    assert [v for _, v in c["ecg"].options] == test_ids
    text, first = c["ecg"].options[0]
    assert text.startswith(f"{first}: ") and ", ".join(data.records.loc[first, "codes"]) in text
    assert _png(c["figure"])[:4] == b"\x89PNG" or "no" in str(c["figure"].outputs)
    assert "<table" in c["table"].value
    table = state.predictions_table(first)
    assert table["probability"].is_monotonic_decreasing
    ex = state.explain(first)
    assert set(table.index) >= set(ex.predicted) | set(ex.true_labels)
    assert [v for _, v in c["label"].options] == [e.label for e in ex.labels]
    truth = set(ex.true_labels)
    listed = [e.label for e in ex.labels]
    assert listed[:len(ex.predicted)] == ex.predicted, "predicted labels first, most probable first"
    assert set(listed[len(ex.predicted):]) == truth - set(ex.predicted), "then the missed true labels"
    for (text, code), e in zip(c["label"].options, ex.labels):
        want = ("correct" if code in truth else "false alarm") if e.predicted else "missed"
        assert text.endswith(f"({want})"), text
    correct = [e.label for e in ex.labels if e.predicted and e.label in truth]
    assert c["label"].value == (correct[0] if correct else listed[0]), "opens on a correct detection when there is one"
    # picking another ECG recomputes everything
    second = c["ecg"].options[1][1]
    c["ecg"].value = second
    ex2 = state.explain(second)
    assert c["label"].value == state.first_label(second)
    assert len(c["prototype"].options) == len(ex2.label(c["label"].value).prototypes)
    if len(ex2.labels) > 1:
        c["label"].value = ex2.labels[1].label
        assert len(c["prototype"].options) == len(ex2.labels[1].prototypes)
    assert state.explain(second) is ex2, "explanations are cached"
