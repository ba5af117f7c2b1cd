"""Tests of protoecg_lib.models.checkpoints: round trips, strict loading, corrupt files, atomic writes."""
from __future__ import annotations

import os

import pytest
import torch

from protoecg_lib.models import checkpoints
from protoecg_lib.models.checkpoints import CheckpointError, load_checkpoint, load_weights, read_checkpoint, save_checkpoint
from protoecg_lib.models import ProtoBranch, ProtoECGNet, get_preset
from protoecg_lib.models.baseline import BaselineConfig, BaselineNet

torch.set_num_threads(1)


class _Opaque:
    """A custom class: weights_only loading must refuse to unpickle it."""


def _trained_like(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Move weights and BN statistics away from their initial values."""
    torch.manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.01 * torch.randn_like(p))
        model.train()
        model(torch.randn(4, 12, 1000))   # updates BN running statistics
    return model.eval()


@pytest.fixture(scope="module")
def fast_model():
    return _trained_like(ProtoECGNet(get_preset("fast", fusion="masked")))


def test_model_round_trip_gives_identical_outputs(tmp_path, fast_model):
    extra = {"epoch": 7, "stage": "joint", "metrics": {"val_auroc": 0.81}, "history": [1.0, 2.0],
             "tensor": torch.arange(3), "none": None}
    path = save_checkpoint(tmp_path / "sub" / "best.pt", fast_model, extra=extra)
    model, got_extra = load_checkpoint(path)
    assert isinstance(model, ProtoECGNet) and not model.training
    assert model.config == fast_model.config
    x = torch.randn(3, 12, 1000)
    with torch.no_grad():
        a, b = fast_model(x), model(x)
    assert torch.equal(a.logits, b.logits)
    for name in a.branches:
        assert torch.equal(a.branches[name].window_similarity, b.branches[name].window_similarity)
    assert got_extra["epoch"] == 7 and got_extra["metrics"] == {"val_auroc": 0.81}
    assert torch.equal(got_extra["tensor"], torch.arange(3)) and got_extra["none"] is None
    assert not [p for p in os.listdir(path.parent) if p.endswith(".tmp")]


def test_branch_round_trip_and_stored_layout(tmp_path):
    branch = _trained_like(ProtoBranch(get_preset("fast").branches["morphology"]), seed=3)
    path = save_checkpoint(tmp_path / "branch.pt", branch)
    raw = torch.load(path, weights_only=True)
    assert raw["format"] == "protoecg-checkpoint" and raw["version"] == 1 and raw["kind"] == "branch"
    assert raw["config"] == branch.config.to_dict() and raw["extra"] == {}
    assert "class_identity" in raw["state_dict"]
    loaded, _ = load_checkpoint(path, kind="branch")
    x = torch.randn(2, 12, 1000)
    with torch.no_grad():
        assert torch.equal(branch(x).logits, loaded(x).logits)
    with pytest.raises(CheckpointError, match="expected a 'model'"):
        load_checkpoint(path, kind="model")


def test_config_weights_mismatch_names_parameter_shapes_and_file(tmp_path, fast_model):
    path = save_checkpoint(tmp_path / "model.pt", fast_model)
    raw = torch.load(path, weights_only=True)
    raw["config"]["branches"]["morphology"]["prototypes_per_class"] = 4   # config says 208 prototypes
    bad = tmp_path / "edited.pt"
    torch.save(raw, bad)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(bad)
    msg = str(err.value)
    assert "branches.morphology.prototype_layer.prototypes" in msg
    assert "(156, 64, 1, 3)" in msg and "(208, 64, 1, 3)" in msg
    assert str(bad) in msg


def test_load_weights_lists_missing_and_unexpected(fast_model):
    branch = ProtoBranch(get_preset("fast").branches["rhythm"])
    sd = dict(branch.state_dict())
    sd["model.extra_tensor"] = sd.pop("add_on.0.weight")
    before = branch.add_on[2].weight.clone()
    sd["add_on.2.weight"] = sd["add_on.2.weight"] + 1
    with pytest.raises(CheckpointError, match=r"missing 1 tensor\(s\): add_on.0.weight.*unexpected 1 tensor\(s\): model.extra_tensor"):
        load_weights(branch, sd, source="unit-test")
    assert torch.equal(branch.add_on[2].weight, before)   # nothing loaded


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_corrupt_file_is_a_clear_error(tmp_path, fast_model, damage):
    path = save_checkpoint(tmp_path / "model.pt", fast_model)
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        path.write_bytes(b"not a checkpoint at all" * 10)
    else:
        path.write_bytes(b"")
    with pytest.raises(CheckpointError, match=str(path)):
        load_checkpoint(path)


def test_missing_file_and_foreign_files(tmp_path, fast_model):
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        load_checkpoint(tmp_path / "nope.pt")
    bare = tmp_path / "bare.pt"
    torch.save(fast_model.state_dict(), bare)
    with pytest.raises(CheckpointError, match="not a protoecg checkpoint"):
        load_checkpoint(bare)
    newer = tmp_path / "newer.pt"
    raw = torch.load(save_checkpoint(tmp_path / "m.pt", fast_model), weights_only=True)
    torch.save({**raw, "version": 2}, newer)
    with pytest.raises(CheckpointError, match="version 2"):
        read_checkpoint(newer)


def test_weights_only_refuses_arbitrary_objects(tmp_path, fast_model):
    path = tmp_path / "evil.pt"
    raw = torch.load(save_checkpoint(tmp_path / "m.pt", fast_model), weights_only=True)
    raw["extra"] = {"obj": _Opaque()}
    torch.save(raw, path)
    with pytest.raises(CheckpointError, match="other than tensors"):
        load_checkpoint(path)


def test_extra_must_be_plain(tmp_path, fast_model):
    target = tmp_path / "x.pt"
    with pytest.raises(TypeError, match=r"extra\['obj'\] is a _Opaque"):
        save_checkpoint(target, fast_model, extra={"obj": _Opaque()})
    assert not target.exists()
    with pytest.raises(TypeError, match="ProtoBranch, ProtoECGNet or BaselineNet"):
        save_checkpoint(target, torch.nn.Linear(2, 2))


def test_interrupted_save_keeps_previous_file(tmp_path, fast_model, monkeypatch):
    path = save_checkpoint(tmp_path / "last.pt", fast_model, extra={"epoch": 1})
    good = path.read_bytes()
    real_save = torch.save

    def failing_save(obj, fh, *args, **kwargs):
        real_save(obj, fh, *args, **kwargs)
        fh.truncate(100)                        # half-written file, then the process "dies"
        raise KeyboardInterrupt

    monkeypatch.setattr(checkpoints.torch, "save", failing_save)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, fast_model, extra={"epoch": 2})
    monkeypatch.undo()
    assert path.read_bytes() == good
    assert sorted(os.listdir(tmp_path)) == ["last.pt"]       # no temp file left behind
    _, extra = load_checkpoint(path)
    assert extra["epoch"] == 1


def test_load_rebuilds_without_downloading_pretrained_weights(tmp_path):
    cfg = get_preset("fast").branches["global"]
    branch = ProtoBranch(cfg)
    path = save_checkpoint(tmp_path / "g.pt", branch)
    raw = torch.load(path, weights_only=True)
    raw["config"]["pretrained"] = True         # as saved on Colab after an ImageNet start
    torch.save(raw, path)
    loaded, _ = load_checkpoint(path)           # must not need torchvision or a download
    assert loaded.config.pretrained is True
    assert torch.equal(loaded.backbone.layer1[0].conv1.weight, branch.backbone.layer1[0].conv1.weight)


def test_baseline_round_trip(tmp_path):
    torch.manual_seed(0)
    net = BaselineNet(BaselineConfig(backbone="2d", label_set="global", base_width=8, dropout=0.2)).eval()
    path = save_checkpoint(tmp_path / "fe.pt", net, extra={"stage": "feature_extractor"})
    assert torch.load(path, weights_only=True)["kind"] == "baseline"
    loaded, extra = load_checkpoint(path, kind="baseline")
    assert isinstance(loaded, BaselineNet) and loaded.config == net.config and extra["stage"] == "feature_extractor"
    x = torch.randn(2, 12, 1000)
    with torch.no_grad():
        assert torch.equal(net(x), loaded(x))
