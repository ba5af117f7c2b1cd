"""What each SCP statement does in the synthetic generator, which labels may co-occur, and how a
record's label set is drawn.

:data:`LABEL_PHYSIOLOGY` is the table the module docstring of :mod:`.synthetic` points to: for
every simulated statement, the physiology it produces and where its evidence sits.
:data:`NOT_SIMULATED` lists the statements that never appear in synthetic metadata, with why.
"""
from __future__ import annotations

import numpy as np

from ..labels import LABEL_SETS, statement

__all__ = [
    "LABEL_PHYSIOLOGY", "NOT_SIMULATED", "SIMULATED_LABELS", "BASE_RHYTHMS", "SINUS",
    "LEAD_GROUPS", "label_conflicts", "sample_label_set", "EPISODIC_LABELS", "INTERMITTENT_LABELS",
    "SPARSE_PHYSIOLOGY",
]

#: Lead groups: (frontal-plane angle of the limb-lead part or None, precordial weights, named leads).
#: The named leads are where a finding in that territory is read (and where its evidence lies);
#: the frontal vector also produces the reciprocal change in the opposite limb leads.
LEAD_GROUPS: dict[str, tuple[float | None, dict[str, float], tuple[str, ...]]] = {
    "inferior": (90.0, {}, ("II", "III", "aVF")),
    "lateral": (-30.0, {"V5": 1.0, "V6": 1.0}, ("I", "aVL", "V5", "V6")),
    "anterior": (None, {"V2": 0.4, "V3": 1.0, "V4": 1.0}, ("V3", "V4")),
    "anteroseptal": (None, {"V1": 1.0, "V2": 1.0, "V3": 1.0, "V4": 0.6}, ("V1", "V2", "V3", "V4")),
    "anterolateral": (-30.0, {"V3": 0.8, "V4": 1.0, "V5": 1.0, "V6": 1.0}, ("I", "aVL", "V3", "V4", "V5", "V6")),
    "inferolateral": (90.0, {"V5": 1.0, "V6": 1.0}, ("II", "III", "aVF", "V5", "V6")),
    "septal": (None, {"V1": 1.0, "V2": 1.0}, ("V1", "V2")),
    "posterior": (None, {"V1": 1.0, "V2": 1.0, "V3": 0.5}, ("V1", "V2", "V3")),
}

_ALL = "all 12 leads"
#: code -> what the generator renders and where the evidence lies.
LABEL_PHYSIOLOGY: dict[str, str] = {
    # rhythm branch
    "SR": "sinus P before every QRS, rate 60-100/min, mild respiratory HRV. Evidence: whole strip, " + _ALL,
    "SBRAD": "sinus rhythm at 40-59/min. Evidence: whole strip, " + _ALL,
    "STACH": "sinus rhythm at 101-150/min (QT shortens with RR, Bazett). Evidence: whole strip, " + _ALL,
    "SARRH": "sinus rhythm with respiratory RR modulation of +-9-16 % (0.15-0.35 Hz). Evidence: whole strip, " + _ALL,
    "AFIB": "no P waves, irregularly irregular RR (CV 0.15-0.3), 4-9 Hz fibrillatory baseline (f waves, "
            "largest in V1 and the inferior leads). Evidence: whole strip, " + _ALL,
    "AFLT": "saw-tooth flutter waves at 240-340/min (negative in II/III/aVF, positive in V1), fixed 2:1/3:1/4:1 "
            "or variable conduction. Evidence: whole strip, " + _ALL,
    "SVTAC": "regular narrow-complex tachycardia 150-220/min, P waves absent or retrograde. Evidence: whole strip, " + _ALL,
    "PSVT": "sinus rhythm interrupted by an abrupt run of narrow-complex tachycardia (150-220/min, started by a "
            "premature beat). Evidence: the run, " + _ALL,
    "PACE": "ventricular pacing (VVI or DDD with atrial spikes): a pacing spike before every wide LBBB-like QRS with "
            "superior axis and discordant T, fixed rate. Evidence: spike-to-QRS end of each paced beat, " + _ALL,
    "SVARR": "frequent atrial premature beats and short atrial runs (ectopic P, narrow QRS, sinus reset). "
             "Evidence: ectopic P onset to QRS end of each ectopic beat, " + _ALL,
    "BIGU": "every second beat premature (PVC, or PAC), coupled at 55-75 % of the RR. Evidence: each premature "
            "beat (QRS, with the ectopic P for PACs), " + _ALL,
    "TRIGU": "every third beat premature (PVC, or PAC). Evidence: each premature beat, " + _ALL,
    "1AVB": "PR interval 220-340 ms. Evidence: P onset to QRS onset of every conducted beat, " + _ALL,
    "2AVB": "Mobitz I (progressive PR prolongation then a dropped beat), Mobitz II or 2:1 block: P waves without "
            "QRS. Evidence: each non-conducted P wave, " + _ALL,
    "3AVB": "AV dissociation: sinus P waves at 60-100/min and an independent regular escape rhythm at 28-55/min "
            "(junctional narrow or ventricular wide). Evidence: whole strip, " + _ALL,
    "IVCD": "QRS widened to 115-140 ms without a bundle-branch pattern. Evidence: QRS of every conducted beat, " + _ALL,
    # morphology branch: conduction
    "CLBBB": "QRS 130-170 ms, no septal q, broad notched R in I/aVL/V5/V6, deep broad S/QS in V1-V3, discordant "
             "ST-T. Evidence: QRS in I, aVL, V1, V2, V5, V6",
    "ILBBB": "QRS 100-119 ms with LBBB pattern (no septal q, slurred R in I/V6). Evidence: QRS in I, aVL, V1, V5, V6",
    "CRBBB": "QRS 120-150 ms, late right-anterior R' (rsR' in V1/V2), broad S in I/V6, secondary T inversion "
             "V1-V3. Evidence: QRS in I, aVL, V1, V2, V5, V6",
    "IRBBB": "small R' in V1/V2 (rSr'), QRS 100-115 ms. Evidence: QRS in V1, V2, V6",
    "LAFB": "QRS axis -45 to -75 degrees, qR in I/aVL, rS in II/III/aVF. Evidence: QRS in the six limb leads",
    "LPFB": "QRS axis +100 to +140 degrees, rS in I/aVL, qR in III/aVF. Evidence: QRS in the six limb leads",
    "WPW": "short PR (80-110 ms) and a delta wave (slurred QRS upstroke), QRS ~120 ms, secondary T changes. "
           "Evidence: delta wave (QRS onset to R) of every beat, " + _ALL,
    "LPR": "PR interval 200-240 ms (with 1AVB: that PR). Evidence: P onset to QRS onset of every conducted beat, " + _ALL,
    # hypertrophy / voltage
    "LVH": "QRS voltage x1.6-2.1 (Sokolow-Lyon > 3.5 mV), more posterior QRS (deep S in V1/V2), QRS +8 %. "
           "Evidence: QRS in I, aVL, V1, V2, V5, V6",
    "VCLVH": "QRS voltage x1.5-1.9 without other change. Evidence: QRS in aVL, V1, V2, V5, V6",
    "HVOLT": "QRS voltage x1.7-2.2 in every lead. Evidence: QRS, " + _ALL,
    "LVOLT": "QRS voltage x0.3-0.45 (limb < 0.5 mV, chest < 1 mV). Evidence: QRS, " + _ALL,
    "RVH": "axis +100 to +150, tall R in V1 (R/S > 1), deep S in V5/V6, often right strain. Evidence: QRS in I, "
           "aVF, V1, V2, V5, V6",
    "SEHYP": "deep narrow septal Q (< 40 ms) in I, aVL, V5, V6 and tall septal r in V1/V2. Evidence: septal "
             "depolarisation in I, aVL, V1, V2, V5, V6",
    "LAO/LAE": "P mitrale: P >= 120 ms, bifid in II, deep negative terminal P in V1. Evidence: P waves in I, II, aVL, V1",
    "RAO/RAE": "P pulmonale: tall peaked P (> 0.25 mV) in II/III/aVF, prominent initial P in V1. Evidence: P waves "
               "in II, III, aVF, V1",
    # infarction (pathological Q >= 40 ms in the territory's leads)
    "IMI": "pathological Q in II, III, aVF (often with T inversion there). Evidence: Q in II, III, aVF",
    "ILMI": "Q in II, III, aVF, V5, V6. Evidence: Q there",
    "IPLMI": "inferior and lateral Q plus posterior mirror (tall R in V1/V2). Evidence: Q in II, III, aVF, V5, "
             "V6; R in V1, V2",
    "IPMI": "inferior Q plus posterior mirror (tall R in V1/V2). Evidence: Q in II, III, aVF; R in V1, V2",
    "PMI": "tall R and ST depression in V1-V3 with upright T (posterior mirror). Evidence: QRS in V1, V2; ST in V1-V3",
    "ASMI": "QS / Q in V1-V3 (V4), loss of septal r. Evidence: Q in V1-V4",
    "AMI": "Q in V3-V4 (V2). Evidence: Q in V3, V4",
    "ALMI": "Q in I, aVL, V3-V6. Evidence: Q there",
    "LMI": "Q in I, aVL, V5, V6. Evidence: Q there",
    "ANEUR": "persistent ST elevation (0.15-0.3 mV) with QS in V1-V4. Evidence: ST in V1-V4",
    "QWAVE": "Q waves: those of a co-occurring infarction, or else Q in one territory (inferior / lateral / "
             "anteroseptal). Evidence: the Q waves",
    "ABQRS": "fragmented / notched QRS in a territory (that of a co-occurring infarction or bundle-branch block "
             "when there is one). Evidence: QRS in the territory's leads",
    # ST-T
    "ISC_": "ST depression 0.05-0.12 mV and T inversion in a random territory. Evidence: ST-T there",
    "ISCAL": "ischaemic ST depression and T inversion in I, aVL, V3-V6. Evidence: ST-T there",
    "ISCAS": "ischaemic ST-T in V1-V4. Evidence: ST-T there",
    "ISCAN": "ischaemic ST-T in V3-V4. Evidence: ST-T there",
    "ISCIN": "ischaemic ST-T in II, III, aVF. Evidence: ST-T there",
    "ISCIL": "ischaemic ST-T in II, III, aVF, V5, V6. Evidence: ST-T there",
    "ISCLA": "ischaemic ST-T in I, aVL, V5, V6. Evidence: ST-T there",
    "INJAS": "subendocardial injury: marked horizontal/downsloping ST depression 0.15-0.3 mV with T inversion in "
             "V1-V4. Evidence: ST-T there",
    "INJAL": "subendocardial injury in I, aVL, V3-V6. Evidence: ST-T there",
    "INJIN": "subendocardial injury in II, III, aVF. Evidence: ST-T there",
    "INJIL": "subendocardial injury in II, III, aVF, V5, V6. Evidence: ST-T there",
    "INJLA": "subendocardial injury in I, aVL, V5, V6. Evidence: ST-T there",
    "STD_": "ST depression 0.07-0.2 mV in a territory, T unchanged. Evidence: ST there",
    "STE_": "ST elevation 0.1-0.25 mV in a territory (V1-V3 or inferior). Evidence: ST there",
    "NST_": "slight ST depression (0.03-0.06 mV) with T flattening in a territory. Evidence: ST-T there",
    "NDT": "flat or slightly negative T in a territory. Evidence: T there",
    "NT_": "biphasic T (positive then negative) in a territory. Evidence: T there",
    "INVT": "inverted T (-0.15 to -0.4 mV) in a territory. Evidence: T there",
    "LOWT": "T amplitude x0.1-0.25 in every lead. Evidence: T, " + _ALL,
    "LNGQT": "QTc 480-560 ms. Evidence: QRS onset to T end of every conducted beat, " + _ALL,
    # premature beats
    "PVC": "premature wide (140-180 ms) QRS without P, bizarre axis, discordant T, compensatory pause. "
           "Evidence: QRS of each PVC, " + _ALL,
    "PAC": "premature ectopic P (different axis) with a narrow QRS, non-compensatory pause. Evidence: ectopic P "
           "onset to QRS end, " + _ALL,
    # global branch
    "NORM": "sinus rhythm (SR/SBRAD/STACH/SARRH) and nothing else abnormal. Evidence: whole strip, " + _ALL,
    "DIG": "digitalis effect: scooped (sagging) ST depression, low T, short QTc (330-370 ms). Evidence: ST-T of "
           "every conducted beat, " + _ALL,
    "EL": "electrolyte / drug effect: either peaked narrow T (hyperkalaemia) or flat T with a prominent U wave and "
          "long QT(U) (hypokalaemia). Evidence: T (and U) of every conducted beat, " + _ALL,
}

#: Statements that never appear in synthetic metadata, and why.
NOT_SIMULATED: dict[str, str] = {
    "TAB_": "a generic 'T-wave abnormality' with no physiology of its own: any rendering would duplicate "
            "NDT / NT_ / INVT / LOWT",
    "PRC(S)": "'premature complex(es)' of unspecified origin: every concrete rendering is a PVC or a PAC",
}

#: The simulated statements in the 71-label order.
SIMULATED_LABELS: tuple[str, ...] = tuple(c for c in LABEL_SETS["all"] if c in LABEL_PHYSIOLOGY)
assert set(LABEL_PHYSIOLOGY) | set(NOT_SIMULATED) == set(LABEL_SETS["all"])
assert not set(LABEL_PHYSIOLOGY) & set(NOT_SIMULATED)

#: Mutually exclusive base rhythms (exactly one per sampled record).
BASE_RHYTHMS = ("SR", "SBRAD", "STACH", "SARRH", "AFIB", "AFLT", "SVTAC", "PSVT", "PACE", "3AVB")
SINUS = ("SR", "SBRAD", "STACH", "SARRH")

# Approximate PTB-XL v1.0.3 counts of the base rhythms (3AVB as the record's rhythm).
_BASE_COUNTS = {"SR": 16782, "AFIB": 1514, "STACH": 826, "SARRH": 772, "SBRAD": 637, "PACE": 296,
                "AFLT": 73, "SVTAC": 27, "PSVT": 24, "3AVB": 16}

# Rhythm modifiers: probability given an allowed base rhythm.
_MODIFIERS: tuple[tuple[str, float, tuple[str, ...]], ...] = (
    ("1AVB", 0.06, SINUS + ("PSVT",)), ("LPR", 0.03, SINUS), ("2AVB", 0.03, ("SR", "SBRAD", "SARRH")),
    ("IVCD", 0.05, SINUS + ("AFIB", "AFLT", "SVTAC", "PSVT", "3AVB")),
    ("PVC", 0.08, SINUS + ("AFIB",)), ("PAC", 0.05, SINUS),
    ("BIGU", 0.035, SINUS + ("AFIB",)), ("TRIGU", 0.03, SINUS + ("AFIB",)), ("SVARR", 0.035, SINUS),
)

# Morphology / global findings: (labels always present, approximate PTB-XL count, optional co-labels).
_FINDINGS: tuple[tuple[tuple[str, ...], int, tuple[tuple[str, float], ...]], ...] = (
    (("IMI",), 2143, (("QWAVE", 0.3), ("ABQRS", 0.25), ("LAFB", 0.1))),
    (("ASMI",), 1887, (("ABQRS", 0.2), ("QWAVE", 0.15))),
    (("NDT",), 1461, ()),
    (("LVH",), 1708, (("VCLVH", 0.4), ("STD_", 0.25), ("ISC_", 0.3), ("LAO/LAE", 0.1))),
    (("LAFB",), 1298, ()),
    (("ISC_",), 1019, (("STD_", 0.3),)),
    (("IRBBB",), 894, ()),
    (("ABQRS",), 500, ()),
    (("NST_",), 615, ()),
    (("ISCAL",), 527, (("STD_", 0.2),)),
    (("CRBBB",), 432, (("LAFB", 0.2), ("ABQRS", 0.1))),
    (("CLBBB",), 428, (("ABQRS", 0.5), ("LVH", 0.3))),
    (("ILMI",), 383, (("QWAVE", 0.3),)),
    (("LAO/LAE",), 341, ()),
    (("STD_",), 350, ()),
    (("VCLVH",), 300, ()),
    (("AMI",), 282, (("QWAVE", 0.2),)),
    (("ALMI",), 232, (("QWAVE", 0.2),)),
    (("LOWT",), 350, ()),
    (("NT_",), 340, ()),
    (("INVT",), 235, ()),
    (("QWAVE",), 150, ()),
    (("ISCIN",), 175, ()), (("INJAS",), 171, ()), (("LMI",), 161, ()), (("ISCIL",), 143, ()),
    (("LPFB",), 141, ()), (("ISCAS",), 135, ()), (("INJAL",), 116, ()), (("ISCLA",), 113, ()),
    (("RVH",), 102, (("RAO/RAE", 0.3),)), (("ANEUR",), 84, (("ASMI", 0.6), ("QWAVE", 0.3))),
    (("RAO/RAE",), 79, ()), (("WPW",), 64, ()), (("ILBBB",), 62, ()), (("IPLMI",), 41, ()),
    (("ISCAN",), 35, ()), (("IPMI",), 26, ()), (("SEHYP",), 24, ()), (("INJIN",), 14, ()),
    (("INJLA",), 13, ()), (("PMI",), 13, ()), (("INJIL",), 11, ()),
    (("LVOLT",), 145, ()), (("HVOLT",), 49, ()), (("STE_",), 22, ()), (("LNGQT",), 117, ()),
    (("DIG",), 181, (("NST_", 0.3),)), (("EL",), 97, ()),
)

_P_LABELS = {"1AVB", "LPR", "2AVB", "WPW", "PAC", "SVARR", "LAO/LAE", "RAO/RAE"}
_QRS_SHAPE = {"CLBBB", "ILBBB", "CRBBB", "IRBBB", "IVCD", "WPW", "LAFB", "LPFB", "LVH", "VCLVH", "HVOLT", "LVOLT",
              "RVH", "SEHYP", "ABQRS", "QWAVE", "IMI", "ILMI", "IPLMI", "IPMI", "PMI", "ASMI", "AMI", "ALMI", "LMI",
              "ANEUR"}
# Pairs / groups of which at most one may be present.
_EXCLUSIVE: tuple[frozenset[str], ...] = tuple(frozenset(g) for g in (
    BASE_RHYTHMS, ("BIGU", "TRIGU"), ("CLBBB", "CRBBB", "ILBBB", "IRBBB", "IVCD", "WPW"),
    ("LAFB", "LPFB", "CLBBB", "ILBBB"), ("LAFB", "RVH"), ("LVOLT", "HVOLT"), ("LVOLT", "LVH"), ("LVOLT", "VCLVH"),
    ("LNGQT", "DIG"), ("EL", "DIG"), ("WPW", "1AVB"), ("WPW", "LPR"), ("WPW", "2AVB"), ("2AVB", "BIGU"),
    ("2AVB", "TRIGU"), ("2AVB", "PVC"), ("2AVB", "PAC"), ("2AVB", "SVARR"),
    ("SEHYP", "CLBBB"), ("SEHYP", "ILBBB"), ("IMI", "ILMI", "IPLMI", "IPMI"), ("ASMI", "AMI", "ALMI"),
    ("LMI", "ALMI", "ILMI", "IPLMI"),
    ("PMI", "IPMI", "IPLMI"), ("RVH", "CLBBB"), ("SVARR", "BIGU"), ("SVARR", "TRIGU"),
    ("ISCAS", "INJAS"), ("ISCAL", "INJAL"), ("ISCIN", "INJIN"), ("ISCIL", "INJIL"), ("ISCLA", "INJLA"),
))


def label_conflicts(labels) -> list[str]:
    """Reasons why a label set cannot be rendered together (empty when it can)."""
    s = set(labels)
    problems = []
    for group in _EXCLUSIVE:
        both = sorted(s & group)
        if len(both) > 1:
            problems.append(f"{' and '.join(both)} are mutually exclusive")
    base = [b for b in BASE_RHYTHMS if b in s]
    base = base[0] if base else None
    if "NORM" in s and (base not in SINUS or len(s) != 2):
        problems.append("NORM goes only with exactly one of SR/SBRAD/STACH/SARRH and no other label")
    no_p_bases = ("AFIB", "AFLT", "SVTAC", "PACE")
    if base in no_p_bases and s & _P_LABELS:
        problems.append(f"{base} has no conducted sinus P waves, so it excludes {', '.join(sorted(s & _P_LABELS))}")
    if base in ("3AVB", "PSVT") and s & (_P_LABELS - {"LAO/LAE", "RAO/RAE", "1AVB"}):
        problems.append(f"{base} excludes {', '.join(sorted(s & (_P_LABELS - {'LAO/LAE', 'RAO/RAE', '1AVB'})))}")
    if base == "3AVB" and "1AVB" in s:
        problems.append("3AVB excludes 1AVB (no atrio-ventricular conduction)")
    if base == "PACE" and s - {"PACE", "PVC"}:
        problems.append(f"PACE (paced QRS) goes only with PVC, not {', '.join(sorted(s - {'PACE', 'PVC'}))}")
    if base in ("AFLT", "SVTAC", "PSVT", "3AVB") and s & {"PVC", "BIGU", "TRIGU"}:
        problems.append(f"{base} excludes premature-beat patterns (PVC/BIGU/TRIGU) in this generator")
    if "2AVB" in s and base not in (None, "SR", "SBRAD", "SARRH"):
        problems.append("2AVB needs a sinus base rhythm at or below 100/min (SR, SBRAD, SARRH)")
    return problems


#: Morphology findings the ``sparse`` evidence tier renders in a few beats only (evidence on those beats).
EPISODIC_LABELS = ("PVC", "PAC", "CRBBB", "CLBBB")
#: Of those, the conduction findings rendered *intermittently* in the sparse tier (1-3 consecutive beats).
INTERMITTENT_LABELS = ("CRBBB", "CLBBB")

# Sparse tier: probabilities of the episodic findings (ectopic beats given an allowed base rhythm;
# intermittent bundle-branch block given a sinus base rhythm).
_SPARSE_MODIFIERS = {"PVC": 0.3, "PAC": 0.3, "BIGU": 0.0, "TRIGU": 0.0, "SVARR": 0.0}
_SPARSE_INTERMITTENT_P = 0.3

#: What the ``sparse`` evidence tier changes (:func:`.root.write_synthetic_root` ``evidence='sparse'``).
SPARSE_PHYSIOLOGY: dict[str, str] = {
    "PVC": "1-2 isolated premature ventricular beats per record (never bigeminy/trigeminy); drawn with "
           "probability 0.3 given a sinus or AFIB base rhythm. Evidence: QRS of each PVC, all leads",
    "PAC": "1-2 isolated premature atrial beats (never an SVARR run); probability 0.3 given a sinus base rhythm. "
           "Evidence: ectopic P onset to QRS end of each PAC, all leads",
    "CRBBB": "intermittent right bundle-branch block: 1-3 consecutive conducted beats with the CRBBB QRS and "
             "secondary T changes, every other beat normal; probability 0.15 given a sinus base rhythm, and then "
             "the record has no other QRS/ST-T finding. Evidence: QRS of the blocked beats in I, aVL, V1, V2, V5, V6",
    "CLBBB": "intermittent left bundle-branch block, as CRBBB. Evidence: QRS of the blocked beats in I, aVL, "
             "V1, V2, V5, V6",
}


def _tempered(counts: np.ndarray, exponent: float) -> np.ndarray:
    w = np.asarray(counts, dtype=float) ** exponent
    return w / w.sum()


def sample_label_set(rng: np.random.Generator, prior_exponent: float = 0.5, norm_probability: float = 0.3,
                     max_findings: int = 3, sparse: bool = False) -> list[str]:
    """Draw one record's labels from the generative scheme (see :func:`.generate.sample_labels`).

    ``sparse=True`` draws the ``sparse`` evidence tier (:data:`SPARSE_PHYSIOLOGY`): isolated PVC/PAC
    more often, no bigeminy/trigeminy/SVARR, and intermittent CRBBB/CLBBB as the record's only
    QRS/ST-T finding (CRBBB/CLBBB are never drawn as ordinary, every-beat findings). With
    ``sparse=False`` the random stream is exactly that of the default tier.
    """
    if rng.random() < norm_probability:
        base = SINUS[rng.choice(4, p=[0.72, 0.1, 0.06, 0.12])]
        return _ordered({"NORM", base})
    bases = list(_BASE_COUNTS)
    base = bases[rng.choice(len(bases), p=_tempered(list(_BASE_COUNTS.values()), prior_exponent))]
    labels = {base}
    for code, p, allowed in _MODIFIERS:
        if sparse:
            p = _SPARSE_MODIFIERS.get(code, p)
        if base in allowed and rng.random() < p and not label_conflicts(labels | {code}):
            labels.add(code)
    if labels & {"BIGU", "TRIGU"}:
        labels.add("PAC" if (base in SINUS and rng.random() < 0.15) else "PVC")
    if "SVARR" in labels and rng.random() < 0.6:
        labels.add("PAC")
    if "1AVB" in labels and base in SINUS and rng.random() < 0.35:
        labels.add("LPR")
    weights = _tempered([c for _, c, _ in _FINDINGS], prior_exponent)
    k = rng.choice(max_findings + 1, p=_num_findings_p(max_findings))
    if k == 0 and labels == {base} and base in SINUS:
        k = 1    # a non-NORM sinus record has at least one finding
    if base == "PACE":
        k = 0
    if sparse and base in SINUS and rng.random() < _SPARSE_INTERMITTENT_P:
        code = INTERMITTENT_LABELS[int(rng.integers(len(INTERMITTENT_LABELS)))]
        if not label_conflicts(labels | {code}):
            return _ordered(labels | {code})   # the intermittent block is the record's only QRS/ST-T finding
    tries = 0
    while k > 0 and tries < 20:
        tries += 1
        core, _, extras = _FINDINGS[rng.choice(len(_FINDINGS), p=weights)]
        new = set(core) | {c for c, p in extras if rng.random() < p}
        if sparse and core[0] in INTERMITTENT_LABELS:
            continue                           # sparse tier: bundle-branch blocks are intermittent only
        if core[0] in labels:
            continue
        new = {c for c in new if not label_conflicts(labels | {c})}
        if core[0] not in new:
            continue
        labels |= new
        k -= 1
    return _ordered(labels)


def _num_findings_p(max_findings: int) -> np.ndarray:
    p = np.array([0.25, 0.4, 0.22, 0.13, 0.06, 0.03][:max_findings + 1])
    return p / p.sum()


def _ordered(labels) -> list[str]:
    """Labels in PTB-XL's scp_codes order: diagnostic, then form, then rhythm statements."""
    def key(code):
        s = statement(code)
        return (0 if s.diagnostic else 1 if s.form else 2, LABEL_SETS["all"].index(code))
    return sorted(labels, key=key)
