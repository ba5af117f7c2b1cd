"""Receptive fields, highlights, the local-prototype variant, the sparse evidence tier, ectopic beats,
and the quality report (issue 11)."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from protoecg_lib.evaluation.highlights import (HIGHLIGHT_METHODS, highlight, integrated_gradients, window_crop,
                                                window_similarity_fn)
from protoecg_lib.evaluation.quality import segment_chance
from protoecg_lib.evaluation.receptive_field import receptive_field, shortest_interval, theoretical_spans
from protoecg_lib.models import ProtoBranch, get_preset
from protoecg_lib.synthetic import (EPISODIC_LABELS, SyntheticConfig, describe_beat, evidence_mask, generate_record,
                                    load_evidence, read_marker, write_synthetic_root)

torch.set_num_threads(1)
CLEAN = SyntheticConfig(noise=False)


def _branch(local=False, seed=0):
    torch.manual_seed(seed)
    return ProtoBranch(get_preset("fast").branches["morphology"].replace(local_windows=local)).eval()


def _one_pvc_record():
    """The first record seed whose clean SR + PVC record has exactly one PVC (and it is inside the strip)."""
    labels = ["SR", "PVC"]
    for seed in range(60):
        anatomy = describe_beat(labels, rng=seed, config=CLEAN)
        pvc = [r for r, k in zip(anatomy.r_times, anatomy.kinds) if k == "V" and 1.0 < r < 9.0]
        if len(pvc) == 1 and sum(k == "V" for k in anatomy.kinds) == 1:
            x, ev = generate_record(labels, fs=100, rng=seed, config=CLEAN)
            return x, ev, float(pvc[0])
    raise AssertionError("no record seed below 60 gives exactly one PVC")


# ---------------------------------------------------------------- receptive fields
def test_theoretical_span_is_exact_by_perturbation():
    b = _branch()
    spans = theoretical_spans(b, 1000)
    assert spans.shape == (32, 2)
    assert tuple(spans[16]) == (295, 730)
    x = torch.randn(1, 12, 1000)
    with torch.no_grad():
        for step in (0, 16, 31):
            lo, hi = (int(v) for v in spans[step])
            z0 = b.encode(x)[0, :, 0, step]
            for pos, moves in ((lo - 1, False), (lo, True), (hi - 1, True), (hi, False)):
                if not 0 <= pos < 1000:
                    continue
                x2 = x.clone()
                x2[0, :, pos] += 5.0
                changed = bool((b.encode(x2)[0, :, 0, step] - z0).abs().max() > 0)
                assert changed == moves, (step, pos)


def test_shortest_interval_and_effective_span():
    prof = np.zeros(100)
    prof[40:50] = 1.0
    assert shortest_interval(prof, 0.9) in ((40, 49), (41, 50))
    assert shortest_interval(prof, 1.0) == (40, 50)
    rf = receptive_field(_branch(), signals=0.1 * np.random.default_rng(0).standard_normal((2, 12, 1000)),
                         steps=[16])
    lo, hi = rf.effective[0]
    assert 295 <= lo < 515 < hi <= 730          # inside the theoretical span, around the step's own samples
    assert tuple(rf.nominal[0]) == (500, 531)
    table = rf.table()
    assert table.loc[16, "theoretical_s"] == pytest.approx(4.35)


# ---------------------------------------------------------------- local-prototype variant
def test_local_window_latent_sees_only_its_segment_and_projects_exactly():
    b = _branch(local=True)
    x = torch.randn(2, 12, 1000)
    crops = b.window_crops(1000)
    start, length = (int(v) for v in crops[10])
    nominal = b.window_to_samples(10, 1000)
    assert start <= nominal[0] and nominal[0] + nominal[1] <= start + length == start + 96
    x2 = x.clone()
    x2[:, :, :start] += 3.0
    x2[:, :, start + length:] -= 2.0
    with torch.no_grad():
        out, out2 = b(x), b(x2)
    assert out.latent.shape[2:] == (30, 3)
    assert torch.allclose(out.window_similarity[:, :, 10], out2.window_similarity[:, :, 10])
    assert not torch.allclose(out.window_similarity[:, :, 5], out2.window_similarity[:, :, 5])
    b.set_prototypes(b.latent_windows(out.latent)[1, 7], 0)
    with torch.no_grad():
        assert float(b(x).window_similarity[1, 0, 7]) == pytest.approx(b.config.scale, rel=1e-4)


def test_standard_window_sees_beyond_its_segment():
    b = _branch(local=False)
    x = torch.randn(1, 12, 1000)
    start, length = b.window_to_samples(10, 1000)
    x2 = x.clone()
    x2[:, :, start - 60:start] += 3.0                 # outside the nominal window, inside the receptive field
    with torch.no_grad():
        assert not torch.allclose(b(x).window_similarity[:, :, 10], b(x2).window_similarity[:, :, 10])


def test_local_config_round_trip_checkpoint_and_validation(tmp_path):
    from protoecg_lib.models import BranchConfig
    from protoecg_lib.models.checkpoints import load_checkpoint, save_checkpoint
    from protoecg_lib.training.config import pipeline_config

    cfg = get_preset("fast").branches["morphology"].replace(local_windows=True)
    assert BranchConfig.from_dict(cfg.to_dict()).local_windows
    with pytest.raises(ValueError, match="local_windows"):
        get_preset("fast").branches["global"].replace(local_windows=True)
    b = _branch(local=True)
    save_checkpoint(tmp_path / "b.pt", b)
    again = load_checkpoint(tmp_path / "b.pt")
    again = again[0] if isinstance(again, tuple) else again
    assert again.local_windows
    assert pipeline_config("fast", local_windows=True).model.branches["morphology"].local_windows
    assert not pipeline_config("fast").model.branches["morphology"].local_windows


# ---------------------------------------------------------------- highlights
@pytest.mark.parametrize("local", [False, True])
def test_crop_gives_the_exact_window_similarity(local):
    b = _branch(local=local)
    x = 0.3 * torch.randn(1, 12, 1000)
    with torch.no_grad():
        ws = b(x).window_similarity[0]
        for w in (0, 14, 29):
            c0, c1, off = window_crop(b, w, 1000)
            s = window_similarity_fn(b, 3, off)(x[:, :, c0:c1])
            assert float(s[0]) == pytest.approx(float(ws[3, w]), abs=1e-5)


def test_integrated_gradients_completeness_and_linear_case():
    w = torch.randn(12, 50)

    def linear(x):
        return (x * w).sum(dim=(1, 2))
    x = torch.randn(1, 12, 50)
    ig = integrated_gradients(linear, x, steps=4)
    assert torch.allclose(ig[0], x[0] * w, atol=1e-5)          # for a linear f, IG = x * w exactly
    b = _branch()
    c0, c1, off = window_crop(b, 12, 1000)
    f = window_similarity_fn(b, 2, off)
    xc = 0.3 * torch.randn(1, 12, c1 - c0)
    with torch.no_grad():
        gap = float(f(xc)[0] - f(torch.zeros_like(xc))[0])
    assert float(integrated_gradients(f, xc, steps=128).sum()) == pytest.approx(gap, rel=0.02, abs=1e-3)
    with pytest.raises(ValueError, match="steps"):
        integrated_gradients(f, xc, steps=0)


def test_highlight_peaks_on_the_one_beat_that_carries_the_pattern():
    x, ev, pvc = _one_pvc_record()
    assert len(ev["PVC"]) == 1
    b = _branch()
    with torch.no_grad():
        latent = b(torch.from_numpy(x)[None]).latent
    spans = b.window_spans(1000).numpy()
    w = int(np.argmin(np.abs(spans[:, 0] + spans[:, 1] / 2 - 100 * pvc)))
    b.set_prototypes(b.latent_windows(latent)[0, w], 0)        # prototype 0 = the PVC window itself
    for method in ("occlusion", "gradient", "ig"):
        h = highlight(b, x, 0, method)
        assert h.window == w                                   # the best window is the PVC's
        assert abs(h.peak / 100 - pvc) < 0.3, (method, h.peak, pvc)
        entry = h.to_json()
        assert entry["method"] == method and "not an attribution" not in entry["label"]
        assert len(entry["leads"]) == 3 and entry["top"]["peak_s"] == pytest.approx(h.peak / 100)


def test_window_highlight_is_the_nominal_span_and_bad_input():
    b = _branch()
    x = 0.2 * np.random.default_rng(1).standard_normal((12, 1000)).astype(np.float32)
    h = highlight(b, x, 5, "window", window=12)
    assert h.top == b.window_to_samples(12, 1000) and h.relevance is None
    assert "not an attribution" in h.to_json()["label"]
    assert set(HIGHLIGHT_METHODS) == {"window", "occlusion", "gradient", "ig"}
    with pytest.raises(ValueError, match="unknown highlight method"):
        highlight(b, x, 5, "saliency")
    with pytest.raises(ValueError, match=r"\(12, N\)"):
        highlight(b, x[:6], 5, "ig")
    g = ProtoBranch(get_preset("fast").branches["global"]).eval()
    with pytest.raises(ValueError, match="global prototypes"):
        highlight(g, x, 0, "ig")


def test_segment_chance():
    ev = np.zeros(100, dtype=bool)
    ev[50:60] = True
    assert segment_chance(ev, 10) == pytest.approx(19 / 91)


# ---------------------------------------------------------------- sparse evidence tier
#: sha256 over (relative path, bytes) of every file of write_synthetic_root(ROOT, 12, seed=5) written
#: by the generator before the sparse tier existed (commit 2bb447b). The default tier must not move.
DEFAULT_TIER_SHA256 = "eebcb11a68405de53155a673d55acb93f7fb04a396120ac824934a2f1c308c11"


def _tree_hash(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(Path(root).rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(root)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def test_default_tier_is_byte_identical(tmp_path):
    root = write_synthetic_root(tmp_path / "d", 12, seed=5)
    assert _tree_hash(root) == DEFAULT_TIER_SHA256
    assert _tree_hash(write_synthetic_root(tmp_path / "e", 12, seed=5, evidence="default")) == DEFAULT_TIER_SHA256
    assert "evidence" not in read_marker(root) and "evidence" not in read_marker(root)["config"]


def test_sparse_tier_chance_rate_per_episodic_label(tmp_path):
    from protoecg_lib.evaluation.localisation import window_cover

    root = write_synthetic_root(tmp_path / "s", 400, seed=0, evidence="sparse")
    marker = read_marker(root)
    assert marker["evidence"] == "sparse" and marker["episodic_labels"] == list(EPISODIC_LABELS)
    spans = _branch().window_spans(1000).numpy()
    chance = {code: [] for code in EPISODIC_LABELS}
    for by_label in load_evidence(root).values():
        for code in EPISODIC_LABELS:
            if by_label.get(code):
                chance[code].append(window_cover(evidence_mask(by_label[code], 100, 1000), spans).mean())
    for code, values in chance.items():
        assert len(values) >= 15, code
        assert np.mean(values) < 0.35, (code, np.mean(values))
    with pytest.raises(ValueError, match="evidence"):
        SyntheticConfig(evidence="dense")


def test_intermittent_block_has_evidence_on_few_beats_only():
    cfg = SyntheticConfig(noise=False, evidence="sparse")
    _, ev = generate_record(["SR", "CRBBB"], fs=100, rng=5, config=cfg)
    n_beats = sum(1 for k in describe_beat(["SR", "CRBBB"], rng=5, config=cfg).kinds if k == "N")
    assert 1 <= len(ev["CRBBB"]) <= 3 < n_beats
    assert len(ev["SR"]) == 1 and ev["SR"][0].end - ev["SR"][0].start == 10.0
    assert evidence_mask(ev["CRBBB"], 100, 1000).any(0).mean() < 0.1
    _, dense = generate_record(["SR", "CRBBB"], fs=100, rng=5, config=CLEAN)
    assert len(dense["CRBBB"]) > 3                       # the default tier blocks every beat


# ---------------------------------------------------------------- ectopic beats
def test_ectopic_detector_on_written_records_with_known_premature_beats(tmp_path):
    """Records written to WFDB and read back through load_ptbxl: in sinus records every detected PVC span
    lies on a true PVC, and nearly all true PVCs are found (AFIB records use the shape rule only and
    may add false beats, so only recall is asked of them)."""
    from protoecg_lib.data import load_ptbxl
    from protoecg_lib.evaluation.ectopic import detected_evidence, load_detected_evidence

    root = write_synthetic_root(tmp_path / "s", 60, seed=1, evidence="sparse")
    truth = load_evidence(root)
    data = load_ptbxl(root)
    found = detected_evidence(data, cache=tmp_path / "cache")
    assert load_detected_evidence(tmp_path / "cache") == found
    codes = dict(zip(data.records.index, data.records["codes"]))
    true_pvc = {e: [(s.start + s.end) / 2 for s in ev["PVC"]] for e, ev in truth.items() if ev.get("PVC")}
    assert len(true_pvc) >= 10
    hits = total = sinus_records = 0
    for ecg_id, centres in true_pvc.items():
        got = [(s.start + s.end) / 2 for s in found.get(ecg_id, {}).get("PVC", [])]
        if not set(codes[ecg_id]) & {"AFIB", "AFLT"}:
            sinus_records += 1
            assert all(any(abs(g - c) < 0.1 for c in centres) for g in got), (ecg_id, got, centres)
        hits += sum(any(abs(g - c) < 0.1 for g in got) for c in centres)
        total += len(centres)
    assert sinus_records >= 5 and hits / total >= 0.9, (hits, total)
    assert set(found) <= {e for e, ev in truth.items() if ev.get("PVC") or ev.get("PAC")}


def test_premature_beat_rule_on_a_clean_record():
    from protoecg_lib.evaluation.ectopic import ectopic_evidence, premature_beats

    x, ev, pvc = _one_pvc_record()
    beats = premature_beats(x, 100, shape_rule=True)
    flagged = [b for b in beats if b.premature]
    assert len(flagged) == 1 and abs(flagged[0].r / 100 - pvc) < 0.1 and flagged[0].kind == "V"
    spans = ectopic_evidence(beats, ["SR", "PVC"], 100, 10.0)
    assert set(spans) == {"PVC"} and spans["PVC"][0]["start"] < pvc < spans["PVC"][0]["end"]
    assert ectopic_evidence(beats, ["SR"], 100, 10.0) == {}


# ---------------------------------------------------------------- the quality report and the CLI
QUALITY_KEYS = {"hit_rate", "chance", "lift", "lift_ci", "pairs", "ecgs", "segment", "seconds_mean"}


def test_quality_report_schema_and_cli(tmp_path, capsys):
    from conftest import build_tiny_run
    from protoecg_lib.cli import build_parser, main
    from protoecg_lib.data import load_ptbxl
    from protoecg_lib.evaluation.quality import public_report, run_quality

    assert main(["data", "synth", "--root", str(tmp_path / "s"), "--num-records", "80", "--evidence", "sparse"]) == 0
    assert read_marker(tmp_path / "s")["evidence"] == "sparse"
    data = load_ptbxl(tmp_path / "s")
    run = build_tiny_run(tmp_path / "run", data, num_train=40)
    result = run_quality(run, data, split="test", correct_only=False, n_boot=50, max_pairs=12,
                         methods=("window", "gradient", "ig"))
    report = public_report(result, run)
    assert set(report) == {"run", "split", "evidence", "labels", "local_windows", "localisation",
                           "localisation_by_label", "deletion"}
    assert report["evidence"] == "synthetic" and report["labels"] == list(EPISODIC_LABELS)
    assert set(report["localisation"]) == {"window", "gradient", "ig"}
    for entry in report["localisation"].values():
        assert set(entry) == QUALITY_KEYS and 0 < entry["pairs"] <= 12
        assert entry["lift"] == pytest.approx(entry["hit_rate"] / entry["chance"])
        lo, hi = entry["lift_ci"]
        assert lo <= hi or np.isnan(lo)
    pairs = result["_pairs"]
    assert len(pairs) == 3 * report["localisation"]["ig"]["pairs"]
    assert set(report["deletion"]["ig"]) >= {"similarity_drop_top", "similarity_drop_random", "pairs"}
    json.dumps(report, default=float)

    args = build_parser().parse_args(["quality", "--run", "R", "--json", "--methods", "window", "ig"])
    assert args.json and args.methods == ["window", "ig"]
    capsys.readouterr()
    assert main(["quality", "--run", str(run.path), "--json", "--n-boot", "20", "--max-pairs", "5",
                 "--methods", "window", "ig"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["run"] == str(run.path) and printed["split"] == "test"
    assert set(printed["localisation"]) <= {"window", "ig"}
    assert main(["quality", "--run", str(run.path), "--n-boot", "20", "--max-pairs", "5", "--methods", "window"]) == 0
    assert "pointing game" in capsys.readouterr().out


# ---------------------------------------------------------------- explanations carry the highlights
def test_explanation_carries_labelled_highlights_and_an_evidence_check(tmp_path):
    from conftest import build_tiny_run
    from protoecg_lib.data import load_ptbxl
    from protoecg_lib.evaluation.explain import explain_run_ecg, save_explanation
    from protoecg_lib.plotting.explanation import explanation_figure
    from protoecg_lib.widgets import ExplorerState

    root = write_synthetic_root(tmp_path / "s", 80, seed=2, evidence="sparse")
    data = load_ptbxl(root)
    run = build_tiny_run(tmp_path / "run", data, num_train=40)
    truth = load_evidence(root)
    ecg_id = next(int(e) for e in data.split("test").ecg_id if truth.get(int(e), {}).get("PVC"))
    ex = explain_run_ecg(run, ecg_id, data, labels=["PVC"], top_k=2)
    ev = ex.label("PVC").prototypes[0]
    assert set(ev.highlights) == {"window", "ig"}
    assert "not an attribution" in ev.highlights["window"]["label"]
    assert ev.highlights["ig"]["label"].startswith("integrated gradients")
    assert ev.highlights["window"]["window"]["start_s"] == pytest.approx(ev.match_start / data.fs)
    check = ev.evidence_check
    peak = ev.highlights["ig"]["top"]["peak_s"]
    on = any(s.start <= peak <= s.end for s in truth[ecg_id]["PVC"])
    assert check["basis"] == "synthetic evidence" and check["holds"] is on and check["peak_on_evidence"] is on
    assert ("holds" if on else "does NOT hold") in ev.describe()
    saved = json.loads(ex.to_json())
    entry = saved["labels"][0]["prototypes"][0]
    assert entry["highlights"]["ig"]["top"]["peak_s"] == pytest.approx(peak) and entry["evidence_check"]["holds"] is on
    # only the listed own-class time-localised prototypes get highlights
    assert all(p.highlights is None for p in ex.label("PVC").against if p.kind != "local-2d")
    plain = explain_run_ecg(run, ecg_id, data, labels=["PVC"], top_k=2, highlight=None)
    assert plain.label("PVC").prototypes[0].highlights is None
    fig = explanation_figure(ex, 0, "PVC")
    legend = [t.get_text() for a in fig.axes if a.get_legend() for t in a.get_legend().get_texts()]
    assert any("not an attribution" in t for t in legend) and any(t.startswith("ig peak") for t in legend)
    assert "check vs ground truth" in fig.axes[0].get_title(loc="left")
    paths = save_explanation(ex, tmp_path / "out")
    assert json.loads(paths[0].read_text())["labels"][0]["prototypes"][0]["evidence_check"] is not None
    state = ExplorerState(run, data, ecg_ids=[ecg_id])
    label = next(e.label for e in state.explain(ecg_id).labels if e.prototypes and e.prototypes[0].kind == "local-2d")
    assert state.explain(ecg_id).label(label).prototypes[0].highlights is None     # computed when shown
    text = state.highlight_text(ecg_id, label, 0)
    assert state.explain(ecg_id).label(label).prototypes[0].evidence_check is not None
    assert "nominal window" in text and "not an attribution" in text and "ig peak" in text


def test_evidence_check_without_ground_truth():
    from protoecg_lib.evaluation.evidence_check import check_evidence
    from protoecg_lib.synthetic import EvidenceSpan

    entry = {"method": "ig", "window": {"start_s": 3.0, "end_s": 3.93}, "top": {"peak_s": 5.1}}
    c = check_evidence(entry, None)
    assert c["holds"] is False and c["peak_in_window"] is False and "outside" in c["why"]
    c = check_evidence(entry, [EvidenceSpan(("II",), 5.0, 5.2)], "detected ectopic beats")
    assert c["holds"] is True and c["window_on_evidence"] is False and c["basis"] == "detected ectopic beats"


def test_pick_cases_and_sources_on_evidence():
    import pandas as pd

    from protoecg_lib.evaluation.localisation import sources_on_evidence
    from protoecg_lib.evaluation.quality import pick_cases
    from protoecg_lib.runs import PrototypeSource
    from protoecg_lib.synthetic import EvidenceSpan

    rows = []
    for ecg, proto, point, window_hit, sim in ((1, 0, True, True, 9.0), (2, 0, True, False, 8.0), (3, 1, False, False, 7.0),
                                               (4, 1, False, True, 10.0)):
        rows.append(dict(ecg_id=ecg, prototype=proto, label="PVC", method="ig", point_hit=point, hit=point,
                         similarity=sim, window=0))
        rows.append(dict(ecg_id=ecg, prototype=proto, label="PVC", method="window", point_hit=window_hit,
                         hit=window_hit, similarity=sim, window=0))
    cases = pick_cases(pd.DataFrame(rows), "ig")
    assert cases["localises"]["ecg_id"] == 2          # on the evidence while the window misses it
    assert cases["fails"]["ecg_id"] == 4              # the most similar miss
    assert cases["counts"] == {"pairs": 4, "hits": 2}
    with pytest.raises(ValueError, match="gradient"):
        pick_cases(pd.DataFrame(rows), "gradient")
    src = [PrototypeSource(index=0, branch="morphology", label="PVC", class_index=0, projected=True, ecg_id=7,
                           window_index=0, start_sample=100, length_samples=93, sampling_rate=100),
           PrototypeSource(index=1, branch="morphology", label="PVC", class_index=0, projected=True, ecg_id=7,
                           window_index=0, start_sample=500, length_samples=93, sampling_rate=100)]
    ev = {7: {"PVC": [EvidenceSpan(("II",), 1.5, 1.7)]}}
    table = sources_on_evidence(src, ev, 100, 1000)
    assert table["on_evidence"].tolist() == [True, False]
    # windows [s, s + 93) overlapping samples 150-169: s = 58 .. 169, of the 908 starts 0 .. 907
    assert table["chance"].iloc[0] == pytest.approx(112 / 908)


def test_highlight_figures_label_what_they_show():
    from protoecg_lib.evaluation.highlights import highlights
    from protoecg_lib.plotting.highlights import plot_highlights, plot_lifts, plot_receptive_field
    from protoecg_lib.synthetic import EvidenceSpan

    b = _branch()
    x = 0.2 * np.random.default_rng(3).standard_normal((12, 1000)).astype(np.float32)
    hs = highlights(b, x, 1, methods=("window", "gradient"))
    fig = plot_highlights(x, hs, evidence=[EvidenceSpan(("II",), 2.0, 2.2)])
    gids = {a.get_gid() for ax in fig.axes for a in ax.get_children()}
    assert {"window", "top-gradient", "profile-gradient", "evidence"} <= gids
    rf = receptive_field(b, signals=x[None], steps=[16])
    fig = plot_receptive_field(rf)
    assert {"nominal", "theoretical", "effective"} <= {a.get_gid() for a in fig.axes[0].get_children()}
    rep = {"window": {"lift": 1.2, "lift_ci": [0.5, 2.0], "pairs": 10}, "ig": {"lift": 4.0, "lift_ci": [3.0, 5.0], "pairs": 10}}
    fig = plot_lifts({"val": rep, "test": {"localisation": rep}})
    assert "chance" in {a.get_gid() for a in fig.axes[0].get_children()}
