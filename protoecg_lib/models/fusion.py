"""The full ProtoECGNet: three branches and a fusion head over their similarities (method §2, §6).

The fusion head reads the pooled similarities of the three branches concatenated in the order
rhythm, morphology, global (80 + 936 + 21 = 1037 features in the paper) and outputs 71 logits in
``labels.LABEL_SETS['all']`` order (``scp_statements.csv`` order). Two variants (§9.1 A4):

* ``fusion='linear'`` (default, official code): Linear(1037 -> 71) with bias, PyTorch default init;
* ``fusion='masked'``: no bias, initialised +1 where the prototype's class is the output label and
  -0.5 elsewhere, from :attr:`ProtoECGNet.fusion_identity`.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from ..labels import BRANCHES, LABEL_SETS
from .branch import BranchOutput, ProtoBranch
from .config import ModelConfig
from .prototypes import last_layer_weights

__all__ = ["ModelOutput", "ProtoECGNet", "fusion_class_identity"]


class ModelOutput(NamedTuple):
    """Result of :meth:`ProtoECGNet.forward`.

    Attributes
    ----------
    logits : Tensor, shape (B, 71)
        Fused logits in ``LABEL_SETS['all']`` order.
    branches : dict of str to BranchOutput
        The three branch outputs, keyed ``'rhythm'``, ``'morphology'``, ``'global'``.
    """

    logits: Tensor
    branches: dict[str, BranchOutput]


def fusion_class_identity(config: ModelConfig) -> Tensor:
    """Identity matrix ``(sum P, 71)`` between concatenated prototypes and the 71 fused labels.

    Row ``i`` (prototype ``i`` in rhythm, morphology, global order) has a single 1 in the column of
    its class's code within ``LABEL_SETS['all']``.
    """
    all_labels = LABEL_SETS["all"]
    column = {code: i for i, code in enumerate(all_labels)}
    rows = []
    for name in BRANCHES:
        cfg = config.branches[name]
        for j in range(cfg.num_prototypes):
            rows.append(column[cfg.labels[j // cfg.prototypes_per_class]])
    identity = torch.zeros(len(rows), len(all_labels))
    identity[torch.arange(len(rows)), torch.tensor(rows)] = 1.0
    return identity  # (sum P, 71)


class ProtoECGNet(nn.Module):
    """Three prototype branches and a fusion head (method §2, §6).

    Parameters
    ----------
    config : ModelConfig
    load_pretrained : bool
        Passed to every :class:`ProtoBranch` (ImageNet weights when a branch config asks for them).

    Attributes
    ----------
    branches : nn.ModuleDict
        ``'rhythm'``, ``'morphology'``, ``'global'`` -> :class:`ProtoBranch`.
    fusion : nn.Linear
        ``sum P -> 71``.
    fusion_identity : Tensor, shape (sum P, 71)
        Buffer; see :func:`fusion_class_identity`.
    """

    def __init__(self, config: ModelConfig, *, load_pretrained: bool = True) -> None:
        super().__init__()
        if not isinstance(config, ModelConfig):
            raise TypeError(f"ProtoECGNet needs a ModelConfig, got {type(config).__name__}")
        self.config = config
        self.branches = nn.ModuleDict(
            {name: ProtoBranch(config.branches[name], load_pretrained=load_pretrained) for name in BRANCHES})
        self.register_buffer("fusion_identity", fusion_class_identity(config))
        width, num_labels = self.fusion_identity.shape
        self.fusion = nn.Linear(width, num_labels, bias=config.fusion == "linear")
        if config.fusion == "masked":
            self.reset_fusion()

    @property
    def labels(self) -> tuple[str, ...]:
        """The 71 SCP codes of the fused output, in ``scp_statements.csv`` order."""
        return LABEL_SETS["all"]

    @property
    def feature_slices(self) -> dict[str, slice]:
        """Columns of each branch in the concatenated fusion features."""
        slices, start = {}, 0
        for name in BRANCHES:
            count = self.branches[name].num_prototypes
            slices[name] = slice(start, start + count)
            start += count
        return slices

    @property
    def prototype_class(self) -> Tensor:
        """Column (in the 71 labels) of every concatenated prototype, shape (sum P,), long."""
        return self.fusion_identity.argmax(dim=1)

    @torch.no_grad()
    def reset_fusion(self, correct: float = 1.0, incorrect: float = -0.5) -> None:
        """Masked-fusion initialisation: ``correct`` on own-class connections, ``incorrect``
        elsewhere, bias (if any) zero (§9.1 A4)."""
        self.fusion.weight.copy_(last_layer_weights(self.fusion_identity, correct, incorrect))
        if self.fusion.bias is not None:
            self.fusion.bias.zero_()

    def fuse(self, features: Tensor) -> Tensor:
        """Fusion head on precomputed features ``(B, sum P)`` -> logits ``(B, 71)``."""
        if features.ndim != 2 or features.shape[1] != self.fusion.in_features:
            raise ValueError(f"fusion features must have shape (B, {self.fusion.in_features}), "
                             f"got {tuple(features.shape)}")
        return self.fusion(features)

    def fusion_features(self, signals: Tensor) -> Tensor:
        """Concatenated pooled similarities, ``signals (B, 12, T)`` -> ``(B, sum P)`` (1037 in the paper)."""
        return torch.cat([self.branches[name](signals).similarity for name in BRANCHES], dim=1)

    def forward(self, signals: Tensor) -> ModelOutput:
        """``signals (B, 12, T)`` -> :class:`ModelOutput` (fused logits ``(B, 71)`` + branch outputs)."""
        outputs = {name: self.branches[name](signals) for name in BRANCHES}
        features = torch.cat([outputs[name].similarity for name in BRANCHES], dim=1)  # (B, sum P)
        return ModelOutput(self.fusion(features), outputs)

    def num_parameters(self, include_branch_last_layers: bool = False) -> int:
        """Parameter count (BN running statistics excluded).

        By default the branches' own last layers are left out: the inference model is three
        backbones + add-ons + prototypes + the fusion layer (29,666,146 in the paper, §2.5).
        """
        skip = set()
        if not include_branch_last_layers:
            skip = {id(p) for b in self.branches.values() for p in b.last_layer.parameters()}
        return sum(p.numel() for p in self.parameters() if id(p) not in skip)
