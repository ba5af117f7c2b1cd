"""Optimisation settings per training stage, and the ``paper`` and ``fast`` presets (spec §4.2).

Stages (spec §4.1): ``feature_extractor`` (a plain backbone + head, also the black-box baseline),
``prototypes`` (prototype vectors only), ``joint`` (backbone, add-on and prototypes), ``classifier``
(a branch's last layer on frozen similarities) and ``fusion`` (the fusion head).
"""
from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass, field, fields

from .objective import LossWeights
from ..models.baseline import BaselineConfig
from ..models.config import ModelConfig, get_preset

__all__ = ["STAGES", "TrainConfig", "train_presets", "PipelineConfig", "pipeline_config"]


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


@dataclass
class PipelineConfig:
    """Everything a pipeline run depends on besides the data."""

    preset: str
    model: ModelConfig
    train: dict[str, TrainConfig]
    baseline: BaselineConfig | None = None
    seed: int = 42
    n_boot: int = 1000

    def to_dict(self) -> dict:
        return {"preset": self.preset, "model": self.model.to_dict(),
                "train": {k: v.to_dict() for k, v in self.train.items()},
                "baseline": None if self.baseline is None else self.baseline.to_dict(),
                "seed": self.seed, "n_boot": self.n_boot}

    @classmethod
    def from_dict(cls, d: dict) -> "PipelineConfig":
        return cls(preset=d["preset"], model=ModelConfig.from_dict(d["model"]),
                   train={k: TrainConfig.from_dict(v) for k, v in d["train"].items()},
                   baseline=None if d.get("baseline") is None else BaselineConfig.from_dict(d["baseline"]),
                   seed=d.get("seed", 42), n_boot=d.get("n_boot", 1000))


def pipeline_config(preset: str = "fast", *, baseline: bool = True, seed: int = 42,
                    contrastive: bool = True, local_windows: bool = False) -> PipelineConfig:
    """The pipeline settings of a preset (``paper`` or ``fast``).

    The baseline is a ResNet1D-18 on all 71 labels, as wide as the rhythm branch's backbone and trained
    with the same stage settings as joint training (same data, splits and budget).
    ``contrastive=False`` drops the contrastive prototype loss (the ablation of spec §8.4).
    ``local_windows=True`` gives the morphology branch the local-prototype variant
    (:class:`~protoecg_lib.models.config.BranchConfig` ``local_windows``: each window's latent is
    computed from its own crop, so the shaded window is the similarity's whole support).
    """
    model = get_preset(preset)
    if local_windows:
        model = model.updated(branch="morphology", local_windows=True)
    train = train_presets(preset)
    train = {k: v.replace(seed=seed) for k, v in train.items()}
    if not contrastive:
        for stage in ("joint", "prototypes"):
            train[stage] = train[stage].replace(loss=dataclasses.replace(train[stage].loss, use_contrastive=False))
    train["feature_extractor"] = train["joint"].replace()
    base = None
    if baseline:
        base = BaselineConfig(backbone="1d", label_set="all", base_width=model.branches["rhythm"].base_width)
    return PipelineConfig(preset=preset, model=model, train=train, baseline=base, seed=seed,
                          n_boot=200 if preset == "fast" else 1000)
