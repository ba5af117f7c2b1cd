"""Case-based explanations: contributions, rankings, windows, prototype sources, figures, the CLI (method §7).

``build_tiny_run`` (conftest.py) assembles a real run directory in about a second (a tiny untrained
ProtoECGNet, prototypes projected onto excerpt training ECGs, predictions, config).
"""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from matplotlib.colors import to_hex

from protoecg_lib.cli import main
from protoecg_lib.data import load_ptbxl
from protoecg_lib.evaluation.explain import explain_ecg, explain_run_ecg, save_explanation
from protoecg_lib.evaluation.explanation import Explanation, prototype_kind
from protoecg_lib.plotting.explanation import explanation_figure, prototype_figure
from protoecg_lib.labels import BRANCHES, LABEL_SETS, LEADS

from conftest import build_tiny_run

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def data(excerpt_root):
    return load_ptbxl(excerpt_root)


@pytest.fixture(scope="module")
def run(data, tmp_path_factory):
    return build_tiny_run(tmp_path_factory.mktemp("tiny-run"), data)


@pytest.fixture(scope="module")
def model(run):
    return run.load_model()


@pytest.fixture(scope="module")
def sources(run):
    return run.all_prototype_sources()


@pytest.fixture(scope="module")
def test_ecg(data):
    sp = data.split("test", "all")
    return int(sp.ecg_id[0]), np.asarray(sp.signals[0])


def explain_all(model, signals, sources, **kw):
    """Every label explained (a threshold every probability passes)."""
    return explain_ecg(model, signals, sources, threshold=1e-9, top_k=kw.pop("top_k", 50), **kw)


# ----------------------------------------------------------------------------- contributions
def test_contributions_are_weight_times_similarity_and_sum_to_the_logit(model, sources, test_ecg):
    ecg_id, x = test_ecg
    ex = explain_all(model, x, sources, ecg_id=ecg_id)
    assert len(ex.labels) == 71 and not ex.fallback
    with torch.no_grad():
        out = model(torch.from_numpy(np.array(x[None])))
    feats = torch.cat([out.branches[n].similarity for n in BRANCHES], 1)[0].double()   # (sum P,)
    weight = model.fusion.weight.detach().double()
    for entry in ex.labels:
        c = LABEL_SETS["all"].index(entry.label)
        assert entry.logit == pytest.approx(float(out.logits[0, c]), abs=1e-5)
        assert entry.bias + sum(entry.branch_totals.values()) == pytest.approx(entry.logit, abs=1e-4)
        assert entry.probability == pytest.approx(1 / (1 + np.exp(-entry.logit)), rel=1e-6)
        for ev in entry.prototypes + entry.against:
            assert ev.similarity == pytest.approx(float(feats[ev.index]), rel=1e-6)
            assert ev.weight == pytest.approx(float(weight[c, ev.index]), rel=1e-6)
            assert ev.contribution == pytest.approx(ev.weight * ev.similarity, rel=1e-6, abs=1e-9)
        # branch totals are the sums over each branch's columns
        for name, sl in model.feature_slices.items():
            assert entry.branch_totals[name] == pytest.approx(float((weight[c, sl] * feats[sl]).sum()), abs=1e-6)


def test_prototypes_are_the_labels_own_ranked_by_contribution(model, sources, test_ecg):
    _, x = test_ecg
    ex = explain_all(model, x, sources, top_k=2)
    with torch.no_grad():
        out = model(torch.from_numpy(np.array(x[None])))
    feats = torch.cat([out.branches[n].similarity for n in BRANCHES], 1)[0].double().numpy()
    weight = model.fusion.weight.detach().double().numpy()
    proto_label = [LABEL_SETS["all"][k] for k in model.prototype_class.tolist()]
    for entry in ex.labels:
        c = LABEL_SETS["all"].index(entry.label)
        own = [g for g, lab in enumerate(proto_label) if lab == entry.label]
        expected = sorted(own, key=lambda g: -weight[c, g] * feats[g])[:2]
        assert [ev.index for ev in entry.prototypes] == expected
        assert all(ev.label == entry.label for ev in entry.prototypes)
        assert [ev.rank_by_contribution for ev in entry.prototypes] == list(range(1, len(expected) + 1))
        by_sim = sorted(own, key=lambda g: -feats[g])
        for ev in entry.prototypes:
            assert ev.rank_by_similarity == by_sim.index(ev.index) + 1
        # "against": the most negative contributions over all prototypes, most negative first
        contrib = weight[c] * feats
        neg = [g for g in np.argsort(contrib, kind="stable") if contrib[g] < 0][:2]
        assert [ev.index for ev in entry.against] == neg
        assert all(ev.contribution < 0 for ev in entry.against)
        pos = [g for g in np.argsort(-contrib, kind="stable") if contrib[g] > 0][:2]
        assert [ev.index for ev in entry.strongest] == pos
        assert entry.own_class_total == pytest.approx(sum(contrib[g] for g in own), abs=1e-9)


def test_best_window_is_the_argmax_mapped_to_samples(model, sources, test_ecg):
    _, x = test_ecg
    ex = explain_all(model, x, sources)
    with torch.no_grad():
        out = model(torch.from_numpy(np.array(x[None])))
    seen = set()
    for entry in ex.labels:
        for ev in entry.prototypes:
            branch = model.branches[ev.branch]
            ws = out.branches[ev.branch].window_similarity[0, ev.prototype]          # (W,)
            assert ev.match_window == int(ws.argmax())
            assert ev.match_similarity == pytest.approx(float(ws.max()), rel=1e-6)
            assert ev.kind == prototype_kind(branch)
            if ev.kind == "local-2d":
                assert (ev.match_start, ev.match_length) == branch.window_to_samples(ev.match_window, x.shape[1])
                assert ev.match_length == 93 and len(ws) == 30
            else:
                assert (ev.match_start, ev.match_length) == (0, x.shape[1])
            seen.add(ev.kind)
    assert seen == {"global-1d", "local-2d", "global-2d"}


def test_provenance_round_trip(run, model, sources, test_ecg):
    ecg_id, x = test_ecg
    ex = explain_all(model, x, sources, ecg_id=ecg_id)
    for entry in ex.labels:
        for ev in entry.prototypes:
            rec = run.prototype_sources(ev.branch)[ev.prototype]
            assert rec.label == ev.label and rec.projected == ev.projected
            if ev.projected:
                assert (ev.source_ecg_id, ev.source_start, ev.source_length) == (
                    rec.ecg_id, rec.start_sample, rec.length_samples)
                assert tuple(ev.source_labels) == rec.source_labels and ev.label in ev.source_labels
            else:
                assert ev.source_ecg_id is None and rec.reason
    # JSON round trip keeps everything but the signals
    d = json.loads(ex.to_json())
    assert d == ex.to_dict()
    assert "signals" not in d and d["ecg_id"] == ecg_id and len(d["labels"]) == 71
    first = d["labels"][0]
    assert first["total_contribution"] + first["bias"] == pytest.approx(first["logit"], abs=1e-4)


def test_fallback_when_nothing_passes_the_threshold(model, sources, test_ecg):
    _, x = test_ecg
    ex = explain_ecg(model, x, sources, threshold=0.999999, num_fallback=2)
    with torch.no_grad():
        logits = model(torch.from_numpy(np.array(x[None]))).logits[0]
    if (torch.sigmoid(logits) >= 0.999999).any():
        pytest.skip("this untrained model is very sure of a label")
    assert ex.fallback and ex.predicted == [] and len(ex.labels) == 2
    assert "No label reaches the threshold" in ex.note and "top-scoring" in ex.note
    top2 = [LABEL_SETS["all"][k] for k in torch.argsort(-logits)[:2].tolist()]
    assert [e.label for e in ex.labels] == top2
    assert all(not e.predicted for e in ex.labels)


def test_predicted_labels_are_those_over_the_threshold(model, sources, test_ecg):
    _, x = test_ecg
    ex = explain_ecg(model, x, sources, threshold=0.5, true_labels=["NORM", "SR"])
    probs = ex.probabilities
    assert set(ex.predicted) == {c for c, p in probs.items() if p >= 0.5}
    assert ex.predicted == sorted(ex.predicted, key=lambda c: -probs[c])
    if ex.predicted:
        assert [e.label for e in ex.labels] == ex.predicted and not ex.fallback
    for e in ex.labels:
        assert e.true == (e.label in {"NORM", "SR"})
    assert "ECG" in ex.summary()


def test_max_labels_keeps_the_most_probable(model, sources, test_ecg):
    _, x = test_ecg
    full = explain_ecg(model, x, sources, threshold=0.3)
    if len(full.predicted) < 3:
        pytest.skip("too few labels over 0.3 for this untrained model")
    ex = explain_ecg(model, x, sources, threshold=0.3, max_labels=2)
    assert [e.label for e in ex.labels] == full.predicted[:2] and ex.predicted == full.predicted
    assert "2 most probable" in ex.note
    with pytest.raises(ValueError, match="max_labels"):
        explain_ecg(model, x, sources, max_labels=0)


def test_labels_on_request_are_explained_whether_predicted_or_not(model, sources, test_ecg):
    _, x = test_ecg
    full = explain_ecg(model, x, sources, threshold=0.5)
    probs = full.probabilities
    least = min(probs, key=probs.get)                     # surely not predicted
    most = max(probs, key=probs.get)
    ex = explain_ecg(model, x, sources, threshold=0.5, labels=[least, most])
    assert [e.label for e in ex.labels] == [least, most] and not ex.fallback
    assert ex.predicted == full.predicted, "the predicted labels do not depend on which are explained"
    low = ex.label(least)
    assert low.predicted is (probs[least] >= 0.5) and low.probability == pytest.approx(probs[least])
    assert sum(low.branch_totals.values()) + low.bias == pytest.approx(low.logit, abs=1e-4)
    assert f"{least} not predicted" in ex.note or probs[least] >= 0.5
    with pytest.raises(ValueError, match=r"labels \['XYZ'\]"):
        explain_ecg(model, x, sources, labels=["XYZ"])


def test_bad_input(model, sources, test_ecg):
    _, x = test_ecg
    with pytest.raises(ValueError, match=r"\(12, T\)"):
        explain_ecg(model, x.T, sources)
    with pytest.raises(ValueError, match="batch"):
        explain_ecg(model, x[None], sources)
    short = dict(sources, morphology=sources["morphology"][:-1])
    with pytest.raises(ValueError, match="different runs"):
        explain_ecg(model, x, short)
    with pytest.raises(ValueError, match="global"):
        explain_ecg(model, x, {k: v for k, v in sources.items() if k != "global"})
    with pytest.raises(ValueError, match="top_k"):
        explain_ecg(model, x, sources, top_k=0)
    with pytest.raises(TypeError, match="ProtoECGNet"):
        explain_ecg(model.branches["rhythm"], x, sources)


def test_inputs_are_checked_by_physiology(model, sources, test_ecg):
    """Rate, length and units of what a user hands to explain_ecg: converted with a warning where the
    meaning is unambiguous (microvolts, volts, 500 Hz), refused with a message otherwise."""
    from protoecg_lib.data.records import resample

    _, x = test_ecg
    ref = explain_all(model, x, sources)
    with pytest.warns(UserWarning, match="looks like microvolts; converted to mV"):
        micro = explain_all(model, x * 1000, sources)
    assert [e.logit for e in micro.labels] == pytest.approx([e.logit for e in ref.labels], rel=1e-4, abs=1e-4)
    with pytest.warns(UserWarning, match="looks like volts"):
        explain_all(model, x / 1000, sources)
    up = resample(np.asarray(x), 100, 500)                           # the same ECG at 500 Hz
    with pytest.warns(UserWarning, match="resampled from 500 Hz to the model's 100 Hz"):
        ex = explain_all(model, up, sources, fs=500)
    assert ex.fs == 100 and ex.num_samples == 1000
    with pytest.raises(ValueError, match=r"800 samples \(8 s at 100 Hz\), the model takes 1000"):
        explain_ecg(model, x[:, :800], sources)
    flat = np.array(x)
    flat[4] = 0.0
    with pytest.raises(ValueError, match="lead aVL spans 0 mV peak to peak"):
        explain_ecg(model, flat, sources)
    with pytest.raises(ValueError, match="median lead amplitude of .* other units"):
        explain_ecg(model, x * 50, sources)                          # neither mV nor microvolts
    with pytest.raises(ValueError, match="NaN/inf values in lead"):
        explain_ecg(model, np.where(np.arange(1000) == 5, np.nan, x), sources)


# ----------------------------------------------------------------------------- figures
def _bands(fig, ax):
    return sorted((round(h["x0"], 4), round(h["x1"], 4), h["lead"], h["strip"]) for h in fig._protoecg_highlights
                  if h["axes"] is ax)


def _find(ex, kind):
    for entry in ex.labels:
        for rank, ev in enumerate(entry.prototypes):
            if ev.kind == kind and ev.projected and ev.source_ecg_id in ex.sources:
                return entry, rank, ev
    pytest.skip(f"no projected {kind} prototype in this explanation")


@pytest.fixture(scope="module")
def full_explanation(run, data, model, sources, test_ecg):
    ecg_id, _ = test_ecg
    return explain_run_ecg(run, ecg_id, data, model=model, sources=sources, threshold=1e-9, top_k=50)


def test_figure_local_prototype_shades_both_windows(full_explanation):
    ex = full_explanation
    entry, rank, ev = _find(ex, "local-2d")
    fig = explanation_figure(ex, rank, entry.label)
    left, right = fig.axes
    assert len([p for p in fig._protoecg_panels if p["axes"] is left]) == 13
    assert len([p for p in fig._protoecg_panels if p["axes"] is right]) == 13
    a, b = ev.match_start / 100, (ev.match_start + ev.match_length) / 100
    got = _bands(fig, left)
    assert got and min(x0 for x0, *_ in got) == pytest.approx(a) and max(x1 for _, x1, *_ in got) == pytest.approx(b)
    assert {lead for *_, lead, strip in got if not strip} <= set(LEADS)
    assert any(strip for *_, strip in got), "the rhythm strip shows the window too"
    s0, s1 = ev.source_start / 100, (ev.source_start + ev.source_length) / 100
    got = _bands(fig, right)
    assert min(x0 for x0, *_ in got) == pytest.approx(s0) and max(x1 for _, x1, *_ in got) == pytest.approx(s1)
    title = left.get_title(loc="left")
    assert entry.label in title and f"{ev.similarity:.2f}" in title and f"{ev.contribution:+.2f}" in title
    assert str(ev.source_ecg_id) in right.get_title(loc="left")


def test_figure_of_a_negative_contribution(full_explanation):
    ex = full_explanation
    entry = next(e for e in ex.labels if any(ev.projected and ev.source_ecg_id in ex.sources for ev in e.against))
    rank = next(k for k, ev in enumerate(entry.against) if ev.projected and ev.source_ecg_id in ex.sources)
    fig = explanation_figure(ex, rank, entry.label, which="against")
    assert fig._protoecg_explanation["evidence"] is entry.against[rank]
    assert "against #" in fig.axes[0].get_title(loc="left")
    hl = fig._protoecg_highlights
    assert bool(hl) == (entry.against[rank].kind != "global-2d")
    assert all(to_hex(h["patch"].get_facecolor()) == "#d55e00" for h in hl), "against: another colour"


def test_figure_rhythm_prototype_shades_the_strip_only(full_explanation):
    ex = full_explanation
    entry, rank, ev = _find(ex, "global-1d")
    fig = explanation_figure(ex, rank, entry.label)
    for ax in fig.axes:
        assert _bands(fig, ax) == [(0.0, 10.0, "II", True)]


def test_figure_global_prototype_is_unshaded_and_says_whole_record(full_explanation):
    ex = full_explanation
    entry, rank, ev = _find(ex, "global-2d")
    fig = explanation_figure(ex, rank, entry.label)
    assert fig._protoecg_highlights == []
    assert "whole record" in fig.axes[0].get_title(loc="left")
    assert "whole record" in fig.axes[1].get_title(loc="left")


def test_figure_errors(full_explanation, model, sources, test_ecg):
    ex = full_explanation
    with pytest.raises(IndexError, match="prototype_rank"):
        explanation_figure(ex, 999, ex.labels[0].label)
    with pytest.raises(KeyError, match="not explained"):
        explanation_figure(ex, 0, "NOT_A_LABEL")
    with pytest.raises(ValueError, match="which"):
        explanation_figure(ex, 0, ex.labels[0].label, which="best")
    bare = explain_ecg(model, test_ecg[1], sources, threshold=1e-9)      # no sources attached
    entry, rank, ev = next((e, r, v) for e in bare.labels for r, v in enumerate(e.prototypes) if v.projected)
    with pytest.raises(ValueError, match="attach"):
        explanation_figure(bare, rank, entry.label)


def test_prototype_figure_for_review(run, data):
    rec = next(r for r in run.prototype_sources("morphology") if r.projected)
    fig = prototype_figure(rec, data.signal(rec.ecg_id), data.fs)
    bands = fig._protoecg_highlights
    assert min(h["x0"] for h in bands) == pytest.approx(rec.start_sample / 100)
    assert max(h["x1"] for h in bands) == pytest.approx((rec.start_sample + rec.length_samples) / 100)
    unprojected = next((r for b in BRANCHES for r in run.prototype_sources(b) if not r.projected), None)
    if unprojected is not None:
        with pytest.raises(ValueError, match="not projected"):
            prototype_figure(unprojected, data.signal(rec.ecg_id), data.fs)


# ----------------------------------------------------------------------------- run level and CLI
def test_explain_run_ecg_and_save(run, data, test_ecg, tmp_path):
    ecg_id, x = test_ecg
    ex = explain_run_ecg(run, ecg_id, data, top_k=2, max_labels=3)
    assert isinstance(ex, Explanation) and ex.split == "test" and ex.ecg_id == ecg_id
    assert ex.true_labels == list(data.records.loc[ecg_id, "codes"])
    np.testing.assert_array_equal(ex.signals, x)
    assert set(ex.sources) == set(ex.source_ecg_ids())
    paths = save_explanation(ex, tmp_path)
    assert paths[0].name == f"ecg{ecg_id}_explanation.json"
    assert json.loads(paths[0].read_text())["ecg_id"] == ecg_id
    expected = sum(ev.projected for e in ex.labels for ev in e.prototypes)
    assert len(paths) - 1 == expected and all(p.suffix == ".png" and p.stat().st_size > 0 for p in paths[1:])
    assert all("/" not in p.name for p in paths)
    with pytest.raises(KeyError, match="not among"):
        explain_run_ecg(run, 99999999, data)


def test_cli_explain(run, test_ecg, tmp_path, capsys):
    ecg_id, _ = test_ecg
    rc = main(["explain", "--run", str(run.path), "--ecg-id", str(ecg_id), "--out", str(tmp_path / "ex"),
               "--top-k", "1", "--max-labels", "2"])
    assert rc == 0
    out = capsys.readouterr().out
    assert f"ECG {ecg_id}" in out and "wrote" in out
    assert (tmp_path / "ex" / f"ecg{ecg_id}_explanation.json").is_file()
    assert main(["explain", "--run", str(run.path), "--ecg-id", "12345678", "--out", str(tmp_path / "x")]) == 2
    assert "not among" in capsys.readouterr().err


# ----------------------------------------------------------------------------- calibrated probabilities
def test_calibrated_explanation_lists_the_operating_points_labels(run, model, sources, data, test_ecg, tmp_path):
    from protoecg_lib.evaluation.calibration import fit_calibration
    from protoecg_lib.runs import RunLayout

    val = run.predictions("val")
    cal = fit_calibration(val.y_logit, val.y_true, data.split("train", "all").class_weights("official"),
                          labels=val.labels)
    ecg_id, x = test_ecg
    plain = explain_ecg(model, x, sources)
    ex = explain_ecg(model, x, sources, calibration=cal)
    p = np.array([ex.probabilities[c] for c in LABEL_SETS["all"]])
    assert len(ex.predicted) == max(1, int(np.rint(p.sum())))
    assert ex.predicted == sorted(ex.predicted, key=lambda c: -ex.probabilities[c])
    assert ex.operating_point.startswith("calibrated") and "expected" in ex.summary()
    for e in ex.labels:                                  # contributions and logits do not change
        assert e.logit == pytest.approx(explain_ecg(model, x, sources, labels=[e.label]).label(e.label).logit)
        assert e.probability == pytest.approx(float(cal.apply(np.array([[e.logit if k == e.label else 0.0
                                                                          for k in LABEL_SETS["all"]]]))[0,
                                                     LABEL_SETS["all"].index(e.label)]))
    # a run with a calibration file explains with it; calibrated=False goes back to sigmoid >= threshold
    cal.save(RunLayout(run.path).calibration())
    try:
        assert explain_run_ecg(run, ecg_id, data, model=model, sources=sources).predicted == ex.predicted
        assert explain_run_ecg(run, ecg_id, data, model=model, sources=sources, calibrated=False).predicted == \
            plain.predicted
    finally:
        RunLayout(run.path).calibration().unlink()
    with pytest.raises(ValueError, match="labels differ"):
        explain_ecg(model, x, sources, calibration=fit_calibration(val.y_logit[:, :3], val.y_true[:, :3]))
