"""The exact fast paths (row layout, models/rows.py) against the plain layers.

Exactness is shown in float64, where float reordering is far below the tolerance: outputs and every
gradient agree to 1e-9 relative. In float32 the outputs agree to rounding. State dicts, parameter
counts and checkpoints are those of the plain layers.
"""
from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from protoecg_lib.models import ProtoBranch, ProtoECGNet, fast_paths_enabled, get_preset, set_fast_paths
from protoecg_lib.models.checkpoints import load_checkpoint, save_checkpoint
from protoecg_lib.models.rows import (RowBatchNorm1d, RowConv1d, RowMaxPool1d, row_max_pool2d, stem_as_rows,
                                      to_rows)


def _signals(batch: int, num_samples: int = 1000, seed: int = 0, dtype=torch.float32) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, 12, num_samples, generator=g).to(dtype)


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).detach().norm() / b.detach().norm().clamp_min(1e-300))


def _perturb_batchnorm(model: nn.Module, seed: int = 0) -> None:
    """Non-trivial running statistics and affine parameters, so eval mode is not the identity."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            with torch.no_grad():
                m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.weight.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.num_features, generator=g) * 0.1)


def test_fast_paths_are_the_default():
    model = ProtoECGNet(get_preset("fast"))
    assert fast_paths_enabled(model)
    assert set_fast_paths(model, False) > 0 and not fast_paths_enabled(model)


@pytest.mark.parametrize("name", ["rhythm", "morphology", "global"])
def test_fast_branch_equals_plain_in_float64_outputs_and_gradients(name):
    torch.manual_seed(0)
    fast = ProtoBranch(get_preset("fast").branches[name].replace(dropout=0.0)).double()
    _perturb_batchnorm(fast)
    plain = copy.deepcopy(fast)
    set_fast_paths(plain, False)
    x = _signals(3, dtype=torch.float64)
    results = {}
    for label, model in (("fast", fast), ("plain", plain)):
        model.train()
        out = model(x)
        loss = out.logits.square().sum() + out.window_similarity.sum() + out.latent.sum()
        loss.backward()
        model.eval()
        with torch.no_grad():
            eval_out = model(x)
        results[label] = (out, eval_out, {n: p.grad.clone() for n, p in model.named_parameters()},
                          {n: b.clone() for n, b in model.named_buffers()})
    (fo, fe, fg, fb), (po, pe, pg, pb) = results["fast"], results["plain"]
    for a, b in zip((*fo, *fe), (*po, *pe)):
        assert a.shape == b.shape
        assert _rel(a, b) < 1e-9
    assert fg.keys() == pg.keys()
    for key in pg:
        assert _rel(fg[key], pg[key]) < 1e-9, key
    for key in pb:    # BatchNorm running statistics and counters move identically
        assert _rel(fb[key].double(), pb[key].double()) < 1e-9, key


@pytest.mark.parametrize("name", ["rhythm", "morphology", "global"])
def test_fast_branch_float32_outputs_match_plain(name):
    torch.manual_seed(1)
    fast = ProtoBranch(get_preset("fast").branches[name]).eval()
    _perturb_batchnorm(fast, seed=1)
    plain = copy.deepcopy(fast)
    set_fast_paths(plain, False)
    x = _signals(4, seed=3)
    with torch.no_grad():
        f, p = fast(x), plain(x)
    torch.testing.assert_close(f.window_similarity, p.window_similarity, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(f.logits, p.logits, rtol=1e-4, atol=1e-4)
    assert f.latent.shape == p.latent.shape


def test_fast_model_keeps_state_dict_and_parameter_counts(tmp_path):
    model = ProtoECGNet(get_preset("paper"))
    assert model.num_parameters() == 29_666_146
    plain = ProtoECGNet(get_preset("paper"))
    set_fast_paths(plain, False)
    assert {k: tuple(v.shape) for k, v in model.state_dict().items()} == \
        {k: tuple(v.shape) for k, v in plain.state_dict().items()}
    conv = model.branches["morphology"].backbone.layer2[0].conv1
    assert tuple(conv.weight.shape) == (128, 64, 3, 3)          # the full 3x3 kernel is kept
    branch = ProtoBranch(get_preset("fast").branches["morphology"])
    path = save_checkpoint(tmp_path / "b.pt", branch)
    loaded, _ = load_checkpoint(path)
    assert fast_paths_enabled(loaded)
    for (k, v), (k2, v2) in zip(branch.state_dict().items(), loaded.state_dict().items()):
        assert k == k2 and torch.equal(v, v2)


def test_row_layers_equal_their_plain_forms():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 5, 17, generator=g, dtype=torch.float64)
    conv = RowConv1d(5, 4, 3, stride=2, padding=1).double()
    torch.testing.assert_close(conv(to_rows(x))[:, :, 0], conv(x))
    torch.testing.assert_close(conv(to_rows(x))[:, :, 0], F.conv1d(x, conv.weight, conv.bias, 2, 1))
    pool = RowMaxPool1d(3, stride=2, padding=1)
    torch.testing.assert_close(pool(to_rows(x))[:, :, 0], F.max_pool1d(x, 3, 2, 1))
    bn_rows, bn_flat = RowBatchNorm1d(5).double(), RowBatchNorm1d(5).double()
    torch.testing.assert_close(bn_rows(to_rows(x))[:, :, 0], bn_flat(x))
    torch.testing.assert_close(bn_rows.running_var, bn_flat.running_var)
    with pytest.raises(ValueError):
        bn_rows(torch.randn(2, 5, 3, 4, dtype=torch.float64))      # a real 2D map is refused
    pool2 = nn.MaxPool2d(3, stride=2, padding=1)
    maps = torch.randn(2, 5, 1, 17, generator=g)
    torch.testing.assert_close(row_max_pool2d(pool2, maps), pool2(maps))
    tall = torch.randn(2, 5, 4, 17, generator=g)
    torch.testing.assert_close(row_max_pool2d(pool2, tall), pool2(tall))  # height > 1: the module itself


def test_stem_as_rows_equals_the_2d_stem():
    g = torch.Generator().manual_seed(0)
    stem = nn.Conv2d(1, 8, (12, 7), stride=(1, 2), padding=(0, 3), bias=False).double()
    x = torch.randn(3, 12, 101, generator=g, dtype=torch.float64)
    torch.testing.assert_close(stem_as_rows(stem, to_rows(x)), stem(x.unsqueeze(1)))
    with pytest.raises(ValueError, match="stem_as_rows"):
        stem_as_rows(nn.Conv2d(2, 8, (12, 7)), to_rows(x))
