"""Tests of protoecg_lib.models: shapes, parameter counts, similarities, windows, configs, loader."""
from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F

from protoecg_lib.labels import LABEL_SETS
from protoecg_lib.models import (
    BranchConfig, ModelConfig, ProtoBranch, ProtoECGNet, PrototypeLayer, ResNet18_1D, ResNet18_2D,
    RowConv2d, cosine_similarity, set_row_shortcut, get_preset, latent_length, load_imagenet_resnet18, pool_windows,
    scaled_cosine_similarity, scaled_cosine_scale,
)

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def paper_model():
    torch.manual_seed(0)
    return ProtoECGNet(get_preset("paper")).eval()


@pytest.fixture(scope="module")
def fast_model():
    torch.manual_seed(1)
    return ProtoECGNet(get_preset("fast")).eval()


def _signals(batch: int, num_samples: int = 1000, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, 12, num_samples, generator=g)


def _count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# -- parameter counts (method §2.5) -----------------------------------------------------------------

def test_paper_parameter_counts_match_spec(paper_model):
    b = paper_model.branches
    assert _count(b["rhythm"]) == 4_416_384
    assert _count(b["morphology"]) == 13_184_160
    assert _count(b["global"]) == 12_041_919
    assert _count(b["rhythm"].backbone) == 3_848_832
    assert _count(b["morphology"].backbone) == 11_172_480
    assert _count(b["rhythm"].add_on) == _count(b["global"].add_on) == 525_312
    assert _count(paper_model.fusion) == 73_698
    assert paper_model.num_parameters() == 29_666_146
    assert paper_model.num_parameters(include_branch_last_layers=True) == 29_666_146 + 1_280 + 48_672 + 63


def test_paper_prototype_counts_and_scales(paper_model):
    b = paper_model.branches
    assert b["rhythm"].prototype_shape == (80, 512)
    assert b["morphology"].prototype_shape == (936, 512, 1, 3)
    assert b["global"].prototype_shape == (21, 512, 1, 32)
    assert b["morphology"].prototype_layer.scale == 13.0
    assert b["global"].prototype_layer.scale == 4.0
    assert scaled_cosine_scale(512, 3) == 13.0 and scaled_cosine_scale(512, 32) == 4.0
    # the formula is used when no explicit scale is given
    cfg = BranchConfig("morphology", "2d", 2, prototype_length=3, proto_dim=64)
    assert cfg.scale == math.floor(math.sqrt(64 * 3)) / 3


# -- shapes ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("num_samples", [37, 999, 1000, 1001, 5000])
def test_latent_length_matches_backbones(num_samples):
    x = _signals(1, num_samples)
    with torch.no_grad():
        one_d = ResNet18_1D(base_width=8).eval()(x)
        two_d = ResNet18_2D(base_width=8).eval()(x)
    assert one_d.shape == (1, 64, latent_length(num_samples))
    assert two_d.shape == (1, 64, 1, latent_length(num_samples))
    assert latent_length(1000) == 32 and latent_length(5000) == 157


def test_paper_shapes_1000_samples(paper_model):
    with torch.no_grad():
        out = paper_model(_signals(2))
    assert out.logits.shape == (2, 71)
    r, m, g = (out.branches[k] for k in ("rhythm", "morphology", "global"))
    assert (r.logits.shape, r.similarity.shape, r.window_similarity.shape, r.latent.shape) == \
        ((2, 16), (2, 80), (2, 80, 1), (2, 512))
    assert (m.logits.shape, m.similarity.shape, m.window_similarity.shape, m.latent.shape) == \
        ((2, 52), (2, 936), (2, 936, 30), (2, 512, 1, 32))
    assert (g.logits.shape, g.similarity.shape, g.window_similarity.shape, g.latent.shape) == \
        ((2, 3), (2, 21), (2, 21, 1), (2, 512, 1, 32))
    assert paper_model.fusion.in_features == 1037 and paper_model.fusion.out_features == 71


def test_paper_shapes_5000_samples(paper_model):
    with torch.no_grad():
        out = paper_model(_signals(1, 5000))
    assert out.logits.shape == (1, 71)
    assert out.branches["rhythm"].window_similarity.shape == (1, 80, 1)
    assert out.branches["morphology"].window_similarity.shape == (1, 936, 155)
    assert out.branches["morphology"].latent.shape == (1, 512, 1, 157)
    assert out.branches["global"].window_similarity.shape == (1, 21, 1)
    assert paper_model.branches["morphology"].num_windows(5000) == 155
    assert paper_model.branches["global"].num_windows(5000) == 1


def test_global_2d_prototypes_average_long_latents_to_prototype_length(fast_model):
    branch = fast_model.branches["global"]
    with torch.no_grad():
        out = branch(_signals(2, 5000))
        windows = branch.latent_windows(out.latent)                    # (B, 1, D*T)
        pooled = F.adaptive_avg_pool1d(out.latent[:, :, 0], 32)         # (B, D, 32)
        expected = scaled_cosine_similarity(pooled, branch.prototype_layer.prototypes[:, :, 0], 4.0)
    assert windows.shape == (2, 1, 64 * 32)
    torch.testing.assert_close(windows[:, 0], pooled.reshape(2, -1))
    torch.testing.assert_close(out.window_similarity, expected)


def test_fast_preset_forward_backward_reaches_all_trainable_parts(fast_model):
    model = ProtoECGNet(get_preset("fast")).train()
    out = model(_signals(4))
    loss = out.logits.sum() + sum(o.logits.sum() for o in out.branches.values())
    loss.backward()
    for name, branch in model.branches.items():
        assert branch.prototype_layer.prototypes.grad.abs().sum() > 0, name
        assert branch.backbone.conv1.weight.grad.abs().sum() > 0, name
        assert branch.add_on[0].weight.grad.abs().sum() > 0, name
    assert model.fusion.weight.grad.abs().sum() > 0


def test_bad_inputs_raise_clear_errors(fast_model):
    branch = fast_model.branches["morphology"]
    with pytest.raises(ValueError, match=r"\(B, 12, T\)"):
        branch(torch.randn(12, 1000))
    with pytest.raises(ValueError, match=r"\(B, 12, T\)"):
        branch(torch.randn(1, 8, 1000))
    with pytest.raises(ValueError, match="too short"):
        branch(torch.randn(1, 12, 40))   # latent length 2 < T = 3
    with pytest.raises(ValueError, match="fusion features"):
        fast_model.fuse(torch.randn(2, 5))


# -- similarities ---------------------------------------------------------------------------------

def _slow_scaled_cosine(latent, prototypes, scale, eps=1e-4):
    """Reference: one window and one prototype at a time, straight from method §2.2."""
    b_count, _, length = latent.shape
    p_count, _, t = prototypes.shape
    out = torch.empty(b_count, p_count, length - t + 1, dtype=torch.float64)
    for b in range(b_count):
        for j in range(p_count):
            for w in range(length - t + 1):
                u = latent[b, :, w:w + t].double()
                p = prototypes[j].double()
                out[b, j, w] = scale * (u * p).sum() / (
                    torch.sqrt((u * u).sum() + eps) * torch.sqrt((p * p).sum() + eps))
    return out


def test_vectorised_scaled_cosine_equals_slow_loop():
    g = torch.Generator().manual_seed(3)
    latent = torch.randn(2, 8, 11, generator=g)
    prototypes = torch.randn(5, 8, 3, generator=g)
    fast = scaled_cosine_similarity(latent, prototypes, 13.0)
    assert fast.shape == (2, 5, 9)
    torch.testing.assert_close(fast.double(), _slow_scaled_cosine(latent, prototypes, 13.0), rtol=1e-5, atol=1e-5)


def test_branch_window_similarity_equals_slow_loop(fast_model):
    branch = fast_model.branches["morphology"]
    with torch.no_grad():
        out = branch(_signals(2))
    protos = branch.prototype_layer.prototypes[:, :, 0].detach()            # (P, D, T)
    slow = _slow_scaled_cosine(out.latent[:, :, 0], protos[:7], 13.0)     # first 7 prototypes
    torch.testing.assert_close(out.window_similarity[:, :7].double(), slow, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(out.similarity, out.window_similarity.mean(-1))


def test_cosine_equals_loop_and_clamps_zero_vectors():
    g = torch.Generator().manual_seed(4)
    latent, protos = torch.randn(3, 6, generator=g), torch.randn(4, 6, generator=g)
    sim = cosine_similarity(latent, protos)
    for b in range(3):
        for j in range(4):
            expected = (latent[b] @ protos[j]) / (latent[b].norm() * protos[j].norm())
            assert sim[b, j].item() == pytest.approx(expected.item(), abs=1e-6)
    zero = cosine_similarity(torch.zeros(1, 6), protos)   # norms clamped: 0, not NaN
    assert torch.equal(zero, torch.zeros(1, 4))


def test_similarity_bounds_random_inputs(fast_model, paper_model):
    x = 50.0 * _signals(2, seed=7)   # large amplitudes
    with torch.no_grad():
        for model in (fast_model, paper_model):
            out = model(x)
            assert out.branches["rhythm"].window_similarity.abs().max() <= 1.0 + 1e-6
            assert out.branches["morphology"].window_similarity.abs().max() <= 13.0 + 1e-5
            assert out.branches["global"].window_similarity.abs().max() <= 4.0 + 1e-5


@pytest.mark.parametrize("factor", [1.0, -1.0, 1e6, -1e6, 1e-6, 0.0])
def test_similarity_bounds_adversarial_prototypes(factor):
    g = torch.Generator().manual_seed(5)
    latent = torch.rand(2, 16, 10, generator=g) * 1e3          # also: latents far from (0, 1)
    layer = PrototypeLayer(4, 16, 3, scale=13.0)
    windows = layer.windows(latent[:, :, None])                   # (2, 8, 48)
    layer.set_prototypes(factor * windows[0, :4])                 # prototypes = (scaled) real windows
    win_sim, sim = layer(latent[:, :, None])
    assert win_sim.abs().max() <= 13.0 + 1e-5 and sim.abs().max() <= 13.0 + 1e-5
    assert torch.isfinite(win_sim).all()
    if factor == 0.0:
        assert torch.equal(win_sim, torch.zeros_like(win_sim))
    one_d = PrototypeLayer(3, 16, None)
    one_d.set_prototypes(factor * latent[0, :, :3].t())   # (3, 16): real latent columns
    s1 = one_d(latent[:, :, 0])[1]
    assert s1.abs().max() <= 1.0 + 1e-6 and torch.isfinite(s1).all()


def test_prototype_equal_to_window_gives_maximum_at_that_window(fast_model):
    branch = ProtoBranch(get_preset("fast").branches["morphology"]).eval()
    x = _signals(2, seed=9)
    with torch.no_grad():
        latent = branch(x).latent
        patch = branch.latent_windows(latent)[1, 17]             # ECG 1, window 17
        branch.set_prototypes(patch, index=5)
        out = branch(x)
    s = out.window_similarity[1, 5]                               # (W,)
    assert s.argmax().item() == 17
    assert s[17].item() == pytest.approx(13.0, rel=1e-5)
    assert out.similarity[1, 5] < s[17]                           # the window mean is lower (method §11.5)

    for name, scale in (("rhythm", 1.0), ("global", 4.0)):
        b = ProtoBranch(get_preset("fast").branches[name]).eval()
        with torch.no_grad():
            b.set_prototypes(b.latent_windows(b(x).latent)[0, 0], index=0)
            top = b(x).window_similarity[0, 0, 0].item()
        assert top == pytest.approx(scale, rel=1e-5), name


def test_pool_windows_modes():
    s = torch.tensor([[[1.0, 5.0, 3.0, 2.0]]])
    assert pool_windows(s, "mean").item() == pytest.approx(2.75)
    assert pool_windows(s, "max").item() == 5.0
    assert pool_windows(s, "topk", topk=2).item() == pytest.approx(4.0)
    assert pool_windows(s, "topk", topk=10).item() == pytest.approx(2.75)   # k clipped to W
    with pytest.raises(ValueError, match="median"):
        pool_windows(s, "median")


def test_window_pool_option_changes_branch_pooling():
    cfg = get_preset("fast").branches["morphology"]
    x = _signals(1)
    sims = {}
    for pool in ("mean", "max", "topk"):
        torch.manual_seed(0)
        b = ProtoBranch(cfg.replace(window_pool=pool, topk=4)).eval()
        with torch.no_grad():
            out = b(x)
        sims[pool] = out.similarity
        expected = pool_windows(out.window_similarity, pool, 4)
        torch.testing.assert_close(out.similarity, expected)
    assert (sims["max"] >= sims["topk"] - 1e-6).all() and (sims["topk"] >= sims["mean"] - 1e-6).all()


# -- last layer and fusion ------------------------------------------------------------------------

def test_last_layer_init_pattern(paper_model):
    for branch in paper_model.branches.values():
        m = branch.config.prototypes_per_class
        w = branch.last_layer.weight                     # (C, P)
        c_idx = torch.arange(branch.num_classes)[:, None]
        j_idx = torch.arange(branch.num_prototypes)[None, :]
        expected = torch.where(j_idx // m == c_idx, 1.0, -0.5)
        assert branch.last_layer.bias is None
        assert torch.equal(w, expected)
        assert torch.equal(branch.prototype_class, torch.arange(branch.num_prototypes) // m)
        assert torch.equal(branch.class_identity.sum(1), torch.ones(branch.num_prototypes))


def test_fusion_maps_prototypes_to_the_right_labels(paper_model):
    ident = paper_model.fusion_identity
    assert ident.shape == (1037, 71)
    cols = paper_model.prototype_class
    slices = paper_model.feature_slices
    assert slices["rhythm"] == slice(0, 80) and slices["morphology"] == slice(80, 1016) \
        and slices["global"] == slice(1016, 1037)
    for name, sl in slices.items():
        branch = paper_model.branches[name]
        for j in (0, branch.num_prototypes // 2, branch.num_prototypes - 1):
            code = branch.labels[branch.prototype_class[j]]
            assert LABEL_SETS["all"][cols[sl.start + j]] == code
    # e.g. the first rhythm prototype is 1AVB, the first global one DIG
    assert LABEL_SETS["all"][cols[0]] == "1AVB" and LABEL_SETS["all"][cols[1016]] == "DIG"
    assert torch.equal(ident.sum(0), torch.tensor(
        [5.0 if c in LABEL_SETS["rhythm"] else 18.0 if c in LABEL_SETS["morphology"] else 7.0
         for c in LABEL_SETS["all"]]))


def test_fusion_variants(fast_model):
    assert fast_model.fusion.bias is not None
    masked = ProtoECGNet(get_preset("fast", fusion="masked")).eval()
    assert masked.fusion.bias is None
    expected = torch.where(masked.fusion_identity.t() > 0, 1.0, -0.5)
    assert torch.equal(masked.fusion.weight, expected)
    x = _signals(2)
    with torch.no_grad():
        out = masked(x)
        feats = masked.fusion_features(x)
    assert feats.shape == (2, masked.config.num_fusion_features)
    torch.testing.assert_close(out.logits, feats @ expected.t())
    torch.testing.assert_close(out.logits, masked.fuse(feats))


def test_add_on_init():
    b = ProtoBranch(get_preset("paper").branches["global"])
    for conv in (b.add_on[0], b.add_on[2]):
        assert torch.equal(conv.bias, torch.zeros_like(conv.bias))
        assert conv.weight.std().item() == pytest.approx(math.sqrt(2 / 512), rel=0.05)
    assert isinstance(b.add_on[3], torch.nn.Sigmoid)


def test_dropout_only_in_train_mode():
    b = ProtoBranch(get_preset("fast").branches["global"])
    x = _signals(2)
    b.eval()
    with torch.no_grad():
        assert torch.equal(b(x).latent, b(x).latent)
    b.train()
    torch.manual_seed(0)
    y1 = b.backbone(x)
    torch.manual_seed(1)
    y2 = b.backbone(x)
    assert not torch.allclose(y1, y2)


# -- windows and samples --------------------------------------------------------------------------

def test_window_to_samples_mapping(fast_model):
    m = fast_model.branches["morphology"]
    assert m.window_to_samples(0, 1000) == (0, 93)
    assert m.window_to_samples(1, 1000) == (31, 93)          # floor(31.25)
    assert m.window_to_samples(29, 1000) == (906, 93)        # floor(29 * 31.25)
    assert m.window_to_samples(0, 5000) == (0, 95)           # floor(3 * 5000 / 157)
    assert m.window_to_samples(154, 5000) == (4904, 95)
    for n in (1000, 5000, 777):
        spans = m.window_spans(n)
        assert spans.shape == (m.num_windows(n), 2)
        assert (spans[:, 0] >= 0).all() and (spans.sum(1) <= n).all()
        assert (spans[1:, 0] >= spans[:-1, 0]).all()
    assert fast_model.branches["global"].window_to_samples(0, 5000) == (0, 5000)
    assert fast_model.branches["rhythm"].window_to_samples(0, 1000) == (0, 1000)
    with pytest.raises(IndexError, match="out of range"):
        m.window_to_samples(30, 1000)
    with pytest.raises(IndexError):
        fast_model.branches["global"].window_to_samples(1, 1000)


def test_set_prototypes_checks_shapes(fast_model):
    b = ProtoBranch(get_preset("fast").branches["morphology"])
    with pytest.raises(ValueError, match="expected shape"):
        b.set_prototypes(torch.zeros(3, 64, 1, 3))             # wrong count
    with pytest.raises(ValueError, match="expected shape"):
        b.set_prototypes(torch.zeros(2, 64, 1, 4), index=[0, 1])
    with pytest.raises(IndexError):
        b.set_prototypes(torch.zeros(64, 1, 3), index=156)
    flat = torch.arange(2 * 64 * 3, dtype=torch.float32).reshape(2, 192)
    b.set_prototypes(flat, index=[3, 7])
    torch.testing.assert_close(b.prototype_layer.prototypes[7].reshape(-1), flat[1])
    with torch.no_grad():
        latent = b(_signals(1)).latent
    win = b.latent_windows(latent)                               # (1, 30, 192)
    assert win.shape == (1, 30, 192)
    torch.testing.assert_close(win[0, 4].view(64, 1, 3), latent[0, :, :, 4:7])


# -- configs --------------------------------------------------------------------------------------

def test_config_round_trip_through_json():
    for name in ("paper", "fast"):
        cfg = get_preset(name)
        again = ModelConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
        assert again == cfg
    paper = get_preset("paper").branches          # the paper's 2D branches start from ImageNet (method §2.2)
    assert paper["morphology"].pretrained and paper["global"].pretrained and not paper["rhythm"].pretrained
    assert not any(b.pretrained for b in get_preset("fast").branches.values())
    assert get_preset("fast", fusion="masked").fusion == "masked"


def test_config_errors():
    with pytest.raises(ValueError, match="unknown model preset 'tiny'"):
        get_preset("tiny")
    with pytest.raises(ValueError, match="unknown BranchConfig key"):
        BranchConfig.from_dict({**get_preset("fast").branches["rhythm"].to_dict(), "protos": 3})
    with pytest.raises(ValueError, match="window_pool"):
        BranchConfig("morphology", "2d", 3, prototype_length=3, window_pool="median")
    with pytest.raises(ValueError, match="prototype_length=None"):
        BranchConfig("rhythm", "1d", 3, prototype_length=3)
    with pytest.raises(ValueError, match="longer than the latent map"):
        BranchConfig("morphology", "2d", 3, prototype_length=40)
    with pytest.raises(ValueError, match="exactly the keys"):
        ModelConfig(branches={"rhythm": get_preset("fast").branches["rhythm"]})
    with pytest.raises(ValueError, match="fusion"):
        ModelConfig(branches=get_preset("fast").branches, fusion="attention")
    updated = get_preset("fast").updated(branch="global", pretrained=True)
    assert updated.branches["global"].pretrained and not updated.branches["morphology"].pretrained


# -- row-convolution shortcut ---------------------------------------------------------------------

def test_row_conv_equals_dense_conv_outputs_and_gradients():
    torch.manual_seed(0)
    conv = RowConv2d(4, 6, 3, stride=2, padding=1)
    assert conv.row_shortcut is True                  # on by default (tests/test_fast_paths.py)
    x = torch.randn(2, 4, 1, 21, requires_grad=True)
    y = conv(x)
    y.square().sum().backward()
    gx, gw = x.grad.clone(), conv.weight.grad.clone()
    x.grad, conv.weight.grad = None, None
    y_dense = F.conv2d(x, conv.weight, conv.bias, 2, 1)
    y_dense.square().sum().backward()
    torch.testing.assert_close(y, y_dense)
    torch.testing.assert_close(gx, x.grad)
    torch.testing.assert_close(gw, conv.weight.grad)
    assert gw[:, :, [0, 2]].abs().sum() == 0          # off rows only ever see zero padding
    x2 = torch.randn(1, 4, 5, 9)                      # height > 1: the dense path is used
    torch.testing.assert_close(conv(x2), F.conv2d(x2, conv.weight, conv.bias, 2, 1))


def test_row_shortcut_keeps_branch_outputs():
    torch.manual_seed(0)
    branch = ProtoBranch(get_preset("fast").branches["morphology"]).eval()
    x = _signals(2)
    with torch.no_grad():
        assert set_row_shortcut(branch, False) == 16 + 3    # 16 3x3 convs + 3 downsample convs
        dense = branch(x).window_similarity
        assert set_row_shortcut(branch, True) == 16 + 3
        row = branch(x).window_similarity
    torch.testing.assert_close(row, dense)


# -- ImageNet loader ------------------------------------------------------------------------------

def _fake_torchvision_resnet18(seed: int = 0, with_counters: bool = False) -> dict[str, torch.Tensor]:
    """Key names and shapes of torchvision's resnet18 state dict, written out independently."""
    g = torch.Generator().manual_seed(seed)
    sd: dict[str, torch.Tensor] = {}

    def bn(prefix, ch):
        sd[f"{prefix}.weight"] = torch.rand(ch, generator=g)
        sd[f"{prefix}.bias"] = torch.randn(ch, generator=g)
        sd[f"{prefix}.running_mean"] = torch.randn(ch, generator=g)
        sd[f"{prefix}.running_var"] = torch.rand(ch, generator=g) + 0.5
        if with_counters:
            sd[f"{prefix}.num_batches_tracked"] = torch.tensor(1000)

    sd["conv1.weight"] = torch.randn(64, 3, 7, 7, generator=g)
    bn("bn1", 64)
    in_ch = 64
    for stage, ch in enumerate((64, 128, 256, 512), start=1):
        for block in (0, 1):
            p = f"layer{stage}.{block}"
            cin = in_ch if block == 0 else ch
            sd[f"{p}.conv1.weight"] = torch.randn(ch, cin, 3, 3, generator=g)
            bn(f"{p}.bn1", ch)
            sd[f"{p}.conv2.weight"] = torch.randn(ch, ch, 3, 3, generator=g)
            bn(f"{p}.bn2", ch)
            if block == 0 and stage > 1:
                sd[f"{p}.downsample.0.weight"] = torch.randn(ch, cin, 1, 1, generator=g)
                bn(f"{p}.downsample.1", ch)
        in_ch = ch
    sd["fc.weight"] = torch.randn(1000, 512, generator=g)
    sd["fc.bias"] = torch.randn(1000, generator=g)
    return sd


def _param_count_of_state_dict(sd):
    return sum(v.numel() for k, v in sd.items() if not k.endswith(("running_mean", "running_var", "num_batches_tracked")))


@pytest.mark.parametrize("with_counters", [False, True])
def test_imagenet_loader_maps_torchvision_state_dict(with_counters):
    sd = _fake_torchvision_resnet18(with_counters=with_counters)
    assert _param_count_of_state_dict(sd) == 11_689_512     # torchvision's resnet18 size
    backbone = ResNet18_2D(base_width=64)
    stem_before = backbone.conv1.weight.clone()
    loaded = load_imagenet_resnet18(backbone, sd)
    own = backbone.state_dict()
    assert len([k for k in loaded if not k.endswith("num_batches_tracked")]) == 4 + 8 * 10 + 3 * 5
    for key in ("bn1.running_var", "layer1.0.conv1.weight", "layer3.0.downsample.0.weight",
                "layer4.1.bn2.bias"):
        assert torch.equal(own[key], sd[key])
    assert torch.equal(backbone.conv1.weight, stem_before)        # replaced stem untouched
    if with_counters:
        assert own["layer2.0.bn1.num_batches_tracked"].item() == 1000


def test_imagenet_loader_fails_loudly_and_loads_nothing():
    backbone = ResNet18_2D(base_width=64)
    before = {k: v.clone() for k, v in backbone.state_dict().items()}
    extra = _fake_torchvision_resnet18()
    extra["layer5.0.conv1.weight"] = torch.zeros(3)
    with pytest.raises(ValueError, match="layer5.0.conv1.weight"):
        load_imagenet_resnet18(backbone, extra)
    missing = _fake_torchvision_resnet18()
    del missing["layer2.1.bn2.running_mean"]
    with pytest.raises(ValueError, match="missing.*layer2.1.bn2.running_mean"):
        load_imagenet_resnet18(backbone, missing)
    prefixed = {f"model.{k}": v for k, v in _fake_torchvision_resnet18().items()}
    with pytest.raises(ValueError, match="unexpected"):
        load_imagenet_resnet18(backbone, prefixed)
    for key, value in backbone.state_dict().items():
        assert torch.equal(value, before[key]), key
    with pytest.raises(ValueError, match="shape mismatch"):
        load_imagenet_resnet18(ResNet18_2D(base_width=16), _fake_torchvision_resnet18())
    with pytest.raises(TypeError):
        load_imagenet_resnet18(ResNet18_1D(), _fake_torchvision_resnet18())


def test_imagenet_loader_accepts_a_branch():
    branch = ProtoBranch(get_preset("paper").branches["global"])
    sd = _fake_torchvision_resnet18(seed=2)
    load_imagenet_resnet18(branch, sd)
    assert torch.equal(branch.backbone.layer4[1].conv2.weight, sd["layer4.1.conv2.weight"])


def test_pretrained_without_torchvision_trains_from_scratch_and_says_so():
    try:
        import torchvision  # noqa: F401
        pytest.skip("torchvision is installed; the download path is exercised on Colab")
    except ImportError:
        pass
    cfg = get_preset("paper").branches["global"]
    with pytest.warns(RuntimeWarning, match="torchvision is not installed"):
        branch = ProtoBranch(cfg)
    assert branch.imagenet_weights is False
    with pytest.raises(ImportError, match="torchvision"):           # the strict loader still refuses
        load_imagenet_resnet18(branch)
