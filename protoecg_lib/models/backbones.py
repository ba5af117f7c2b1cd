"""ResNet-18 backbones in 1D and 2D, written here (no torchvision), and an ImageNet weight loader.

* :class:`ResNet18_1D` (method §2.1): leads are channels; ``(B, 12, T) -> (B, 8w, L)``.
* :class:`ResNet18_2D` (method §2.2): leads are image height; the stem Conv2d(1 -> w, kernel (12, 7),
  stride (1, 2), padding (0, 3)) collapses them, so every later map has height 1;
  ``(B, 12, T) -> (B, 8w, 1, L)``, with dropout between layer3 and layer4.

``w`` is ``base_width`` (64 in ResNet-18) and ``L = latent_length(T)`` (32 for T = 1000, 157 for
T = 5000). Module names follow torchvision's ``resnet18`` (``conv1``, ``bn1``, ``layer1.0.conv1``, ...),
which keeps :func:`load_imagenet_resnet18`'s name mapping short and readable.

Row layout (default): every map after the stem has a single row, so both backbones run as
``(B, C, 1, L)`` maps in channels-last order with the exact rewrites of :mod:`.rows` (the 2D
3x3 convolutions with their middle kernel row, the 2D stem as a convolution over the leads as
channels, 1D layers as 2D layers of height 1). Weights keep their shapes and names.
``row_layout = False`` (or :func:`~protoecg_lib.models.rows.set_fast_paths`) gives the plain layers.
"""
from __future__ import annotations

import warnings

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from .rows import (RowBatchNorm1d, RowConv1d, RowConv2d, RowMaxPool1d, row_max_pool2d, set_row_shortcut, stem_as_rows,
                   to_rows)

__all__ = [
    "BasicBlock", "ResNet18_1D", "ResNet18_2D",
    "imagenet_key_map", "load_imagenet_resnet18", "try_load_imagenet_resnet18",
]

_NUM_LEADS = 12
_BN_KEYS = ("weight", "bias", "running_mean", "running_var")


class BasicBlock(nn.Module):
    """ResNet BasicBlock in 1D or 2D (method §2.1): conv3-BN-ReLU-conv3-BN, plus shortcut, ReLU.

    The shortcut is the identity, or a stride-``s`` 1-wide convolution + BN when the stride or the
    channel count changes. Shapes: ``(B, C_in, [1,] T) -> (B, C_out, [1,] ceil(T / stride))``; a 1D
    block also takes the row layout ``(B, C_in, 1, T)`` (:mod:`.rows`).
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int, dims: int) -> None:
        super().__init__()
        if dims == 1:
            conv, bn = RowConv1d, RowBatchNorm1d
        elif dims == 2:
            conv, bn = RowConv2d, nn.BatchNorm2d
        else:
            raise ValueError(f"dims must be 1 or 2, got {dims!r}")
        self.conv1 = conv(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = bn(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv(out_channels, out_channels, 3, stride=1, padding=1, bias=False)
        self.bn2 = bn(out_channels)
        self.downsample = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                conv(in_channels, out_channels, 1, stride=stride, bias=False), bn(out_channels))

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


def _stages(base_width: int, dims: int) -> list[nn.Sequential]:
    widths = [base_width, 2 * base_width, 4 * base_width, 8 * base_width]
    stages, in_ch = [], base_width
    for i, width in enumerate(widths):
        stride = 1 if i == 0 else 2
        stages.append(nn.Sequential(BasicBlock(in_ch, width, stride, dims), BasicBlock(width, width, 1, dims)))
        in_ch = width
    return stages


def _check_signals(signals: Tensor, who: str) -> None:
    if signals.ndim != 3 or signals.shape[1] != _NUM_LEADS:
        raise ValueError(f"{who} expects signals of shape (B, 12, T), got {tuple(signals.shape)}; "
                         "add a batch axis with signals[None] for a single ECG")


class ResNet18_1D(nn.Module):
    """ResNet-18 over time with the 12 leads as input channels (method §2.1).

    Stem Conv1d(12 -> w, k=7, s=2, p=3) - BN - ReLU - MaxPool1d(3, 2, 1), then four stages of two
    BasicBlocks (w, 2w, 4w, 8w channels; stride 2 from the second stage). No dropout. PyTorch
    default initialisation.

    Parameters
    ----------
    base_width : int
        ``w``; 64 gives the paper's 3,848,832 parameters.
    """

    def __init__(self, base_width: int = 64) -> None:
        super().__init__()
        self.base_width = base_width
        self.out_channels = 8 * base_width
        self.row_layout = True
        self.conv1 = RowConv1d(_NUM_LEADS, base_width, 7, stride=2, padding=3, bias=False)
        self.bn1 = RowBatchNorm1d(base_width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = RowMaxPool1d(3, stride=2, padding=1)
        self.layer1, self.layer2, self.layer3, self.layer4 = _stages(base_width, dims=1)

    def forward(self, signals: Tensor) -> Tensor:
        """``signals (B, 12, T)`` -> feature map ``(B, 8w, L)``, ``L = latent_length(T)``.

        With ``row_layout`` (default) the layers run on ``(B, C, 1, L)`` channels-last maps
        (exact, :mod:`.rows`) and the result is returned as a ``(B, 8w, L)`` view.
        """
        _check_signals(signals, "ResNet18_1D")
        x = to_rows(signals) if self.row_layout else signals         # (B, 12, [1,] T)
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))          # (B, w, [1,] ceil(T/4))
        x = self.layer2(self.layer1(x))                               # (B, 2w, [1,] ceil(T/8))
        x = self.layer4(self.layer3(x))                               # (B, 8w, [1,] L)
        return x[:, :, 0] if self.row_layout else x                   # (B, 8w, L)


class ResNet18_2D(nn.Module):
    """torchvision-style ResNet-18 on the ECG as a one-channel 12 x T image (method §2.2).

    The stem Conv2d(1 -> w, kernel (12, 7), stride (1, 2), padding (0, 3), no bias) spans all
    leads, so the lead axis collapses to height 1. Then BN - ReLU - MaxPool2d(3, 2, 1), layer1-3,
    Dropout(p), layer4. No pooling or fc head. Initialisation as torchvision (Kaiming-normal,
    fan_out, for the 3x3/1x1 convolutions; BN weight 1, bias 0) except the stem, which keeps
    PyTorch's default like the official replacement stem. ImageNet weights: see
    :func:`load_imagenet_resnet18`.

    Parameters
    ----------
    base_width : int
        ``w``; 64 gives 11,172,480 parameters (torchvision's 11,689,512 minus the fc head and the
        RGB stem, plus the 12 x 7 stem).
    dropout : float
        Dropout probability between layer3 and layer4 (0.35 in the paper).
    """

    def __init__(self, base_width: int = 64, dropout: float = 0.0) -> None:
        super().__init__()
        self.base_width = base_width
        self.out_channels = 8 * base_width
        self.row_layout = True
        self.conv1 = nn.Conv2d(1, base_width, (_NUM_LEADS, 7), stride=(1, 2), padding=(0, 3), bias=False)
        self.bn1 = nn.BatchNorm2d(base_width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.layer1, self.layer2, self.layer3, self.layer4 = _stages(base_width, dims=2)
        self.dropout = nn.Dropout(dropout)
        for module in self.modules():
            if isinstance(module, nn.Conv2d) and module is not self.conv1:
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, signals: Tensor) -> Tensor:
        """``signals (B, 12, T)`` -> feature map ``(B, 8w, 1, L)``, ``L = latent_length(T)``."""
        _check_signals(signals, "ResNet18_2D")
        if self.row_layout:   # the stem over the leads as channels, channels-last maps (exact, :mod:`.rows`)
            x = stem_as_rows(self.conv1, to_rows(signals))            # (B, w, 1, ceil(T/2))
            x = row_max_pool2d(self.maxpool, self.relu(self.bn1(x)))  # (B, w, 1, ceil(T/4))
        else:
            x = self.conv1(signals.unsqueeze(1))                      # (B, 1, 12, T) -> (B, w, 1, ceil(T/2))
            x = self.maxpool(self.relu(self.bn1(x)))                  # (B, w, 1, ceil(T/4))
        x = self.layer3(self.layer2(self.layer1(x)))                  # (B, 4w, 1, ceil(T/16))
        return self.layer4(self.dropout(x))                           # (B, 8w, 1, L)


def imagenet_key_map() -> dict[str, str]:
    """torchvision ``resnet18`` state-dict key -> :class:`ResNet18_2D` key, for every tensor copied.

    Not in the map on purpose: ``conv1.weight`` (the RGB 7x7 stem, replaced by the 12x7 one) and
    ``fc.weight`` / ``fc.bias`` (the ImageNet classifier, removed). BatchNorm ``num_batches_tracked``
    counters are optional (old torchvision files lack them) and are handled by the loader.
    """
    mapping = {f"bn1.{k}": f"bn1.{k}" for k in _BN_KEYS}
    for stage in range(1, 5):
        for block in range(2):
            src = dst = f"layer{stage}.{block}."
            for conv, bn in (("conv1", "bn1"), ("conv2", "bn2")):
                mapping[f"{src}{conv}.weight"] = f"{dst}{conv}.weight"
                mapping.update({f"{src}{bn}.{k}": f"{dst}{bn}.{k}" for k in _BN_KEYS})
            if stage > 1 and block == 0:
                mapping[f"{src}downsample.0.weight"] = f"{dst}downsample.0.weight"
                mapping.update({f"{src}downsample.1.{k}": f"{dst}downsample.1.{k}" for k in _BN_KEYS})
    return mapping


_IMAGENET_SKIPPED = ("conv1.weight", "fc.weight", "fc.bias")


def load_imagenet_resnet18(backbone: nn.Module, state_dict: Mapping[str, Tensor] | None = None) -> list[str]:
    """Copy torchvision's ImageNet ResNet-18 weights into a 2D backbone (method §2.2, §9.2 B1).

    Every key of :func:`imagenet_key_map` must be present with exactly the right shape; any other
    key except the skipped ``conv1.weight`` and ``fc.*`` is an error (no silent partial loading).
    Nothing is copied unless everything checks out.

    Parameters
    ----------
    backbone : ResNet18_2D or ProtoBranch
        The 2D backbone (a branch is accepted and its ``.backbone`` used). Must have base width 64.
    state_dict : mapping of str to Tensor, optional
        A torchvision-style ``resnet18`` state dict. ``None`` asks torchvision for
        ``ResNet18_Weights.IMAGENET1K_V1`` (downloads on first use; needs torchvision).

    Returns
    -------
    list of str
        The backbone keys that were overwritten.

    Raises
    ------
    ImportError
        ``state_dict`` is None and torchvision is not installed.
    ValueError
        Unexpected, missing or mis-shaped keys; the message lists them all.
    """
    target = getattr(backbone, "backbone", backbone)
    if not isinstance(target, ResNet18_2D):
        raise TypeError(f"load_imagenet_resnet18 needs a ResNet18_2D (or a 2D branch), got {type(target).__name__}")
    if state_dict is None:
        try:
            from torchvision.models import ResNet18_Weights
        except ImportError as err:
            raise ImportError("ImageNet weights need torchvision (pip install torchvision), or pass a "
                              "resnet18 state dict explicitly; alternatively set pretrained=False") from err
        state_dict = ResNet18_Weights.IMAGENET1K_V1.get_state_dict(progress=True)
    if not isinstance(state_dict, Mapping):
        raise TypeError(f"state_dict must be a mapping of names to tensors, got {type(state_dict).__name__}")

    mapping = imagenet_key_map()
    own = target.state_dict()
    plan: dict[str, Tensor] = {}
    unexpected, mismatched = [], []
    for key, value in state_dict.items():
        if key in _IMAGENET_SKIPPED:
            continue
        dst = mapping.get(key)
        if dst is None and key.endswith(".num_batches_tracked"):
            bn_key = key[: -len("num_batches_tracked")] + "weight"
            dst = key if bn_key in mapping else None
        if dst is None or dst not in own:
            unexpected.append(key)
        elif not isinstance(value, Tensor) or tuple(value.shape) != tuple(own[dst].shape):
            shape = tuple(value.shape) if isinstance(value, Tensor) else type(value).__name__
            mismatched.append(f"{key}: source {shape} vs backbone {tuple(own[dst].shape)}")
        else:
            plan[dst] = value
    missing = [k for k, dst in mapping.items() if dst not in plan and k not in state_dict]
    problems = []
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected key(s): {', '.join(unexpected[:20])}")
    if missing:
        problems.append(f"{len(missing)} missing key(s): {', '.join(missing[:20])}")
    if mismatched:
        problems.append(f"{len(mismatched)} shape mismatch(es) (is base_width 64?): {'; '.join(mismatched[:20])}")
    if problems:
        raise ValueError("not a torchvision ResNet-18 state dict for this backbone: " + " | ".join(problems)
                         + ". Nothing was loaded.")
    with torch.no_grad():
        for dst, value in plan.items():
            own[dst].copy_(value.to(dtype=own[dst].dtype))
    return sorted(plan)


def try_load_imagenet_resnet18(backbone: nn.Module, name: str = "2D") -> bool:
    """:func:`load_imagenet_resnet18` where the weights can be had, else from scratch with a message.

    The paper's 2D branches start from ImageNet weights (method §2.2). They need torchvision and one
    download (Colab has both). Without torchvision, or without network access to its weights, the
    backbone keeps its random initialisation and a warning says so and how to get the weights.
    A state dict that does not fit (wrong base width) is still an error.

    Returns
    -------
    bool
        True when the ImageNet weights were copied.
    """
    try:
        load_imagenet_resnet18(backbone)
    except ImportError:
        why = "torchvision is not installed"
    except (OSError, RuntimeError) as err:            # no network, a broken download, a bad cache file
        why = f"the weights could not be fetched ({type(err).__name__}: {err})"
    else:
        return True
    warnings.warn(f"the {name} branch trains from scratch: {why}. The paper starts its 2D branches from "
                  "torchvision's ImageNet ResNet-18 weights; `pip install torchvision` with network access "
                  "(Colab has both) gives them. Set pretrained=False to silence this.", RuntimeWarning, stacklevel=2)
    return False
