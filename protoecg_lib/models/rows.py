"""Exact fast layers for the backbones' height-1 feature maps ("row layout", on by default).

Both ResNet-18 backbones (method §2.1, §2.2) reduce an ECG to maps with a single row: the 2D stem's
``(12, 7)`` kernel spans all leads, so every later 2D map is ``(B, C, 1, L)``, and a 1D map
``(B, C, L)`` is the same thing without the row axis. On such maps three rewrites are exact (the
same sums, so the same outputs and gradients up to float reordering):

* a ``k x k`` convolution with zero padding ``k // 2`` only multiplies data by its middle kernel
  row (the other rows see padding): :class:`RowConv2d` computes with that ``(out, in, 1, k)`` slice;
* the 2D stem, a ``(12, 7)`` kernel on a 1-channel ``12 x T`` image, is a width-7 convolution with
  the 12 leads as channels (:func:`stem_as_rows`);
* a 1D layer is a 2D layer on a map of height 1 (:class:`RowConv1d`, :class:`RowBatchNorm1d`,
  :class:`RowMaxPool1d` accept both).

With these, both backbones run as ``(B, C, 1, L)`` maps in channels-last memory order, which the
CPU's oneDNN kernels handle faster than ``conv1d`` or NCHW ``conv2d`` (``benchmarks/bench_speed.py``
measures it). Weights keep their full shapes and names -- ``(out, in, 3, 3)`` for 2D, ``(out, in, 3)``
for 1D -- so state dicts, ImageNet loading, checkpoints and the parameter counts (method §2.5) are
unchanged. :func:`set_fast_paths` switches every rewrite off to get the plain layers back (the
benchmark's and the tests' reference). Dropout draws its mask in memory order, so with dropout
active a fast and a plain model see different (equally distributed) masks; in eval mode, or with
``p = 0``, they agree.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["RowConv2d", "RowConv1d", "RowBatchNorm1d", "RowMaxPool1d", "row_max_pool2d", "stem_as_rows", "to_rows",
           "set_fast_paths", "set_row_shortcut", "fast_paths_enabled"]


def to_rows(signals: Tensor) -> Tensor:
    """``(B, C, T)`` -> ``(B, C, 1, T)`` in channels-last memory order (a copy)."""
    return signals.unsqueeze(2).contiguous(memory_format=torch.channels_last)


class RowConv2d(nn.Conv2d):
    """A Conv2d that, on height-1 inputs, computes with the one kernel row that sees data.

    Identical to :class:`torch.nn.Conv2d` in parameters, state-dict keys, outputs and gradients.
    For an input of height 1 with ``padding[0] == kernel_size[0] // 2`` (odd kernel height, no
    dilation, zero padding), output row 0 only uses kernel row ``padding[0]``; the convolution is
    then done with the ``(out, in, 1, kw)`` slice when ``row_shortcut`` is True (the default; the
    gradient of the two unused rows is exactly zero, as with the dense kernel).
    """

    row_shortcut: bool = True

    def forward(self, x: Tensor) -> Tensor:  # x: (B, C_in, H, W)
        kh = self.kernel_size[0]
        ph = self.padding[0] if isinstance(self.padding, tuple) else None  # None for 'same'/'valid'
        if (self.row_shortcut and ph is not None and x.shape[-2] == 1 and kh == 2 * ph + 1 and kh > 1
                and self.dilation[0] == 1 and self.padding_mode == "zeros"):
            weight = self.weight[:, :, ph:ph + 1, :]  # (C_out, C_in/groups, 1, kw)
            return F.conv2d(x, weight, self.bias, (1, self.stride[1]), (0, self.padding[1]),
                            (1, self.dilation[1]), self.groups)  # (B, C_out, 1, W')
        return super().forward(x)


class RowConv1d(nn.Conv1d):
    """A Conv1d that also takes a height-1 map ``(B, C_in, 1, L)`` and returns ``(B, C_out, 1, L')``.

    On a 4-D input the ``(out, in, k)`` weight is used as ``(out, in, 1, k)`` in a 2D convolution with
    the same stride, padding and dilation along the width: the same sums as the 1D convolution.
    A 3-D input goes through :class:`torch.nn.Conv1d` unchanged.
    """

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 4:
            return super().forward(x)
        if self.padding_mode != "zeros" or isinstance(self.padding, str):
            return super().forward(x[:, :, 0]).unsqueeze(2)
        return F.conv2d(x, self.weight.unsqueeze(2), self.bias, (1, self.stride[0]), (0, self.padding[0]),
                        (1, self.dilation[0]), self.groups)


class RowBatchNorm1d(nn.BatchNorm1d):
    """BatchNorm1d that also accepts a height-1 map ``(B, C, 1, L)``: per-channel statistics over
    ``B x L`` values either way, so outputs, running statistics and gradients are the 1D layer's."""

    def _check_input_dim(self, input: Tensor) -> None:
        if input.dim() == 4 and input.shape[2] == 1:
            return
        super()._check_input_dim(input)


class RowMaxPool1d(nn.MaxPool1d):
    """MaxPool1d that also takes a height-1 map ``(B, C, 1, L)`` (pooled along the width only)."""

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 4:
            return super().forward(x)
        return F.max_pool2d(x, (1, self.kernel_size), (1, self.stride), (0, self.padding), (1, self.dilation),
                            ceil_mode=self.ceil_mode)


def row_max_pool2d(pool: nn.MaxPool2d, x: Tensor) -> Tensor:
    """``pool(x)`` for a height-1 map ``x (B, C, 1, W)``: a ``k x k`` max-pool whose height padding is
    ``k // 2`` only sees row 0 (the padding is -inf), so it is a ``1 x k`` pool along the width
    (computed without the dense window; any other input goes through ``pool`` itself)."""
    k, s, p, d = (v if isinstance(v, tuple) else (v, v) for v in
                  (pool.kernel_size, pool.stride, pool.padding, pool.dilation))
    if x.ndim != 4 or x.shape[2] != 1 or k[0] != 2 * p[0] + 1 or d[0] != 1 or pool.ceil_mode or pool.return_indices:
        return pool(x)
    return F.max_pool2d(x, (1, k[1]), (1, s[1]), (0, p[1]), (1, d[1]))


def stem_as_rows(conv: nn.Conv2d, rows: Tensor) -> Tensor:
    """The 2D stem (one input channel, kernel height = number of leads, no height padding) applied to
    the leads as channels: ``rows (B, 12, 1, T)`` -> ``(B, w, 1, T')``, equal to
    ``conv(signals.unsqueeze(1))`` (``(B, 1, 12, T)`` -> ``(B, w, 1, T')``).

    ``out[b, o, 0, t] = sum_{h, k} W[o, 0, h, k] x[b, h, s t + k - p]`` in both forms; the weight
    ``(w, 1, 12, 7)`` is read as ``(w, 12, 1, 7)`` (the same memory).
    """
    out_ch, in_ch, kh, kw = conv.weight.shape
    if in_ch != 1 or conv.padding[0] != 0 or rows.shape[1] != kh or rows.shape[2] != 1 or conv.groups != 1:
        raise ValueError(f"stem_as_rows needs a 1-channel stem whose kernel spans the {rows.shape[1]} leads "
                         f"without height padding; got weight {tuple(conv.weight.shape)}, padding {conv.padding}")
    weight = conv.weight.reshape(out_ch, kh, 1, kw)                  # (w, 12, 1, 7)
    return F.conv2d(rows, weight, conv.bias, (1, conv.stride[1]), (0, conv.padding[1]), (1, conv.dilation[1]))


def set_row_shortcut(model: nn.Module, enabled: bool) -> int:
    """Switch the height-1 shortcut of every :class:`RowConv2d` in ``model``; returns how many."""
    count = 0
    for module in model.modules():
        if isinstance(module, RowConv2d):
            module.row_shortcut = bool(enabled)
            count += 1
    return count


def set_fast_paths(model: nn.Module, enabled: bool) -> int:
    """Switch every exact fast path of ``model`` on (the default) or off (the plain layers).

    Covers the row shortcut of every :class:`RowConv2d` and the row layout of every backbone (a
    module with a ``row_layout`` attribute). Returns the number of modules switched.
    """
    count = set_row_shortcut(model, enabled)
    for module in model.modules():
        if hasattr(module, "row_layout"):
            module.row_layout = bool(enabled)
            count += 1
    return count


def fast_paths_enabled(model: nn.Module) -> bool:
    """True when every backbone of ``model`` runs in the row layout and every RowConv2d uses its shortcut."""
    flags = [m.row_layout for m in model.modules() if hasattr(m, "row_layout")]
    flags += [m.row_shortcut for m in model.modules() if isinstance(m, RowConv2d)]
    return bool(flags) and all(flags)
