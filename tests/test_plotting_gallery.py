"""Tests of protoecg_lib.plotting.gallery (synthetic | real gallery, RR measurement, example picking)."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from protoecg_lib.synthetic import EvidenceSpan, SyntheticConfig, generate_record  # noqa: E402
from protoecg_lib.plotting.gallery import (GalleryRow, evidence_highlights, example_record,  # noqa: E402
                                           heart_rate_bpm, plot_synthetic_gallery, rr_intervals)

CLEAN = SyntheticConfig(noise=False)


def _ecg(labels, seed=0, rate=None):
    return generate_record(labels, 100, rng=seed, config=CLEAN, heart_rate=rate)


def _titles(fig):
    return [ax.get_title(loc="left") for ax in fig.axes]


def test_gallery_panels_titles_and_missing_real():
    sr, _ = _ecg(["SR"])
    af, ev = _ecg(["AFIB"], 1)
    rows = [GalleryRow("SR", "II", sr, sr, real_note="ecg 3"),
            GalleryRow("AFIB", "v1", af, None, synthetic_highlights=tuple(evidence_highlights(ev["AFIB"])))]
    fig = plot_synthetic_gallery(rows, 100, title="rhythm")
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 4                                   # two panels per row
    titles = _titles(fig)
    assert titles[0].startswith("SR synthetic, lead II") and "/min" in titles[0]
    assert titles[1].startswith("SR real, lead II") and titles[1].endswith("ecg 3")
    assert titles[2].startswith("AFIB synthetic, lead V1")   # lead name canonicalised
    assert titles[3] == "AFIB real"
    missing = [t for t in fig.axes[3].texts if t.get_gid() == "no-real"]
    assert len(missing) == 1 and missing[0].get_text() == "no excerpt record with AFIB"
    info = fig._protoecg_gallery
    assert [(p["label"], p["column"], p["missing"]) for p in info] == [
        ("SR", "synthetic", False), ("SR", "real", False), ("AFIB", "synthetic", False), ("AFIB", "real", True)]
    texts = [t.get_text() for t in fig.texts]
    assert "rhythm" in texts and "synthetic (protoecg generator)" in texts
    # the traces drawn are the chosen lead
    line = [ln for ln in fig.axes[2].lines if ln.get_gid() == "trace-V1"][0]
    assert np.allclose(line.get_ydata(), af[6])
    # a whole-strip evidence span gives one band over the synthetic AFIB panel
    assert sum(1 for p in fig.axes[2].patches if p.get_gid() == "highlight") == 1


def test_gallery_seconds_cuts_both_panels_and_shares_scale():
    a, _ = _ecg(["SR", "CLBBB"])
    b, _ = _ecg(["SR"], 2)
    fig = plot_synthetic_gallery([GalleryRow("CLBBB", "V1", a, 3 * b)], 100, seconds=4, show_rate=False)
    left, right = fig.axes
    for ax in (left, right):
        x = [ln for ln in ax.lines if ln.get_gid() == "trace-V1"][0].get_xdata()
        assert len(x) == 400 and ax.get_xlim() == (0.0, 4.0)
    assert left.get_ylim() == right.get_ylim()
    assert "/min" not in left.get_title(loc="left")


def test_gallery_bad_input():
    sr, _ = _ecg(["SR"])
    with pytest.raises(ValueError, match="empty"):
        plot_synthetic_gallery([], 100)
    with pytest.raises(TypeError, match="GalleryRow"):
        plot_synthetic_gallery([("SR", "II", sr, None)], 100)
    with pytest.raises(ValueError, match="SCP"):
        plot_synthetic_gallery([GalleryRow("XYZ", "II", sr)], 100)
    with pytest.raises(ValueError, match="lack"):
        plot_synthetic_gallery([GalleryRow("SR", "V7", sr)], 100)
    with pytest.raises(ValueError, match="transpose"):
        plot_synthetic_gallery([GalleryRow("SR", "II", sr.T)], 100)
    with pytest.raises(ValueError, match="real"):
        plot_synthetic_gallery([GalleryRow("SR", "II", sr, sr[:, :500])], 100, seconds=8)
    with pytest.raises(ValueError, match="seconds"):
        plot_synthetic_gallery([GalleryRow("SR", "II", sr)], 100, seconds=0)
    with pytest.raises(ValueError, match="synthetic"):
        plot_synthetic_gallery([GalleryRow("SR", "II", None, sr)], 100)


@pytest.mark.parametrize("labels,rate", [(["SBRAD"], 48.0), (["STACH"], 125.0), (["SR"], 75.0)])
def test_heart_rate_of_synthetic_rhythms(labels, rate):
    sig, _ = generate_record(labels, 100, rng=0, heart_rate=rate)
    assert abs(heart_rate_bpm(sig, 100) - rate) < 0.05 * rate


def test_rr_intervals_afib_irregular_and_errors():
    af, _ = _ecg(["AFIB"], 0, 70)
    sr, _ = _ecg(["SR"], 0, 70)
    cv = lambda rr: rr.std() / rr.mean()  # noqa: E731
    assert cv(rr_intervals(af, 100)) > 0.1 > 0.06 > cv(rr_intervals(sr, 100))
    assert np.isnan(heart_rate_bpm(np.zeros((12, 100)), 100))
    with pytest.raises(ValueError, match="shape"):
        rr_intervals(np.zeros(100), 100)
    with pytest.raises(ValueError, match="NaN"):
        rr_intervals(np.full((12, 100), np.nan), 100)
    with pytest.raises(ValueError, match="fs"):
        rr_intervals(sr, 0)


def test_example_record_prefers_certain_and_plain_records():
    records = pd.DataFrame({
        "codes": [("NORM", "SR"), ("IMI", "SR"), ("IMI", "QWAVE", "SR"), ("IMI", "SR")],
        "scp_codes": ["{'NORM': 100.0, 'SR': 0.0}", "{'IMI': 50.0, 'SR': 0.0}",
                      "{'IMI': 100.0, 'QWAVE': 0.0, 'SR': 0.0}", "{'IMI': 100.0, 'SR': 0.0}"],
    }, index=pd.Index([10, 11, 12, 13], name="ecg_id"))
    assert example_record(records, "IMI") == 13           # likelihood 100, then fewest labels
    assert example_record(records, "IMI", prefer_alone=False) == 12
    assert example_record(records, "SR") == 10
    assert example_record(records, "WPW") is None
    with pytest.raises(ValueError, match="unknown SCP"):
        example_record(records, "XYZ")
    with pytest.raises(ValueError, match="codes"):
        example_record(records.drop(columns="codes"), "IMI")


def test_evidence_highlights():
    spans = [EvidenceSpan(("V1", "V2"), 1.0, 1.2), EvidenceSpan(("II",), 0.0, 10.0)]
    hl = evidence_highlights(spans, label="CLBBB")
    assert [(h.start_s, h.end_s, h.leads, h.label) for h in hl] == [
        (1.0, 1.2, ("V1", "V2"), "CLBBB"), (0.0, 10.0, ("II",), "CLBBB")]
    assert len(evidence_highlights(spans, record_s=10.0)) == 1              # whole-record span dropped
    assert evidence_highlights([{"leads": ["aVL"], "start": 2, "end": 3}])[0].leads == ("aVL",)
