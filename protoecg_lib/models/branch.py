"""One ProtoECGNet branch: backbone -> add-on -> prototype layer -> last layer (method §2.1-2.3).

``ProtoBranch(config)(signals)`` returns a :class:`BranchOutput` holding everything losses,
projection and explanations need from one forward pass: logits, pooled and per-window
similarities, and the latent.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import Tensor, nn

from .backbones import ResNet18_1D, ResNet18_2D, try_load_imagenet_resnet18
from .beats import BeatEncoder
from .config import BranchConfig, latent_length
from .prototypes import PrototypeLayer, class_identity, last_layer_weights

__all__ = ["BranchOutput", "ProtoBranch", "make_add_on", "LatentCentering"]


class BranchOutput(NamedTuple):
    """Result of :meth:`ProtoBranch.forward`.

    Attributes
    ----------
    logits : Tensor, shape (B, C)
        Last-layer logits over the branch's label set.
    similarity : Tensor, shape (B, P)
        Prototype similarities pooled over windows (what the classifier and the losses see).
    window_similarity : Tensor, shape (B, P, W)
        Similarity to every window (``W = 1`` for global prototypes); max/argmax for projection
        and explanations.
    latent : Tensor
        Add-on output: ``(B, D)`` for the 1D branch, ``(B, D, 1, L)`` for 2D branches, and
        ``(B, D, W, T)`` (one patch per window) for the local-prototype variant (``local_windows``).
    """

    logits: Tensor
    similarity: Tensor
    window_similarity: Tensor
    latent: Tensor


def make_add_on(backbone: str, in_channels: int, proto_dim: int, init: str = "default") -> nn.Sequential:
    """Add-on layers ending in a sigmoid (method §2.1-2.2).

    ``'1d'``: Linear(in, D) - ReLU - Linear(D, D) - Sigmoid, PyTorch default init (``init='default'``)
    or Kaiming-normal fan_out weights and zero biases (``init='kaiming'``), applied to the globally
    averaged feature ``(B, in)``. ``'2d'``: Conv2d 1x1 (in, D) - ReLU - Conv2d 1x1 (D, D) -
    Sigmoid on ``(B, in, 1, L)``, Kaiming-normal (fan_out, ReLU) weights and zero biases.
    """
    if backbone == "1d":
        layers = nn.Sequential(nn.Linear(in_channels, proto_dim), nn.ReLU(),
                               nn.Linear(proto_dim, proto_dim), nn.Sigmoid())
        if init == "kaiming":
            for layer in (layers[0], layers[2]):
                nn.init.kaiming_normal_(layer.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(layer.bias)
        elif init != "default":
            raise ValueError(f"add-on init must be 'default' or 'kaiming', got {init!r}")
        return layers
    if backbone == "2d":
        layers = nn.Sequential(nn.Conv2d(in_channels, proto_dim, 1), nn.ReLU(),
                               nn.Conv2d(proto_dim, proto_dim, 1), nn.Sigmoid())
        for layer in (layers[0], layers[2]):
            nn.init.kaiming_normal_(layer.weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(layer.bias)
        return layers
    raise ValueError(f"backbone must be '1d' or '2d', got {backbone!r}")


class LatentCentering(nn.Module):
    """What is subtracted from the sigmoid latent before the similarity (``BranchConfig.latent_center``).

    * ``none`` (the paper): identity.
    * ``half``: ``z - 0.5`` (the sigmoid's midpoint; equals ``tanh(a / 2) / 2`` of the pre-activation).
    * ``running``: in training, ``z`` minus the batch mean over ECGs (and latent steps for 2D maps);
      in evaluation, minus a running mean (momentum 0.1) kept in the buffer ``running_mean (D,)`` --
      BatchNorm's centring without its scaling, so projection, explanations and inference of a saved
      branch are deterministic.

    Parameters
    ----------
    mode : {'none', 'half', 'running'}
    dim : int
        ``D``.
    momentum : float
    """

    def __init__(self, mode: str = "none", dim: int = 512, momentum: float = 0.1) -> None:
        super().__init__()
        if mode not in ("none", "half", "running"):
            raise ValueError(f"latent centring must be 'none', 'half' or 'running', got {mode!r}")
        self.mode, self.momentum = mode, float(momentum)
        if mode == "running":
            self.register_buffer("running_mean", torch.full((int(dim),), 0.5))

    def forward(self, latent: Tensor) -> Tensor:
        """``latent (B, D)`` or ``(B, D, 1, L)`` -> same shape."""
        if self.mode == "none":
            return latent
        if self.mode == "half":
            return latent - 0.5
        shape = (1, -1) + (1,) * (latent.ndim - 2)
        if self.training:
            dims = (0,) + tuple(range(2, latent.ndim))
            mean = latent.mean(dim=dims)                                   # (D,)
            with torch.no_grad():
                self.running_mean.lerp_(mean.detach().to(self.running_mean.dtype), self.momentum)
            return latent - mean.view(shape)
        return latent - self.running_mean.view(shape).to(latent.dtype)

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}"


class ProtoBranch(nn.Module):
    """A ProtoECGNet branch network (method §2.1-2.3).

    Parameters
    ----------
    config : BranchConfig
    load_pretrained : bool
        When ``config.pretrained`` is set, copy torchvision's ImageNet ResNet-18 weights into the
        2D backbone (needs torchvision and its weights; without them the backbone trains from
        scratch and a warning says so, :func:`~protoecg_lib.models.backbones.try_load_imagenet_resnet18`). Checkpoint loading passes False (the weights come from
        the file).

    Attributes
    ----------
    backbone : ResNet18_1D or ResNet18_2D
    add_on : nn.Sequential
    prototype_layer : PrototypeLayer
    last_layer : nn.Linear
        ``P -> C`` without bias, initialised +1 own class / -0.5 others (method §2.3).
    class_identity : Tensor, shape (P, C)
        Buffer: ``A[j, c] = 1`` iff prototype ``j`` belongs to class ``c`` (``c = j // m``).
    """

    def __init__(self, config: BranchConfig, *, load_pretrained: bool = True) -> None:
        super().__init__()
        if not isinstance(config, BranchConfig):
            raise TypeError(f"ProtoBranch needs a BranchConfig, got {type(config).__name__}")
        self.config = config
        if config.backbone == "1d":
            self.backbone = ResNet18_1D(config.base_width)
        else:
            self.backbone = ResNet18_2D(config.base_width, config.dropout)
        self.beat_encoder = None
        add_on_in = self.backbone.out_channels
        if config.beat_timing == "rr":
            self.beat_encoder = BeatEncoder(config.beat_dim, config.sampling_rate, config.beat_lead,
                                            config.beat_detector)
            add_on_in += self.beat_encoder.out_features
        self.add_on = make_add_on(config.backbone, add_on_in, config.proto_dim,
                                  config.add_on_init if config.backbone == "1d" else "default")
        self.center = LatentCentering(config.latent_center, config.proto_dim)
        self.prototype_layer = PrototypeLayer(
            config.num_prototypes, config.proto_dim,
            None if config.backbone == "1d" else config.window_length,
            scale=config.scale, global_prototypes=config.is_global,
            window_pool=config.window_pool, topk=config.topk, init=config.prototype_init)
        self.last_layer = nn.Linear(config.num_prototypes, config.num_classes, bias=False)
        self.register_buffer("class_identity", class_identity(config.num_classes, config.prototypes_per_class))
        self.reset_last_layer()
        #: True when the 2D backbone starts from ImageNet weights (``config.pretrained`` and they could be had)
        self.imagenet_weights = False
        if config.pretrained and load_pretrained:
            self.imagenet_weights = try_load_imagenet_resnet18(self.backbone, config.name)

    # -- description ----------------------------------------------------------------------------
    @property
    def name(self) -> str:
        """Branch name: ``'rhythm'``, ``'morphology'`` or ``'global'``."""
        return self.config.name

    @property
    def labels(self) -> tuple[str, ...]:
        """SCP codes of the ``C`` classes, in label-set order."""
        return self.config.labels

    @property
    def num_classes(self) -> int:
        return self.config.num_classes

    @property
    def num_prototypes(self) -> int:
        return self.config.num_prototypes

    @property
    def prototype_shape(self) -> tuple[int, ...]:
        """``(P, D)`` (1D) or ``(P, D, 1, T)`` (2D)."""
        return self.prototype_layer.prototype_shape

    @property
    def prototype_class(self) -> Tensor:
        """Class index of every prototype, shape (P,), long: ``j // m``."""
        return self.class_identity.argmax(dim=1)

    # -- forward ----------------------------------------------------------------------------------
    @property
    def local_windows(self) -> bool:
        """True for the local-prototype variant (window latents computed from the window's own crop)."""
        return bool(getattr(self.config, "local_windows", False))

    def crop_length(self) -> int:
        """Samples per window crop of the local variant: ``32 * T`` (its latent has exactly T steps)."""
        return 32 * self.config.window_length

    def window_crops(self, num_samples: int) -> Tensor:
        """``(start, length)`` of the input crop each window's latent is computed from, shape (W, 2).

        Local variant: a ``32 * T``-sample crop centred on the nominal span (clamped to the record);
        standard branches: the whole record for every window (their receptive field is unbounded in
        practice; :mod:`protoecg_lib.receptive_field` measures it).
        """
        spans = self.window_spans(num_samples)
        if not self.local_windows:
            return torch.stack([torch.zeros(len(spans), dtype=torch.long),
                                torch.full((len(spans),), int(num_samples), dtype=torch.long)], dim=1)
        c = self.crop_length()
        if num_samples < c:
            raise ValueError(f"a {num_samples}-sample record is shorter than one window crop ({c} samples)")
        start = (spans[:, 0] - (c - spans[:, 1]) // 2).clamp(0, num_samples - c)
        return torch.stack([start, torch.full_like(start, c)], dim=1)

    def _encode_local(self, signals: Tensor) -> Tensor:
        """Local variant: ``signals (B, 12, N)`` -> patches ``(B, D, W, T)``, each from its own crop."""
        b, leads, n = signals.shape
        crops = self.window_crops(n)                                   # (W, 2)
        c = self.crop_length()
        idx = crops[:, :1].to(signals.device) + torch.arange(c, device=signals.device)   # (W, c)
        x = signals[:, :, idx]                                         # (B, 12, W, c)
        x = x.permute(0, 2, 1, 3).reshape(b * len(crops), leads, c)    # (B*W, 12, c)
        z = self.add_on(self.backbone(x))                              # (B*W, D, 1, T)
        z = z[:, :, 0].reshape(b, len(crops), z.shape[1], -1)          # (B, W, D, T)
        return z.permute(0, 2, 1, 3)                                   # (B, D, W, T)

    def encode(self, signals: Tensor) -> Tensor:
        """Backbone and add-on: ``signals (B, 12, T)`` -> latent ``(B, D)`` (1D) or ``(B, D, 1, L)``
        (``(B, D, W, T)`` for the local variant).

        With ``beat_timing='rr'`` the beat embedding ``(B, E)`` joins the pooled features
        ``(B, 8w + E)``; with ``latent_center`` the centred add-on output is the latent.
        """
        if self.local_windows:
            return self.center(self._encode_local(signals))
        features = self.backbone(signals)          # (B, 8w, L) or (B, 8w, 1, L)
        if self.config.backbone == "1d":
            features = features.mean(dim=-1)       # (B, 8w): global average pooling over time
            if self.beat_encoder is not None:
                features = torch.cat([features, self.beat_encoder(signals)], dim=1)  # (B, 8w + E)
        return self.center(self.add_on(features))  # (B, D) or (B, D, 1, L)

    def forward(self, signals: Tensor) -> BranchOutput:
        """``signals (B, 12, T)`` float32 in mV -> :class:`BranchOutput` (one pass for everything)."""
        latent = self.encode(signals)
        if self.local_windows:
            window_similarity, similarity = self.prototype_layer.patch_forward(latent)  # (B, P, W), (B, P)
        else:
            window_similarity, similarity = self.prototype_layer(latent)  # (B, P, W), (B, P)
        return BranchOutput(self.last_layer(similarity), similarity, window_similarity, latent)

    # -- windows and samples ------------------------------------------------------------------
    def num_windows(self, num_samples: int) -> int:
        """Windows per record of ``num_samples`` samples: ``L - T + 1`` (sliding), else 1."""
        if self.config.backbone == "1d":
            latent_length(num_samples)
            return 1
        return self.prototype_layer.num_windows(latent_length(num_samples))

    def window_to_samples(self, window_index: int, num_samples: int) -> tuple[int, int]:
        """Input span ``(start, length)`` in samples of latent window ``window_index``.

        One latent step covers ``step = num_samples / L`` samples (31.25 for 1000 -> 32, method §5);
        ``length = floor(T * step)`` and ``start = floor(w * step)`` clamped to
        ``[0, num_samples - length]``. Global prototypes span the whole record ``(0, num_samples)``.
        Exact integer arithmetic (no float rounding): 1000 samples, T = 3 -> length 93.
        """
        windows = self.num_windows(num_samples)
        w = int(window_index)
        if w != window_index or not 0 <= w < windows:
            raise IndexError(f"window index {window_index!r} out of range [0, {windows}) for "
                             f"{num_samples} samples in branch {self.name!r}")
        if self.config.is_global:
            return 0, int(num_samples)
        steps, t = latent_length(num_samples), self.config.window_length
        length = (t * num_samples) // steps
        start = min(max((w * num_samples) // steps, 0), num_samples - length)
        return int(start), int(length)

    def window_spans(self, num_samples: int) -> Tensor:
        """``(start, length)`` of every window, shape (W, 2), long."""
        spans = [self.window_to_samples(w, num_samples) for w in range(self.num_windows(num_samples))]
        return torch.tensor(spans, dtype=torch.long)

    def latent_windows(self, latent: Tensor) -> Tensor:
        """Flattened latent patch of every window, ``(B, W, K)`` (``K = D`` or ``D * T``).

        ``latent_windows(latent)[b, w]`` reshaped to ``prototype_shape[1:]`` is what projection
        writes into a prototype (method §5); see :meth:`set_prototypes`.
        """
        if self.local_windows:
            return latent.permute(0, 2, 1, 3).reshape(latent.shape[0], latent.shape[2], -1)   # (B, W, D*T)
        return self.prototype_layer.windows(latent)

    def set_prototypes(self, values: Tensor, index: int | Sequence[int] | Tensor | None = None) -> None:
        """Overwrite all prototypes or those at ``index``; shapes are checked (see
        :meth:`PrototypeLayer.set_prototypes`)."""
        self.prototype_layer.set_prototypes(values, index)

    @torch.no_grad()
    def reset_last_layer(self, correct: float = 1.0, incorrect: float = -0.5) -> None:
        """Set the last layer to ``correct`` on own-class connections, ``incorrect`` elsewhere."""
        self.last_layer.weight.copy_(last_layer_weights(self.class_identity, correct, incorrect))

    def extra_repr(self) -> str:
        return f"name={self.name!r}, classes={self.num_classes}, prototypes={self.num_prototypes}"
