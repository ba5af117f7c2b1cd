"""Faithful highlights: where in time (and which leads) a prototype's window similarity comes from.

An explanation shades the prototype's best-matching window ``w*`` of a test ECG: the *nominal*
span of ``T`` latent steps (93 samples at 1,000 samples for T = 3). But a latent step of the 2D
backbone sees about 4.3 s of input (:mod:`protoecg_lib.evaluation.receptive_field`), so the similarity
``s_j,w*`` can come from beats outside the shaded window. A *highlight* attributes that one number,
``s_j,w* = scale * cos(z[:, w*:w*+T], p_j)`` (method §2.2), back to the input:

* ``window`` -- the nominal span itself (what the paper shows; no attribution).
* ``occlusion`` -- slide a beat-sized segment (``segment_s``, default 0.25 s, step ``stride_s``) over
  the window's theoretical receptive field, replace it on all 12 leads by a straight line between
  the samples just outside it (:func:`protoecg_lib.evaluation.deletion.neutralize`'s ``interpolate``), and record
  the drop of ``s_j,w*``; a sample's relevance is the mean drop of the segments covering it.
  Forward passes only, batched.
* ``gradient`` -- gradient x input of ``s_j,w*`` (one backward pass).
* ``ig`` -- integrated gradients (:func:`integrated_gradients`) from an all-zero (flat 0 mV) baseline.

Every method returns the same :class:`SimilarityHighlight`: a per-lead relevance ``(12, N)`` (None for
``window``), a time profile ``(N,)``, the **top segment** (the ``top_length``-sample interval with
the largest summed profile; by default as long as the nominal window, so the two compare at equal
size), the peak sample, and a ranking of the leads inside the top segment.

Cost: the similarity of window ``w*`` depends only on the window's theoretical receptive field, so
every pass runs on a crop of the record that covers it (crop start a multiple of the backbone's
stride of 32 samples: the crop's latent equals the record's latent there, exactly). For the
local-prototype variant (``local_windows``) the crop is the window's own 96-sample crop.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from ..labels import LEADS
from ..models.prototypes import SCALED_COSINE_EPS
from .receptive_field import theoretical_spans

__all__ = ["HIGHLIGHT_METHODS", "DEFAULT_HIGHLIGHT", "HIGHLIGHT_DESCRIPTIONS", "SimilarityHighlight", "window_crop", "window_similarity_fn",
           "integrated_gradients", "highlight", "highlights", "top_segment", "best_window"]

#: Highlight methods, in the order reports list them.
HIGHLIGHT_METHODS = ("window", "occlusion", "gradient", "ig")
#: The faithful highlight explanations show beside the nominal window. Chosen on the *validation*
#: fold of a 1,500-record sparse synthetic root (fast preset, seed 42) by pointing-game lift:
#: ig 4.62 [3.27, 6.08], gradient 4.39, occlusion 4.27, nominal window 1.07 (REPORT of issue 11;
#: re-measured after the port in the chapter "Do the prototypes point at the evidence?").
DEFAULT_HIGHLIGHT = "ig"
#: What each highlight is, for figure legends and the JSON (``"label"``).
HIGHLIGHT_DESCRIPTIONS = {
    "window": "nominal window (the prototype's latent span mapped to samples; not an attribution)",
    "occlusion": "occlusion: where deleting a beat-sized segment lowers this window's similarity most",
    "gradient": "gradient x input of this window's similarity",
    "ig": "integrated gradients of this window's similarity (flat-line baseline)",
}
_STRIDE = 32   # total time stride of the ResNet-18 backbones (5 halvings)


@dataclass
class SimilarityHighlight:
    """Where one prototype's window similarity in one ECG comes from, by one method.

    Attributes
    ----------
    method : str
        One of :data:`HIGHLIGHT_METHODS`.
    prototype, window : int
        Prototype index in the branch, and the window ``w*`` whose similarity is explained.
    similarity : float
        ``s_j,w*``.
    nominal : tuple of int
        ``(start, length)`` of the nominal window in samples.
    top : tuple of int
        ``(start, length)`` of the top segment (equal to ``nominal`` for ``window``).
    peak : int
        Sample of the largest smoothed profile value (window centre for ``window``).
    profile : ndarray, shape (N,)
        Relevance over time (leads summed); the indicator of the nominal span for ``window``.
    relevance : ndarray, shape (12, N) or None
        Per-lead relevance (None for ``window``).
    leads : ndarray, shape (12,)
        Share of the relevance inside the top segment on each lead (sums to 1; uniform for ``window``).
    crop : tuple of int
        ``(start, end)`` of the input the computation could see (the receptive field, crop-aligned).
    fs : float
    seconds : float
        Wall time of the computation.
    """

    method: str
    prototype: int
    window: int
    similarity: float
    nominal: tuple[int, int]
    top: tuple[int, int]
    peak: int
    profile: np.ndarray
    relevance: np.ndarray | None
    leads: np.ndarray
    crop: tuple[int, int]
    fs: float
    seconds: float
    extra: dict = field(default_factory=dict)

    def to_json(self, top_leads: int = 3) -> dict:
        """The highlight as an explanation's JSON entry (times in seconds)."""
        fs = float(self.fs)
        order = np.argsort(-self.leads)[:top_leads]
        return {"method": self.method, "label": HIGHLIGHT_DESCRIPTIONS[self.method],
                "window": {"start_s": self.nominal[0] / fs, "end_s": (self.nominal[0] + self.nominal[1]) / fs},
                "top": {"start_s": self.top[0] / fs, "end_s": (self.top[0] + self.top[1]) / fs,
                        "peak_s": self.peak / fs},
                "leads": [{"lead": LEADS[i], "share": round(float(self.leads[i]), 4)} for i in order],
                "receptive_field": {"start_s": self.crop[0] / fs, "end_s": self.crop[1] / fs},
                "similarity": round(float(self.similarity), 4), "seconds": round(float(self.seconds), 4)}


# --------------------------------------------------------------------------- the explained number
def window_crop(branch, window: int, num_samples: int) -> tuple[int, int, int]:
    """Input crop sufficient (and exact) for the similarity of window ``window``.

    Returns
    -------
    (start, end, offset) : int
        The crop ``[start, end)`` and the latent step of the crop where the window begins.
        Standard branch: the union of the theoretical spans of steps ``w .. w + T - 1``, widened to
        multiples of 32 samples (``offset = w - start // 32``). Local variant: the window's own crop
        (``offset = 0``).
    """
    t_len = branch.config.window_length
    if branch.local_windows:
        start, length = (int(v) for v in branch.window_crops(num_samples)[window])
        return start, start + length, 0
    spans = theoretical_spans(branch, num_samples)[window:window + t_len]
    lo, hi = int(spans[:, 0].min()), int(spans[:, 1].max())
    start = (lo // _STRIDE) * _STRIDE
    end = min(num_samples, -(-hi // _STRIDE) * _STRIDE)
    return start, end, window - start // _STRIDE


def window_similarity_fn(branch, prototype: int, offset: int):
    """``f(crops (n, 12, c)) -> s (n,)``: the scaled cosine of ``prototype`` with the window at latent step ``offset``."""
    t_len = branch.config.window_length
    p = branch.prototype_layer.prototypes[prototype].reshape(-1)                      # (D*T,)
    p_norm = (p.pow(2).sum() + SCALED_COSINE_EPS).sqrt()
    scale = branch.prototype_layer.scale

    def f(x: Tensor) -> Tensor:
        z = branch.add_on(branch.backbone(x))                                       # (n, D, 1, L')
        u = z[:, :, 0, offset:offset + t_len].reshape(x.shape[0], -1)               # (n, D*T)
        return scale * (u @ p) / ((u.pow(2).sum(1) + SCALED_COSINE_EPS).sqrt() * p_norm)
    return f


@torch.no_grad()
def best_window(branch, signals, prototype: int) -> tuple[int, float]:
    """``(w*, s_j,w*)``: the prototype's best-matching window in one ECG ``(12, N)``."""
    x = torch.from_numpy(np.array(signals, dtype=np.float32))[None]
    ws = branch(x).window_similarity[0, prototype]                                  # (W,)
    w = int(ws.argmax())
    return w, float(ws[w])


def top_segment(profile: np.ndarray, length: int) -> int:
    """Start of the ``length``-sample interval with the largest summed ``profile`` ``(N,)``."""
    cs = np.concatenate([[0.0], np.cumsum(np.asarray(profile, dtype=np.float64))])
    sums = cs[length:] - cs[:-length]                                               # (N - length + 1,)
    return int(np.argmax(sums))


def _smooth(profile: np.ndarray, width: int) -> np.ndarray:
    if width <= 1:
        return profile
    return np.convolve(profile, np.ones(width) / width, mode="same")


def _occluded(x: np.ndarray, starts: np.ndarray, length: int) -> np.ndarray:
    """Copies of one ECG ``x (12, N)`` with ``[s, s + length)`` replaced by a straight line per lead."""
    n = x.shape[1]
    out = np.repeat(x[None], len(starts), axis=0)                                   # (K, 12, N)
    frac = np.arange(1, length + 1) / (length + 1)                                  # (L,)
    for k, s in enumerate(starts):
        e = s + length
        left = x[:, s - 1] if s > 0 else x[:, s]
        right = x[:, e] if e < n else x[:, e - 1]
        out[k, :, s:e] = left[:, None] + (right - left)[:, None] * frac
    return out


def integrated_gradients(f, x: Tensor, baseline: Tensor | None = None, steps: int = 16) -> Tensor:
    """Integrated gradients of a scalar function ``f`` at one input, by Gauss-Legendre quadrature.

    ``IG_i(x) = (x_i - x'_i) * sum_k w_k df/dx_i (x' + a_k (x - x'))`` with the ``steps`` Gauss-Legendre
    nodes ``a_k`` and weights ``w_k`` of [0, 1] (they sum to 1; Sundararajan et al., 2017). All points go
    through ``f`` in one batch. By the completeness property ``sum_i IG_i`` approaches
    ``f(x) - f(x')`` as ``steps`` grows; for a linear ``f`` it is exact.

    Parameters
    ----------
    f : callable
        ``f(batch (n, ...)) -> (n,)``; here :func:`window_similarity_fn`.
    x : Tensor, shape (1, ...)
        The input (one ECG crop, ``(1, 12, c)``).
    baseline : Tensor, optional
        Same shape as ``x``; default all zeros (a flat 0 mV line on every lead).
    steps : int
        Points on the straight path from ``baseline`` to ``x``.

    Returns
    -------
    Tensor, shape of ``x``, detached.
    """
    if steps < 1:
        raise ValueError(f"integrated gradients needs steps >= 1, got {steps}")
    base = torch.zeros_like(x) if baseline is None else baseline
    nodes, weights = np.polynomial.legendre.leggauss(int(steps))                  # on [-1, 1]
    shape = (-1, *([1] * (x.ndim - 1)))
    alphas = torch.as_tensor((nodes + 1) / 2, dtype=x.dtype).reshape(shape)       # (steps, 1, ...)
    w = torch.as_tensor(weights / 2, dtype=x.dtype).reshape(shape)                # sums to 1
    path = (base + alphas * (x - base)).detach().requires_grad_(True)            # (steps, ...)
    (grad,) = torch.autograd.grad(f(path).sum(), path)
    return ((x - base) * (w * grad).sum(0, keepdim=True)).detach()


# --------------------------------------------------------------------------- one highlight
def highlight(branch, signals, prototype: int, method: str = "occlusion", *, window: int | None = None,
              fs: float = 100.0, top_length: int | None = None, segment_s: float = 0.25, stride_s: float = 0.05,
              ig_steps: int = 16, signed: bool = False, smooth_s: float = 0.1, lead_occlusion: bool = True,
              batch_size: int = 64, similarity: float | None = None) -> SimilarityHighlight:
    """Attribute the window similarity of one (ECG, prototype) pair to the input.

    Parameters
    ----------
    branch : ProtoBranch
        A branch with time-localised 2D prototypes (standard or ``local_windows``); put in eval mode.
    signals : array, shape (12, N)
        One ECG, preprocessed as the branch's training data.
    prototype : int
        Prototype index within the branch.
    method : {'window', 'occlusion', 'gradient', 'ig'}
    window : int, optional
        The window to explain (default: the prototype's best-matching window ``w*``).
    fs : float
        Sampling rate (for the segment lengths and the JSON).
    top_length : int, optional
        Samples of the top segment (default: the nominal window length, 93 at 1000 samples).
    segment_s, stride_s : float
        Occlusion segment length and step, in seconds.
    ig_steps : int
        Integration steps of ``ig`` (one batched pass).
    signed : bool
        Attribution methods: rank by the signed relevance (evidence *for* the similarity) instead
        of its absolute value.
    smooth_s : float
        Moving-average width of the profile before taking the peak.
    lead_occlusion : bool
        ``occlusion``: rank the leads by occluding each lead alone over the top segment (12 more
        passes, default) instead of uniformly (the time occlusion is all-lead).
    similarity : float, optional
        ``s_j,w`` when the caller already knows it (saves the ``window`` method's forward pass).

    Returns
    -------
    SimilarityHighlight
    """
    if method not in HIGHLIGHT_METHODS:
        raise ValueError(f"unknown highlight method {method!r}; choose one of {HIGHLIGHT_METHODS}")
    cfg = branch.config
    if cfg.backbone != "2d" or cfg.is_global:
        raise ValueError(f"branch {branch.name!r} has global prototypes: there is no window to highlight")
    t0 = time.perf_counter()
    branch.eval()
    x = np.asarray(signals, dtype=np.float32)
    if x.ndim != 2 or x.shape[0] != 12:
        raise ValueError(f"signals must be one ECG (12, N), got shape {x.shape}")
    n = x.shape[1]
    if window is None:
        window, sim = best_window(branch, x, prototype)
    else:
        sim = None if similarity is None else float(similarity)
    nominal = tuple(int(v) for v in branch.window_to_samples(window, n))
    top_length = int(top_length or nominal[1])
    c0, c1, offset = window_crop(branch, window, n)
    f = window_similarity_fn(branch, prototype, offset)
    xc = torch.from_numpy(x[:, c0:c1].copy())[None]                                  # (1, 12, c)
    relevance = None
    extra: dict = {}
    if method == "window":
        with torch.no_grad():
            sim = float(f(xc)[0]) if sim is None else sim
        profile = np.zeros(n)
        profile[nominal[0]:nominal[0] + nominal[1]] = 1.0
        top, peak = nominal, nominal[0] + nominal[1] // 2
        leads = np.full(12, 1 / 12)
        return SimilarityHighlight(method, int(prototype), int(window), float(sim), nominal, top, int(peak), profile, None,
                         leads, (c0, c1), fs, time.perf_counter() - t0)
    if method == "occlusion":
        seg = max(1, int(round(segment_s * fs)))
        step = max(1, int(round(stride_s * fs)))
        last = c1 - seg
        starts = np.arange(c0, max(c0, last) + 1, step)
        if starts[-1] != max(c0, last):
            starts = np.append(starts, max(c0, last))
        with torch.no_grad():
            s0 = float(f(xc)[0])
            occ = _occluded(x, starts, seg)[:, :, c0:c1]                              # (K, 12, c)
            drops = []
            for i in range(0, len(occ), batch_size):
                drops.append(s0 - f(torch.from_numpy(occ[i:i + batch_size])).numpy())
        drops = np.concatenate(drops)                                                 # (K,)
        total = np.zeros(n)
        cover = np.zeros(n)
        for s, d in zip(starts, drops):
            total[s:s + seg] += d
            cover[s:s + seg] += 1
        profile = np.where(cover > 0, total / np.maximum(cover, 1), 0.0)
        sim = s0 if sim is None else sim
        extra = {"segments": len(starts), "max_drop": float(drops.max()) if len(drops) else 0.0}
        relevance = np.repeat(profile[None] / 12, 12, axis=0)
    else:
        xg = xc.clone().requires_grad_(True)
        if method == "gradient":
            with torch.enable_grad():                                                 # callers may be no_grad
                s = f(xg)
                (grad,) = torch.autograd.grad(s.sum(), xg)
            rel = (grad * xg).detach()[0].numpy()                                    # (12, c)
            sim = float(s.detach()[0]) if sim is None else sim
        else:  # ig
            with torch.enable_grad():
                rel = integrated_gradients(f, xc, steps=int(ig_steps))[0].numpy()     # (12, c)
            if sim is None:
                with torch.no_grad():
                    sim = float(f(xc)[0])
        relevance = np.zeros((12, n))
        relevance[:, c0:c1] = rel
        per = relevance if signed else np.abs(relevance)
        profile = per.sum(0)
    smooth = _smooth(profile, int(round(smooth_s * fs)))
    peak = int(np.argmax(smooth))
    start = top_segment(np.clip(profile, 0, None) if method == "occlusion" or signed else profile, top_length)
    top = (start, top_length)
    if method == "occlusion" and lead_occlusion:
        with torch.no_grad():
            s0 = float(f(xc)[0])
            batch = np.repeat(x[None], 12, axis=0)
            line = _occluded(x, np.array([start]), top_length)[0]
            for lead in range(12):
                batch[lead, lead, start:start + top_length] = line[lead, start:start + top_length]
            drops = s0 - f(torch.from_numpy(batch[:, :, c0:c1])).numpy()
        w = np.clip(drops, 0, None)
    else:
        w = np.abs(relevance[:, start:start + top_length]).sum(1)
    leads = w / w.sum() if w.sum() > 0 else np.full(12, 1 / 12)
    return SimilarityHighlight(method, int(prototype), int(window), float(sim), nominal, top, peak, profile, relevance,
                     leads, (c0, c1), fs, time.perf_counter() - t0, extra)


def highlights(branch, signals, prototype: int, methods=HIGHLIGHT_METHODS, **options) -> dict[str, SimilarityHighlight]:
    """:func:`highlight` for several methods on the same pair (the best window is found once)."""
    window = options.pop("window", None)
    if window is None:
        window, _ = best_window(branch, signals, prototype)
    return {m: highlight(branch, signals, prototype, m, window=window, **options) for m in methods}
