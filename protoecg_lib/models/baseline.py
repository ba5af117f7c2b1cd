"""A plain backbone with a linear head: the ``feature_extractor`` stage and the black-box baseline.

Method §4.1: the optional pre-training stage trains the branch backbone with a plain head (1D: global
average pooling -> Linear(512 -> C); 2D: flatten the 512 x 32 map -> Linear(16384 -> C), dropout after
layer3). The same network on the 1D backbone and all 71 labels is the black-box baseline that every
results table shows beside ProtoECGNet: same data, splits and training budget, no prototypes.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from torch import Tensor, nn

from ..labels import label_set
from .backbones import ResNet18_1D, ResNet18_2D
from .config import latent_length

__all__ = ["BaselineConfig", "BaselineNet"]


@dataclass
class BaselineConfig:
    """A backbone + linear head.

    Parameters
    ----------
    backbone : {'1d', '2d'}
    label_set : str
        The classes (``'all'`` for the 71-label baseline).
    base_width : int
        64 for ResNet-18.
    dropout : float
        Dropout between layer3 and layer4 (2D backbone only, as in the branches).
    num_samples : int
        Input length (fixes the 2D head's width: ``8 * base_width * latent_length(num_samples)``).
    name : str
        Informative (``'baseline'`` or ``'feature_extractor'``).
    """

    backbone: str = "1d"
    label_set: str = "all"
    base_width: int = 64
    dropout: float = 0.0
    num_samples: int = 1000
    name: str = "baseline"

    def __post_init__(self):
        if self.backbone not in ("1d", "2d"):
            raise ValueError(f"BaselineConfig.backbone must be '1d' or '2d', got {self.backbone!r}")
        label_set(self.label_set)
        latent_length(self.num_samples)

    @property
    def labels(self) -> tuple[str, ...]:
        return label_set(self.label_set)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "BaselineConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown BaselineConfig key(s) {unknown}; known keys: {sorted(known)}")
        return cls(**data)


class BaselineNet(nn.Module):
    """``signals (B, 12, T)`` -> logits ``(B, C)`` through a ResNet-18 and one linear layer."""

    def __init__(self, config: BaselineConfig):
        super().__init__()
        self.config = config
        if config.backbone == "1d":
            self.backbone = ResNet18_1D(config.base_width)
            width = self.backbone.out_channels                           # after global average pooling
        else:
            self.backbone = ResNet18_2D(config.base_width, config.dropout)
            width = self.backbone.out_channels * latent_length(config.num_samples)  # flattened map
        self.head = nn.Linear(width, len(config.labels))

    @property
    def labels(self) -> tuple[str, ...]:
        return self.config.labels

    def forward(self, signals: Tensor) -> Tensor:
        features = self.backbone(signals)                  # (B, 8w, L) or (B, 8w, 1, L)
        if self.config.backbone == "1d":
            features = features.mean(dim=-1)               # (B, 8w)
        else:
            features = features.flatten(1)                 # (B, 8w * L)
        return self.head(features)                         # (B, C)
