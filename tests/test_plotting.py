"""Tests of protoecg_lib.plotting, by the figures' axes (as NeuroKit tests ecg_plot).

ECG pages: panels come from ``fig._protoecg_panels``; highlight bands are the Rectangle patches
with gid "highlight", located by their centre inside a panel's page rectangle.
"""
from __future__ import annotations

import io
import json
import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402  (only to check that nothing is registered with it)
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.collections import QuadMesh  # noqa: E402
from matplotlib.container import ErrorbarContainer  # noqa: E402

from protoecg_lib.labels import LABEL_SETS, LEADS  # noqa: E402
from protoecg_lib.plotting import (EcgPaper, Highlight, HouseStyle, plot_auroc_bars, plot_cooccurrence,  # noqa: E402
                                   plot_ecg, plot_ecg_pair, plot_frequency_response, plot_label_frequencies, plot_latent_2d,
                                   plot_lead_strip, plot_prototype_gallery, plot_segment,
                                   plot_similarity_hist, plot_training_curves, relevant_lead)
from protoecg_lib.plotting.style import category_styles  # noqa: E402

COLUMN_OF = {"I": 0, "II": 0, "III": 0, "aVR": 1, "aVL": 1, "aVF": 1, "V1": 2, "V2": 2, "V3": 2,
             "V4": 3, "V5": 3, "V6": 3}


def synthetic_ecg(fs: float = 100, seconds: float = 10.0) -> np.ndarray:
    """(12, T) with a different amplitude per lead, so that rows are told apart."""
    t = np.arange(int(round(fs * seconds))) / fs
    amp = 0.1 * (np.arange(12) + 1)[:, None]  # (12, 1)
    return (amp * np.sin(2 * np.pi * 1.2 * t)[None, :]).astype(np.float32)  # (12, T)


@pytest.fixture(scope="module")
def ecg() -> np.ndarray:
    return synthetic_ecg()


def panels(fig, ax=None, strip=None):
    out = [p for p in fig._protoecg_panels if (ax is None or p["axes"] is ax)]
    return [p for p in out if strip is None or p["strip"] == strip]


def bands(fig):
    """Highlight rectangles as (lead, strip, x0, x1), each placed in the panel holding its centre."""
    found = []
    for ax in fig.axes:
        for patch in ax.patches:
            if patch.get_gid() != "highlight":
                continue
            x0, x1 = patch.get_x(), patch.get_x() + patch.get_width()
            cy = patch.get_y() + patch.get_height() / 2
            cx = (x0 + x1) / 2
            hits = [p for p in panels(fig, ax) if p["y0"] <= cy <= p["y1"] and p["x0"] <= cx <= p["x1"]]
            assert len(hits) == 1, f"band {x0}-{x1} at y={cy} is not inside exactly one panel"
            assert patch.get_y() == pytest.approx(hits[0]["y0"]) and patch.get_height() == pytest.approx(
                hits[0]["y1"] - hits[0]["y0"]), "a band spans its panel's full height"
            found.append((hits[0]["lead"], hits[0]["strip"], round(x0, 6), round(x1, 6)))
    return sorted(found)


def line(ax, gid):
    lines = [ln for ln in ax.lines if ln.get_gid() == gid]
    assert len(lines) == 1, f"expected one line {gid!r}, found {len(lines)}"
    return lines[0]


# ------------------------------------------------------------------------------ print layout

def test_print_layout_has_twelve_panels_and_a_rhythm_strip(ecg):
    fig = plot_ecg(ecg, 100, title="ecg 1")
    assert len(fig.axes) == 1
    ps = panels(fig)
    assert len(ps) == 13
    assert sorted(p["lead"] for p in panels(fig, strip=False)) == sorted(LEADS)
    (strip,) = panels(fig, strip=True)
    assert (strip["lead"], strip["t0"], strip["t1"]) == ("II", 0.0, 10.0)
    for p in panels(fig, strip=False):
        assert p["col"] == COLUMN_OF[p["lead"]]
        assert (p["t0"], p["t1"]) == pytest.approx((2.5 * p["col"], 2.5 * p["col"] + 2.5))
    assert [p["lead"] for p in ps if p["col"] == 0 and not p["strip"]] == ["I", "II", "III"]
    labels = [t.get_text() for t in fig.axes[0].texts if t.get_gid() == "lead-label"]
    assert sorted(labels) == sorted(list(LEADS) + ["II"])
    assert fig.axes[0].get_title(loc="left") == "ecg 1"


def test_traces_sit_at_their_record_time_and_row_offset(ecg):
    fig = plot_ecg(ecg, 100)
    ax = fig.axes[0]
    v1 = line(ax, "trace-V1")  # row 0, column 2: samples 500..749
    np.testing.assert_allclose(v1.get_xdata(), np.arange(500, 750) / 100)
    np.testing.assert_allclose(v1.get_ydata(), ecg[6, 500:750], rtol=1e-6)
    v6 = line(ax, "trace-V6")  # row 2, column 3, baseline 2 x 5 mV lower
    np.testing.assert_allclose(v6.get_ydata(), ecg[11, 750:1000] - 10.0, rtol=1e-6)
    rhythm = line(ax, "trace-rhythm-II")
    np.testing.assert_allclose(rhythm.get_ydata(), ecg[1] - 15.0, rtol=1e-6)
    assert len(rhythm.get_xdata()) == 1000
    assert len([ln for ln in ax.lines if ln.get_gid() == "calibration"]) == 4


def test_grid_lines_are_one_and_five_millimetres(ecg):
    ax = plot_ecg(ecg, 100).axes[0]
    grids = {c.get_gid(): c for c in ax.collections}
    assert {"grid-minor", "grid-major"} <= set(grids)
    segs = [np.asarray(s) for g in ("grid-minor", "grid-major") for s in grids[g].get_segments()]
    xs = np.unique(np.round([s[0, 0] for s in segs if s[0, 0] == s[1, 0]], 6))  # vertical lines
    ys = np.unique(np.round([s[0, 1] for s in segs if s[0, 1] == s[1, 1]], 6))  # horizontal lines
    np.testing.assert_allclose(np.diff(xs), 0.04, atol=1e-6)  # 1 mm at 25 mm/s
    np.testing.assert_allclose(np.diff(ys), 0.1, atol=1e-6)   # 1 mm at 10 mm/mV
    major = [np.asarray(s) for s in grids["grid-major"].get_segments()]
    major_x = np.unique(np.round([s[0, 0] for s in major if s[0, 0] == s[1, 0]], 6))
    np.testing.assert_allclose(np.diff(major_x), 0.2, atol=1e-6)  # 5 mm
    # page -0.4..10 s and -17.5..2.5 mV: 53 vertical + 41 horizontal major lines
    assert len(major) == 53 + 41


def test_page_has_physical_proportions(ecg):
    fig = plot_ecg(ecg, 100)
    ax = fig.axes[0]
    assert ax.get_aspect() == pytest.approx(10 / 25)
    fig.canvas.draw()
    box = ax.get_window_extent()
    # page: (10 + 0.4) s x 25 mm/s = 260 mm wide, 4 rows x 50 mm = 200 mm high
    assert box.width / box.height == pytest.approx(260 / 200, rel=0.01)


@pytest.mark.parametrize("fs", [100, 500])
def test_highlight_before_column_boundary_is_clipped_per_panel(fs):
    fig = plot_ecg(synthetic_ecg(fs), fs, highlights=[Highlight(2.0, 2.93, label="window")])
    got = bands(fig)
    expected = sorted([(lead, False, 2.0, 2.5) for lead in ("I", "II", "III")]
                      + [(lead, False, 2.5, 2.93) for lead in ("aVR", "aVL", "aVF")]
                      + [("II", True, 2.0, 2.93)])
    assert got == expected
    # on the page the first-row pieces join into one band at x 2.0-2.93
    row0 = sorted((x0, x1) for lead, strip, x0, x1 in got if lead in ("I", "aVR"))
    assert row0[0][0] == 2.0 and row0[-1][1] == 2.93 and row0[0][1] == row0[1][0]


def test_highlight_inside_second_column():
    fig = plot_ecg(synthetic_ecg(), 100, highlights=[(3.0, 3.5)])
    assert bands(fig) == sorted([(lead, False, 3.0, 3.5) for lead in ("aVR", "aVL", "aVF")] + [("II", True, 3.0, 3.5)])


def test_rhythm_strip_highlight_spans_the_strip(ecg):
    fig = plot_ecg(ecg, 100, highlights=[Highlight.strip_only(0, 10)])
    assert bands(fig) == [("II", True, 0.0, 10.0)]
    fig = plot_ecg(ecg, 100, highlights=[Highlight(0, 10, leads=["II"])])
    assert bands(fig) == [("II", False, 0.0, 2.5), ("II", True, 0.0, 10.0)]


def test_lead_restricted_highlight_only_in_that_panel(ecg):
    fig = plot_ecg(ecg, 100, highlights=[Highlight(6.0, 6.5, leads=["v1"], color="tab:red")])
    assert bands(fig) == [("V1", False, 6.0, 6.5)]
    fig = plot_ecg(ecg, 100, highlights=[Highlight(1.0, 2.0, leads=["aVR"])])
    assert bands(fig) == [], "aVR shows 2.5-5 s: a 1-2 s band has no panel to shade"


def test_highlight_legend_and_colour(ecg):
    fig = plot_ecg(ecg, 100, highlights=[Highlight(3.0, 3.5, color="tab:red", alpha=0.4, label="prototype")])
    patch = next(p for p in fig.axes[0].patches if p.get_gid() == "highlight")
    assert patch.get_alpha() == 0.4
    assert matplotlib.colors.same_color(patch.get_facecolor()[:3], "tab:red")
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["prototype"]


@pytest.mark.parametrize("fs,n", [(100, 1203), (500, 2500), (100, 2000)])
def test_any_length_gives_quarter_columns(fs, n):
    x = synthetic_ecg(fs, n / fs)
    fig = plot_ecg(x, fs)
    bounds = [(c * n) // 4 for c in range(5)]
    for p in panels(fig, strip=False):
        assert p["t0"] == pytest.approx(bounds[p["col"]] / fs) and p["t1"] == pytest.approx(bounds[p["col"] + 1] / fs)
    assert panels(fig, strip=True)[0]["t1"] == pytest.approx(n / fs)
    assert len(line(fig.axes[0], "trace-I").get_xdata()) == bounds[1]


def test_five_hundred_hz_page_matches_hundred_hz_layout():
    f100, f500 = plot_ecg(synthetic_ecg(100), 100), plot_ecg(synthetic_ecg(500), 500)
    key = [(p["lead"], p["t0"], p["t1"]) for p in f100._protoecg_panels]
    assert key == [(p["lead"], p["t0"], p["t1"]) for p in f500._protoecg_panels]
    assert len(line(f500.axes[0], "trace-V4").get_xdata()) == 1250
    assert f500.axes[0].texts[-1].get_text().endswith("500 Hz")


def test_torch_tensor_and_ptbxl_lead_names(ecg):
    torch = pytest.importorskip("torch")
    names = ["I", "II", "III", "AVR", "AVL", "AVF", "V1", "V2", "V3", "V4", "V5", "V6"]  # PTB-XL headers
    fig = plot_ecg(torch.from_numpy(ecg), 100, leads=names)
    np.testing.assert_allclose(line(fig.axes[0], "trace-aVF").get_ydata(), ecg[5, 250:500] - 10.0, rtol=1e-6)


def test_real_record_renders_to_png(excerpt_root):
    wfdb = pytest.importorskip("wfdb")
    rec = wfdb.rdrecord(str(excerpt_root / "records100" / "00000" / "00001_lr"))
    fig = plot_ecg(rec.p_signal.T, rec.fs, leads=rec.sig_name, highlights=[Highlight(2.0, 2.93)])
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    assert buf.getvalue()[:8] == b"\x89PNG\r\n\x1a\n"


def test_draws_into_a_given_axes(ecg):
    from protoecg_lib.plotting import new_figure
    fig = new_figure((8, 6))
    ax = fig.add_subplot(2, 1, 2)
    assert plot_ecg(ecg, 100, ax=ax) is fig
    assert len(panels(fig, ax)) == 13 and fig._protoecg_panels[0]["axes"] is ax


@pytest.mark.parametrize("bad,match", [
    (np.zeros((11, 1000)), r"shape \(12, T\).*got shape \(11, 1000\)"),
    (np.zeros((1000, 12)), r"got shape \(1000, 12\).*transpose"),
    (np.zeros((2, 12, 1000)), r"got shape \(2, 12, 1000\).*one ECG"),
    (np.zeros((12, 3)), r"shape \(12, 3\).*at least 4 samples"),
])
def test_bad_shapes_name_the_shape(bad, match):
    with pytest.raises(ValueError, match=match):
        plot_ecg(bad, 100)


def test_nan_and_bad_fs_and_bad_highlights(ecg):
    x = ecg.copy()
    x[6, 10:13] = np.nan
    with pytest.raises(ValueError, match=r"shape \(12, 1000\) holds 3 NaN.*lead V1"):
        plot_ecg(x, 100)
    with pytest.raises(ValueError, match="positive sampling rate"):
        plot_ecg(ecg, 0)
    with pytest.raises(ValueError, match="outside the record"):
        plot_ecg(ecg, 100, highlights=[Highlight(12.0, 12.93)])
    with pytest.raises(ValueError, match="start_s < end_s"):
        Highlight(3.0, 2.0)
    with pytest.raises(ValueError, match="not 12-lead names"):
        Highlight(1, 2, leads=["V7"])
    with pytest.raises(ValueError, match=r"leads=\['II'\]"):
        Highlight(1, 2, leads="II")
    with pytest.raises(ValueError, match="lack"):
        plot_ecg(ecg, 100, leads=[f"ch{i}" for i in range(12)])


# ------------------------------------------------------------------------------ pair, strip, segment

def test_pair_has_two_pages_with_their_own_highlights(ecg):
    fig = plot_ecg_pair(ecg, ecg[::-1].copy(), 100, "explained", "prototype source",
                        [Highlight(3.0, 3.5)], [Highlight.strip_only(0, 10)])
    assert len(fig.axes) == 2
    left, right = fig.axes
    assert len(panels(fig, left)) == len(panels(fig, right)) == 13
    assert {p.get_gid() for p in left.patches} == {"highlight"} and len(left.patches) == 4
    assert len(right.patches) == 1 and right.patches[0].get_width() == pytest.approx(10.0)
    assert left.get_title(loc="left") == "explained" and right.get_title(loc="left") == "prototype source"
    lb, rb = left.get_position(), right.get_position()
    assert lb.y0 > rb.y1, "vertical arrangement puts the explained ECG on top"


def test_pair_side_by_side_and_own_sampling_rates():
    fig = plot_ecg_pair(synthetic_ecg(100), synthetic_ecg(500), (100, 500), arrangement="horizontal")
    left, right = fig.axes
    assert left.get_position().x1 < right.get_position().x0
    assert len(line(right, "trace-I").get_xdata()) == 1250
    with pytest.raises(ValueError, match="right_signals must have shape"):
        plot_ecg_pair(synthetic_ecg(), np.zeros((12,)), 100)
    with pytest.raises(ValueError, match="arrangement"):
        plot_ecg_pair(synthetic_ecg(), synthetic_ecg(), 100, arrangement="diagonal")


def test_lead_strip_from_twelve_leads_or_one(ecg):
    fig = plot_lead_strip(ecg, 100, lead="V2", highlights=[Highlight.strip_only(0, 10)], title="rhythm")
    assert len(fig.axes) == 1
    ax = fig.axes[0]
    np.testing.assert_allclose(line(ax, "trace-V2").get_ydata(), ecg[7], rtol=1e-6)
    (patch,) = [p for p in ax.patches if p.get_gid() == "highlight"]
    assert (patch.get_x(), patch.get_width()) == pytest.approx((0.0, 10.0))
    assert [t.get_text() for t in ax.texts if t.get_gid() == "lead-label"] == ["V2"]
    assert list(ax.get_xticks()) == pytest.approx(list(range(11)))
    fig = plot_lead_strip(ecg[1], 100, highlights=[Highlight(1, 2, leads=["V1"])])
    assert not fig.axes[0].patches, "a V1-only band does not shade a lead II strip"
    assert fig.axes[0].get_ylim()[0] <= ecg[1].min() and fig.axes[0].get_ylim()[1] >= ecg[1].max()


def test_segment_is_a_three_by_four_zoom(ecg):
    fig = plot_segment(ecg, 100, 2.0, 2.93)
    ps = panels(fig)
    assert len(ps) == 12 and len(fig.axes) == 1
    assert [p["lead"] for p in ps] == [n for row in (("I", "aVR", "V1", "V4"), ("II", "aVL", "V2", "V5"),
                                                     ("III", "aVF", "V3", "V6")) for n in row]
    ax = fig.axes[0]
    for p in ps:
        tr = line(ax, f"trace-{p['lead']}")
        k = LEADS.index(p["lead"])
        assert len(tr.get_xdata()) == 94  # samples 200..293
        np.testing.assert_allclose(tr.get_ydata() - p["baseline"], ecg[k, 200:294], rtol=1e-5, atol=1e-6)
        assert tr.get_xdata()[0] == pytest.approx(p["x0"]) and p["x0"] == pytest.approx(1.2 * p["col"])
        assert p["y0"] <= tr.get_ydata().min() and tr.get_ydata().max() <= p["y1"]
    with pytest.raises(ValueError, match="must satisfy"):
        plot_segment(ecg, 100, 9.5, 10.5)


# ------------------------------------------------------------------------------ gallery

def source_record(index, cls="IMI", branch="morphology", ecg_id=1, start=100, projected=True, **extra):
    from protoecg_lib.runs import PrototypeSource

    rec = {"index": index, "branch": branch, "label": cls, "class_index": 0, "projected": projected,
           "reason": None if projected else "class has no training positives", "ecg_id": ecg_id if projected else None,
           "source_labels": [cls], "window_index": None, "start_sample": start if projected else None,
           "length_samples": 93 if projected else None, "sampling_rate": 100,
           "similarity": 11.25 if projected else None, "duplicate_of": None}
    rec.update(extra)
    return PrototypeSource.from_dict(rec)


def test_gallery_one_panel_per_prototype():
    def get_signals(ecg_id):
        calls.append(ecg_id)
        x = synthetic_ecg() * 0.1
        x[8, 300:393] = 3.0  # V3 dominates inside the window at 3.0-3.93 s
        x[0, :250] = 4.0     # lead I dominates outside it
        return x

    calls = []
    prov = [source_record(i, ecg_id=7 if i < 3 else 8, start=300) for i in range(5)]
    prov.append(source_record(5, projected=False))
    prov.append(source_record(6, cls="SR", branch="rhythm", ecg_id=9, start=None, length_samples=None))
    fig = plot_prototype_gallery(prov, get_signals, 100, class_code="IMI", ncols=3)
    gal = fig._protoecg_gallery
    assert len(fig.axes) == len(gal) == 6
    assert sorted(calls) == [7, 8], "each source ECG is loaded once"
    assert fig.axes[0].get_title(loc="left") == "IMI #0 ecg 7 s=11.25"
    assert all(g["lead"] == "V3" for g in gal if g["projected"])
    band = next(p for p in fig.axes[0].patches if p.get_gid() == "highlight")
    assert (band.get_x(), band.get_x() + band.get_width()) == pytest.approx((3.0, 3.93))
    empty = gal[5]["axes"]
    assert not gal[5]["projected"] and "class has no training positives" in empty.texts[0].get_text()
    assert not empty.lines
    long = source_record(5, projected=False, reason="class 2AVB has no positive ECG in the training split, "
                                                        "so there is nothing to project this prototype onto")
    fig = plot_prototype_gallery([*prov[:5], long], get_signals, 100, class_code="IMI", ncols=3, panel_width=4.0)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    (text,) = [tx for tx in fig._protoecg_gallery[5]["axes"].texts if tx.get_gid() == "unprojected"]
    assert len(text.get_text().splitlines()) > 2, "a long reason is wrapped"
    panel = fig._protoecg_gallery[5]["axes"].get_window_extent(renderer)
    box = text.get_window_extent(renderer)
    assert panel.x0 - 2 <= box.x0 and box.x1 <= panel.x1 + 2, "the reason stays inside its panel"
    fig = plot_prototype_gallery(prov, get_signals, 100, max_prototypes=4)
    assert len(fig.axes) == 4
    fig = plot_prototype_gallery(prov, get_signals, 100, class_code="SR")
    (g,) = fig._protoecg_gallery
    assert g["lead"] == "II" and (g["x0"], g["x1"]) == (0.0, 10.0)
    with pytest.raises(ValueError, match=r"no prototype of class 'AFIB'.*\['IMI', 'SR'\]"):
        plot_prototype_gallery(prov, get_signals, 100, class_code="AFIB")
    with pytest.raises(ValueError, match=r"entry 0 is not a PrototypeSource record.*label"):
        plot_prototype_gallery([{"index": 0, "branch": "rhythm", "projected": False}], get_signals, 100)


def test_relevant_lead_rules():
    x = np.zeros((12, 1000))
    x[4, 500:593] = 2.0
    assert relevant_lead(source_record(0, start=500), x, 100) == "aVL"
    assert relevant_lead(source_record(0, start=100), x, 100) == "I"  # all zero: first lead
    assert relevant_lead(source_record(0, branch="global", cls="NORM", start=0), x, 100) == "II"
    # a window counted at 500 Hz on a 100-Hz signal is converted through its sampling rate
    assert relevant_lead(source_record(0, start=2500, length_samples=465, sampling_rate=500), x, 100) == "aVL"


# ------------------------------------------------------------------------------ other figures

@pytest.mark.parametrize("c", [5, 71])
def test_cooccurrence_heatmap_has_c_by_c_cells(c):
    rng = np.random.default_rng(0)
    j = rng.random((c, c))
    j = (j + j.T) / 2
    np.fill_diagonal(j, 1.0)
    labels = list(LABEL_SETS["all"][:c])
    fig = plot_cooccurrence(j, labels)
    ax = fig.axes[0]
    (mesh,) = [m for m in ax.collections if isinstance(m, QuadMesh)]
    assert mesh.get_array().size == c * c
    np.testing.assert_allclose(np.asarray(mesh.get_array()).reshape(c, c), j)
    assert [t.get_text() for t in ax.get_xticklabels()] == labels
    assert len([t for t in ax.texts if t.get_text()]) == (c * c if c <= 16 else 0)
    assert all(t.get_rotation() == 90 for t in ax.get_xticklabels())


def test_cooccurrence_mask_and_errors():
    j = np.eye(4)
    fig = plot_cooccurrence(pd.DataFrame(j, index=list("abcd")), mask_upper=True, annotate=False)
    arr = fig.axes[0].collections[0].get_array()
    assert np.ma.count_masked(arr) == 6
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == list("abcd")
    with pytest.raises(ValueError, match=r"square.*\(3, 4\)"):
        plot_cooccurrence(np.zeros((3, 4)), list("abc"))
    with pytest.raises(ValueError, match="3 labels"):
        plot_cooccurrence(np.zeros((4, 4)), list("abc"))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        plot_cooccurrence(np.full((2, 2), 2.0), list("ab"))


def test_frequency_response_draws_each_curve_cutoff_and_bands():
    from scipy.signal import butter, freqz
    b, a = butter(1, 0.5, btype="highpass", fs=100)
    f = np.logspace(-2, np.log10(50), 200)
    _, h = freqz(b, a, worN=f, fs=100)
    single, zero_phase = np.abs(h), np.abs(h) ** 2
    fig = plot_frequency_response(f, {"one pass": single, "zero phase": zero_phase}, cutoff_hz=0.5,
                                  bands={"wander": (0.05, 0.5), "QRS": (5.0, 40.0)})
    ax = fig.axes[0]
    lines = [ln for ln in ax.lines if ln.get_gid() == "response"]
    assert [ln.get_label() for ln in lines] == ["one pass", "zero phase"]
    np.testing.assert_allclose(lines[1].get_ydata(), zero_phase)
    np.testing.assert_allclose(lines[0].get_xdata(), f)
    # the one-pass gain at the cutoff is 1/sqrt(2) (-3 dB), the zero-phase gain 1/2 (-6 dB)
    i = np.argmin(np.abs(np.log(f / 0.5)))
    assert lines[0].get_ydata()[i] == pytest.approx(2 ** -0.5, abs=0.02)
    assert lines[1].get_ydata()[i] == pytest.approx(0.5, abs=0.02)
    (cut,) = [ln for ln in ax.lines if ln.get_gid() == "cutoff"]
    assert np.allclose(cut.get_xdata(), 0.5)
    spans = [p for p in ax.patches if p.get_gid() == "band"]
    assert len(spans) == 2
    spans_hz = sorted((p.get_x(), p.get_x() + p.get_width()) for p in spans)  # axvspan: x in data (Hz)
    np.testing.assert_allclose(spans_hz, [(0.05, 0.5), (5.0, 40.0)])
    assert sorted(t.get_text() for t in ax.texts if t.get_gid() == "band-label") == ["QRS", "wander"]
    assert ax.get_xscale() == "log"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["one pass", "zero phase"]
    # a single array: one unnamed curve, no legend
    fig = plot_frequency_response(f, single)
    assert len([ln for ln in fig.axes[0].lines if ln.get_gid() == "response"]) == 1
    assert fig.axes[0].get_legend() is None


def test_frequency_response_errors():
    f = np.array([0.1, 1.0, 10.0])
    with pytest.raises(ValueError, match="increasing"):
        plot_frequency_response(np.array([0.0, 1.0, 10.0]), np.ones(3))
    with pytest.raises(ValueError, match="increasing"):
        plot_frequency_response(f[::-1], np.ones(3))
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        plot_frequency_response(f, {"h": np.ones(4)})
    with pytest.raises(ValueError, match="complex"):
        plot_frequency_response(f, np.ones(3) * (1 + 1j))
    with pytest.raises(ValueError, match=">= 0"):
        plot_frequency_response(f, -np.ones(3))
    with pytest.raises(ValueError, match="low < high"):
        plot_frequency_response(f, np.ones(3), bands={"bad": (5.0, 1.0)})


def metrics_records():
    out = []
    for b in ("rhythm", "morphology"):
        for stage, n in (("joint", 4), ("projection", 1), ("classifier", 3)):
            for e in range(n):
                out.append({"branch": b, "stage": stage, "epoch": e, "lr": 1e-3, "train_loss": 10 - e,
                            "train_terms": {}, "val_loss": 11 - e, "val_auroc": 0.6 + 0.05 * e, "time_s": 1.0})
    return out


def test_training_curves_from_records_and_run_dir(tmp_path):
    recs = metrics_records()
    fig = plot_training_curves(recs)
    assert len(fig.axes) == 4
    ax_loss, ax_auc = fig.axes[0], fig.axes[1]
    joint = line(ax_loss, "train_loss-joint")
    assert list(joint.get_xdata()) == [1, 2, 3, 4] and list(joint.get_ydata()) == [10, 9, 8, 7]
    clf = line(ax_auc, "val_auroc-classifier")
    assert list(clf.get_xdata()) == [6, 7, 8], "stages follow each other on one epoch axis"
    assert ax_loss.get_title(loc="left") == "rhythm: loss"
    (tmp_path / "metrics.jsonl").write_text("\n".join(json.dumps(r) for r in recs) + "\n")
    fig = plot_training_curves(tmp_path, branch="morphology")
    assert len(fig.axes) == 2 and fig.axes[0].get_title(loc="left") == "morphology: loss"
    with pytest.raises(ValueError, match=r"branch 'global'.*\['rhythm', 'morphology'\]"):
        plot_training_curves(recs, branch="global")
    (tmp_path / "metrics.jsonl").write_text(json.dumps(recs[0]) + "\n{broken\n")
    with pytest.raises(ValueError, match=r"metrics.jsonl:2"):
        plot_training_curves(tmp_path)
    with pytest.raises(FileNotFoundError, match="metrics.jsonl"):
        plot_training_curves(tmp_path / "nowhere")


def test_training_curves_legend_has_only_the_drawn_stages_and_accepts_a_run(tmp_path):
    from protoecg_lib.runs.run import Run

    recs = metrics_records() + [{"branch": "fusion", "stage": "fusion", "epoch": e, "train_loss": 1.0 / (e + 1),
                                 "val_loss": 1.2, "val_auroc": 0.7} for e in range(3)]
    (tmp_path / "metrics.jsonl").write_text("\n".join(json.dumps(r) for r in recs) + "\n")
    (tmp_path / "config.json").write_text("{}")
    fig = plot_training_curves(Run(tmp_path), branch="fusion")
    legend = [tx.get_text() for tx in fig.legends[0].get_texts()]
    assert legend == ["fusion", "train", "validation"], legend
    full = plot_training_curves(Run(tmp_path))
    assert [tx.get_text() for tx in full.legends[0].get_texts()][:4] == ["joint", "projection", "classifier", "fusion"]
    # a stage keeps its colour whichever branch is drawn
    assert line(fig.axes[0], "train_loss-fusion").get_color() == line(full.axes[-2], "train_loss-fusion").get_color()


def test_auroc_bars_title_does_not_overlap_the_legend():
    fig = plot_auroc_bars(auroc_table(), auroc_table(seed=1), title="test fold: fusion vs baseline")
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    ax = fig.axes[0]
    title = fig._suptitle
    assert title is not None and title.get_text() == "test fold: fusion vs baseline"
    assert not title.get_window_extent(renderer).overlaps(ax.get_legend().get_window_extent(renderer))


def auroc_table(n=6, seed=0):
    rng = np.random.default_rng(seed)
    auc = rng.uniform(0.6, 0.98, n)
    return pd.DataFrame({"label": list(LABEL_SETS["rhythm"][:n]), "auroc": auc, "lo": auc - 0.05,
                         "hi": np.minimum(auc + 0.03, 1.0), "support": rng.integers(1, 100, n)})


def test_auroc_bars_sorted_with_ci_and_support():
    t = auroc_table()
    fig = plot_auroc_bars(t)
    ax = fig.axes[0]
    bars = [p for p in ax.patches if p.get_gid() == "auroc-bar"]
    assert len(bars) == 6
    order = sorted(bars, key=lambda b: b.get_y())
    ends = [b.get_x() + b.get_width() for b in order]
    np.testing.assert_allclose(ends, np.sort(t["auroc"].to_numpy())[::-1])
    assert [tl.get_text() for tl in ax.get_yticklabels()] == list(t.sort_values("auroc", ascending=False)["label"])
    supports = sorted(tx.get_text() for tx in ax.texts if tx.get_gid() == "support")
    assert supports == sorted(f"n={s}" for s in t["support"])
    (ci,) = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    spans = sorted((float(seg[:, 0].min()), float(seg[:, 0].max())) for seg in ci.lines[2][0].get_segments())
    np.testing.assert_allclose(spans, sorted(zip(t["lo"], t["hi"])))


@pytest.mark.parametrize("second", [False, True])
def test_auroc_bars_label_without_positives_has_one_annotation(second):
    """A label without test positives: one "n/a (n=0)" beside its (empty) bars, overlapping no other text."""
    t = auroc_table()
    t.loc[[2, 4], "auroc"] = np.nan
    t.loc[[2, 4], ["lo", "hi"]] = np.nan
    t.loc[[2, 4], "support"] = 0
    fig = plot_auroc_bars(t, t.assign(auroc=t["auroc"] - 0.02) if second else None)
    ax = fig.axes[0]
    assert sorted(tx.get_text() for tx in ax.texts if tx.get_gid() == "no-auroc") == ["n/a (n=0)"] * 2
    assert sorted(tx.get_text() for tx in ax.texts if tx.get_gid() == "support") == \
        sorted(f"n={s}" for s in t["support"] if s > 0)
    renderer = fig.canvas.get_renderer()
    boxes = [tx.get_window_extent(renderer) for tx in ax.texts]
    assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:]), "annotations overlap"
    bars = [p.get_window_extent(renderer) for p in ax.patches if str(p.get_gid()).startswith("auroc-bar")
            and p.get_width() > 0]
    assert not any(box.overlaps(bar) for box in boxes for bar in bars), "an annotation covers a bar"


def test_auroc_bars_second_model_and_missing_values():
    t = auroc_table()
    t.loc[2, "auroc"] = np.nan
    base = auroc_table(seed=1)
    fig = plot_auroc_bars(t, base, names=("ProtoECGNet", "black box"))
    ax = fig.axes[0]
    assert len([p for p in ax.patches if p.get_gid() == "auroc-bar"]) == 6
    assert len([p for p in ax.patches if p.get_gid() == "auroc-bar-second"]) == 6
    assert [tx.get_text() for tx in ax.texts if tx.get_gid() == "no-auroc"] == \
        [f"n/a for ProtoECGNet (n={t.loc[2, 'support']})"]
    assert [tl.get_text() for tl in ax.get_yticklabels()][-1] == t.loc[2, "label"], "NaN sorts last"
    legend = [tx.get_text() for tx in ax.get_legend().get_texts()]
    assert legend[0].startswith("ProtoECGNet (macro") and legend[1].startswith("black box")
    with pytest.raises(ValueError, match=r"lacks columns \['auroc'\]"):
        plot_auroc_bars(pd.DataFrame({"label": ["SR"]}))


def test_similarity_hist_groups_and_counts():
    rng = np.random.default_rng(0)
    s = rng.random((40, 5))
    pos = np.arange(40) < 10
    fig = plot_similarity_hist(s, positives=pos, prototypes=[0, 1], density=False, bins=8)
    hist = fig._protoecg_hist
    assert [k.split(" ")[0] for k in hist] == ["positives", "negatives"]
    counts = [c for c, _ in hist.values()]
    assert counts[0].sum() == 10 * 2 and counts[1].sum() == 30 * 2
    assert len(fig.axes[0].get_legend().get_texts()) == 2
    fig = plot_similarity_hist({"a": [0.1, 0.2], "b": [0.3], "c": [0.9]}, density=False, bins=4)
    assert list(fig._protoecg_hist) == ["a", "b", "c"]
    with pytest.raises(ValueError, match="positives has 3 entries.*40 rows"):
        plot_similarity_hist(s, positives=[1, 0, 1])
    with pytest.raises(ValueError, match="NaN"):
        plot_similarity_hist(np.array([np.nan, 1.0]))


def test_latent_2d_points_and_prototypes():
    rng = np.random.default_rng(0)
    pts = rng.normal(size=(30, 2))
    labels = ["SR"] * 10 + ["AFIB"] * 20
    fig = plot_latent_2d(pts, labels, prototypes_2d=[[0, 0], [1, 1]], prototype_labels=["SR", "AFIB"])
    ax = fig.axes[0]
    pts_cols = [c for c in ax.collections if c.get_gid() == "points"]
    assert sum(len(c.get_offsets()) for c in pts_cols) == 30
    np.testing.assert_allclose(pts_cols[0].get_offsets(), pts[:10])
    (protos,) = [c for c in ax.collections if c.get_gid() == "prototypes"]
    np.testing.assert_allclose(protos.get_offsets(), [[0, 0], [1, 1]])
    assert matplotlib.colors.same_color(protos.get_facecolors()[1][:3], pts_cols[1].get_facecolors()[0][:3])
    with pytest.raises(ValueError, match=r"\(N, 2\).*\(30, 3\)"):
        plot_latent_2d(np.zeros((30, 3)))
    with pytest.raises(ValueError, match="one entry per point"):
        plot_latent_2d(pts, ["SR"])


def _style_key(collection):
    """(colour, marker path) of a one-style scatter."""
    color = tuple(np.round(collection.get_facecolors()[0][:3], 3))
    path = collection.get_paths()[0]
    return color, tuple(map(tuple, np.round(path.vertices, 3)))


def test_latent_2d_no_two_categories_look_alike():
    """Chapter 6's map: more categories than the house palette has colours (SR and PACE once shared one)."""
    rng = np.random.default_rng(0)
    cats = ["SR", "SARRH", "AFIB", "SBRAD", "STACH", "SVTAC", "PSVT", "AFLT", "PACE", "SARRH+SR", "none",
            "BIGU", "TRIGU"]
    labels = [c for k, c in enumerate(cats) for _ in range(len(cats) - k)]
    pts = rng.normal(size=(len(labels), 2))
    fig = plot_latent_2d(pts, labels, rng.normal(size=(len(cats), 2)), cats, palette={"none": "#bbbbbb"},
                         order=cats)
    ax = fig.axes[0]
    points = [c for c in ax.collections if c.get_gid() == "points"]
    assert [c.get_label() for c in points] == cats
    keys = [_style_key(c) for c in points]
    assert len(set(keys)) == len(cats), "two categories share a colour and a marker"
    sr, pace = keys[cats.index("SR")], keys[cats.index("PACE")]
    assert sr[0] != pace[0], "SR and PACE have different colours"
    # the prototypes: no two categories share a colour and a prototype marker either
    protos = [c for c in ax.collections if c.get_gid() == "prototypes"]
    looks = set()
    for c in protos:
        marker = tuple(map(tuple, np.round(c.get_paths()[0].vertices, 3)))
        looks |= {(tuple(np.round(f[:3], 3)), marker) for f in c.get_facecolors()}
    assert len(looks) == len(cats)
    # a palette that repeats a colour: the marker tells the two apart
    styles = category_styles(["a", "b", "c"], {"a": "#000000", "b": "#000000"})
    assert styles["a"] == ("#000000", "o") and styles["b"] == ("#000000", "s") and styles["c"][0] != "#000000"
    fig = plot_latent_2d(pts[:20], ["a"] * 10 + ["b"] * 10, palette={"a": "red", "b": "red"})
    a_key, b_key = (_style_key(c) for c in fig.axes[0].collections if c.get_gid() == "points")
    assert a_key[0] == b_key[0] and a_key[1] != b_key[1]
    # a colour shared by a category of points and one of prototypes only: dots and stars tell them apart
    fig = plot_latent_2d(pts[:20], ["a"] * 20, [[0, 0], [1, 1]], ["b", "b"], palette={"a": "red", "b": "red"})
    star = _style_key(plot_latent_2d(pts[:20], ["a"] * 20, [[0, 0]], ["a"]).axes[0].collections[-1])[1]
    (protos,) = [c for c in fig.axes[0].collections if c.get_gid() == "prototypes"]
    assert _style_key(protos)[1] == star


def test_label_frequencies_coloured_by_branch():
    counts = {"SR": 400, "NORM": 300, "IMI": 35, "AFIB": 12}
    fig = plot_label_frequencies(counts, log=True)
    ax = fig.axes[0]
    bars = [p for p in ax.patches if p.get_gid() == "label-bar"]
    assert [b.get_width() for b in sorted(bars, key=lambda b: b.get_y())] == [400, 300, 35, 12]
    style = HouseStyle()
    for b, code in zip(sorted(bars, key=lambda b: b.get_y()), ["SR", "NORM", "IMI", "AFIB"]):
        branch = {"SR": "rhythm", "AFIB": "rhythm", "NORM": "global", "IMI": "morphology"}[code]
        assert matplotlib.colors.same_color(b.get_facecolor(), style.branch_color(branch))
    assert ax.get_xscale() == "log"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["rhythm", "morphology", "global"]
    frame = pd.DataFrame({"label": ["SR", "IMI"], "count": [5, 7]})
    assert len(plot_label_frequencies(frame, sort=False).axes[0].patches) == 2
    with pytest.raises(ValueError, match="label and count"):
        plot_label_frequencies(pd.DataFrame({"a": [1], "b": [2]}))


# ------------------------------------------------------------------------------ house rules

def test_figures_bypass_pyplot_and_keep_rcparams(ecg):
    before_nums, before_rc = plt.get_fignums(), dict(matplotlib.rcParams)
    fig = plot_ecg(ecg, 100)
    plot_auroc_bars(auroc_table())
    assert plt.get_fignums() == before_nums, "no figure is left open in pyplot"
    assert isinstance(fig.canvas, FigureCanvasAgg)
    assert dict(matplotlib.rcParams) == before_rc, "the house style does not leak into global rcParams"
    fig = plot_latent_2d(np.zeros((3, 2)))
    assert not fig.axes[0].spines["top"].get_visible(), "house style: no top spine"


def test_returned_figure_displays_once_in_ipython(ecg):
    pytest.importorskip("IPython")
    from IPython.core.interactiveshell import InteractiveShell

    from protoecg_lib.plotting import enable_notebook_display
    shell = InteractiveShell.instance()
    try:
        assert enable_notebook_display()
        data, _ = shell.display_formatter.format(plot_ecg(ecg, 100))
        assert data["image/png"][:8] == b"\x89PNG\r\n\x1a\n"
    finally:
        InteractiveShell.clear_instance()


def test_custom_paper_speed(ecg):
    fig = plot_ecg(ecg, 100, paper=EcgPaper(mm_per_s=50.0))
    assert fig.axes[0].get_aspect() == pytest.approx(10 / 50)
    minor = next(c for c in fig.axes[0].collections if c.get_gid() == "grid-minor")
    xs = np.unique(np.round([s[0, 0] for s in minor.get_segments() if s[0, 0] == s[1, 0]], 6))
    assert math.isclose(np.min(np.diff(xs)), 0.02, abs_tol=1e-6)
