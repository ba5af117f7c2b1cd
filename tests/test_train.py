"""Staged training: what each stage trains, frozen modules in eval mode, resume, the pipeline."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from protoecg_lib.data import load_ptbxl
from protoecg_lib.training import TrainConfig, set_stage, train_branch

from conftest import tiny_branch

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def ds(excerpt_root):
    return load_ptbxl(excerpt_root)


@pytest.fixture(scope="module")
def small(ds):
    return {name: (ds.split("train", name).head(48), ds.split("val", name).head(24))
            for name in ("rhythm", "morphology", "global")}


def _snapshot(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


@pytest.mark.parametrize("stage, trained", [
    ("joint", ("backbone.", "add_on.", "prototype_layer.prototypes")),
    ("prototypes", ("prototype_layer.prototypes",)),
    ("classifier", ("last_layer.weight",)),
])
def test_stage_trains_exactly_its_parameters(small, stage, trained):
    branch = tiny_branch()
    before = _snapshot(branch)
    cfg = TrainConfig(num_epochs=1, batch_size=16, lr=1e-2, patience=1)
    train_branch(branch, small["morphology"], stage, cfg, None, device="cpu", verbose=False)
    after = branch.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    for key in before:
        is_trained = key.startswith(trained)
        if is_trained and before[key].is_floating_point() and "running" not in key and before[key].numel() > 1:
            continue  # a trained tensor may or may not have moved; frozen ones must not
        if not is_trained:
            assert key not in changed, f"{stage}: frozen {key} changed"
    # something the stage trains did change
    assert any(k.startswith(trained) for k in changed), f"{stage} changed nothing it should train"
    if stage != "joint":  # BN statistics of the frozen backbone must not drift (method §9.2 B6)
        assert not any("running_" in k for k in changed)


def test_set_stage_modes_and_optimizer_parameters():
    branch = tiny_branch()
    params = set_stage(branch, "classifier")
    assert params == [branch.last_layer.weight]
    assert not branch.backbone.training and not branch.add_on.training
    assert all(not p.requires_grad for n, p in branch.named_parameters() if n != "last_layer.weight")
    params = set_stage(branch, "joint")
    assert branch.backbone.training and branch.add_on.training
    assert not branch.last_layer.weight.requires_grad
    assert {id(p) for p in params} == {id(p) for p in branch.parameters()} - {id(branch.last_layer.weight)}
    params = set_stage(branch, "prototypes")
    assert params == [branch.prototype_layer.prototypes] and not branch.backbone.training
    with pytest.raises(ValueError, match="fusion"):
        set_stage(branch, "fusion")


def test_joint_keeps_last_layer_pattern(small):
    branch = tiny_branch("global")
    w0 = branch.last_layer.weight.detach().clone()
    train_branch(branch, small["global"], "joint", TrainConfig(num_epochs=1, batch_size=16), None, verbose=False)
    assert torch.equal(branch.last_layer.weight, w0)
    assert set(w0.unique().tolist()) == {1.0, -0.5}


def test_resume_equals_uninterrupted(small, tmp_path):
    cfg = TrainConfig(num_epochs=3, batch_size=16, lr=1e-3, patience=5)
    a = tiny_branch("rhythm", seed=1)
    ra = train_branch(a, small["rhythm"], "joint", cfg, tmp_path / "a", verbose=False)
    b = tiny_branch("rhythm", seed=1)
    r1 = train_branch(b, small["rhythm"], "joint", cfg, tmp_path / "b", verbose=False, stop_after=1)
    assert r1.epochs_run == 1
    b2 = tiny_branch("rhythm", seed=99)  # a fresh process would rebuild the model; state.pt restores it
    rb = train_branch(b2, small["rhythm"], "joint", cfg, tmp_path / "b", verbose=False)
    assert rb.epochs_run == ra.epochs_run == 3
    assert [h["val_auroc"] for h in rb.history] == [h["val_auroc"] for h in ra.history]
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b2.state_dict().items()):
        assert torch.equal(va, vb), ka
    lines = (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(l)["epoch"] for l in lines] == [0, 1, 2]


def test_early_stopping_and_best_checkpoint(small, tmp_path):
    cfg = TrainConfig(num_epochs=6, batch_size=16, lr=1e-3, patience=1)
    branch = tiny_branch("global")
    res = train_branch(branch, small["global"], "joint", cfg, tmp_path, verbose=False)
    assert res.epochs_run <= 6
    if res.epochs_run < 6:
        assert res.stopped_early
    from protoecg_lib.models.checkpoints import load_checkpoint

    best, extra = load_checkpoint(tmp_path / "best.pt")
    assert extra["epoch"] == res.best_epoch
    x = torch.as_tensor(small["global"][1].signals[:4])
    torch.testing.assert_close(best(x).logits, branch(x).logits)  # the branch ends at its best epoch


def test_labels_without_training_positive_stay_finite(small):
    # the excerpt's rhythm training split lacks 8 of the 16 labels: no inf/NaN anywhere (method §9.2b)
    branch = tiny_branch("rhythm")
    res = train_branch(branch, small["rhythm"], "joint", TrainConfig(num_epochs=1, batch_size=16), None, verbose=False)
    rec = res.history[0]
    assert np.isfinite(rec["train_loss"]) and all(np.isfinite(v) for v in rec["train_terms"].values())
    assert all(torch.isfinite(p).all() for p in branch.parameters())


def test_branch_features_runs_on_the_branch_device_and_names_a_mismatch(small):
    from protoecg_lib.training import branch_features

    branch = tiny_branch("global")
    x = np.asarray(small["global"][1].signals[:5])
    feats = branch_features(branch, x, batch_size=2)
    branch.eval()
    with torch.no_grad():
        ref = branch(torch.from_numpy(x.copy())).similarity
    assert feats.shape == (5, branch.num_prototypes) and feats.device.type == "cpu"
    torch.testing.assert_close(feats, ref)
    with pytest.raises(ValueError, match=r"branch is on cpu but device='meta'"):
        branch_features(branch, x, device="meta")
