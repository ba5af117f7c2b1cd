"""The pipeline as declared stages, resume, and the `protoecg pipeline`/`train` commands on a tiny
synthetic root (40 records, a tiny model, one or two epochs: seconds)."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch

from protoecg_lib.cli import main
from protoecg_lib.data import load_ptbxl
from protoecg_lib.evaluation.evaluate import evaluate_run
from protoecg_lib.labels import BRANCHES
from protoecg_lib.runs import Run, RunLayout
from protoecg_lib.synthetic import synthetic_root
from protoecg_lib.training import open_context, optional_stages, pipeline_stages, run_pipeline, run_stages

from conftest import tiny_pipeline_config

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def tiny_data():
    return load_ptbxl(synthetic_root("tiny"))


@pytest.fixture(scope="module")
def tiny_run(tiny_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("pipeline") / "run"
    return run_pipeline(data=tiny_data, out=out, config=tiny_pipeline_config(), device="cpu", verbose=False)


def test_every_stage_writes_what_it_declares(tiny_run):
    layout = RunLayout(tiny_run.path)
    stages = pipeline_stages(tiny_pipeline_config(), layout)
    names = [s.name for s in stages]
    assert names[:4] == ["rhythm/joint", "rhythm/projection", "rhythm/classifier", "rhythm/predictions"]
    assert names[-1] == "summary" and "fusion" in names and "baseline/predictions" in names
    for stage in stages:
        assert stage.done(), f"{stage.name} did not write {[p for p in stage.writes if not p.is_file()]}"
        for path in (*stage.reads, *stage.writes):
            assert layout.root in path.parents, f"{path} is outside the run directory"
    # every stage that reads a file comes after the stage that writes it
    writer = {p: i for i, s in enumerate(stages) for p in s.writes}
    for i, stage in enumerate(stages):
        assert all(writer[p] < i for p in stage.reads), stage.name


def test_summary_is_the_evaluation_of_protoecg_evaluate(tiny_run):
    summary = tiny_run.summary
    evaluation = evaluate_run(tiny_run, "test", write=False)
    assert summary["fusion"]["macro_auroc"] == evaluation["models"]["fusion"]["macro_auroc"]
    assert summary["baseline"]["per_label"] == evaluation["models"]["baseline"]["per_label"]
    for name in BRANCHES:
        assert summary["branches"][name]["macro_auroc"] == evaluation["models"][name]["macro_auroc"]
        assert summary["branches"][name]["projection"]["prototypes"] == len(tiny_run.prototype_sources(name))
    assert json.loads(RunLayout(tiny_run.path).evaluation("test").read_text())["models"].keys() == \
        evaluation["models"].keys()


def test_resume_runs_nothing_twice(tiny_run, tiny_data):
    before = {p: p.stat().st_mtime_ns for p in tiny_run.path.rglob("*.pt")}
    ctx = open_context(out=tiny_run.path, config=tiny_pipeline_config(), data=tiny_data, device="cpu", verbose=False)
    assert run_stages(ctx, pipeline_stages(ctx.config, ctx.layout)) == []
    assert {p: p.stat().st_mtime_ns for p in tiny_run.path.rglob("*.pt")} == before


def test_summary_mode_prints_one_line_per_stage(tiny_data, tmp_path, capsys):
    """What a chapter shows when the book's run trains: a header and one line per stage, no epoch lines."""
    config = tiny_pipeline_config()
    run_pipeline(data=tiny_data, out=tmp_path / "run", config=config, device="cpu", verbose="summary")
    lines = capsys.readouterr().out.strip().splitlines()
    names = [s.name.replace("/", " ") for s in pipeline_stages(config, RunLayout(tmp_path / "run"))]
    assert lines[0].startswith("protoecg pipeline (fast) on cpu") and len(lines) == 1 + len(names)
    for line, name in zip(lines[1:], names):
        assert line.startswith(name + ": ") and line.endswith(" s"), line
    assert not any("epoch " in line and "/" in line.split("epoch ")[1][:5] for line in lines)     # no "epoch 1/2"
    joint = lines[1 + names.index("rhythm joint")]
    assert re.fullmatch(r"rhythm joint: 2 epochs, best val macro AUROC (\d\.\d\d|n/a) at epoch [12], \d+(\.\d)? s", joint)
    assert lines[-1].startswith("summary: test macro AUROC fusion ")
    # resumed: every stage one line, "already done"; verbose=False prints nothing; anything else is refused
    run_pipeline(data=tiny_data, out=tmp_path / "run", config=config, device="cpu", verbose="summary")
    again = capsys.readouterr().out.strip().splitlines()
    assert again[1:] == [f"{n}: already done" for n in names[:-1]]
    run_pipeline(data=tiny_data, out=tmp_path / "run", config=config, device="cpu", verbose=False)
    assert capsys.readouterr().out == ""
    with pytest.raises(ValueError, match="summary"):
        open_context(out=tmp_path / "run", config=config, data=tiny_data, device="cpu", verbose="epochs")


def test_a_run_refuses_another_configuration(tiny_run, tiny_data):
    with pytest.raises(ValueError, match="another configuration"):
        open_context(out=tiny_run.path, config=tiny_pipeline_config(seed=4), data=tiny_data, device="cpu")


def test_one_stage_needs_its_inputs(tiny_data, tmp_path):
    ctx = open_context(out=tmp_path / "run", config=tiny_pipeline_config(), data=tiny_data, device="cpu",
                       verbose=False)
    stages = pipeline_stages(ctx.config, ctx.layout) + optional_stages(ctx.config, ctx.layout)
    with pytest.raises(FileNotFoundError, match="'global/joint' stage first"):
        run_stages(ctx, stages, only={"global/projection"})
    assert run_stages(ctx, stages, only={"global/joint"}) == ["global/joint"]
    assert run_stages(ctx, stages, only={"global/projection"}) == ["global/projection"]
    sources = Run(ctx.layout.root).prototype_sources("global")
    assert len(sources) == 3 * 2 and all(s.branch == "global" for s in sources)


def test_cli_train_validates_arguments_before_touching_disk(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--stage", "joint", "--out", str(out)]) == 2
    assert "--branch is required" in capsys.readouterr().err
    assert not out.exists(), "nothing is written for a command that cannot run"


def test_cli_train_one_stage_then_the_next(tmp_path, capsys):
    root, out = synthetic_root("tiny"), tmp_path / "run"
    args = ["--root", str(root), "--out", str(out), "--preset", "fast", "--epochs", "1", "--device", "cpu"]
    assert main(["train", "--branch", "global", "--stage", "projection", *args]) == 2
    assert "'global/joint' stage first" in capsys.readouterr().err
    assert main(["train", "--branch", "global", "--stage", "joint", *args]) == 0
    assert main(["train", "--branch", "global", "--stage", "projection", *args]) == 0
    layout = RunLayout(out)
    assert layout.projected("global").is_file() and layout.prototypes("global").is_file()
    recorded = json.loads(layout.config.read_text())["pipeline"]["train"]
    assert recorded["joint"]["num_epochs"] == 1 and recorded["prototypes"]["num_epochs"] == 4, \
        "the run records the epochs of the stage --epochs changed, and only those"
    assert main(["train", "--branch", "global", "--stage", "classifier", *args, "--seed", "7"]) == 2
    assert "--seed 42" in capsys.readouterr().err


def test_old_import_paths_warn_and_forward():
    import importlib
    import sys

    from protoecg_lib import training
    from protoecg_lib.teaching import chapter

    for name, attr, target in [("protoecg_lib.pipeline", "cached_run", training.cached_run),
                               ("protoecg_lib.notebook", "setup_chapter", chapter.setup_chapter)]:
        sys.modules.pop(name, None)
        with pytest.warns(FutureWarning, match="removed in 0.3"):
            module = importlib.import_module(name)
        assert getattr(module, attr) is target


# ----------------------------------------------------------------------------- calibration and beat timing
def test_calibration_stage_stores_calibrated_probabilities(tiny_run, tiny_data):
    from protoecg_lib.evaluation.calibration import expected_calibration_error
    from protoecg_lib.runs import MODEL_NAMES

    layout = RunLayout(tiny_run.path)
    for who in MODEL_NAMES:
        cal = tiny_run.calibration(who)
        assert cal is not None and layout.calibration(who).is_file(), who
        for split in ("val", "test"):
            pred = tiny_run.predictions(split, who)
            np.testing.assert_allclose(pred.y_prob, cal.apply(pred.y_logit), rtol=1e-6, atol=1e-12)
    # the summary reports ECE and labels per ECG before and after, from the same numbers
    report = tiny_run.summary["fusion"]["calibration"]
    test = tiny_run.predictions("test")
    assert report["calibrated"]["ece"] == pytest.approx(expected_calibration_error(test.y_true, test.y_prob))
    listed = tiny_run.calibration().predict(test.y_logit).sum(axis=1)
    assert report["calibrated"]["median_listed"] == pytest.approx(float(np.median(listed)))
    assert report["true_median"] == pytest.approx(float(np.median(test.y_true.sum(axis=1))))
    # nothing was fitted on the test fold: refitting on validation alone gives the same calibration
    again = tiny_run.calibration("baseline")
    val = tiny_run.predictions("val", "baseline")
    from protoecg_lib.evaluation.calibration import fit_calibration

    pw = tiny_data.split("train", "all").class_weights("official")
    refit = fit_calibration(val.y_logit, val.y_true, pw, labels=val.labels)
    np.testing.assert_allclose(refit.slope, again.slope)
    branch = tiny_run.summary["branches"]["rhythm"]
    assert {"macro_auroc_trained", "labels_trained", "logit_correlation"} <= set(branch)


def test_rhythm_prototypes_record_their_source_rr_intervals(tiny_run, tiny_data):
    sources = [s for s in tiny_run.prototype_sources("rhythm") if s.projected]
    assert sources
    for s in sources:
        bt = s.beat_timing
        assert bt is not None and bt["lead"] == 1 and len(bt["rr_s"]) >= 1
        # the stored intervals are those of the source ECG's lead II
        np.testing.assert_allclose(np.diff(bt["peak_times_s"])[:3], bt["rr_s"][:3], atol=2e-3)
    assert all(s.beat_timing is None for s in tiny_run.prototype_sources("morphology"))
    branch = tiny_run.load_branch("rhythm")
    assert branch.beat_encoder is not None and branch.center.mode == "running"


def test_cli_calibrate_and_diagnose(tiny_run, capsys):
    assert main(["calibrate", "--run", str(tiny_run.path), "--operating-point", "p50"]) == 0
    assert tiny_run.calibration().rule == "threshold"
    assert json.loads(RunLayout(tiny_run.path).config.read_text())["pipeline"]["calibration"]["operating_point"] == "p50"
    assert main(["calibrate", "--run", str(tiny_run.path), "--operating-point", "expected"]) == 0
    assert tiny_run.calibration().rule == "expected"
    capsys.readouterr()
    assert main(["diagnose", "--run", str(tiny_run.path), "--split", "val", "--per-label"]) == 0
    out = capsys.readouterr().out
    for who in (*BRANCHES, "fusion", "baseline"):
        assert who in out
    assert "logit corr" in out and "training positives" in out


def test_pretraining_runs_once_on_the_other_root_and_starts_the_joint_stages_from_it(tiny_data, tmp_path):
    from protoecg_lib.training.stages import _initial_branch

    config = tiny_pipeline_config(seed=5)
    config.pretrain_root = str(synthetic_root("tiny"))
    run = run_pipeline(data=tiny_data, out=tmp_path / "fine", config=config, device="cpu", verbose=False)
    pre = Run(run.summary["pretrained_on"]["run"])
    assert pre.complete and pre.config["pipeline"]["pretrain_root"] is None
    ctx = open_context(data=tiny_data, out=tmp_path / "again", config=config, device="cpu", verbose=False)
    ctx.pretrained = pre
    for name in BRANCHES:
        start = _initial_branch(ctx, name).state_dict()
        pretrained = pre.load_branch(name, "joint").state_dict()
        assert all(torch.equal(start[k], pretrained[k]) for k in pretrained), name


# ----------------------------------------------------------------------------- reproducible across resume
def _predictions_bytes(run_path):
    layout = RunLayout(run_path)
    return {p.name: p.read_bytes() for p in sorted((layout.root / "predictions").glob("*.csv"))}


@pytest.mark.parametrize("stop_before", ["fusion", "global/joint"])
def test_an_interrupted_run_gives_the_same_numbers_bit_for_bit(tiny_run, tiny_data, tmp_path, stop_before):
    """Stop a tiny pipeline between two stages, disturb the global random stream as another process
    would, resume: every predictions file is byte-identical to the uninterrupted run's."""
    out = tmp_path / "run"
    config = tiny_pipeline_config()
    ctx = open_context(out=out, config=config, data=tiny_data, device="cpu", verbose=False)
    stages = pipeline_stages(config, ctx.layout)
    names = [s.name for s in stages]
    first = stages[:names.index(stop_before)]
    assert run_stages(ctx, first) == [s.name for s in first]
    del ctx                                                    # a new process: nothing kept in memory
    torch.manual_seed(12345)
    torch.rand(1000)                                           # ... and another state of the global stream
    run_pipeline(data=tiny_data, out=out, config=tiny_pipeline_config(), device="cpu", verbose=False)
    assert _predictions_bytes(out) == _predictions_bytes(tiny_run.path)


def test_loading_a_checkpoint_does_not_move_the_random_stream(tiny_run):
    from protoecg_lib.models.checkpoints import load_checkpoint

    torch.manual_seed(0)
    expected = torch.rand(5)
    torch.manual_seed(0)
    load_checkpoint(RunLayout(tiny_run.path).model)
    assert torch.equal(torch.rand(5), expected)


def test_the_one_probability_function_applies_the_runs_calibration(tiny_run):
    from protoecg_lib.evaluation.auroc import sigmoid
    from protoecg_lib.runs.probabilities import listed, probabilities

    pred = tiny_run.predictions("test")
    np.testing.assert_allclose(probabilities(tiny_run, pred.y_logit), pred.y_prob, rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(probabilities(tiny_run, pred.y_logit[0]), pred.y_prob[0], rtol=1e-6, atol=1e-12)
    np.testing.assert_array_equal(listed(tiny_run, pred.y_logit), tiny_run.calibration().predict(pred.y_logit))
    np.testing.assert_allclose(probabilities(None, pred.y_logit), sigmoid(pred.y_logit))
    np.testing.assert_array_equal(listed(None, pred.y_logit, 0.7), sigmoid(pred.y_logit) >= 0.7)
