"""One synthetic record: draw its physiology from its labels, build the beat templates, apply
every label's knob, schedule the beats, and list where each label's evidence lies.

Everything random happens in :func:`plan_record` (so one plan can be rendered at 100 Hz and at
500 Hz); :func:`render_plan` is deterministic.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..labels import LEADS
from .episodic import intermittent_templates, is_sparse, mark_intermittent
from .findings import LEAD_GROUPS, SINUS
from .knobs import conducted_template, p_template, record_knobs, sinus_p_template, ventricular_template
from .waves import (CHANNEL_INDEX, QRS_TAGS, LeadGeometry, Template, expand_to_12, frontal_channels,
                           render_waves, unit)
from .rhythm import (Beat, RhythmSpec, afib_beats, av_dissociation_beats, electrode_noise,
                            fibrillation_wave, flutter_beats, flutter_wave, paced_beats, sinus_beats, svt_beats)

__all__ = ["Plan", "plan_record", "render_plan", "RATE_RANGES"]

#: Allowed mean rate (/min) per rhythm label (for 3AVB: the escape rhythm).
RATE_RANGES = {"SR": (60.0, 100.0), "SBRAD": (35.0, 59.9), "STACH": (100.1, 180.0), "SARRH": (45.0, 100.0),
               "AFIB": (45.0, 170.0), "AFLT": (57.0, 174.0), "SVTAC": (140.0, 240.0), "PSVT": (140.0, 240.0),
               "PACE": (45.0, 100.0), "3AVB": (20.0, 60.0), None: (45.0, 100.0)}


@dataclass
class Plan:
    """Everything needed to render one record at any sampling rate (all randomness drawn)."""

    labels: tuple[str, ...]
    duration: float
    beats: list[Beat]
    templates: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]      # key -> (off, sig, amp (n, 8))
    continuous: list = field(default_factory=list)                      # f(t, fs) -> (8, T)
    evidence: dict[str, list[tuple[tuple[str, ...], float, float]]] = field(default_factory=dict)
    info: dict = field(default_factory=dict)                            # heart rate, axis, PR, QTc ...


class _Builder:
    """Holds one record's state while the knobs are applied."""

    def __init__(self, labels, rng: np.random.Generator, cfg, heart_rate: float | None):
        self.labels = set(labels)
        self.rng = rng
        self.cfg = cfg
        self.geom = LeadGeometry.sample(rng, cfg.variability)
        self.requests: list[tuple[str, tuple[str, ...], str, str]] = []   # (label, leads, beats, segment)
        self.t_groups_used: set[str] = set()
        self.q_group: str | None = None            # territory of the infarct Q waves, if any
        v = cfg.variability
        self.base = next((b for b in ("SR", "SBRAD", "STACH", "SARRH", "AFIB", "AFLT", "SVTAC", "PSVT", "PACE",
                                      "3AVB") if b in self.labels), None)
        self.p = dict(
            axis=float(np.clip(rng.normal(50, 20 * v), -25, 95)),
            qrs_amp=1.1 * float(np.exp(rng.normal(0, 0.22 * v))),
            posterior=float(np.clip(rng.normal(0.42, 0.1 * v), 0.15, 0.7)),
            qrs_w=float(np.clip(rng.normal(1.08, 0.05 * v), 0.95, 1.2)),
            pr=float(rng.uniform(0.13, 0.19)),
            qtc=float(np.clip(rng.normal(0.405, 0.015 * v), 0.37, 0.44)),
            p_amp=float(rng.uniform(0.09, 0.17)),
            t_amp=float(rng.uniform(0.22, 0.42)),
            t_dev=float(rng.normal(-12, 12 * v)),
            sep_amp=float(rng.uniform(0.12, 0.25)),
            s_amp=float(rng.uniform(0.25, 0.5)),
            volt=1.0,
        )
        self.hr = self._heart_rate(heart_rate)

    # ---- record-level parameters -------------------------------------------------------
    def _heart_rate(self, requested: float | None) -> float:
        lo, hi = RATE_RANGES[self.base]
        if requested is not None and not lo <= requested <= hi:
            raise ValueError(f"heart_rate={requested} is outside {lo}-{hi}/min allowed for rhythm "
                             f"{self.base or 'sinus (no rhythm label)'}; pick a rate in that range")
        rng = self.rng
        self.svt_rate = float(requested if (requested is not None and self.base == "PSVT") else rng.uniform(150, 215))
        if self.base == "AFLT":
            return self._flutter_rate(requested)
        if self.base == "PSVT":
            return float(rng.uniform(65, 92))
        if requested is not None:
            return float(requested)
        draw = {"SR": lambda: np.clip(rng.normal(74, 9), 61, 98), "SBRAD": lambda: rng.uniform(42, 58),
                "STACH": lambda: rng.uniform(103, 145), "SARRH": lambda: rng.uniform(55, 88),
                "AFIB": lambda: np.clip(rng.normal(95, 22), 55, 150), "SVTAC": lambda: rng.uniform(150, 215),
                "PACE": lambda: float(rng.choice([60, 65, 70, 72, 75, 80])), "3AVB": lambda: rng.uniform(30, 48),
                None: lambda: np.clip(rng.normal(74, 9), 61, 98)}
        return float(draw[self.base]())

    def _flutter_rate(self, requested: float | None) -> float:
        rng = self.rng
        if requested is None:
            ratio = ["2", "4", "3", "variable"][rng.choice(4, p=[0.45, 0.25, 0.1, 0.2])]
            f_hz = float(rng.uniform(4.0, 5.6))
            hr = 60 * f_hz / (3.0 if ratio == "variable" else int(ratio))
        else:
            fits = [r for r in (2, 3, 4) if 3.8 <= requested * r / 60 <= 5.8]
            if not fits:
                raise ValueError(f"heart_rate={requested} cannot come from atrial flutter at 228-348/min with 2:1, "
                                 "3:1 or 4:1 conduction; pick 57-174/min")
            ratio, f_hz, hr = str(fits[0]), requested * fits[0] / 60, float(requested)
        self.flutter = (f_hz, ratio)
        return hr

    # ---- templates -------------------------------------------------------------------------
    def normal_template(self) -> Template:
        """Normal QRS: septal q (right-anterior), early left-anterior R, main left-posterior R, late S."""
        p, w = self.p, self.p["qrs_w"]
        th = np.deg2rad(p["axis"])
        tm = Template()
        tm.add("sep", "sep", -0.024 * w, 0.0075 * w, p["sep_amp"] * unit(-0.6, 0.05, 0.8))
        tm.add("R1", "qrs", -0.008 * w, 0.009 * w, 0.5 * p["qrs_amp"] * unit(np.cos(th + 0.2), np.sin(th + 0.2), 0.3))
        tm.add("R2", "qrs", 0.005 * w, 0.0095 * w, p["qrs_amp"] * unit(np.cos(th), np.sin(th), -p["posterior"]))
        tm.add("S", "qrs", 0.026 * w, 0.0095 * w, p["s_amp"] * unit(-0.35, -0.45, -0.85))
        return tm

    def add_t(self, tm: Template, qt: float, direction: np.ndarray | None = None, amp: float | None = None) -> None:
        """T wave (two Gaussians: slow upstroke, main hump) ending at QRS onset + QT."""
        p = self.p
        if direction is None:
            tt = np.deg2rad(p["axis"] + p["t_dev"])
            direction = unit(np.cos(tt), np.sin(tt), 0.5)
        amp = p["t_amp"] if amp is None else amp
        qrs_on = tm.extent(QRS_TAGS)[0]
        k = float(np.clip(qt / 0.4, 0.6, 1.3))        # T narrows with a short QT
        s2 = 0.042 * k
        tp = qrs_on + qt - 2.5 * s2
        tm.add("T1", "t", tp - 0.05 * k, 0.05 * k, 0.35 * amp * direction)
        tm.add("T2", "t", tp, s2, amp * direction)

    def group_local(self, group: str, amount: float) -> np.ndarray:
        """Channel vector (8,) of a finding of size ``amount`` (mV) in a territory."""
        angle, prec, _ = LEAD_GROUPS[group]
        loc = np.zeros(8)
        if angle is not None:
            loc[:2] = frontal_channels(angle, amount)
        for lead, wgt in prec.items():
            loc[CHANNEL_INDEX[lead]] = amount * wgt
        return loc

    def set_t(self, tm: Template, group: str, target: float) -> None:
        """Set the T-wave peak in a territory's leads to ``target`` mV (other leads keep theirs)."""
        angle, prec, _ = LEAD_GROUPS[group]
        for name, frac in (("T1", 0.35), ("T2", 1.0)):
            for i in tm.index(name):
                cur = tm.channel_values(i, self.geom)
                if angle is not None:
                    a = np.deg2rad(angle)
                    u = np.array([np.cos(a), np.sin(a)])
                    fx, fy = cur[0], (cur[1] - 0.5 * cur[0]) / (np.sqrt(3) / 2)
                    tm.loc[i][:2] += frontal_channels(angle, frac * target - (fx * u[0] + fy * u[1]))
                for lead, wgt in prec.items():
                    c = CHANNEL_INDEX[lead]
                    tm.loc[i][c] += wgt * (frac * target - cur[c])

    def add_st(self, tm: Template, group: str | None, amount: float, center: float = 0.07, sigma: float = 0.045,
               local: np.ndarray | None = None) -> None:
        """ST shift (elevation > 0) starting at the J point, in a territory or with a given channel vector."""
        j = tm.extent(QRS_TAGS)[1]
        loc = self.group_local(group, amount) if local is None else local
        tm.add("ST", "st", j + center * self.p["qrs_w"], sigma, local=loc)

    def pick_group(self, options: tuple[str, ...]) -> str:
        """A territory for a non-specific ST-T finding, avoiding those already changed."""
        free = [g for g in options if g not in self.t_groups_used] or list(options)
        g = free[int(self.rng.integers(len(free)))]
        self.t_groups_used.add(g)
        return g

    def want(self, label: str, leads, beats: str, segment: str) -> None:
        """Register evidence: ``segment`` of the beats chosen by ``beats``, on ``leads``."""
        self.requests.append((label, tuple(leads), beats, segment))


# ---- the record ---------------------------------------------------------------------------------

def plan_record(labels, rng: np.random.Generator, cfg, heart_rate: float | None = None) -> Plan:
    """Draw all of one record's randomness and return a :class:`Plan` (see module docstring).

    With ``cfg.evidence == 'sparse'`` an intermittent label (:data:`.findings.INTERMITTENT_LABELS`)
    is rendered in 1-3 consecutive beats (template key ``'Nx'``) and premature beats are 1-2 per record.
    """
    b = _Builder(labels, rng, cfg, heart_rate)
    p = b.p
    record_knobs(b)
    tm, blocked = intermittent_templates(b)
    p_sinus = sinus_p_template(b)
    templates = {"N": tm, "sinus": p_sinus}
    if blocked is not None:
        templates["Nx"] = blocked

    spec = RhythmSpec(hr=b.hr, pr=p["pr"], p_on=p_sinus.extent(("p",))[0], qrs_on=tm.extent(QRS_TAGS)[0],
                      duration=cfg.duration)
    beats, continuous, extra_spans = _schedule(b, spec, templates)
    if blocked is not None:
        mark_intermittent(b, beats, cfg.duration)
    # noise is always drawn (so noise=False gives the same record without it), added only when asked
    mains = cfg.mains_mv * rng.lognormal(0, 0.4) if rng.random() < cfg.mains_probability else 0.0
    noise = electrode_noise(rng, wander_mv=cfg.baseline_wander_mv * rng.lognormal(0, 0.6),
                            emg_mv=cfg.emg_mv * rng.lognormal(0, 0.5), mains_mv=mains, mains_hz=cfg.mains_hz)
    if cfg.noise:
        continuous.append(noise)
    scales = 1 + b.rng.uniform(0.02, 0.06) * np.sin(2 * np.pi * rng.uniform(0.15, 0.35) * np.array(
        [bt.r if bt.r == bt.r else bt.p for bt in beats]) + rng.uniform(0, 2 * np.pi))
    for bt, s in zip(beats, scales):
        bt.scale = float(s * np.exp(rng.normal(0, 0.015)))
    final = {k: t.finalize(b.geom) for k, t in templates.items()}
    evidence = _resolve_evidence(b, beats, templates, extra_spans, cfg.duration)
    info = dict(heart_rate=b.hr, axis=p["axis"], pr=p["pr"], qtc=p["qtc"], base_rhythm=b.base,
                qrs_ms=1000 * float(np.diff(tm.extent(QRS_TAGS))[0]))
    return Plan(tuple(labels), cfg.duration, beats, final, continuous, evidence, info)

def _schedule(b: _Builder, spec: RhythmSpec, templates: dict[str, Template]):
    """Beats and continuous atrial components for the record's rhythm labels."""
    L, rng, base = b.labels, b.rng, b.base
    continuous, extra = [], {}
    strip_labels = [c for c in ("SR", "SBRAD", "STACH", "SARRH", "AFIB", "AFLT", "SVTAC", "3AVB", "NORM") if c in L]
    for c in strip_labels:
        b.want(c, LEADS, "strip", "strip")
    needs_v = L & {"PVC", "BIGU", "TRIGU"}
    if needs_v or base == "3AVB":
        templates["V"] = ventricular_template(b, "V")
    pattern = None
    if L & {"BIGU", "TRIGU"}:
        pattern = ("BIGU" if "BIGU" in L else "TRIGU") + ("-A" if "PAC" in L and "PVC" not in L else "-V")
        code = "BIGU" if "BIGU" in L else "TRIGU"
        b.want(code, LEADS, "V" if pattern.endswith("V") else "A", "qrs" if pattern.endswith("V") else "ectopic")
    if "PVC" in L:
        b.want("PVC", LEADS, "V", "qrs")
    if "PAC" in L:
        b.want("PAC", LEADS, "A", "ectopic")
    if base in SINUS or base is None or base == "PSVT":
        if L & {"PAC", "SVARR", "PSVT"} or (pattern and pattern.endswith("A")):
            templates["pac"] = p_template(b, "pac")
        resp = (0.09, 0.16) if base == "SARRH" else (0.005, 0.02) if base == "STACH" else (0.005, 0.04)
        most = 3 if is_sparse(b.cfg) else 4          # sparse tier: 1-2 premature beats, else 1-3
        n_pvc = int(rng.integers(1, most)) if "PVC" in L and not (pattern and pattern.endswith("V")) else 0
        n_pac = int(rng.integers(1, most)) if "PAC" in L and not (pattern and pattern.endswith("A")) else 0
        n_svarr = int(rng.integers(3, 6)) if "SVARR" in L else 0
        avb2 = ("mobitz1", "mobitz2", "2:1")[int(rng.integers(3))] if "2AVB" in L else None
        psvt = None
        if base == "PSVT":
            psvt = (rng.uniform(2.0, 5.5), int(rng.choice([0, rng.integers(5, 12)])), b.svt_rate)
        beats = sinus_beats(spec, rng, resp=resp, pattern=pattern, n_pvc=n_pvc, n_pac=n_pac, n_svarr=n_svarr,
                            avb2=avb2, psvt=psvt)
        if "SVARR" in L:
            b.want("SVARR", LEADS, "A", "ectopic")
        if "2AVB" in L:
            b.want("2AVB", LEADS, "X", "p")
        if psvt is not None:
            run = [bt.r for bt in beats if bt.kind == "S"]
            first_a = max([bt for bt in beats if bt.kind == "A" and bt.r < run[0]], key=lambda x: x.r)
            extra["PSVT"] = [(LEADS, first_a.r - 0.06, run[-1] + 0.3)]
    elif base == "AFIB":
        beats = afib_beats(spec, rng, cv=rng.uniform(0.15, 0.3), pattern=pattern,
                           n_pvc=int(rng.integers(1, 3 if is_sparse(b.cfg) else 4)) if "PVC" in L and pattern is None
                           else 0)
        continuous.append(fibrillation_wave(rng, b.cfg.f_wave_mv * rng.uniform(0.5, 1.5)))
    elif base == "AFLT":
        beats, comp = _flutter(b, spec)
        continuous.append(comp)
    elif base == "SVTAC":
        beats = svt_beats(spec, rng)
    elif base == "PACE":
        templates["paced"] = ventricular_template(b, "paced")
        dual = bool(rng.random() < 0.5)
        if dual:
            templates["apaced"] = p_template(b, "apaced")
        beats = paced_beats(spec, rng, dual_chamber=dual, av_delay=rng.uniform(0.16, 0.22))
        b.want("PACE", LEADS, "P", "paced")
    else:  # 3AVB
        # junctional (narrow) escape when other labels need the conducted template or the rate is > 40/min
        narrow = bool(L - {"3AVB"}) or b.hr > 40 or rng.random() < 0.5
        if not narrow:
            templates["Vesc"] = ventricular_template(b, "Vesc")
        beats = av_dissociation_beats(spec, rng, atrial_hr=rng.uniform(65, 100), escape="N" if narrow else "Vesc")
    return beats, continuous, extra


def _flutter(b: _Builder, spec: RhythmSpec):
    rng = b.rng
    f_hz, ratio = b.flutter
    phase = rng.uniform(0, 1 / f_hz)
    beats = flutter_beats(spec, rng, flutter_hz=f_hz, ratio=ratio if ratio == "variable" else int(ratio),
                          phase=phase, delay=rng.uniform(0.18, 0.28))
    return beats, flutter_wave(rng, b.cfg.flutter_wave_mv * rng.uniform(0.7, 1.3), f_hz, phase)


def _segment(templates: dict[str, Template], key: str, segment: str, cache: dict) -> tuple[float, float] | None:
    """Onset/offset (s) of a named segment of a template, relative to its fiducial time."""
    ck = (key, segment)
    if ck in cache:
        return cache[ck]
    tm = templates[key]
    qrs = tm.extent(QRS_TAGS)
    t = tm.extent(("t", "u"))
    t2 = tm.index("T2")
    if segment == "qrs":
        out = qrs
    elif segment in ("q", "sep", "delta"):
        out = tm.extent((segment,))
        if segment == "delta" and out is not None:
            out = (qrs[0], tm.off[tm.index("R2")[0]])
    elif segment == "st":
        out = (qrs[1], tm.off[t2[0]]) if t2 else None
    elif segment == "stt":
        out = (qrs[1], t[1])
    elif segment == "t":
        out = t
    elif segment == "qt":
        out = (qrs[0], t[1])
    elif segment == "p":
        out = tm.extent(("p",))
    elif segment == "paced":
        out = (tm.extent(("spike",))[0] - 0.005, qrs[1])
    else:
        raise KeyError(segment)
    cache[ck] = out
    return out


def _resolve_evidence(b: _Builder, beats: list[Beat], templates, extra, duration):
    cache: dict = {}
    out: dict[str, list[tuple[tuple[str, ...], float, float]]] = {}
    selectors = {
        "conducted": lambda bt: bt.vt in ("N", "Nx") and bt.r == bt.r,
        "episodic": lambda bt: bt.vt == "Nx" and bt.r == bt.r,
        "with_p": lambda bt: bt.kind in ("N", "A") and bt.p == bt.p,
        "sinus_p": lambda bt: bt.pt == "sinus" and bt.kind in ("N", "X", "D"),
        "V": lambda bt: bt.kind == "V", "A": lambda bt: bt.kind == "A", "P": lambda bt: bt.kind == "P",
        "X": lambda bt: bt.kind == "X",
    }
    for label, leads, sel, segment in b.requests:
        spans = out.setdefault(label, [])
        if sel == "strip":
            spans.append((leads, 0.0, duration))
            continue
        for bt in beats:
            if not selectors[sel](bt):
                continue
            if segment == "pr":
                s = (bt.p + _segment(templates, bt.pt, "p", cache)[0], bt.r + _segment(templates, "N", "qrs", cache)[0])
            elif segment == "ectopic":
                s = (bt.p + _segment(templates, bt.pt, "p", cache)[0], bt.r + _segment(templates, bt.vt, "qrs", cache)[1])
            elif segment == "p":
                s = _segment(templates, bt.pt, "p", cache)
                s = (bt.p + s[0], bt.p + s[1])
            else:
                s = _segment(templates, bt.vt, segment, cache)
                if s is None:
                    continue
                s = (bt.r + s[0], bt.r + s[1])
            start, end = max(0.0, s[0]), min(duration, s[1])
            if end - start >= 0.01:
                spans.append((leads, round(start, 3), round(end, 3)))
    for label, spans in extra.items():
        out.setdefault(label, []).extend(
            (leads, round(max(0.0, s), 3), round(min(duration, e), 3)) for leads, s, e in spans)
    return out


def render_plan(plan: Plan, fs: float) -> np.ndarray:
    """Render a plan at ``fs`` Hz: signals, shape (12, T) float32 in mV."""
    n = int(round(plan.duration * fs))
    centers, sigmas, amps = [], [], []
    for bt in plan.beats:
        for key, t0 in ((bt.vt, bt.r), (bt.pt, bt.p)):
            if key is None or t0 != t0:
                continue
            off, sig, amp = plan.templates[key]
            centers.append(off + t0)
            sigmas.append(sig)
            amps.append(amp * bt.scale)
    x = render_waves(np.concatenate(centers), np.concatenate(sigmas), np.concatenate(amps), fs, n)   # (8, T)
    t = np.arange(n) / fs
    for comp in plan.continuous:
        x += comp(t, fs)
    return expand_to_12(x)
