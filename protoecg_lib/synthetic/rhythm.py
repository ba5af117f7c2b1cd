"""Beat schedules (when each P wave and QRS occurs) and continuous components (fibrillatory and
flutter waves, baseline wander, EMG and mains noise) of the synthetic ECG generator.

Times are in seconds from the start of the strip; schedules run from before 0 to after the end so
that the strip starts and stops mid-cycle, as a real recording does.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .waves import acquisition_gain, electrode_matrix, frontal_channels

__all__ = ["Beat", "RhythmSpec", "sinus_beats", "afib_beats", "flutter_beats", "svt_beats", "paced_beats",
           "av_dissociation_beats", "fibrillation_wave", "flutter_wave", "electrode_noise"]

_NAN = float("nan")


@dataclass
class Beat:
    """One cardiac event.

    kind: 'N' sinus conducted, 'A' atrial premature (ectopic P, conducted), 'S' supraventricular
    tachycardia beat (no visible P), 'F' conducted beat in atrial fibrillation / flutter, 'V'
    ventricular premature, 'P' paced, 'E' escape (3AVB), 'X' non-conducted sinus P (2AVB),
    'H' sinus P hidden behind a PVC, 'D' dissociated sinus P (3AVB).
    r: ventricular fiducial time (R peak) or nan; vt: ventricular template key or None;
    p: P-wave centre or nan; pt: P template key or None; scale: beat amplitude factor.
    """

    kind: str
    r: float = _NAN
    vt: str | None = None
    p: float = _NAN
    pt: str | None = None
    scale: float = 1.0


@dataclass
class RhythmSpec:
    """What the rhythm builders need to know about the record.

    hr: mean rate (/min) of the dominant pacemaker; pr: P onset to QRS onset (s); p_on / qrs_on:
    onset offsets (s, negative) of the P and the normal QRS relative to their fiducial times;
    duration: strip length (s).
    """

    hr: float
    pr: float
    p_on: float
    qrs_on: float
    duration: float


def _resp(rng: np.random.Generator, amplitude: tuple[float, float]):
    """A respiratory modulation function m(t) with m in [-a, a]."""
    a = rng.uniform(*amplitude)
    f = rng.uniform(0.15, 0.35)
    phi = rng.uniform(0, 2 * np.pi)
    return lambda t: a * math.sin(2 * math.pi * f * t + phi)


def _ectopic_slots(rng, first: int, last: int, pattern: str | None, n_pvc: int, n_pac: int,
                   n_svarr: int) -> dict[int, str]:
    """Which beat slots are replaced by premature beats: slot -> 'V', 'A' or 'R' (atrial run).

    Isolated ectopics and runs are placed in slots ``first..last`` (inside the strip); patterns
    (bigeminy, trigeminy) run through every slot.
    """
    slots: dict[int, str] = {}
    first = max(first, 2)
    if pattern is not None:                       # 'BIGU-V', 'BIGU-A', 'TRIGU-V', 'TRIGU-A'
        period = 2 if pattern.startswith("BIGU") else 3
        start = int(rng.integers(1, period + 1))
        for s in range(start, last + 8, period):
            slots[s] = pattern[-1]
    if n_svarr:                                   # a short atrial run (SVARR), leaving room for the others
        span = max(last, first + 1) - first + 1
        n_svarr = max(1, min(n_svarr, span - 2 * ((n_pvc > 0) + (n_pac > 0))))
        run_start = int(rng.integers(first, max(first + 1, last - n_svarr + 2)))
        for s in range(run_start, run_start + n_svarr):
            slots[s] = "R"
    free = list(range(first, max(last, first + 1) + 1))
    rng.shuffle(free)
    for kind, n in (("V", n_pvc), ("A", n_pac)):
        for strict in (True, False):              # prefer isolated premature beats
            for s in free:
                if n == 0:
                    break
                if s not in slots and (not strict or (s - 1 not in slots and s + 1 not in slots)):
                    slots[s] = kind
                    n -= 1
    return slots


def sinus_beats(spec: RhythmSpec, rng: np.random.Generator, *, resp=(0.005, 0.04), pattern: str | None = None,
                n_pvc: int = 0, n_pac: int = 0, n_svarr: int = 0, avb2: str | None = None,
                psvt: tuple[float, int, float] | None = None) -> list[Beat]:
    """Sinus rhythm with optional premature beats, second-degree AV block or a PSVT run.

    Parameters
    ----------
    resp : (lo, hi)
        Range of the respiratory RR modulation (fraction of RR; SARRH uses ~0.1-0.16).
    pattern : 'BIGU-V' | 'BIGU-A' | 'TRIGU-V' | 'TRIGU-A' | None
    n_pvc, n_pac : isolated ventricular / atrial premature beats.
    n_svarr : length of a short run of atrial ectopic beats (SVARR).
    avb2 : 'mobitz1' | 'mobitz2' | '2:1' | None
    psvt : (onset time s, number of beats or 0 for "to the end", rate /min) or None.
    """
    rr0 = 60.0 / spec.hr
    mod = _resp(rng, resp)
    jit = 0.012 if resp[1] < 0.08 else 0.02
    d_pr = spec.p_on - spec.qrs_on                # r = p + pr + d_pr
    t = -rng.uniform(0.3, 1.0) * rr0 - 0.3
    last = int((spec.duration - 0.8 - t) / (rr0 * (1 + resp[1]))) - 1
    slots = _ectopic_slots(rng, int((0.6 - t) / (rr0 * (1 - resp[1]))) + 1, last, pattern, n_pvc, n_pac, n_svarr)
    cycle = int(rng.integers(3, 6)) if avb2 == "mobitz1" else 3 if avb2 == "mobitz2" else 2
    phase = int(rng.integers(0, cycle))
    beats: list[Beat] = []
    last_r = last_p = None
    slot = 0
    in_run = False
    while t < spec.duration + 1.0:
        rr = rr0 * (1 + mod(t)) * (1 + rng.normal(0, jit))
        if psvt is not None and not in_run and t >= psvt[0]:
            in_run = True
            rr_svt = 60.0 / psvt[2]
            p_a = last_p + rng.uniform(0.55, 0.7) * rr if last_p is not None else t
            r = p_a + spec.pr + d_pr
            beats.append(Beat("A", r, "N", p_a, "pac"))
            n_run = psvt[1] if psvt[1] > 0 else 10 ** 6
            for _ in range(n_run):
                r += rr_svt * (1 + rng.normal(0, 0.004))
                if r > spec.duration + 1.0:
                    break
                beats.append(Beat("S", r, "N"))
            last_r = r
            t = r + rng.uniform(0.9, 1.4) * rr0 - (spec.pr + d_pr)   # sinus resumes after a pause
            last_p = None
            slot += 1
            continue
        kind = slots.get(slot, "N")
        if kind == "V" and last_r is not None:
            r_v = last_r + rng.uniform(0.55, 0.72) * rr
            beats.append(Beat("V", r_v, "V"))
            beats.append(Beat("H", p=t, pt="sinus"))     # the sinus P falls in the PVC's ST-T
            last_r, last_p = r_v, t
            t += rr
            slot += 1
            continue
        if kind in "AR" and last_p is not None:
            coupling = rng.uniform(0.6, 0.78) if kind == "A" else rng.uniform(0.5, 0.62)
            p_a = last_p + coupling * (rr if kind == "A" else rr0)
            r = p_a + spec.pr * rng.uniform(0.95, 1.15) + d_pr
            beats.append(Beat("A", r, "N", p_a, "pac"))
            last_p, last_r = p_a, r
            t = p_a + rr                                  # the sinus node is reset
            slot += 1
            continue
        pr = spec.pr
        conducted = True
        if avb2 is not None:
            pos = (slot + phase) % cycle
            conducted = pos != cycle - 1
            if avb2 == "mobitz1":
                pr = spec.pr + sum(0.1 * 0.5 ** i for i in range(pos))
        if conducted:
            r = t + pr + d_pr
            beats.append(Beat("N", r, "N", t, "sinus"))
            last_r = r
        else:
            beats.append(Beat("X", p=t, pt="sinus"))
        last_p = t
        t += rr
        slot += 1
    return beats


def afib_beats(spec: RhythmSpec, rng: np.random.Generator, *, cv: float, pattern: str | None = None,
               n_pvc: int = 0) -> list[Beat]:
    """Atrial fibrillation: irregularly irregular conducted beats (RR ~ gamma with this CV, >= 0.3 s)."""
    rr0 = 60.0 / spec.hr
    shape = 1.0 / cv ** 2

    def draw_rr():
        return max(0.3, rng.gamma(shape, rr0 / shape))

    r = -rng.uniform(0.0, 1.0) * rr0 - 0.2
    slots = _ectopic_slots(rng, int((0.6 - r) / (0.7 * rr0)) + 1, int((spec.duration - 0.8 - r) / (1.4 * rr0)),
                           pattern, n_pvc, 0, 0)
    beats: list[Beat] = []
    slot = 0
    while r < spec.duration + 1.0:
        if slots.get(slot) == "V":
            r += rng.uniform(0.45, 0.65) * rr0
            beats.append(Beat("V", r, "V"))
            r += draw_rr() * 1.25
        else:
            beats.append(Beat("F", r, "N"))
            r += draw_rr()
        slot += 1
    return beats


def flutter_beats(spec: RhythmSpec, rng: np.random.Generator, *, flutter_hz: float, ratio: int | str,
                  phase: float, delay: float) -> list[Beat]:
    """Atrial flutter with fixed (2, 3, 4) or 'variable' (2 or 4) AV conduction.

    Flutter wave k starts at ``phase + k / flutter_hz``; a conducted QRS follows it by ``delay``.
    """
    period = 1.0 / flutter_hz
    k = -int(3 / period)
    beats: list[Beat] = []
    while True:
        r = phase + k * period + delay
        if r > spec.duration + 1.0:
            break
        beats.append(Beat("F", r, "N"))
        k += int(rng.choice([2, 4], p=[0.6, 0.4])) if ratio == "variable" else int(ratio)
    return beats


def svt_beats(spec: RhythmSpec, rng: np.random.Generator) -> list[Beat]:
    """Regular narrow-complex tachycardia without visible P waves."""
    rr = 60.0 / spec.hr
    r = -rng.uniform(0, rr) - 0.2
    beats = []
    while r < spec.duration + 1.0:
        beats.append(Beat("S", r, "N"))
        r += rr * (1 + rng.normal(0, 0.004))
    return beats


def paced_beats(spec: RhythmSpec, rng: np.random.Generator, *, dual_chamber: bool, av_delay: float) -> list[Beat]:
    """Fixed-rate ventricular pacing; with ``dual_chamber`` an atrial spike and P precede each beat."""
    rr = 60.0 / spec.hr
    r = -rng.uniform(0, rr) - 0.2
    beats = []
    while r < spec.duration + 1.0:
        if dual_chamber:
            beats.append(Beat("P", r, "paced", r - av_delay, "apaced"))
        else:
            beats.append(Beat("P", r, "paced"))
        r += rr
    return beats


def av_dissociation_beats(spec: RhythmSpec, rng: np.random.Generator, *, atrial_hr: float, escape: str) -> list[Beat]:
    """Third-degree AV block: sinus P waves and an independent regular escape rhythm."""
    beats = []
    rr_a = 60.0 / atrial_hr
    t = -rng.uniform(0, rr_a) - 0.2
    while t < spec.duration + 1.0:
        beats.append(Beat("D", p=t, pt="sinus"))
        t += rr_a * (1 + rng.normal(0, 0.01))
    rr_v = 60.0 / spec.hr
    r = -rng.uniform(0, rr_v) - 0.2
    while r < spec.duration + 1.0:
        beats.append(Beat("E", r, escape))
        r += rr_v * (1 + rng.normal(0, 0.005))
    return beats


def _precordial_pattern(rng, weights) -> np.ndarray:
    return np.asarray(weights) * np.exp(rng.normal(0, 0.2, 6))


def fibrillation_wave(rng: np.random.Generator, amplitude: float):
    """Atrial fibrillation f waves: 3 frequency- and amplitude-modulated sinusoids at 4.5-8.5 Hz.

    Returns a continuous component ``f(t, fs) -> (8, T)``; largest in V1 and the inferior leads.
    """
    n = 3
    f0 = rng.uniform(4.5, 8.5, n)
    df = rng.uniform(0.3, 1.0, n)
    fm = rng.uniform(0.1, 0.4, n)
    ph = rng.uniform(0, 2 * np.pi, (3, n))
    am = rng.uniform(0.2, 0.5, n)
    fa = rng.uniform(0.1, 0.5, n)
    w = np.zeros((n, 8))
    for i in range(n):
        w[i, :2] = frontal_channels(rng.uniform(50, 120), 0.7)
        w[i, 2:] = _precordial_pattern(rng, [1.0, 0.7, 0.4, 0.3, 0.25, 0.2])
    w *= amplitude / np.sqrt(n) * rng.uniform(0.6, 1.4, (n, 1))

    def component(t: np.ndarray, fs: float) -> np.ndarray:
        phase = 2 * np.pi * f0[:, None] * t + (df / fm)[:, None] * np.sin(2 * np.pi * fm[:, None] * t + ph[0][:, None])
        env = 1 + am[:, None] * np.sin(2 * np.pi * fa[:, None] * t + ph[1][:, None])
        x = env * np.sin(phase + ph[2][:, None]) * acquisition_gain(f0, fs)[:, None]   # (n, T)
        return w.T @ x                                                              # (8, T)
    return component


def flutter_wave(rng: np.random.Generator, amplitude: float, flutter_hz: float, phase: float, harmonics: int = 6):
    """Saw-tooth flutter waves (band-limited Fourier series with Lanczos smoothing).

    Negative saw-tooth in II, III, aVF (slow descent, quick return), positive in V1. Returns a
    continuous component ``f(t, fs) -> (8, T)``.
    """
    w = np.zeros(8)
    w[:2] = frontal_channels(rng.uniform(80, 100), -1.0)
    w[2:] = _precordial_pattern(rng, [0.6, 0.35, 0.2, 0.12, 0.08, 0.05])
    w *= amplitude
    k = np.arange(1, harmonics + 1)
    coef = (1 / (np.pi * k)) * np.sinc(k / (harmonics + 1))                      # (K,)

    def component(t: np.ndarray, fs: float) -> np.ndarray:
        gains = acquisition_gain(k * flutter_hz, fs)                            # (K,)
        arg = 2 * np.pi * flutter_hz * np.outer(k, t - phase)                   # (K, T)
        saw = -2 * (coef * gains) @ np.sin(arg)                                 # (T,) rising ramp, sharp drop
        return np.outer(w, saw)                                                 # (8, T)
    return component


def electrode_noise(rng: np.random.Generator, *, wander_mv: float, emg_mv: float, mains_mv: float,
                    mains_hz: float):
    """Baseline wander, EMG and mains noise generated per electrode (RA, LA, LL, V1-V6).

    ``emg_mv`` is the white-noise standard deviation at 500 Hz; at a lower rate it is the same
    noise band-limited to that rate's Nyquist frequency (its standard deviation scales with
    sqrt(fs / 500)). Mains hum is removed at rates whose anti-aliasing filter excludes it.
    Returns a continuous component ``f(t, fs) -> (8, T)``.
    """
    m = electrode_matrix()                                                      # (8, 9)
    n_w = 4                      # wander frequencies shared by all electrodes (respiration, movement)
    wf = np.concatenate([[rng.uniform(0.15, 0.35)], rng.uniform(0.03, 0.6, n_w - 1)])
    wa = wander_mv * rng.lognormal(0, 0.5, (9, n_w)) / np.sqrt(n_w)
    wp = rng.uniform(0, 2 * np.pi, (9, n_w))
    w_mix = np.concatenate([wa * np.cos(wp), wa * np.sin(wp)], axis=1)          # (9, 2 n_w)
    ma = mains_mv * rng.uniform(0.3, 1.0, 9)
    mp = rng.uniform(0, 2 * np.pi, 9)
    emg_scale = emg_mv * rng.lognormal(0, 0.3, 9)
    seed = int(rng.integers(2 ** 63))

    def component(t: np.ndarray, fs: float) -> np.ndarray:
        arg = 2 * np.pi * wf[:, None] * t                                       # (n_w, T)
        x = w_mix @ np.concatenate([np.sin(arg), np.cos(arg)])                  # (9, T)
        if mains_mv > 0:
            x += (ma * acquisition_gain(mains_hz, fs))[:, None] * np.sin(2 * np.pi * mains_hz * t + mp[:, None])
        if emg_mv > 0:
            white = np.random.default_rng(seed).standard_normal((9, len(t)))             # (9, T)
            x += emg_scale[:, None] * math.sqrt(min(fs, 500.0) / 500.0) * white
        return m @ x                                                            # (8, T)
    return component
