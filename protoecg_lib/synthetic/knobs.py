"""Label knobs of the synthetic ECG generator: how each SCP statement changes the beat templates.

Every function takes the record builder ``b`` (``record._Builder``: the record's random
generator, labels, parameters ``b.p``, lead geometry, and helpers to add T / ST waves and to
register evidence) and edits a :class:`~protoecg_lib.synthetic.waves.Template` in place. What each label does
is summarised in :data:`~protoecg_lib.synthetic.findings.LABEL_PHYSIOLOGY`.
"""
from __future__ import annotations

import numpy as np

from ..labels import LEADS
from .findings import LEAD_GROUPS
from .waves import Template, unit

__all__ = ["record_knobs", "conducted_template", "sinus_p_template", "ventricular_template", "p_template"]

_LIMB = LEADS[:6]


def record_knobs(b) -> None:
    """Record-level parameters set by labels before any template is built (axis, PR interval)."""
    L, p, rng = b.labels, b.p, b.rng
    if "LAFB" in L:
        p["axis"] = rng.uniform(-75, -45)
        b.want("LAFB", _LIMB, "conducted", "qrs")
    if "LPFB" in L:
        p["axis"] = rng.uniform(100, 140)
        b.want("LPFB", _LIMB, "conducted", "qrs")
    if "RVH" in L:
        p["axis"] = rng.uniform(100, 150)
    if L & {"IMI", "ILMI", "IPLMI", "IPMI"} and not L & {"LAFB", "LPFB", "RVH"}:
        p["axis"] = min(p["axis"], rng.uniform(-20, 30))      # loss of inferior forces
    if "1AVB" in L:
        p["pr"] = rng.uniform(0.22, 0.34)
        b.want("1AVB", LEADS, "with_p", "pr")
    elif "LPR" in L:
        p["pr"] = rng.uniform(0.205, 0.24)
    if "LPR" in L:
        b.want("LPR", LEADS, "with_p", "pr")


def conducted_template(b) -> Template:
    """The template of every conducted (supraventricular) beat, with all QRS and ST-T knobs applied."""
    L, p = b.labels, b.p
    tm = b.normal_template()
    if "LAFB" in L:
        tm.dip[tm.index("sep")[0]] = p["sep_amp"] * unit(-0.5, 0.7, 0.5)
    if "LPFB" in L:
        tm.dip[tm.index("sep")[0]] = p["sep_amp"] * unit(0.5, -0.7, 0.5)
    _knob_conduction(b, tm)
    _knob_axis_voltage(b, tm)
    _knob_infarction(b, tm)
    _knob_repolarisation(b, tm)
    return tm


def sinus_p_template(b) -> Template:
    """The sinus P wave, with the atrial knobs (LAO/LAE, RAO/RAE) applied."""
    tm = p_template(b, "sinus")
    _knob_atria(b, tm)
    return tm


def ventricular_template(b, kind: str) -> Template:
    """Wide QRS of ventricular origin: 'V' (premature), 'Vesc' (escape) or 'paced'."""
    rng = b.rng
    tm = Template()
    if kind == "paced":
        tm.add("spike", "spike", -0.07, 0.0003, rng.uniform(8, 20) * unit(*rng.normal(0, 1, 3)))
        d1 = rng.uniform(1.2, 2.0) * unit(np.cos(np.deg2rad(-60)), np.sin(np.deg2rad(-60)), -0.5)
        d2 = rng.uniform(0.6, 1.1) * unit(np.cos(np.deg2rad(-20)), np.sin(np.deg2rad(-20)), -0.8)
        w = 1.0
    else:
        th = rng.uniform(-np.pi, np.pi)
        d1 = rng.uniform(1.3, 2.6) * unit(np.cos(th), np.sin(th), rng.normal(0, 0.8))
        th2 = th + rng.uniform(-0.8, 0.8)
        d2 = rng.uniform(0.4, 1.0) * unit(np.cos(th2), np.sin(th2), rng.normal(0, 0.8))
        w = rng.uniform(0.9, 1.15)
    tm.add("W1", "qrs", -0.005 * w, 0.027 * w, d1)
    tm.add("W2", "qrs", 0.05 * w, 0.024 * w, d2)
    qrs_dir = (d1 + 0.5 * d2) / np.linalg.norm(d1 + 0.5 * d2)
    qt = 0.44 if kind != "V" else 0.40
    b.add_t(tm, qt, direction=-qrs_dir, amp=rng.uniform(0.3, 0.6))
    b.add_st(tm, None, 0, local=b.geom.matrix @ (-0.12 * qrs_dir))
    return tm


def p_template(b, kind: str) -> Template:
    """P waves: 'sinus' (right then left atrium), 'pac' (ectopic axis), 'apaced' (spike + P)."""
    pa, rng = b.p["p_amp"], b.rng
    tm = Template()
    if kind == "pac":
        a = np.deg2rad(rng.choice([rng.uniform(-90, -30), rng.uniform(0, 40), rng.uniform(100, 150)]))
        tm.add("P1", "p", -0.01, 0.018, pa * 1.1 * unit(np.cos(a), np.sin(a), rng.normal(0, 0.5)))
        return tm
    if kind == "apaced":
        tm.add("aspike", "spike", -0.06, 0.0003, rng.uniform(5, 12) * unit(*rng.normal(0, 1, 3)))
    tm.add("P1", "p", -0.012, 0.015, pa * unit(0.3, 0.8, 0.5))
    tm.add("P2", "p", 0.013, 0.016, 0.85 * pa * unit(0.8, 0.5, -0.4))
    return tm


# ---- label knobs (applied to the conducted-beat template 'N' and the sinus P) ----------------

def _knob_conduction(b, tm: Template) -> None:
    """CLBBB / ILBBB, CRBBB / IRBBB, IVCD, WPW: QRS width and shape (and secondary ST-T)."""
    L, rng, p = b.labels, b.rng, b.p
    th = np.deg2rad(p["axis"])
    bbb_leads = ("I", "aVL", "V1", "V2", "V5", "V6")
    if "CLBBB" in L or "ILBBB" in L:
        complete = "CLBBB" in L
        w = rng.uniform(0.82, 1.0) if complete else rng.uniform(0.6, 0.68)
        for name in ("sep", "R1", "R2", "S"):            # septum activated from the left: no septal q
            tm.remove(name)
        a = p["qrs_amp"] * (rng.uniform(1.5, 2.1) if complete else rng.uniform(1.0, 1.3))
        th = np.deg2rad(np.clip(p["axis"], -30, 50))
        tm.add("R1", "qrs", -0.032 * w, 0.02 * w, 0.6 * a * unit(np.cos(th), np.sin(th), -0.3))
        tm.add("R2", "qrs", 0.026 * w, 0.021 * w, a * unit(np.cos(th - 0.2), np.sin(th - 0.2), -1.1))
        label = "CLBBB" if complete else "ILBBB"
        b.want(label, bbb_leads if complete else ("I", "aVL", "V1", "V5", "V6"), "conducted", "qrs")
        if complete:
            p["t_override"] = (-unit(np.cos(th - 0.1), np.sin(th - 0.1), -0.6), rng.uniform(0.3, 0.55))
            p["st_local"] = b.geom.matrix @ (-0.15 * unit(np.cos(th - 0.1), np.sin(th - 0.1), -0.6))
    if "CRBBB" in L or "IRBBB" in L:
        complete = "CRBBB" in L
        if complete:
            tm.add("Rp", "qrs", 0.06, 0.02, rng.uniform(0.6, 1.0) * unit(-0.55, -0.1, 0.85))
            for i in tm.index("S"):
                tm.sig[i] *= 1.5
                tm.off[i] += 0.008
            b.want("CRBBB", bbb_leads, "conducted", "qrs")
            p["t_v13"] = -rng.uniform(0.1, 0.25)
        else:
            tm.add("Rp", "qrs", 0.045, 0.015, rng.uniform(0.25, 0.45) * unit(-0.55, -0.1, 0.85))
            b.want("IRBBB", ("V1", "V2", "V6"), "conducted", "qrs")
    if "IVCD" in L:
        f = rng.uniform(1.3, 1.55)
        for i, t in enumerate(tm.tags):
            if t in ("qrs", "sep"):
                tm.sig[i] *= f
                tm.off[i] *= f
        b.want("IVCD", LEADS, "conducted", "qrs")
    if "WPW" in L:
        r_dir = tm.dip[tm.index("R2")[0]] / np.linalg.norm(tm.dip[tm.index("R2")[0]])
        tm.add("delta", "delta", -0.042, 0.016, rng.uniform(0.3, 0.5) * p["qrs_amp"] * r_dir)
        p["pr"] = rng.uniform(0.08, 0.11)
        p["t_dev"] += 150
        b.want("WPW", LEADS, "conducted", "delta")


def _knob_axis_voltage(b, tm: Template) -> None:
    """LVH, VCLVH, HVOLT, LVOLT (QRS voltage), RVH (right-anterior forces), SEHYP (septal forces)."""
    L, rng, p = b.labels, b.rng, b.p
    scale_qrs = 1.0
    if "LVH" in L:
        scale_qrs = rng.uniform(1.6, 2.1)
        for i in tm.index("R2"):
            tm.dip[i][2] -= 0.35 * np.linalg.norm(tm.dip[i])
        for i, t in enumerate(tm.tags):
            if t == "qrs":
                tm.sig[i] *= 1.08
        b.want("LVH", ("I", "aVL", "V1", "V2", "V5", "V6"), "conducted", "qrs")
    if "VCLVH" in L:
        scale_qrs = max(scale_qrs, rng.uniform(1.5, 1.9))
        b.want("VCLVH", ("aVL", "V1", "V2", "V5", "V6"), "conducted", "qrs")
    if "HVOLT" in L:
        scale_qrs = max(scale_qrs, rng.uniform(1.7, 2.2))
        b.want("HVOLT", LEADS, "conducted", "qrs")
    if "LVOLT" in L:
        scale_qrs = rng.uniform(0.3, 0.45)
        b.want("LVOLT", LEADS, "conducted", "qrs")
    if scale_qrs != 1.0:
        tm.scale(("qrs", "sep", "delta"), scale_qrs)
        p["volt"] = scale_qrs
    if "RVH" in L:
        tm.add("Rrv", "qrs", 0.012, 0.012, rng.uniform(0.8, 1.2) * unit(-0.55, 0.35, 0.9))
        b.want("RVH", ("I", "aVF", "V1", "V2", "V5", "V6"), "conducted", "qrs")
        if rng.random() < 0.5:
            p["t_v13"] = -rng.uniform(0.08, 0.2)
    if "SEHYP" in L:
        for i in tm.index("sep"):
            tm.dip[i] = tm.dip[i] * rng.uniform(2.5, 3.5)
        b.want("SEHYP", ("I", "aVL", "V1", "V2", "V5", "V6"), "conducted", "sep")


_MI = {  # label: (Q territory groups, posterior mirror)
    "IMI": (("inferior",), False), "ILMI": (("inferolateral",), False), "IPLMI": (("inferolateral",), True),
    "IPMI": (("inferior",), True), "ASMI": (("anteroseptal",), False), "AMI": (("anterior",), False),
    "ALMI": (("anterolateral",), False), "LMI": (("lateral",), False), "PMI": ((), True),
}


def _knob_infarction(b, tm: Template) -> None:
    """Infarct Q waves (and R loss) in the territory's leads, posterior mirror, ANEUR, QWAVE, ABQRS."""
    L, rng, p = b.labels, b.rng, b.p
    mi = [c for c in _MI if c in L]
    if "ANEUR" in L and not L & {"ASMI", "AMI", "ALMI"}:
        mi.append("ANEUR")
    q_spans = []
    for code in mi:
        groups, posterior = _MI.get(code, (("anteroseptal",), False))
        for g in groups:
            depth = rng.uniform(0.3, 0.6) * p["qrs_amp"] * max(p["volt"], 0.5)
            tm.add("Q", "q", -0.03, 0.012, local=b.group_local(g, -depth))
            r_loss = b.group_local(g, -rng.uniform(0.2, 0.5) * p["qrs_amp"] * max(p["volt"], 0.5))
            for i in tm.index("R2"):     # loss of the territory's R forces
                tm.loc[i] = tm.loc[i] + r_loss
            names = LEAD_GROUPS[g][2]
            if code != "ANEUR":
                b.want(code, names, "conducted", "q")
            q_spans.append(names)
            b.q_group = b.q_group or g
            if code in ("IMI", "ILMI") and rng.random() < 0.35:
                b.t_groups_used.add(g)
                p.setdefault("t_sets", []).append((g, -rng.uniform(0.05, 0.2)))
        if posterior:
            tm.add("Rpost", "qrs", 0.0, 0.012, local=b.group_local("posterior", rng.uniform(0.4, 0.8)))
            b.want(code, ("V1", "V2"), "conducted", "qrs")
            if code == "PMI":
                p.setdefault("st_adds", []).append(("posterior", -rng.uniform(0.08, 0.18)))
                p.setdefault("t_sets", []).append(("septal", rng.uniform(0.25, 0.4)))
                b.want("PMI", ("V1", "V2", "V3"), "conducted", "st")
    if "ANEUR" in L:
        p.setdefault("st_adds", []).append(("anteroseptal", rng.uniform(0.15, 0.3)))
        b.want("ANEUR", ("V1", "V2", "V3", "V4"), "conducted", "st")
    if "QWAVE" in L:
        if q_spans:
            for names in q_spans:
                b.want("QWAVE", names, "conducted", "q")
        else:
            g = ("inferior", "lateral", "anteroseptal")[rng.choice(3, p=[0.5, 0.25, 0.25])]
            tm.add("Q", "q", -0.03, 0.012, local=b.group_local(g, -rng.uniform(0.2, 0.4) * max(p["volt"], 0.5)))
            b.want("QWAVE", LEAD_GROUPS[g][2], "conducted", "q")
            b.q_group = g
    if "ABQRS" in L:
        if b.q_group is not None:
            g = b.q_group
        elif L & {"CLBBB", "CRBBB", "ILBBB", "IRBBB"}:
            g = "septal" if L & {"CRBBB", "IRBBB"} else "lateral"
        else:
            g = ("inferior", "lateral", "anterior", "anteroseptal")[int(rng.integers(4))]
        off = rng.uniform(0.008, 0.025)
        tm.add("notch", "notch", off, 0.006, local=b.group_local(g, -rng.uniform(0.15, 0.3) * max(p["volt"], 0.6)))
        b.want("ABQRS", LEAD_GROUPS[g][2], "conducted", "qrs")


_TERRITORY = {"AL": "anterolateral", "AS": "anteroseptal", "AN": "anterior", "IN": "inferior",
              "IL": "inferolateral", "LA": "lateral"}


def _knob_repolarisation(b, tm: Template) -> None:
    """Adds the T wave (QT from QTc and the record's mean RR, Bazett), then every ST-T knob."""
    L, rng, p = b.labels, b.rng, b.p
    qtc = p["qtc"]
    if "LNGQT" in L:
        qtc = rng.uniform(0.48, 0.56)
        b.want("LNGQT", LEADS, "conducted", "qt")
    if "DIG" in L:
        qtc = rng.uniform(0.33, 0.37)
    el_kind = None
    if "EL" in L:
        el_kind = "hyperK" if rng.random() < 0.5 else "hypoK"
        if el_kind == "hypoK":
            qtc = max(qtc, rng.uniform(0.46, 0.52))
    rr = 60.0 / max(b.hr, 30.0)
    qt = float(np.clip(qtc * np.sqrt(rr), 0.24, 0.6))
    override = p.get("t_override")
    b.add_t(tm, qt, *(override or ()))
    if el_kind == "hyperK":
        for i in tm.index("T2"):
            tm.sig[i] = 0.026
            tm.dip[i] = tm.dip[i] * rng.uniform(2.0, 2.8)
        for i in tm.index("T1"):
            tm.dip[i] = tm.dip[i] * 0.3
    if "st_local" in p:
        b.add_st(tm, None, 0, local=p["st_local"])
    if "t_v13" in p:
        b.set_t(tm, "posterior", p["t_v13"])
    if "LOWT" in L:
        tm.scale(("t",), rng.uniform(0.1, 0.25))
        b.want("LOWT", LEADS, "conducted", "t")
    if "DIG" in L:
        t_dir = tm.dip[tm.index("T2")[0]]
        tm.scale(("t",), rng.uniform(0.3, 0.5))
        b.add_st(tm, None, 0, center=0.06, sigma=0.055,
                 local=b.geom.matrix @ (-rng.uniform(0.25, 0.45) * t_dir / max(np.linalg.norm(t_dir), 1e-9) * p["t_amp"]))
        b.want("DIG", LEADS, "conducted", "stt")
    if el_kind == "hypoK":
        tm.scale(("t",), rng.uniform(0.25, 0.4))
        t2 = tm.index("T2")[0]
        tm.add("U", "u", tm.off[t2] + 0.16, 0.04, rng.uniform(0.25, 0.4) * p["t_amp"] * unit(0.5, 0.6, 0.8))
    if el_kind is not None:
        b.want("EL", LEADS, "conducted", "t")
    for g, amount in p.get("st_adds", []):
        b.add_st(tm, g, amount)
    for g, target in p.get("t_sets", []):
        b.set_t(tm, g, target)
    for code in sorted(L):
        if code[:3] in ("ISC", "INJ") and code != "ISC_":
            g = _TERRITORY[code[3:]]
            b.t_groups_used.add(g)
            inj = code.startswith("INJ")
            b.add_st(tm, g, -(rng.uniform(0.15, 0.3) if inj else rng.uniform(0.05, 0.12)), center=0.06 if inj else 0.07)
            b.set_t(tm, g, -rng.uniform(0.08, 0.2) if inj or rng.random() < 0.7 else rng.uniform(-0.02, 0.04))
            b.want(code, LEAD_GROUPS[g][2], "conducted", "stt")
    terr = ("lateral", "anterolateral", "inferior", "inferolateral", "anteroseptal")
    if "ISC_" in L:
        g = b.pick_group(terr)
        b.add_st(tm, g, -rng.uniform(0.05, 0.12))
        b.set_t(tm, g, -rng.uniform(0.05, 0.2))
        b.want("ISC_", LEAD_GROUPS[g][2], "conducted", "stt")
    if "STD_" in L:
        g = b.pick_group(("lateral", "anterolateral", "inferior", "inferolateral"))
        b.add_st(tm, g, -rng.uniform(0.07, 0.2), center=0.06)
        b.want("STD_", LEAD_GROUPS[g][2], "conducted", "st")
    if "STE_" in L:
        g = b.pick_group(("septal", "anteroseptal", "inferior"))
        b.add_st(tm, g, rng.uniform(0.1, 0.25), center=0.08, sigma=0.05)
        b.want("STE_", LEAD_GROUPS[g][2], "conducted", "st")
    if "NST_" in L:
        g = b.pick_group(terr)
        b.add_st(tm, g, -rng.uniform(0.03, 0.06))
        b.set_t(tm, g, rng.uniform(0.0, 0.06))
        b.want("NST_", LEAD_GROUPS[g][2], "conducted", "stt")
    if "NDT" in L:
        g = b.pick_group(("lateral", "inferior", "anterior", "anterolateral"))
        b.set_t(tm, g, rng.uniform(-0.06, 0.03))
        b.want("NDT", LEAD_GROUPS[g][2], "conducted", "t")
    if "NT_" in L:
        g = b.pick_group(("anterior", "lateral", "inferior", "anteroseptal"))
        b.set_t(tm, g, rng.uniform(-0.15, -0.07))
        for i in tm.index("T1"):        # early positive component: a biphasic T
            tm.loc[i] = tm.loc[i] + b.group_local(g, rng.uniform(0.1, 0.18))
        b.want("NT_", LEAD_GROUPS[g][2], "conducted", "t")
    if "INVT" in L:
        g = b.pick_group(("anteroseptal", "anterior", "lateral", "inferior", "anterolateral"))
        b.set_t(tm, g, -rng.uniform(0.15, 0.4))
        b.want("INVT", LEAD_GROUPS[g][2], "conducted", "t")


def _knob_atria(b, tm: Template) -> None:
    """P mitrale (LAO/LAE) and P pulmonale (RAO/RAE) on the sinus P template."""
    L, rng, pa = b.labels, b.rng, b.p["p_amp"]
    if "LAO/LAE" in L:
        for i in tm.index("P2"):
            tm.off[i] = rng.uniform(0.028, 0.036)
            tm.sig[i] = 0.018
            tm.dip[i] = rng.uniform(1.1, 1.4) * pa * unit(0.75, 0.4, -1.0)
        b.want("LAO/LAE", ("I", "II", "aVL", "V1"), "sinus_p", "p")
    if "RAO/RAE" in L:
        for i in tm.index("P1"):
            tm.sig[i] = 0.013
            tm.dip[i] = rng.uniform(0.25, 0.35) / 0.9 * unit(0.15, 0.9, 0.45)
        b.want("RAO/RAE", ("II", "III", "aVF", "V1"), "sinus_p", "p")
