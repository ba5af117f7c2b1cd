"""Lead geometry, wave templates and rendering for the synthetic ECG generator (numpy only).

The model, in the spirit of ECGSYN (McSharry et al., IEEE TBME 2003) but written afresh:

* every wave (P, septal q, R, S, R', delta, ST, T, U, pacing spike) is a Gaussian in time,
  placed relative to its beat's fiducial time (the R peak, or the P-wave centre);
* its amplitude is a **cardiac dipole** ``d = (x, y, z)`` in mV (x = patient's left, y = inferior,
  z = anterior) projected on the leads, plus an optional **local** term per channel for the
  non-dipolar, lead-group-specific findings (ST shift in V1-V3, a Q wave in II/III/aVF, ...);
* the signal is built in the 8 independent channels ``I, II, V1..V6``; the four other limb leads
  are derived from I and II by Einthoven's and Goldberger's relations, so that
  ``III = II - I``, ``aVR = -(I + II) / 2``, ``aVL = I - II / 2`` and ``aVF = II - I / 2`` hold
  exactly (bit for bit in float32);
* noise is generated per **electrode** (RA, LA, LL, V1..V6) and mapped to the leads the way an
  ECG amplifier does (I = LA - RA, II = LL - RA, Vk = Vk - Wilson's central terminal);
* acquisition: the analogue signal passes a Gaussian low-pass of width ``0.4 / fs`` before it is
  sampled (so a 0.25 ms pacing spike spreads over a few samples with its area kept, at 100 Hz as
  at 500 Hz), and sinusoidal components at or above 0.8 x Nyquist (mains hum at 100 Hz) are
  removed, as PTB-XL's anti-aliased 100 Hz records cannot contain them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..labels import LEADS

__all__ = [
    "CHANNELS", "CHANNEL_INDEX", "QRS_TAGS", "LeadGeometry", "Template", "expand_to_12", "unit", "frontal_channels",
    "render_waves", "acquisition_sigma", "acquisition_gain", "electrode_matrix",
]

#: The 8 independent channels the generator works in (the other 4 limb leads are derived).
CHANNELS = ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6")
CHANNEL_INDEX = {name: i for i, name in enumerate(CHANNELS)}
#: Template row tags that belong to the QRS complex.
QRS_TAGS = ("sep", "qrs", "q", "delta", "notch")

# Horizontal-plane angle (degrees from the patient's left towards anterior), height (inferior
# component) and proximity gain of the precordial electrodes.
_V_ANGLE = np.array([118.0, 95.0, 75.0, 55.0, 32.0, 8.0])
_V_HEIGHT = np.array([0.0, 0.0, 0.05, 0.15, 0.2, 0.2])
_V_GAIN = np.array([1.1, 1.45, 1.45, 1.35, 1.15, 0.95])


def unit(x: float, y: float, z: float) -> np.ndarray:
    """Unit vector along ``(x, y, z)``, shape (3,)."""
    v = np.array([x, y, z], dtype=float)
    return v / np.linalg.norm(v)


def frontal_channels(angle_deg: float, amplitude: float = 1.0) -> np.ndarray:
    """The (I, II) values of a frontal-plane vector (hexaxial angle, 0 = lead I, +90 = aVF).

    Returns shape (2,). A vector at +90 degrees gives II = III = 0.87, aVF = 1, aVL = aVR = -0.5.
    """
    a = np.deg2rad(angle_deg)
    fx, fy = amplitude * np.cos(a), amplitude * np.sin(a)
    return np.array([fx, 0.5 * fx + np.sqrt(3) / 2 * fy])


@dataclass
class LeadGeometry:
    """Projection of a cardiac dipole on the 8 independent channels.

    Attributes
    ----------
    matrix : ndarray, shape (8, 3)
        Channel value = ``matrix @ dipole`` (mV).
    """

    matrix: np.ndarray

    @classmethod
    def sample(cls, rng: np.random.Generator, jitter: float = 1.0) -> "LeadGeometry":
        """Standard geometry with per-record electrode-placement and body-habitus jitter."""
        m = np.zeros((8, 3))
        m[0] = (1.0, 0.0, 0.0)                      # I
        m[1] = (0.5, np.sqrt(3) / 2, 0.0)           # II
        ang = np.deg2rad(_V_ANGLE + jitter * rng.normal(0, 6, 6))
        height = _V_HEIGHT + jitter * rng.normal(0, 0.05, 6)
        gain = _V_GAIN * np.exp(jitter * rng.normal(0, 0.12, 6)) * np.exp(jitter * rng.normal(0, 0.1))
        u = np.stack([np.cos(ang), height, np.sin(ang)], axis=1)   # (6, 3)
        u /= np.linalg.norm(u, axis=1, keepdims=True)
        m[2:] = u * gain[:, None]
        return cls(m)


def electrode_matrix() -> np.ndarray:
    """Map electrode potentials (RA, LA, LL, V1..V6) to the 8 channels, shape (8, 9)."""
    e = np.zeros((8, 9))
    e[0, :3] = (-1, 1, 0)                           # I = LA - RA
    e[1, :3] = (-1, 0, 1)                           # II = LL - RA
    for k in range(6):                              # Vk - Wilson's central terminal
        e[2 + k, :3] = -1 / 3
        e[2 + k, 3 + k] = 1
    return e


@dataclass
class Template:
    """The waves of one beat type, relative to the beat's fiducial time.

    Each row: a name, a tag (which segment it belongs to: 'p', 'qrs', 'st', 't', 'spike', ...),
    a time offset and width (s), a dipole (3,) and a local channel term (8,), both in mV.
    Knobs edit rows by name before :meth:`finalize` turns them into channel amplitudes.
    """

    names: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    off: list[float] = field(default_factory=list)
    sig: list[float] = field(default_factory=list)
    dip: list[np.ndarray] = field(default_factory=list)
    loc: list[np.ndarray] = field(default_factory=list)

    def add(self, name: str, tag: str, off: float, sig: float, dipole=(0.0, 0.0, 0.0), local=None) -> int:
        """Append a wave row and return its index."""
        self.names.append(name)
        self.tags.append(tag)
        self.off.append(float(off))
        self.sig.append(float(sig))
        self.dip.append(np.asarray(dipole, dtype=float).copy())
        self.loc.append(np.zeros(8) if local is None else np.asarray(local, dtype=float).copy())
        return len(self.names) - 1

    def index(self, name: str) -> list[int]:
        """Row indices with this name (empty when absent)."""
        return [i for i, n in enumerate(self.names) if n == name]

    def remove(self, name: str) -> None:
        """Drop every row with this name."""
        for i in reversed(self.index(name)):
            for lst in (self.names, self.tags, self.off, self.sig, self.dip, self.loc):
                del lst[i]

    def scale(self, tags: tuple[str, ...], factor: float) -> None:
        """Multiply the dipole and local terms of every row whose tag is in ``tags``."""
        for i, t in enumerate(self.tags):
            if t in tags:
                self.dip[i] = self.dip[i] * factor
                self.loc[i] = self.loc[i] * factor

    def channel_values(self, i: int, geometry: LeadGeometry) -> np.ndarray:
        """Peak value of row ``i`` on the 8 channels, shape (8,)."""
        return geometry.matrix @ self.dip[i] + self.loc[i]

    def extent(self, tags: tuple[str, ...], k: float = 2.5) -> tuple[float, float] | None:
        """Onset and offset (s) of the rows with these tags: min(off - k sigma), max(off + k sigma)."""
        rows = [i for i, t in enumerate(self.tags) if t in tags]
        if not rows:
            return None
        return (min(self.off[i] - k * self.sig[i] for i in rows), max(self.off[i] + k * self.sig[i] for i in rows))

    def finalize(self, geometry: LeadGeometry) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Arrays ``(off (n,), sig (n,), amp (n, 8))`` for rendering."""
        dip = np.array(self.dip).reshape(-1, 3)                       # (n, 3)
        loc = np.array(self.loc).reshape(-1, 8)                       # (n, 8)
        amp = dip @ geometry.matrix.T + loc                           # (n, 8)
        return np.array(self.off), np.array(self.sig), amp


def acquisition_sigma(fs: float) -> float:
    """Width (s) of the Gaussian acquisition low-pass applied before sampling at ``fs``."""
    return 0.4 / fs


def acquisition_gain(freq_hz: float | np.ndarray, fs: float) -> np.ndarray:
    """Gain of the acquisition filter for a sinusoid: Gaussian roll-off, zero from 0.8 x Nyquist."""
    f = np.asarray(freq_hz, dtype=float)
    s = acquisition_sigma(fs)
    return np.where(f < 0.8 * fs / 2, np.exp(-0.5 * (2 * np.pi * f * s) ** 2), 0.0)


def render_waves(center: np.ndarray, sigma: np.ndarray, amp: np.ndarray, fs: float, num_samples: int) -> np.ndarray:
    """Sum of Gaussian waves sampled at ``fs``, on the 8 channels.

    Parameters
    ----------
    center, sigma : ndarray, shape (W,)
        Wave centres and widths in seconds (before the acquisition filter).
    amp : ndarray, shape (W, 8)
        Peak amplitude of each wave on each channel (mV).
    fs : float
        Sampling rate (Hz).
    num_samples : int
        T.

    Returns
    -------
    ndarray, shape (8, T), float64
        Each wave is convolved with the acquisition Gaussian (width widened, area kept) and
        evaluated only within 4.5 of its widths of its centre.
    """
    out = np.zeros(8 * num_samples)
    if len(center) == 0:
        return out.reshape(8, num_samples)
    s_acq = acquisition_sigma(fs)
    s_eff = np.sqrt(sigma ** 2 + s_acq ** 2)                           # (W,)
    a_eff = amp * (sigma / s_eff)[:, None]                             # (W, 8)
    half = int(np.ceil(4.5 * s_eff.max() * fs))
    k = np.arange(-half, half + 1)                                     # (K,)
    idx = np.rint(center * fs).astype(np.int64)[:, None] + k           # (W, K)
    g = np.exp(-0.5 * ((idx / fs - center[:, None]) / s_eff[:, None]) ** 2)   # (W, K)
    valid = (idx >= 0) & (idx < num_samples)                           # (W, K)
    w_idx, k_idx = np.nonzero(valid)
    pos = idx[w_idx, k_idx]                                            # (M,)
    gv = g[w_idx, k_idx]                                               # (M,)
    for c in range(8):
        out[c * num_samples:(c + 1) * num_samples] += np.bincount(pos, weights=gv * a_eff[w_idx, c], minlength=num_samples)
    return out.reshape(8, num_samples)


def expand_to_12(x8: np.ndarray) -> np.ndarray:
    """Expand the 8 channels (I, II, V1..V6) to the 12 leads in PTB-XL order, float32.

    Parameters
    ----------
    x8 : ndarray, shape (8, T)

    Returns
    -------
    ndarray, shape (12, T), float32, with III, aVR, aVL, aVF computed in float32 from I and II
    so that Einthoven's and Goldberger's relations hold exactly.
    """
    x = x8.astype(np.float32)
    lead_i, lead_ii = x[0], x[1]
    out = np.empty((12, x.shape[1]), dtype=np.float32)
    out[0] = lead_i
    out[1] = lead_ii
    out[2] = lead_ii - lead_i
    out[3] = -(lead_i + lead_ii) / np.float32(2)
    out[4] = lead_i - lead_ii / np.float32(2)
    out[5] = lead_ii - lead_i / np.float32(2)
    out[6:] = x[2:]
    return out


# A continuous (non-beat) component: f(t (T,), fs) -> (8, T) contribution.
Continuous = Callable[[np.ndarray, float], np.ndarray]

assert tuple(LEADS[:2]) == CHANNELS[:2] and tuple(LEADS[6:]) == CHANNELS[2:]
