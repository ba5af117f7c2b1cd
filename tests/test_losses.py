"""Tests of protoecg_lib.training.losses on hand-built tensors (method §3, §9.1 A3/A5/A6, §11 item 7)."""
import math

import numpy as np
import pytest
import torch

from protoecg_lib.cooccurrence import class_weights, jaccard
from protoecg_lib.training.losses import (
    clustering_loss, contrastive_loss, contrastive_masks, diversity_loss, fusion_loss, l1_last_layer,
    separation_loss, sparsity_loss, weighted_bce,
)
from protoecg_lib.training.objective import LossWeights, PrototypeLoss

torch.set_num_threads(1)


def identity(num_classes, per_class):
    """Class identity (P, C) with prototypes of class c in the block c*m .. c*m+m-1."""
    a = torch.zeros(num_classes * per_class, num_classes)
    a[torch.arange(num_classes * per_class), torch.arange(num_classes * per_class) // per_class] = 1
    return a


# Three samples, two classes, two prototypes per class (p0, p1 -> class 0; p2, p3 -> class 1).
A4 = identity(2, 2)
SIM = torch.tensor([[0.9, 0.2, -0.3, 0.4],      # has class 0 only
                    [-0.5, -0.1, 0.7, 0.6],     # has both classes; own class-0 prototypes negative
                    [-0.2, -0.4, -0.6, -0.8]])  # has no class; every similarity negative
Y = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 0.0]])


# ----------------------------------------------------------------------------- classification
def test_weighted_bce_by_hand():
    logits = torch.tensor([[0.5, -1.0], [2.0, 0.3]])
    targets = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    w = torch.tensor([3.0, 2.0])
    softplus = lambda x: math.log1p(math.exp(x))  # -log σ(z) = softplus(-z); -log(1-σ(z)) = softplus(z)
    expected = (3 * softplus(-0.5) + softplus(-1.0) + softplus(2.0) + 2 * softplus(-0.3)) / 4
    assert weighted_bce(logits, targets, w).item() == pytest.approx(expected, rel=1e-6)


def test_weighted_bce_zero_weight_drops_the_positive_term():
    logits = torch.tensor([[-3.0, 1.0]])
    targets = torch.tensor([[1.0, 0.0]])
    loss = weighted_bce(logits, targets, torch.tensor([0.0, 1.0]))
    assert loss.item() == pytest.approx(math.log1p(math.exp(1.0)) / 2, rel=1e-6)


def test_weighted_bce_shape_errors():
    with pytest.raises(ValueError, match="pos_weight"):
        weighted_bce(torch.zeros(2, 3), torch.zeros(2, 3), torch.ones(2))
    with pytest.raises(ValueError, match="targets shape"):
        weighted_bce(torch.zeros(2, 3), torch.zeros(3, 2), torch.ones(3))


# ----------------------------------------------------------------------------- clustering / separation
def test_clustering_code_semantics_by_hand():
    # (b0,c0) 0.9; (b0,c1) absent 0; (b1,c0) max(0, -0.5, -0.1) = 0; (b1,c1) 0.7; b2 absent 0, 0
    assert clustering_loss(SIM, Y, A4).item() == pytest.approx(-(0.9 + 0.7) / 6)


def test_separation_code_semantics_by_hand():
    # present: (b0,c0) max(0, -0.3, 0.4) = 0.4; (b1,c0) max(0, 0.7, 0.6) = 0.7; (b1,c1) max(0, -0.5, -0.1) = 0
    # absent (over ALL prototypes, no zero floor): (b0,c1) 0.9; (b2,c0) -0.2; (b2,c1) -0.2
    expected = (0.4 + 0.9 + 0.7 + 0.0 - 0.2 - 0.2) / 6
    assert separation_loss(SIM, Y, A4).item() == pytest.approx(expected)


def test_protopnet_variant_by_hand():
    # clustering: b0 -> -0.9 (own p0, p1); b1 -> -0.7 (own = all); b2 has no class (left out)
    assert clustering_loss(SIM, Y, A4, "protopnet").item() == pytest.approx(-(0.9 + 0.7) / 2)
    # separation: b0 -> 0.4 (p2, p3); b1 has no other-class prototype (left out); b2 -> -0.2 (all)
    assert separation_loss(SIM, Y, A4, "protopnet").item() == pytest.approx((0.4 - 0.2) / 2)


def test_protopnet_variant_with_nothing_to_average_is_zero_with_gradient():
    sim = SIM[2:].clone().requires_grad_(True)
    loss = clustering_loss(sim, Y[2:], A4, "protopnet")
    assert loss.item() == 0.0
    loss.backward()
    assert torch.equal(sim.grad, torch.zeros_like(sim))


def test_clustering_gradient_reaches_only_the_best_own_prototype():
    sim = SIM.clone().requires_grad_(True)
    clustering_loss(sim, Y, A4).backward()
    expected = torch.zeros_like(SIM)
    expected[0, 0] = -1 / 6
    expected[1, 2] = -1 / 6
    torch.testing.assert_close(sim.grad, expected)


def test_unknown_variant_and_shape_errors():
    with pytest.raises(ValueError, match="variant"):
        clustering_loss(SIM, Y, A4, "max")
    with pytest.raises(ValueError, match="variant"):
        LossWeights(variant="clean")
    with pytest.raises(ValueError, match=r"\(P, C\)"):
        separation_loss(SIM, Y, identity(2, 3))
    with pytest.raises(ValueError, match="rows"):
        clustering_loss(SIM, Y[:2], A4)


def test_sparsity_by_hand():
    assert sparsity_loss(torch.tensor([[0.5, -1.0], [0.2, 0.3]])).item() == pytest.approx(0.5)


# ----------------------------------------------------------------------------- diversity
def test_diversity_by_hand():
    protos = torch.tensor([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])  # cos01 = 0, cos02 = cos12 = 1/sqrt(2)
    assert diversity_loss(protos).item() == pytest.approx(2 * (0.5 + 0.5) / 9, rel=1e-6)


def test_diversity_is_invariant_to_prototype_scale_and_zero_for_orthogonal():
    eye = torch.eye(5)
    assert diversity_loss(3.0 * eye).item() == pytest.approx(0.0, abs=1e-7)
    protos = torch.randn(6, 8, generator=torch.Generator().manual_seed(0))
    scaled = protos * torch.arange(1, 7).float()[:, None]
    assert diversity_loss(scaled).item() == pytest.approx(diversity_loss(protos).item(), rel=1e-5)


@pytest.mark.parametrize("shape", [(80, 512), (120, 512, 1, 3)])
def test_diversity_is_about_one_over_d_for_random_prototypes(shape):
    protos = torch.randn(*shape, generator=torch.Generator().manual_seed(1))
    dim = int(np.prod(shape[1:]))
    assert diversity_loss(protos).item() == pytest.approx(1 / dim, rel=0.1)


# ----------------------------------------------------------------------------- contrastive
def test_contrastive_by_hand_two_classes():
    protos = torch.tensor([[1.0, 0.0], [0.6, 0.8]])                 # cosine 0.6
    j = torch.tensor([[1.0, 0.5], [0.5, 1.0]])
    one = 1 - 1e-6                                                  # clamped diagonal
    pos = (2 * one + 2 * 0.5 * 0.6) / (3 + 1e-6)                    # M+ = J, sum 3
    neg = (2 * 0.5 * 0.6) / (1 + 1e-6)                              # M- = 1 - J, sum 1
    expected = -(pos - neg) / math.sqrt(2)
    assert contrastive_loss(protos, torch.eye(2), j).item() == pytest.approx(expected, rel=1e-5)


def test_contrastive_matches_an_explicit_double_loop():
    gen = torch.Generator().manual_seed(2)
    a = identity(3, 2)
    j = torch.tensor([[1.0, 0.3, 0.0], [0.3, 1.0, 0.1], [0.0, 0.1, 1.0]])
    protos = torch.randn(6, 4, 1, 2, generator=gen)
    flat = protos.reshape(6, -1)
    cls = a.argmax(1)
    pos = torch.zeros(6, 6)
    for p in range(6):
        for q in range(6):
            pos[p, q] = j[cls[p], cls[q]]
    neg = 1 - pos
    cos = torch.nn.functional.cosine_similarity(flat[:, None], flat[None], dim=-1).clamp(-1 + 1e-6, 1 - 1e-6)
    expected = -((cos * pos).sum() / (pos.sum() + 1e-6) - (cos * neg).sum() / (neg.sum() + 1e-6)) / math.sqrt(6)
    assert contrastive_loss(protos, a, j).item() == pytest.approx(expected.item(), rel=1e-5)
    m_pos, m_neg = contrastive_masks(a, j)
    assert m_pos.sum().item() == pytest.approx(1.0, rel=1e-5)
    assert m_neg.sum().item() == pytest.approx(1.0, rel=1e-5)


def _three_class_setting():
    """Classes 0 and 1 co-occur strongly; class 2 never co-occurs with either."""
    a = identity(3, 2)
    j = torch.tensor([[1.0, 0.8, 0.0], [0.8, 1.0, 0.0], [0.0, 0.0, 1.0]])
    protos = torch.randn(6, 16, generator=torch.Generator().manual_seed(3))
    return protos, a, j


def test_contrastive_drops_when_cooccurring_prototypes_move_together():
    protos, a, j = _three_class_setting()
    before = contrastive_loss(protos, a, j).item()
    moved = protos.clone()
    moved[2:4] = 0.2 * moved[2:4] + 0.8 * moved[0:2]  # class-1 prototypes towards class-0 ones
    assert contrastive_loss(moved, a, j).item() < before


def test_contrastive_rises_when_unrelated_prototypes_move_together():
    protos, a, j = _three_class_setting()
    before = contrastive_loss(protos, a, j).item()
    moved = protos.clone()
    moved[4:6] = 0.2 * moved[4:6] + 0.8 * moved[0:2]  # class-2 prototypes towards class-0 ones
    assert contrastive_loss(moved, a, j).item() > before


def test_contrastive_diagonal_carries_no_gradient_and_random_value_is_small_negative():
    p = 40
    a = identity(8, 5)
    j = torch.eye(8)
    protos = torch.randn(p, 512, generator=torch.Generator().manual_seed(4))
    value = contrastive_loss(protos, a, j).item()
    # method §3: ≈ -(P / ΣM+)/√P from the diagonal; here ΣM+ = 8 * 5 * 5 = 200
    assert value == pytest.approx(-(p / 200) / math.sqrt(p), abs=0.01)
    # a single prototype: only its own (clamped) self-similarity -> no gradient
    single = torch.randn(1, 8, requires_grad=True)
    contrastive_loss(single, torch.ones(1, 1), torch.ones(1, 1)).backward()
    assert torch.equal(single.grad, torch.zeros_like(single))


def test_contrastive_with_empty_classes_is_finite_and_only_pushes_them_apart():
    targets = np.array([[1, 0, 0], [1, 0, 1], [0, 0, 1]], dtype=np.float32)   # class 1 never positive
    j = torch.as_tensor(jaccard(targets))
    a = identity(3, 2)
    m_pos, m_neg = contrastive_masks(a, j)
    assert torch.equal(m_pos[2:4], torch.zeros(2, 6)) and torch.equal(m_pos[:, 2:4], torch.zeros(6, 2))
    assert (m_neg[2:4] > 0).all()
    protos = torch.randn(6, 8, requires_grad=True)
    loss = contrastive_loss(protos, a, j)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(protos.grad).all()
    # every class empty: both normalisers stay positive
    empty = contrastive_loss(protos.detach(), a, torch.zeros(3, 3))
    assert torch.isfinite(empty)


# ----------------------------------------------------------------------------- last layer
def test_l1_last_layer_masked_and_all():
    weight = torch.tensor([[1.0, -2.0, 0.5, -0.25],   # class 0: own prototypes 0, 1
                           [-3.0, 4.0, 1.5, 2.0]])    # class 1: own prototypes 2, 3
    assert l1_last_layer(weight, A4).item() == pytest.approx(0.5 + 0.25 + 3.0 + 4.0)
    assert l1_last_layer(weight).item() == pytest.approx(14.25)
    with pytest.raises(ValueError, match=r"\(P, C\)"):
        l1_last_layer(weight, A4.T)


def test_fusion_loss_default_and_masked():
    gen = torch.Generator().manual_seed(5)
    logits, targets = torch.randn(4, 2, generator=gen), torch.tensor([[1.0, 0], [0, 1], [1, 1], [0, 0]])
    pos_weight, weight = torch.tensor([2.0, 0.5]), torch.randn(2, 4, generator=gen)
    total, terms = fusion_loss(logits, targets, pos_weight, weight)
    cls = weighted_bce(logits, targets, pos_weight)
    assert total.item() == pytest.approx((cls + 1e-4 * weight.abs().sum()).item(), rel=1e-6)
    assert set(terms) == {"cls", "l1"}
    masked, _ = fusion_loss(logits, targets, pos_weight, weight, masked_identity=A4, l1=0.1)
    assert masked.item() == pytest.approx((cls + 0.1 * l1_last_layer(weight, A4)).item(), rel=1e-6)


# ----------------------------------------------------------------------------- combined module
def _branch_batch(num_classes=4, per_class=3, batch=5, dim=(16,), seed=6, empty=()):
    gen = torch.Generator().manual_seed(seed)
    train = (torch.rand(40, num_classes, generator=gen) < 0.4).float()
    for c in empty:
        train[:, c] = 0
    a = identity(num_classes, per_class)
    loss = PrototypeLoss(class_weights(train.numpy()), a, jaccard(train.numpy()))
    p = a.shape[0]
    batch_data = dict(
        logits=torch.randn(batch, num_classes, generator=gen, requires_grad=True),
        similarity=torch.rand(batch, p, generator=gen).mul(2).sub(1).requires_grad_(True),
        prototypes=torch.randn(p, *dim, generator=gen, requires_grad=True),
        targets=(torch.rand(batch, num_classes, generator=gen) < 0.4).float(),
    )
    return loss, a, batch_data


def test_prototype_loss_total_is_the_weighted_sum_of_the_plain_functions():
    loss, a, b = _branch_batch()
    total, terms = loss(**b)
    w = LossWeights()
    expected = {
        "cls": weighted_bce(b["logits"], b["targets"], loss.pos_weight),
        "clst": clustering_loss(b["similarity"], b["targets"], a),
        "sep": separation_loss(b["similarity"], b["targets"], a),
        "spars": sparsity_loss(b["similarity"]),
        "div": diversity_loss(b["prototypes"]),
        "cnrst": contrastive_loss(b["prototypes"], a, loss.cooccurrence),
    }
    for name, value in expected.items():
        assert terms[name].item() == pytest.approx(value.item(), rel=1e-5, abs=1e-8), name
        assert not terms[name].requires_grad
    combined = (expected["cls"] + w.clst * expected["clst"] + w.sep * expected["sep"]
                + w.div * expected["div"] + w.cnrst * expected["cnrst"])
    assert total.item() == pytest.approx(combined.item(), rel=1e-5)


def test_turning_off_contrastive_changes_only_that_term():
    loss_on, a, b = _branch_batch()
    loss_off = PrototypeLoss(loss_on.pos_weight, a, loss_on.cooccurrence, LossWeights(use_contrastive=False))
    total_on, terms_on = loss_on(**b)
    total_off, terms_off = loss_off(**b)
    for name in ("cls", "clst", "sep", "spars", "div"):
        assert terms_on[name].item() == terms_off[name].item(), name
    assert terms_off["cnrst"].item() == 0.0 and terms_on["cnrst"].item() != 0.0
    assert (total_on - total_off).item() == pytest.approx(300 * terms_on["cnrst"].item(), rel=1e-4)


def test_all_terms_finite_with_empty_labels_and_2d_prototypes():
    loss, _, b = _branch_batch(num_classes=5, per_class=4, dim=(8, 1, 3), empty=(1, 3))
    assert loss.pos_weight[1] == 0 and loss.pos_weight[3] == 0
    b["targets"][:, 1] = 1.0  # a positive for a label never seen in training (as in validation)
    total, terms = loss(**b)
    total.backward()
    assert torch.isfinite(total)
    assert all(torch.isfinite(v) for v in terms.values())
    for name in ("logits", "similarity", "prototypes"):
        assert torch.isfinite(b[name].grad).all(), name
        assert b[name].grad.abs().sum() > 0, name


def test_all_terms_finite_at_random_init_with_paper_sizes():
    gen = torch.Generator().manual_seed(7)
    train = (torch.rand(200, 16, generator=gen) < 0.1).float()
    train[:, 12:] = 0  # some labels without a training positive, as on the mini excerpt
    a = identity(16, 5)
    loss = PrototypeLoss(class_weights(train.numpy()), a, jaccard(train.numpy()))
    protos = torch.randn(80, 512, generator=gen, requires_grad=True)  # 1D branch: N(0, 1) init
    latent = torch.rand(8, 512, generator=gen)  # sigmoid-like latents
    sim = torch.nn.functional.normalize(latent, dim=1) @ torch.nn.functional.normalize(protos, dim=1).T
    weight = torch.where(a.T.bool(), 1.0, -0.5)  # +1 / -0.5 init (method §2.3)
    total, terms = loss(sim @ weight.T, sim, protos, (torch.rand(8, 16, generator=gen) < 0.1).float())
    total.backward()
    assert torch.isfinite(total) and torch.isfinite(protos.grad).all()
    assert terms["div"].item() == pytest.approx(1 / 512, rel=0.15)
    assert 250 * terms["div"].item() == pytest.approx(0.49, rel=0.15)


def test_classifier_loss_adds_masked_l1():
    loss, a, b = _branch_batch()
    weight = torch.randn(4, 12, generator=torch.Generator().manual_seed(8))
    total, terms = loss.classifier_loss(b["logits"], b["targets"], weight)
    expected = weighted_bce(b["logits"], b["targets"], loss.pos_weight) + 1e-4 * l1_last_layer(weight, a)
    assert total.item() == pytest.approx(expected.item(), rel=1e-6)
    assert terms["l1"].item() == pytest.approx((weight.abs() * (1 - a.T)).sum().item(), rel=1e-6)


def test_prototype_loss_buffers_and_input_errors():
    loss, a, b = _branch_batch()
    assert {"pos_weight", "class_identity", "cooccurrence"} <= set(loss.state_dict())
    with pytest.raises(ValueError, match="NaN or inf"):
        PrototypeLoss(torch.tensor([1.0, float("inf"), 1.0, 1.0]), a, torch.eye(4))
    with pytest.raises(ValueError, match=r"\(C,\)"):
        PrototypeLoss(torch.ones(3), a, torch.eye(4))
    with pytest.raises(ValueError, match=r"\(C, C\)"):
        PrototypeLoss(torch.ones(4), a, torch.eye(3))
    with pytest.raises(ValueError, match="0/1"):
        PrototypeLoss(torch.ones(4), a * 0.5, torch.eye(4))
    with pytest.raises(ValueError, match="prototypes"):
        loss(b["logits"], b["similarity"], b["prototypes"][:5], b["targets"])
    with pytest.raises(ValueError, match="finite"):
        LossWeights(div=-1.0)
