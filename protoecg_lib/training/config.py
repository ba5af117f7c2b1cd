"""Optimisation settings per training stage, and the ``paper`` and ``fast`` presets (method §4.2).

Stages (method §4.1): ``feature_extractor`` (a plain backbone + head, also the black-box baseline),
``prototypes`` (prototype vectors only), ``joint`` (backbone, add-on and prototypes), ``classifier``
(a branch's last layer on frozen similarities) and ``fusion`` (the fusion head).
"""
from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass, field, fields

from .objective import LossWeights
from ..models.baseline import BaselineConfig
from ..models.config import ModelConfig, get_preset

__all__ = ["STAGES", "TrainConfig", "train_presets", "stage_config", "PipelineConfig", "pipeline_config",
           "DEFAULT_CALIBRATION", "DEFAULT_BEAT_TIMING"]


STAGES = ("feature_extractor", "prototypes", "joint", "classifier", "fusion")


@dataclass
class TrainConfig:
    """Optimisation settings of one stage (method §4.2; README/lab-script values by default)."""

    num_epochs: int = 200
    lr: float = 1e-4
    batch_size: int = 32
    weight_decay: float = 1.7e-4
    patience: int = 10
    scheduler: str = "cosine"          # 'cosine' (T_max = num_epochs) or 'constant'
    seed: int = 42
    class_weights: str = "official"    # method §1.5 formula, 'standard' (N - n_c) / n_c, 'sqrt' or 'none'
    loss: LossWeights = field(default_factory=LossWeights)
    amp: bool = False                  # float16 autocast + grad scaling on CUDA; default float32 (TF32 matmuls) as the paper
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
    """Stage settings for a preset: ``paper`` (method §4.2 for every stage) or ``fast`` (CPU minutes).

    ``fast`` keeps the method and shortens everything else: 16 epochs (patience 8) at lr 1e-3 for the
    network stages, so that a few epochs move the weights; the rhythm branch's joint stage has its
    own entry ``"joint:rhythm"`` (8 epochs at lr 1e-2, read by :func:`stage_config`): at 1e-3 its
    sigmoid latents stay parallel and every rhythm label's logit is the same multiple of the mean
    similarity (the collapse measured in issue 16), while 1e-2 pulls the prototypes apart. The linear
    heads (branch classifier, fusion) train on pre-computed similarities, so they get many cheap
    epochs at 1e-2 (right after projection the +1/-0.5 last layer saturates, method §2.3, and a few
    hundred small steps would not move it far enough). ``paper`` is lr 1e-4 and up to 200 epochs
    for every stage and branch, float32 on CUDA (``amp=False``), as the paper trains.
    """
    if preset == "paper":
        base = TrainConfig()
        return {s: base.replace() for s in STAGES}
    if preset == "fast":
        return {
            "feature_extractor": TrainConfig(num_epochs=16, lr=1e-3, patience=8),
            "prototypes": TrainConfig(num_epochs=4, lr=1e-3, patience=3),
            "joint": TrainConfig(num_epochs=16, lr=1e-3, patience=8),
            "joint:rhythm": TrainConfig(num_epochs=8, lr=1e-2, patience=4),
            "classifier": TrainConfig(num_epochs=200, lr=1e-2, patience=30, batch_size=64),
            "fusion": TrainConfig(num_epochs=200, lr=1e-2, patience=30, batch_size=64),
        }
    raise ValueError(f"unknown training preset {preset!r}; choose 'paper' or 'fast'")


def stage_config(train: dict[str, TrainConfig], stage: str, branch: str | None = None) -> TrainConfig:
    """The settings of ``stage`` for ``branch``: ``train["<stage>:<branch>"]`` when the preset overrides
    that branch (``"joint:rhythm"`` in ``fast``), else ``train[stage]``.

    Parameters
    ----------
    train : dict of str to TrainConfig
        ``PipelineConfig.train``.
    stage : str
        One of :data:`STAGES`.
    branch : str, optional
        A branch name; None reads the stage's shared entry.
    """
    if stage not in train:
        raise KeyError(f"no settings for stage {stage!r}; the config has {sorted(train)}")
    if branch is not None and f"{stage}:{branch}" in train:
        return train[f"{stage}:{branch}"]
    return train[stage]


#: Calibration of every model of a run (:func:`protoecg_lib.evaluation.calibration.fit_calibration`):
#: prior correction, per-label Platt shrunk to the pooled fit, each ECG lists its expected number of labels.
DEFAULT_CALIBRATION = {"method": "platt", "shrinkage": 0.25, "operating_point": "expected"}

#: Beat timing of the rhythm branch per preset when ``pipeline_config(beat_timing=None)``.
DEFAULT_BEAT_TIMING = {"paper": "none", "fast": "rr"}


@dataclass
class PipelineConfig:
    """Everything a pipeline run depends on besides the data.

    Attributes
    ----------
    calibration : dict or None
        ``fit_calibration`` settings (``method``, ``shrinkage``, ``operating_point``) of the
        calibration stage; None skips it (probabilities stay ``sigmoid(logit)``).
    pretrain_root : str or None
        A PTB-XL root (a synthetic one, say) to pretrain on: the same pipeline runs there first
        (:func:`~protoecg_lib.training.cache.cached_run`), and every branch's joint stage and the
        baseline start from its weights. Off by default.
    """

    preset: str
    model: ModelConfig
    train: dict[str, TrainConfig]
    baseline: BaselineConfig | None = None
    seed: int = 42
    n_boot: int = 1000
    calibration: dict | None = field(default_factory=lambda: dict(DEFAULT_CALIBRATION))
    pretrain_root: str | None = None

    def to_dict(self) -> dict:
        return {"preset": self.preset, "model": self.model.to_dict(),
                "train": {k: v.to_dict() for k, v in self.train.items()},
                "baseline": None if self.baseline is None else self.baseline.to_dict(),
                "seed": self.seed, "n_boot": self.n_boot, "calibration": self.calibration,
                "pretrain_root": self.pretrain_root}

    @classmethod
    def from_dict(cls, d: dict) -> "PipelineConfig":
        # runs written before calibration existed have no "calibration" key: they had none
        return cls(preset=d["preset"], model=ModelConfig.from_dict(d["model"]),
                   train={k: TrainConfig.from_dict(v) for k, v in d["train"].items()},
                   baseline=None if d.get("baseline") is None else BaselineConfig.from_dict(d["baseline"]),
                   seed=d.get("seed", 42), n_boot=d.get("n_boot", 1000), calibration=d.get("calibration"),
                   pretrain_root=d.get("pretrain_root"))


def pipeline_config(preset: str = "fast", *, baseline: bool = True, seed: int = 42,
                    contrastive: bool = True, local_windows: bool = False, beat_timing: str | None = None,
                    amp: bool = False) -> PipelineConfig:
    """The pipeline settings of a preset (``paper`` or ``fast``).

    The baseline is a ResNet1D-18 on all 71 labels, as wide as the rhythm branch's backbone and trained
    with the same stage settings as joint training (same data, splits and budget).
    ``contrastive=False`` drops the contrastive prototype loss (the ablation of method §8.4).
    ``local_windows=True`` gives the morphology branch the local-prototype variant
    (:class:`~protoecg_lib.models.config.BranchConfig` ``local_windows``: each window's latent is
    computed from its own crop, so the shaded window is the similarity's whole support).

    ``beat_timing`` (``'none'`` or ``'rr'``; default per preset, :data:`DEFAULT_BEAT_TIMING`): with
    ``'rr'`` the rhythm branch also reads RR-interval features (:mod:`protoecg_lib.data.rr`) and
    centres its latent (``latent_center='running'``), an option the paper does not have. ``fast``
    uses it (the book's model worth explaining); ``paper`` keeps the paper's branch unless asked.
    ``amp=True`` trains the network stages in float16 mixed precision on CUDA (default float32).
    """
    model = get_preset(preset)
    if local_windows:
        model = model.updated(branch="morphology", local_windows=True)
    train = train_presets(preset)
    beat_timing = beat_timing or DEFAULT_BEAT_TIMING.get(preset, "none")
    if beat_timing not in ("none", "rr"):
        raise ValueError(f"beat_timing must be 'none' or 'rr', got {beat_timing!r}")
    if beat_timing == "rr":
        model = model.updated(branch="rhythm", beat_timing="rr", latent_center="running")
    train = {k: v.replace(seed=seed, amp=bool(amp)) for k, v in train.items()}
    if not contrastive:
        for stage in [k for k in train if k.split(":")[0] in ("joint", "prototypes")]:
            train[stage] = train[stage].replace(loss=dataclasses.replace(train[stage].loss, use_contrastive=False))
    train["feature_extractor"] = train["joint"].replace()
    base = None
    if baseline:
        base = BaselineConfig(backbone="1d", label_set="all", base_width=model.branches["rhythm"].base_width)
    return PipelineConfig(preset=preset, model=model, train=train, baseline=base, seed=seed,
                          n_boot=200 if preset == "fast" else 1000)
