"""Receptive fields of a branch's latent steps: theoretical (exact) and effective (gradient mass).

Why: a time-localised prototype is shaded over its *nominal* window (``T`` latent steps mapped to
input samples, :meth:`~protoecg_lib.models.ProtoBranch.window_to_samples`: 93 samples for T = 3 at
1,000 samples), but every latent step of the 2D ResNet-18 sees far more of the input. This module
measures how much more.

* **Theoretical span** (:func:`theoretical_spans`): the input samples that can influence latent step
  ``t`` at all, from the conv/pool arithmetic of the backbone (kernel, stride, padding along time;
  residual blocks take the union of their main path and shortcut). Exact: at 1,000 samples, latent
  step 16 of the 2D ResNet-18 sees samples 295-729 (4.35 s) whatever the width of the network.
* **Effective span** (:func:`effective_spans`): where the gradient mass ``|d latent_t / d input|``
  actually lies (Luo et al., 2016, "Understanding the effective receptive field"): the gradient of
  the sum over latent channels of step ``t`` with respect to the input, absolute values summed over
  leads and inputs, and the shortest sample interval holding ``mass`` (e.g. 90 %) of it. It depends
  on the weights (at initialisation vs trained) and on the inputs.

Shapes: a branch takes ``signals (B, 12, N)``; a 2D branch's latent is ``(B, D, 1, L)`` with
``L = latent_length(N)``; spans are ``(L, 2)`` arrays of ``[start, end)`` sample indices.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from ..models.backbones import BasicBlock, ResNet18_1D, ResNet18_2D
from ..models.config import latent_length

__all__ = ["ReceptiveField", "theoretical_spans", "effective_profiles", "shortest_interval", "central_interval",
           "effective_spans",
           "receptive_field", "receptive_field_table", "window_theoretical_span"]


# --------------------------------------------------------------------------- theoretical
def _time_params(layer: nn.Module) -> tuple[int, int, int]:
    """``(kernel, stride, padding)`` of a conv/pool layer along the time (last) axis."""
    def last(v):
        return int(v[-1]) if isinstance(v, (tuple, list)) else int(v)
    if isinstance(layer, (nn.Conv1d, nn.Conv2d, nn.MaxPool1d, nn.MaxPool2d)):
        dilation = getattr(layer, "dilation", 1)
        if last(dilation) != 1:
            raise ValueError(f"dilated layers are not supported: {layer}")
        return last(layer.kernel_size), last(layer.stride), last(layer.padding)
    raise TypeError(f"no time arithmetic for {type(layer).__name__}")


def _out_len(n: int, k: int, s: int, p: int) -> int:
    return (n + 2 * p - k) // s + 1


def _back(lo: int, hi: int, k: int, s: int, p: int, n_in: int) -> tuple[int, int]:
    """Input index interval (inclusive) that output interval ``[lo, hi]`` of a layer depends on."""
    return max(0, lo * s - p), min(n_in - 1, hi * s - p + k - 1)


def _block_back(block: BasicBlock, lo: int, hi: int, n_in: int) -> tuple[int, int]:
    k1, s1, p1 = _time_params(block.conv1)
    k2, s2, p2 = _time_params(block.conv2)
    n_mid = _out_len(n_in, k1, s1, p1)
    a, b = _back(lo, hi, k2, s2, p2, n_mid)
    a, b = _back(a, b, k1, s1, p1, n_in)
    if block.downsample is not None:
        ks, ss, ps = _time_params(block.downsample[0])
        c, d = _back(lo, hi, ks, ss, ps, n_in)
    else:
        c, d = lo, hi
    return min(a, c), max(b, d)


def _layers(backbone: nn.Module) -> list[nn.Module]:
    """The time-changing layers of a ResNet-18 backbone, input to output."""
    if not isinstance(backbone, (ResNet18_1D, ResNet18_2D)):
        raise TypeError(f"theoretical spans know the ResNet18_1D/2D backbones, got {type(backbone).__name__}")
    blocks = [blk for stage in (backbone.layer1, backbone.layer2, backbone.layer3, backbone.layer4) for blk in stage]
    return [backbone.conv1, backbone.maxpool, *blocks]


def _backbone_of(model: nn.Module) -> nn.Module:
    return getattr(model, "backbone", model)


def theoretical_spans(model: nn.Module, num_samples: int) -> np.ndarray:
    """Exact input span of every latent step of a backbone (or branch).

    Parameters
    ----------
    model : ProtoBranch, ResNet18_1D or ResNet18_2D
        The add-on layers of a branch are 1x1, so the branch latent has the backbone's spans.
    num_samples : int
        Input length ``N``.

    Returns
    -------
    ndarray, shape (L, 2), int64
        ``[start, end)`` of latent step ``t`` in input samples (``L = latent_length(N)``).
    """
    layers = _layers(_backbone_of(model))
    lengths = [int(num_samples)]
    for layer in layers:
        if isinstance(layer, BasicBlock):
            k, s, p = _time_params(layer.conv1)
            lengths.append(_out_len(lengths[-1], k, s, p))
        else:
            lengths.append(_out_len(lengths[-1], *_time_params(layer)))
    out = []
    for t in range(lengths[-1]):
        lo = hi = t
        for layer, n_in in zip(reversed(layers), reversed(lengths[:-1])):
            if isinstance(layer, BasicBlock):
                lo, hi = _block_back(layer, lo, hi, n_in)
            else:
                lo, hi = _back(lo, hi, *_time_params(layer), n_in)
        out.append((lo, hi + 1))
    return np.asarray(out, dtype=np.int64)


def window_theoretical_span(model: nn.Module, window_index: int, window_length: int, num_samples: int) -> tuple[int, int]:
    """``[start, end)`` of the union of the theoretical spans of latent steps ``w .. w + T - 1``."""
    spans = theoretical_spans(model, num_samples)
    sel = spans[int(window_index):int(window_index) + int(window_length)]
    return int(sel[:, 0].min()), int(sel[:, 1].max())


# --------------------------------------------------------------------------- effective
def _latent_map(branch: nn.Module, signals: Tensor, layer: str) -> Tensor:
    """``(B, C, L)`` map whose steps are measured: the branch latent (add-on output) or the backbone map."""
    backbone = _backbone_of(branch)
    if layer == "latent" and hasattr(branch, "encode"):
        if getattr(branch.config, "backbone", "2d") == "1d":
            z = backbone(signals)                                   # 1D: the latent is pooled; use the map
        else:
            z = branch.encode(signals)                              # (B, D, 1, L)
    elif layer in ("latent", "backbone"):
        z = backbone(signals)
    else:
        raise ValueError(f"layer must be 'latent' or 'backbone', got {layer!r}")
    if z.ndim == 4:
        z = z[:, :, 0]                                              # (B, C, L)
    return z


def effective_profiles(branch: nn.Module, signals, *, layer: str = "latent", steps=None,
                       batch_size: int = 4) -> np.ndarray:
    """Gradient mass of every latent step over the input, summed over leads and inputs.

    Parameters
    ----------
    branch : ProtoBranch or backbone
        Put in eval mode for the measurement (BatchNorm statistics, no dropout); its mode is restored.
    signals : array or Tensor, shape (N, 12, T)
        Inputs at which the gradient is taken (real ECGs, or noise at initialisation).
    layer : {'latent', 'backbone'}
        The add-on output (what prototypes compare; 2D branches) or the backbone map.
    steps : sequence of int, optional
        Latent steps to measure (default all).
    batch_size : int
        ECGs per backward pass (each is replicated once per step).

    Returns
    -------
    ndarray, shape (len(steps), T), float64
        ``profile[i, x] = sum_inputs sum_leads |d (sum_c z[c, steps[i]]) / d signals[lead, x]|``.
    """
    x_all = torch.from_numpy(np.array(signals, dtype=np.float32))
    if x_all.ndim != 3:
        raise ValueError(f"signals must be (N, 12, T), got {tuple(x_all.shape)}")
    n_steps = latent_length(x_all.shape[-1])
    steps = list(range(n_steps)) if steps is None else [int(s) for s in steps]
    was_training = branch.training
    branch.eval()
    prof = np.zeros((len(steps), x_all.shape[-1]))
    try:
        for start in range(0, len(x_all), batch_size):
            x = x_all[start:start + batch_size]                        # (b, 12, T)
            b = x.shape[0]
            xr = x.repeat_interleave(len(steps), dim=0).requires_grad_(True)   # (b*S, 12, T)
            z = _latent_map(branch, xr, layer)                          # (b*S, C, L)
            sel = torch.tensor(steps * b)
            target = z[torch.arange(len(sel)), :, sel].sum()           # each copy: its own step
            (grad,) = torch.autograd.grad(target, xr)
            g = grad.abs().sum(1).reshape(b, len(steps), -1).sum(0)   # (S, T)
            prof += g.cpu().double().numpy()
    finally:
        branch.train(was_training)
    return prof


def shortest_interval(profile: np.ndarray, mass: float = 0.9) -> tuple[int, int]:
    """Shortest ``[start, end)`` holding at least ``mass`` of a non-negative profile ``(T,)``."""
    w = np.clip(np.asarray(profile, dtype=np.float64), 0, None)
    total = w.sum()
    if total <= 0:
        return 0, len(w)
    cs = np.concatenate([[0.0], np.cumsum(w)])
    need = mass * total
    ends = np.searchsorted(cs, cs[:-1] + need - 1e-12 * total, side="left")   # smallest end for each start
    ok = ends <= len(w)
    starts = np.flatnonzero(ok)
    lengths = ends[ok] - starts
    i = int(np.argmin(lengths))
    return int(starts[i]), int(ends[ok][i])


def central_interval(profile: np.ndarray, mass: float = 0.9) -> tuple[int, int]:
    """``[start, end)`` between the ``(1 - mass) / 2`` and ``(1 + mass) / 2`` quantiles of a profile ``(T,)``
    (equal tails; never shorter than :func:`shortest_interval`)."""
    w = np.clip(np.asarray(profile, dtype=np.float64), 0, None)
    total = w.sum()
    if total <= 0:
        return 0, len(w)
    cs = np.cumsum(w) / total
    lo = int(np.searchsorted(cs, (1 - mass) / 2, side="left"))
    hi = int(np.searchsorted(cs, (1 + mass) / 2, side="left")) + 1
    return lo, min(hi, len(w))


def effective_spans(branch: nn.Module, signals, *, mass: float = 0.9, layer: str = "latent",
                    steps=None, batch_size: int = 4) -> np.ndarray:
    """Shortest interval holding ``mass`` of the gradient mass of every latent step.

    Returns
    -------
    ndarray, shape (len(steps), 2), int64
        ``[start, end)`` in samples; see :func:`effective_profiles` for the profile.
    """
    prof = effective_profiles(branch, signals, layer=layer, steps=steps, batch_size=batch_size)
    return np.asarray([shortest_interval(p, mass) for p in prof], dtype=np.int64)


@dataclass
class ReceptiveField:
    """Receptive fields of the latent steps of one branch at one input length.

    Attributes
    ----------
    num_samples, fs : int, float
    steps : ndarray, shape (S,)
        Latent steps measured.
    nominal : ndarray, shape (S, 2)
        The nominal span of one latent step (``window_to_samples`` arithmetic, ``N / L`` samples).
    theoretical : ndarray, shape (S, 2)
    effective : ndarray, shape (S, 2) or None
        ``[start, end)`` holding ``mass`` of the gradient mass (None when no inputs were given).
    profiles : ndarray, shape (S, N) or None
    mass : float
    interval : str
        ``'shortest'`` (:func:`shortest_interval`) or ``'central'`` (:func:`central_interval`).
    """

    num_samples: int
    fs: float
    steps: np.ndarray
    nominal: np.ndarray
    theoretical: np.ndarray
    effective: np.ndarray | None
    profiles: np.ndarray | None
    mass: float
    interval: str = "shortest"

    def table(self) -> pd.DataFrame:
        """One row per step: spans in samples and their widths in seconds."""
        rows = []
        for i, t in enumerate(self.steps):
            row = {"step": int(t), "nominal_start": int(self.nominal[i, 0]), "nominal_end": int(self.nominal[i, 1]),
                   "theoretical_start": int(self.theoretical[i, 0]), "theoretical_end": int(self.theoretical[i, 1]),
                   "theoretical_s": (self.theoretical[i, 1] - self.theoretical[i, 0]) / self.fs}
            if self.effective is not None:
                row.update(effective_start=int(self.effective[i, 0]), effective_end=int(self.effective[i, 1]),
                           effective_s=(self.effective[i, 1] - self.effective[i, 0]) / self.fs)
            rows.append(row)
        return pd.DataFrame(rows).set_index("step")


def receptive_field(branch: nn.Module, num_samples: int = 1000, signals=None, *, fs: float = 100.0,
                    mass: float = 0.9, steps=None, layer: str = "latent", batch_size: int = 4,
                    interval: str = "shortest") -> ReceptiveField:
    """Nominal, theoretical and (with ``signals``) effective spans of a branch's latent steps.

    Parameters
    ----------
    branch : ProtoBranch
    num_samples : int
        Input length (ignored when ``signals`` is given: their length is used).
    signals : array (N, 12, T), optional
        Inputs for the effective span (e.g. a few real ECGs, or noise for "at initialisation").
    fs : float
        Sampling rate, for widths in seconds.
    mass : float
        Gradient mass the effective span holds.
    interval : {'shortest', 'central'}
        The shortest interval holding ``mass``, or the equal-tailed one.

    Returns
    -------
    ReceptiveField
    """
    if signals is not None:
        num_samples = int(np.asarray(signals).shape[-1])
    n_steps = latent_length(num_samples)
    steps = np.arange(n_steps) if steps is None else np.asarray(steps, dtype=int)
    theo = theoretical_spans(branch, num_samples)[steps]
    nominal = np.stack([(steps * num_samples) // n_steps, ((steps + 1) * num_samples) // n_steps], axis=1)
    eff = prof = None
    if signals is not None:
        prof = effective_profiles(branch, signals, layer=layer, steps=steps, batch_size=batch_size)
        pick = {"shortest": shortest_interval, "central": central_interval}[interval]
        eff = np.asarray([pick(p, mass) for p in prof], dtype=np.int64)
    return ReceptiveField(num_samples, fs, steps, nominal, theo, eff, prof, mass, interval)


def receptive_field_table(rf: ReceptiveField) -> pd.DataFrame:
    """Alias of :meth:`ReceptiveField.table` (for chapters)."""
    return rf.table()
