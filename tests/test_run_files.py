"""Run files carry their SHA-256 in RUN/manifest.json, written by the stage runner and checked on load:
a changed, truncated or refused file is one line that names the stage to re-run (tiny synthetic run)."""
from __future__ import annotations

import json
import pickle
import shutil

import pytest
import torch

from protoecg_lib.cli import main
from protoecg_lib.data import load_ptbxl
from protoecg_lib.files import sha256_file
from protoecg_lib.models.checkpoints import CheckpointError
from protoecg_lib.runs import Run, RunFileError, RunLayout
from protoecg_lib.synthetic import synthetic_root
from protoecg_lib.training import pipeline_stages, run_pipeline

from conftest import tiny_pipeline_config

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def tiny_data():
    return load_ptbxl(synthetic_root("tiny"))


@pytest.fixture(scope="module")
def finished(tiny_pipeline_run):
    return tiny_pipeline_run                       # shared with other modules: only read here, copied to damage


@pytest.fixture
def run(finished, tmp_path):
    """A private copy of the finished run, safe to damage."""
    return Run(shutil.copytree(finished.path, tmp_path / "run"))


def flip_middle(path, n=64):
    data = bytearray(path.read_bytes())
    mid = len(data) // 2
    data[mid:mid + n] = bytes(b ^ 0xFF for b in data[mid:mid + n])
    path.write_bytes(bytes(data))


def test_every_file_a_stage_writes_has_its_sha256_and_stage(finished):
    layout = RunLayout(finished.path)
    files = json.loads(layout.manifest.read_text())["files"]
    for stage in pipeline_stages(tiny_pipeline_config(), layout):
        for path in stage.writes:
            entry = files[path.relative_to(layout.root).as_posix()]
            assert entry == {"sha256": sha256_file(path), "bytes": path.stat().st_size, "stage": stage.name}


def test_flipped_bytes_in_the_model_are_one_line_naming_the_stage(run, capsys):
    flip_middle(run.layout.model)
    with pytest.raises(RunFileError, match=r"model\.pt was changed or damaged .* Re-run the stage 'fusion' that "
                                           r"writes it: `protoecg train --stage fusion --root "):
        run.load_model()
    assert main(["explain", "--run", str(run.path), "--ecg-id", "900001", "--out", str(run.path / "x")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and "Re-run the stage 'fusion'" in err


def test_a_truncated_checkpoint_names_its_stage(run):
    path = run.layout.best("morphology", "classifier")
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(RunFileError, match=r"is truncated \(1000 bytes; .*'morphology/classifier'.*"
                                           r"--branch morphology --stage classifier"):
        run.load_branch("morphology")


def test_a_refused_pickle_is_short_and_actionable(run, capsys):
    run.layout.baseline.write_bytes(pickle.dumps({"format": "protoecg-checkpoint", "obj": object()}))
    with pytest.raises(RunFileError, match="'baseline'"):
        run.load_baseline()
    run.layout.manifest.unlink()                                      # no manifest: torch itself refuses it
    with pytest.raises(CheckpointError) as info:
        run.load_baseline()
    message = str(info.value)
    assert "does not unpickle such files" in message and "weights_only" not in message
    assert "\n" not in message and "protoecg pipeline" in message
    run.layout.model.write_bytes(run.layout.model.read_bytes()[:5000])
    with pytest.raises(CheckpointError, match=r"model\.pt is truncated or damaged \(.*\); re-create it"):
        run.load_model()


def test_changed_predictions_and_prototypes_are_refused(run):
    path = run.layout.predictions("test")
    path.write_text(path.read_text().replace("0.", "0.9", 1))
    with pytest.raises(RunFileError, match=r"'fusion/predictions'.*`protoecg pipeline --root .* --preset fast "
                                           r"--seed 3 --out "):
        run.predictions("test")
    run.predictions("val")                                            # untouched files load
    proto = run.layout.prototypes("global")
    proto.write_text(proto.read_text() + " ")
    with pytest.raises(RunFileError, match="'global/projection'"):
        run.prototype_sources("global")


def test_the_pipeline_redoes_a_damaged_stage_with_the_same_weights(run, tiny_data, capsys):
    manifest = json.loads(run.layout.manifest.read_text())["files"]
    before = {p: run.path.joinpath(p).read_bytes() for p in manifest if p.startswith("predictions/")}
    weights = run.load_branch("rhythm").state_dict()
    flip_middle(run.layout.best("rhythm", "classifier"))
    run_pipeline(data=tiny_data, out=run.path, config=tiny_pipeline_config(), device="cpu")
    out = capsys.readouterr().out
    assert "[rhythm/classifier] " in out and "running the stage again from its start" in out
    assert "[fusion] already done" in out
    again = run.load_branch("rhythm").state_dict()                    # checked against the updated manifest
    assert all(torch.equal(weights[k], again[k]) for k in weights)
    entry = json.loads(run.layout.manifest.read_text())["files"]["rhythm/classifier/best.pt"]
    assert entry["sha256"] == sha256_file(run.layout.best("rhythm", "classifier"))
    assert {p: run.path.joinpath(p).read_bytes() for p in before} == before
