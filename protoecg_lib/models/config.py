"""Model configuration: one dataclass per branch, one for the full model, and named presets.

A checkpoint stores ``config.to_dict()`` next to the weights (method §9.2 B10), so everything that
changes a tensor shape lives here: label set, prototypes per class, prototype length, latent width,
backbone width. Presets:

* ``paper`` -- the final model of method §4.3: 5 / 18 / 7 prototypes per class, prototype lengths
  global / 3 / 32 latent steps, 512-wide latents, ResNet-18 at base width 64, dropout 0.35.
* ``fast`` -- the same topology, small enough for CPU runs (CI, laptops): base width 16, 64-wide
  latents, 2 / 3 / 2 prototypes per class. The similarity constants are kept at the paper's 13 and
  4 so that similarities, logits and loss terms live on the paper's scale.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from ..labels import BRANCHES, label_set

__all__ = ["PROTOTYPE_INITS", "ADD_ON_INITS", "LATENT_CENTERINGS", "BEAT_TIMINGS", "BranchConfig", "ModelConfig",
           "scaled_cosine_scale", "latent_length", "paper_config", "fast_config", "get_preset", "PRESET_NAMES"]

#: Names accepted by :func:`get_preset`.
PRESET_NAMES = ("paper", "fast")

_BACKBONES = ("1d", "2d")
_SIMILARITIES = ("cosine", "scaled_cosine")
_POOLS = ("mean", "max", "topk")
_FUSIONS = ("linear", "masked")
#: Prototype initialisations (``normal``: i.i.d. N(0, 1), method §2.1-2.2; ``uniform``: U(0, 1), the
#: range of the sigmoid latents the prototypes are compared with).
PROTOTYPE_INITS = ("normal", "uniform")
#: Add-on initialisations of the 1D branch (``default``: PyTorch's Linear init, method §2.1;
#: ``kaiming``: Kaiming-normal fan_out weights and zero biases, as the 2D add-on of method §2.2).
ADD_ON_INITS = ("default", "kaiming")
#: Latent centring before the cosine (``none``: the paper; ``half``: ``z - 0.5``; ``running``: ``z``
#: minus its batch mean in training and its running mean in evaluation, like a BatchNorm without scale).
LATENT_CENTERINGS = ("none", "half", "running")
#: Beat-timing inputs of the 1D branch (``none``: the paper; ``rr``: RR-interval features from
#: :mod:`protoecg_lib.data.rr` through a small encoder whose embedding joins the pooled backbone features).
BEAT_TIMINGS = ("none", "rr")


def latent_length(num_samples: int) -> int:
    """Latent time steps of the ResNet-18 backbones for an input of ``num_samples`` samples.

    The stem convolution, the max-pool and the first blocks of layer2-4 each halve the time axis
    with ``ceil`` rounding (kernel 7/3/3, padding 3/1/1, stride 2), so ``L = ceil(N / 32)`` applied
    step by step: 1000 -> 32 (method §2.1), 5000 -> 157.
    """
    if int(num_samples) != num_samples or num_samples < 1:
        raise ValueError(f"num_samples must be a positive integer, got {num_samples!r}")
    length = int(num_samples)
    for _ in range(5):
        length = (length + 1) // 2
    return length


def scaled_cosine_scale(proto_dim: int, prototype_length: int) -> float:
    """The constant ``L / T`` of the 2D scaled cosine (method §2.2, §9.1 A2).

    ``D = proto_dim * T`` entries per window, ``L = floor(sqrt(D))``; the official code multiplies
    the cosine by ``L / T``: 13 for (512, 3) and 4 for (512, 32).
    """
    if proto_dim < 1 or prototype_length < 1:
        raise ValueError(f"proto_dim and prototype_length must be >= 1, got {proto_dim}, {prototype_length}")
    return math.isqrt(proto_dim * prototype_length) / prototype_length


@dataclass
class BranchConfig:
    """Everything that defines one ProtoECGNet branch (method §2.1-2.3, §4.3).

    Parameters
    ----------
    name : {'rhythm', 'morphology', 'global'}
        The branch.
    backbone : {'1d', '2d'}
        ResNet-18 in 1D (leads as channels, method §2.1) or 2D (leads as image height, §2.2).
    prototypes_per_class : int
        ``m``; the branch has ``P = m * C`` prototypes, class ``c`` owning ``c*m .. c*m+m-1``.
    prototype_length : int or None
        ``T`` in latent steps for time-localised 2D prototypes (3 in the paper); ``None`` means
        global prototypes (1D vectors, or 2D prototypes spanning the whole latent map).
    label_set : str, optional
        Label set of the branch's classifier; defaults to ``name``.
    proto_dim : int
        Latent (add-on output) width ``D``: 512 in the paper.
    similarity : {'cosine', 'scaled_cosine'}
        Cosine for the 1D branch, the scaled cosine over sliding windows for 2D branches.
    similarity_scale : float or None
        Constant multiplying the 2D cosine (13 for T=3, 4 for T=32 in the paper, §9.1 A2);
        ``None`` computes it from :func:`scaled_cosine_scale`. Must be 1 (or None) for cosine.
    window_pool : {'mean', 'max', 'topk'}
        How window similarities are pooled for the classifier (§9.1 A1; default ``mean`` as the
        released code).
    topk : int
        Windows averaged by ``window_pool='topk'``.
    base_width : int
        Channels of the backbone's first stage (64 in ResNet-18); the output has ``8 * base_width``.
    dropout : float
        Dropout between layer3 and layer4 of the 2D backbone; ignored by the 1D backbone (§2.1).
    pretrained : bool
        Load torchvision's ImageNet ResNet-18 weights into the 2D backbone (needs torchvision).
    num_samples : int
        Input length the global 2D prototypes are sized for: ``T = latent_length(num_samples)``
        (32 for 1000 samples). Longer inputs are averaged down to ``T`` latent steps.
    prototype_init : {'normal', 'uniform'}
        ``normal`` (paper): i.i.d. N(0, 1); ``uniform``: U(0, 1), inside the positive orthant where
        the sigmoid latents live.
    add_on_init : {'default', 'kaiming'}
        1D add-on initialisation (the 2D add-on is always Kaiming, method §2.2).
    latent_center : {'none', 'half', 'running'}
        What is subtracted from the add-on output before the similarity (``none`` in the paper).
        Sigmoid latents are all positive, so uncentred they all point roughly along ``(1, ..., 1)``
        and all cosines rise and fall together (the rhythm-branch collapse). Projection stores the
        centred latent: "a prototype is the latent of a real ECG" still holds exactly.
    beat_timing : {'none', 'rr'}
        1D branch only: ``rr`` adds RR-interval features (:data:`protoecg_lib.data.rr.BEAT_FEATURES`,
        lead ``beat_lead``, detector ``beat_detector``) encoded to ``beat_dim`` values and
        concatenated with the pooled backbone features before the add-on.
    beat_dim, beat_lead, beat_detector, sampling_rate : int, int, str, int
        Width of the beat-timing embedding; the lead the R peaks are detected on (1 = lead II); the
        detector, ``'neurokit'``, ``'gqrs'`` or ``'xqrs'`` (:func:`protoecg_lib.data.rr.detect_r_peaks`);
        the rate (Hz) of the signals the branch reads.
    local_windows : bool
        Local-prototype variant (time-localised 2D prototypes only): the latent patch of window ``w``
        is computed by the backbone from that window's own crop of ``32 * T`` samples (96 for T = 3,
        centred on the nominal span), so nothing outside the crop can move its similarity -- the
        shaded window is the evidence's support by construction. Same prototypes, losses,
        projection and fusion; about ``W * 32 * T / N`` times the backbone compute (2.9x at 1000 samples).
    """

    name: str
    backbone: str
    prototypes_per_class: int
    prototype_length: int | None = None
    label_set: str | None = None
    proto_dim: int = 512
    similarity: str | None = None
    similarity_scale: float | None = None
    window_pool: str = "mean"
    topk: int = 5
    base_width: int = 64
    dropout: float = 0.0
    pretrained: bool = False
    num_samples: int = 1000
    prototype_init: str = "normal"
    add_on_init: str = "default"
    latent_center: str = "none"
    beat_timing: str = "none"
    beat_dim: int = 32
    beat_lead: int = 1
    beat_detector: str = "neurokit"
    sampling_rate: int = 100
    local_windows: bool = False

    def __post_init__(self) -> None:
        if self.name not in BRANCHES:
            raise ValueError(f"BranchConfig.name must be one of {BRANCHES}, got {self.name!r}")
        if self.label_set is None:
            self.label_set = self.name
        label_set(self.label_set)  # raises a clear error for an unknown set
        if self.backbone not in _BACKBONES:
            raise ValueError(f"branch {self.name!r}: backbone must be one of {_BACKBONES}, got {self.backbone!r}")
        if self.similarity is None:
            self.similarity = "cosine" if self.backbone == "1d" else "scaled_cosine"
        expected = "cosine" if self.backbone == "1d" else "scaled_cosine"
        if self.similarity not in _SIMILARITIES or self.similarity != expected:
            raise ValueError(
                f"branch {self.name!r}: a {self.backbone} backbone uses similarity {expected!r}, "
                f"got {self.similarity!r}")
        if self.backbone == "1d" and self.prototype_length is not None:
            raise ValueError(
                f"branch {self.name!r}: 1D prototypes are global vectors; set prototype_length=None "
                f"(got {self.prototype_length!r})")
        if self.prototype_length is not None and (int(self.prototype_length) != self.prototype_length
                                                  or self.prototype_length < 1):
            raise ValueError(f"branch {self.name!r}: prototype_length must be a positive int or None, "
                             f"got {self.prototype_length!r}")
        for key in ("prototypes_per_class", "proto_dim", "topk", "base_width", "num_samples"):
            value = getattr(self, key)
            if isinstance(value, bool) or int(value) != value or value < 1:
                raise ValueError(f"branch {self.name!r}: {key} must be a positive integer, got {value!r}")
        if self.window_pool not in _POOLS:
            raise ValueError(f"branch {self.name!r}: window_pool must be one of {_POOLS}, got {self.window_pool!r}")
        if not 0.0 <= float(self.dropout) < 1.0:
            raise ValueError(f"branch {self.name!r}: dropout must be in [0, 1), got {self.dropout!r}")
        if self.similarity_scale is not None:
            if not float(self.similarity_scale) > 0:
                raise ValueError(f"branch {self.name!r}: similarity_scale must be > 0, got {self.similarity_scale!r}")
            if self.similarity == "cosine" and float(self.similarity_scale) != 1.0:
                raise ValueError(f"branch {self.name!r}: the 1D cosine has no scale; set similarity_scale=None or 1")
        if self.local_windows and (self.backbone != "2d" or self.prototype_length is None):
            raise ValueError(f"branch {self.name!r}: local_windows needs time-localised 2D prototypes "
                             "(backbone='2d' and a prototype_length)")
        if self.pretrained and self.backbone != "2d":
            raise ValueError(f"branch {self.name!r}: ImageNet weights exist only for the 2D backbone")
        for key, allowed in (("prototype_init", PROTOTYPE_INITS), ("add_on_init", ADD_ON_INITS),
                             ("latent_center", LATENT_CENTERINGS), ("beat_timing", BEAT_TIMINGS),
                             ("beat_detector", ("neurokit", "gqrs", "xqrs"))):
            if getattr(self, key) not in allowed:
                raise ValueError(f"branch {self.name!r}: {key} must be one of {allowed}, got {getattr(self, key)!r}")
        if self.beat_timing != "none" and self.backbone != "1d":
            raise ValueError(f"branch {self.name!r}: beat_timing is an option of the 1D (rhythm) branch")
        if not 0 <= int(self.beat_lead) < 12:
            raise ValueError(f"branch {self.name!r}: beat_lead must be a lead index 0-11, got {self.beat_lead!r}")
        for key in ("beat_dim", "sampling_rate"):
            value = getattr(self, key)
            if isinstance(value, bool) or int(value) != value or value < 1:
                raise ValueError(f"branch {self.name!r}: {key} must be a positive integer, got {value!r}")
        latent_length(self.num_samples)
        if self.prototype_length is not None and self.prototype_length > latent_length(self.num_samples):
            raise ValueError(
                f"branch {self.name!r}: prototype_length {self.prototype_length} is longer than the "
                f"latent map ({latent_length(self.num_samples)} steps for {self.num_samples} samples)")

    # -- derived quantities -------------------------------------------------------------------
    @property
    def labels(self) -> tuple[str, ...]:
        """SCP codes of the branch's classes, in label-set order."""
        return label_set(self.label_set)

    @property
    def num_classes(self) -> int:
        """``C``."""
        return len(self.labels)

    @property
    def num_prototypes(self) -> int:
        """``P = m * C``."""
        return self.prototypes_per_class * self.num_classes

    @property
    def is_global(self) -> bool:
        """True for global prototypes (1D vectors or 2D prototypes covering the whole record)."""
        return self.prototype_length is None

    @property
    def window_length(self) -> int:
        """Prototype length in latent steps: ``T``, or the full latent length for global prototypes
        (``latent_length(num_samples)``; 1 for the 1D branch, whose latent is pooled)."""
        if self.backbone == "1d":
            return 1
        if self.prototype_length is None:
            return latent_length(self.num_samples)
        return int(self.prototype_length)

    @property
    def scale(self) -> float:
        """The similarity constant in use: 1 for cosine, ``similarity_scale`` or the formula for 2D."""
        if self.similarity == "cosine":
            return 1.0
        if self.similarity_scale is not None:
            return float(self.similarity_scale)
        return scaled_cosine_scale(self.proto_dim, self.window_length)

    @property
    def backbone_channels(self) -> int:
        """Channels of the backbone output: ``8 * base_width``."""
        return 8 * self.base_width

    # -- serialisation ------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (plain str/int/float/bool/None values)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "BranchConfig":
        """Inverse of :meth:`to_dict`; unknown keys are an error (a typo must not pass silently)."""
        if not isinstance(data, dict):
            raise TypeError(f"BranchConfig.from_dict needs a dict, got {type(data).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown BranchConfig key(s) {unknown}; known keys: {sorted(known)}")
        return cls(**data)

    def replace(self, **changes: Any) -> "BranchConfig":
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)


@dataclass
class ModelConfig:
    """The full ProtoECGNet: three branch configs and the fusion head (method §2, §6, §9.1 A4).

    Parameters
    ----------
    branches : dict of str to BranchConfig
        Exactly the keys ``'rhythm'``, ``'morphology'``, ``'global'``; stored in that order.
    fusion : {'linear', 'masked'}
        ``linear``: Linear(sum P -> 71) with bias and PyTorch default init (the official code);
        ``masked``: no bias, +1 / -0.5 init from the prototypes' classes (§9.1 A4).
    name : str
        The preset this config came from (informative only).
    """

    branches: dict[str, BranchConfig]
    fusion: str = "linear"
    name: str = "custom"

    def __post_init__(self) -> None:
        if not isinstance(self.branches, dict) or set(self.branches) != set(BRANCHES):
            got = sorted(self.branches) if isinstance(self.branches, dict) else type(self.branches).__name__
            raise ValueError(f"ModelConfig.branches needs exactly the keys {BRANCHES}, got {got}")
        branches = {}
        for key in BRANCHES:
            cfg = self.branches[key]
            if isinstance(cfg, dict):
                cfg = BranchConfig.from_dict(cfg)
            if not isinstance(cfg, BranchConfig):
                raise TypeError(f"ModelConfig.branches[{key!r}] must be a BranchConfig, got {type(cfg).__name__}")
            if cfg.name != key:
                raise ValueError(f"ModelConfig.branches[{key!r}] has name {cfg.name!r}; they must agree")
            branches[key] = cfg
        self.branches = branches
        if self.fusion not in _FUSIONS:
            raise ValueError(f"ModelConfig.fusion must be one of {_FUSIONS}, got {self.fusion!r}")

    @property
    def num_fusion_features(self) -> int:
        """Width of the concatenated similarities fed to the fusion head (1037 in the paper)."""
        return sum(cfg.num_prototypes for cfg in self.branches.values())

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict."""
        return {"name": self.name, "fusion": self.fusion,
                "branches": {k: cfg.to_dict() for k, cfg in self.branches.items()}}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ModelConfig":
        """Inverse of :meth:`to_dict`; unknown keys are an error."""
        if not isinstance(data, dict):
            raise TypeError(f"ModelConfig.from_dict needs a dict, got {type(data).__name__}")
        unknown = sorted(set(data) - {"name", "fusion", "branches"})
        if unknown:
            raise ValueError(f"unknown ModelConfig key(s) {unknown}; known keys: ['branches', 'fusion', 'name']")
        if "branches" not in data:
            raise ValueError("ModelConfig.from_dict: the dict has no 'branches' entry")
        branches = {k: BranchConfig.from_dict(v) for k, v in data["branches"].items()}
        return cls(branches=branches, fusion=data.get("fusion", "linear"), name=data.get("name", "custom"))

    def updated(self, branch: str | None = None, **changes: Any) -> "ModelConfig":
        """A copy with ``changes`` applied to one branch (``branch='morphology'``) or to all three.

        Example: ``get_preset('paper').updated(pretrained=True, branch='global')``.
        """
        if branch is not None and branch not in BRANCHES:
            raise ValueError(f"unknown branch {branch!r}; choose one of {BRANCHES}")
        branches = {k: (cfg.replace(**changes) if branch in (None, k) else cfg)
                    for k, cfg in self.branches.items()}
        return ModelConfig(branches=branches, fusion=self.fusion, name=self.name)


def paper_config(fusion: str = "linear") -> ModelConfig:
    """The paper's final model (method §4.3): P = 80 / 936 / 21, T = global / 3 / 32, D = 512.

    The 2D branches start from torchvision's ImageNet ResNet-18 weights (method §2.2) when torchvision
    and its weights can be had; otherwise they train from scratch and say so
    (:func:`~protoecg_lib.models.backbones.try_load_imagenet_resnet18`).
    """
    common = dict(proto_dim=512, base_width=64, dropout=0.35)
    return ModelConfig(
        branches={
            "rhythm": BranchConfig("rhythm", "1d", prototypes_per_class=5, pretrained=False, **common),
            "morphology": BranchConfig("morphology", "2d", prototypes_per_class=18, prototype_length=3,
                                       similarity_scale=scaled_cosine_scale(512, 3), pretrained=True, **common),
            "global": BranchConfig("global", "2d", prototypes_per_class=7, prototype_length=None,
                                   similarity_scale=scaled_cosine_scale(512, 32), pretrained=True, **common),
        },
        fusion=fusion, name="paper")


def fast_config(fusion: str = "linear") -> ModelConfig:
    """A small CPU preset with the paper's topology: base width 16, D = 64, P = 32 / 156 / 6.

    The scaled-cosine constants stay at the paper's 13 and 4 (not the formula for D = 64), so
    similarity ranges and the effective temperature of the fixed +1/-0.5 last layer match §2.2.
    """
    common = dict(proto_dim=64, base_width=16, dropout=0.35, pretrained=False)
    return ModelConfig(
        branches={
            "rhythm": BranchConfig("rhythm", "1d", prototypes_per_class=2, **common),
            "morphology": BranchConfig("morphology", "2d", prototypes_per_class=3, prototype_length=3,
                                       similarity_scale=scaled_cosine_scale(512, 3), **common),
            "global": BranchConfig("global", "2d", prototypes_per_class=2, prototype_length=None,
                                   similarity_scale=scaled_cosine_scale(512, 32), **common),
        },
        fusion=fusion, name="fast")


def get_preset(name: str, fusion: str = "linear") -> ModelConfig:
    """The named preset (``'paper'`` or ``'fast'``) as a fresh :class:`ModelConfig`."""
    factories = {"paper": paper_config, "fast": fast_config}
    if name not in factories:
        raise ValueError(f"unknown model preset {name!r}; choose one of {PRESET_NAMES}")
    return factories[name](fusion=fusion)
