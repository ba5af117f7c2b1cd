"""The presets as issue 16 left them: the paper's settings kept, what the fast preset changes, per-branch
stage settings, float32 by default, and ImageNet weights for the paper's 2D branches when they can be had."""
from __future__ import annotations

import pytest

from protoecg_lib.cli import build_parser
from protoecg_lib.cli.training import _config
from protoecg_lib.models import ProtoBranch, get_preset
from protoecg_lib.models import backbones
from protoecg_lib.training.config import STAGES, TrainConfig, pipeline_config, stage_config, train_presets


def test_paper_preset_is_the_papers():
    config = pipeline_config("paper")
    for key, cfg in config.train.items():
        assert cfg.lr == 1e-4 and cfg.num_epochs == 200 and cfg.amp is False, key
    assert set(config.train) == set(STAGES)                       # no per-branch overrides
    rhythm = config.model.branches["rhythm"]
    assert rhythm.beat_timing == "none" and rhythm.latent_center == "none" and not rhythm.pretrained
    assert config.model.branches["morphology"].pretrained and config.model.branches["global"].pretrained


def test_fast_preset_changes_the_rhythm_branch_only_where_it_says():
    config = pipeline_config("fast")
    assert stage_config(config.train, "joint", "rhythm").lr == 1e-2
    assert stage_config(config.train, "joint", "morphology") is config.train["joint"]
    assert config.train["joint"].lr == 1e-3 and config.train["joint"].num_epochs == 16
    assert config.train["feature_extractor"].num_epochs == config.train["joint"].num_epochs   # same budget
    rhythm = config.model.branches["rhythm"]
    assert rhythm.beat_timing == "rr" and rhythm.latent_center == "running"
    plain = pipeline_config("fast", beat_timing="none").model.branches["rhythm"]
    assert plain.beat_timing == "none" and plain.latent_center == "none"
    assert pipeline_config("paper", beat_timing="rr").model.branches["rhythm"].beat_timing == "rr"
    with pytest.raises(ValueError, match="beat_timing"):
        pipeline_config("fast", beat_timing="tachogram")
    with pytest.raises(KeyError, match="stage"):
        stage_config(config.train, "pretraining", "rhythm")


def test_ablation_and_options_reach_the_rhythm_override():
    config = pipeline_config("fast", contrastive=False, amp=True, seed=7)
    rhythm = config.train["joint:rhythm"]
    assert rhythm.loss.use_contrastive is False and rhythm.amp is True and rhythm.seed == 7
    assert TrainConfig().amp is False                              # float32 unless asked


def test_cli_amp_epochs_and_beat_timing():
    args = build_parser().parse_args(["pipeline", "--preset", "fast", "--out", "x", "--amp", "--epochs", "3",
                                     "--beat-timing", "none"])
    config = _config(args)
    assert all(cfg.amp for cfg in config.train.values())
    assert config.train["joint:rhythm"].num_epochs == 3 and config.train["joint"].num_epochs == 3
    assert config.model.branches["rhythm"].beat_timing == "none"
    config = _config(build_parser().parse_args(["pipeline", "--preset", "fast", "--out", "x"]))
    assert not any(cfg.amp for cfg in config.train.values())


def test_2d_branches_start_from_imagenet_when_the_weights_can_be_had(monkeypatch):
    cfg = get_preset("paper").branches["global"]
    copied = []
    monkeypatch.setattr(backbones, "load_imagenet_resnet18", lambda b, state_dict=None: copied.append(b) or ["x"])
    assert ProtoBranch(cfg).imagenet_weights is True and len(copied) == 1
    assert ProtoBranch(cfg, load_pretrained=False).imagenet_weights is False and len(copied) == 1


@pytest.mark.parametrize("error, says", [(ImportError("no torchvision"), "torchvision is not installed"),
                                         (OSError("no network"), "could not be fetched")])
def test_without_the_weights_the_branch_trains_from_scratch_and_says_so(monkeypatch, error, says):
    def fail(backbone, state_dict=None):
        raise error

    monkeypatch.setattr(backbones, "load_imagenet_resnet18", fail)
    with pytest.warns(RuntimeWarning, match=says):
        branch = ProtoBranch(get_preset("paper").branches["morphology"])
    assert branch.imagenet_weights is False


def test_a_state_dict_that_does_not_fit_is_still_an_error(monkeypatch):
    def misfit(backbone, state_dict=None):
        raise ValueError("not a torchvision ResNet-18 state dict for this backbone")

    monkeypatch.setattr(backbones, "load_imagenet_resnet18", misfit)
    with pytest.raises(ValueError, match="state dict"):
        backbones.try_load_imagenet_resnet18(ProtoBranch(get_preset("fast").branches["global"]).backbone)
