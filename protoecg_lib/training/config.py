"""Optimisation settings per training stage, and the ``paper`` and ``fast`` presets (spec §4.2).

Stages (spec §4.1): ``feature_extractor`` (a plain backbone + head, also the black-box baseline),
``prototypes`` (prototype vectors only), ``joint`` (backbone, add-on and prototypes), ``classifier``
(a branch's last layer on frozen similarities) and ``fusion`` (the fusion head).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from .objective import LossWeights

__all__ = ["STAGES", "TrainConfig", "train_presets"]


STAGES = ("feature_extractor", "prototypes", "joint", "classifier", "fusion")


@dataclass
class TrainConfig:
    """Optimisation settings of one stage (spec §4.2; README/lab-script values by default)."""

    num_epochs: int = 200
    lr: float = 1e-4
    batch_size: int = 32
    weight_decay: float = 1.7e-4
    patience: int = 10
    scheduler: str = "cosine"          # 'cosine' (T_max = num_epochs) or 'constant'
    seed: int = 42
    class_weights: str = "official"    # spec §1.5 formula, or 'standard' (N - n_c) / n_c
    loss: LossWeights = field(default_factory=LossWeights)
    amp: bool = True                   # mixed precision (float16 autocast + grad scaling) on CUDA only
    eval_batch_size: int = 128

    def __post_init__(self):
        if isinstance(self.loss, dict):
            self.loss = LossWeights(**self.loss)
        if self.scheduler not in ("cosine", "constant"):
            raise ValueError(f"scheduler must be 'cosine' or 'constant', not {self.scheduler!r}")
        for name in ("num_epochs", "batch_size", "patience"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})

    def replace(self, **changes) -> "TrainConfig":
        return TrainConfig.from_dict({**self.to_dict(), **changes})


def train_presets(preset: str) -> dict[str, TrainConfig]:
    """Stage settings for a preset: ``paper`` (spec §4.2 for every stage) or ``fast`` (CPU minutes).

    ``fast`` keeps the method and shortens everything else: few epochs and a short patience for the
    network stages, with a learning rate of 1e-3 so that a few epochs move the weights; the linear
    heads (branch classifier, fusion) train on pre-computed similarities, so they get many cheap
    epochs at 1e-2 (right after projection the +1/-0.5 last layer saturates, spec §2.3, and a
    few hundred small steps would not move it far enough).
    """
    if preset == "paper":
        base = TrainConfig()
        return {s: base.replace() for s in STAGES}
    if preset == "fast":
        return {
            "feature_extractor": TrainConfig(num_epochs=8, lr=1e-3, patience=4),
            "prototypes": TrainConfig(num_epochs=4, lr=1e-3, patience=3),
            "joint": TrainConfig(num_epochs=8, lr=1e-3, patience=4),
            "classifier": TrainConfig(num_epochs=200, lr=1e-2, patience=30, batch_size=64),
            "fusion": TrainConfig(num_epochs=200, lr=1e-2, patience=30, batch_size=64),
        }
    raise ValueError(f"unknown training preset {preset!r}; choose 'paper' or 'fast'")
