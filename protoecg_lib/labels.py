"""The 71 SCP-ECG statements of PTB-XL and ProtoECGNet's three branch label sets.

The table below is PTB-XL v1.0.3's ``scp_statements.csv`` (code, description, statement-type
flags, diagnostic class and subclass) in the file's own row order, plus the ProtoECGNet branch of
every statement (method §1.4):

* ``rhythm``: 16 labels, read by the 1D branch with global prototypes;
* ``morphology``: 52 labels, read by the 2D branch with time-localised prototypes;
* ``global``: 3 labels (NORM, DIG, EL), read by the 2D branch with global prototypes.

Within a branch, labels keep the CSV's row order; the ``all`` set is the CSV order itself, which is
the order of the 71 outputs of the fusion classifier.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "Statement", "STATEMENTS", "BRANCHES", "LABEL_SETS", "LEADS", "BRANCH_OF",
    "label_set", "statement", "branch_of", "check_statements_csv",
]

#: Lead names in PTB-XL's storage order (PTB-XL's headers write AVR, AVL, AVF).
LEADS = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")

#: The three ProtoECGNet branches, in the order their similarities are concatenated for fusion.
BRANCHES = ("rhythm", "morphology", "global")


@dataclass(frozen=True)
class Statement:
    """One SCP-ECG statement as PTB-XL describes it, with its ProtoECGNet branch."""

    code: str
    description: str
    diagnostic: bool
    form: bool
    rhythm: bool
    superclass: str | None  # PTB-XL diagnostic_class (NORM, MI, STTC, CD, HYP) or None
    subclass: str | None    # PTB-XL diagnostic_subclass or None
    branch: str             # 'rhythm' | 'morphology' | 'global'

    @property
    def kinds(self) -> str:
        """Statement types as PTB-XL flags them, e.g. ``'diag/form'``."""
        names = [n for n, f in (("diag", self.diagnostic), ("form", self.form), ("rhythm", self.rhythm)) if f]
        return "/".join(names)


_S = Statement
STATEMENTS: tuple[Statement, ...] = (
    _S('NDT', 'non-diagnostic T abnormalities', True, True, False, 'STTC', 'STTC', 'morphology'),
    _S('NST_', 'non-specific ST changes', True, True, False, 'STTC', 'NST_', 'morphology'),
    _S('DIG', 'digitalis-effect', True, True, False, 'STTC', 'STTC', 'global'),
    _S('LNGQT', 'long QT-interval', True, True, False, 'STTC', 'STTC', 'morphology'),
    _S('NORM', 'normal ECG', True, False, False, 'NORM', 'NORM', 'global'),
    _S('IMI', 'inferior myocardial infarction', True, False, False, 'MI', 'IMI', 'morphology'),
    _S('ASMI', 'anteroseptal myocardial infarction', True, False, False, 'MI', 'AMI', 'morphology'),
    _S('LVH', 'left ventricular hypertrophy', True, False, False, 'HYP', 'LVH', 'morphology'),
    _S('LAFB', 'left anterior fascicular block', True, False, False, 'CD', 'LAFB/LPFB', 'morphology'),
    _S('ISC_', 'non-specific ischemic', True, False, False, 'STTC', 'ISC_', 'morphology'),
    _S('IRBBB', 'incomplete right bundle branch block', True, False, False, 'CD', 'IRBBB', 'morphology'),
    _S('1AVB', 'first degree AV block', True, False, False, 'CD', '_AVB', 'rhythm'),
    _S('IVCD', 'non-specific intraventricular conduction disturbance (block)', True, False, False, 'CD', 'IVCD', 'rhythm'),
    _S('ISCAL', 'ischemic in anterolateral leads', True, False, False, 'STTC', 'ISCA', 'morphology'),
    _S('CRBBB', 'complete right bundle branch block', True, False, False, 'CD', 'CRBBB', 'morphology'),
    _S('CLBBB', 'complete left bundle branch block', True, False, False, 'CD', 'CLBBB', 'morphology'),
    _S('ILMI', 'inferolateral myocardial infarction', True, False, False, 'MI', 'IMI', 'morphology'),
    _S('LAO/LAE', 'left atrial overload/enlargement', True, False, False, 'HYP', 'LAO/LAE', 'morphology'),
    _S('AMI', 'anterior myocardial infarction', True, False, False, 'MI', 'AMI', 'morphology'),
    _S('ALMI', 'anterolateral myocardial infarction', True, False, False, 'MI', 'AMI', 'morphology'),
    _S('ISCIN', 'ischemic in inferior leads', True, False, False, 'STTC', 'ISCI', 'morphology'),
    _S('INJAS', 'subendocardial injury in anteroseptal leads', True, False, False, 'MI', 'AMI', 'morphology'),
    _S('LMI', 'lateral myocardial infarction', True, False, False, 'MI', 'LMI', 'morphology'),
    _S('ISCIL', 'ischemic in inferolateral leads', True, False, False, 'STTC', 'ISCI', 'morphology'),
    _S('LPFB', 'left posterior fascicular block', True, False, False, 'CD', 'LAFB/LPFB', 'morphology'),
    _S('ISCAS', 'ischemic in anteroseptal leads', True, False, False, 'STTC', 'ISCA', 'morphology'),
    _S('INJAL', 'subendocardial injury in anterolateral leads', True, False, False, 'MI', 'AMI', 'morphology'),
    _S('ISCLA', 'ischemic in lateral leads', True, False, False, 'STTC', 'ISCA', 'morphology'),
    _S('RVH', 'right ventricular hypertrophy', True, False, False, 'HYP', 'RVH', 'morphology'),
    _S('ANEUR', 'ST-T changes compatible with ventricular aneurysm', True, False, False, 'STTC', 'STTC', 'morphology'),
    _S('RAO/RAE', 'right atrial overload/enlargement', True, False, False, 'HYP', 'RAO/RAE', 'morphology'),
    _S('EL', 'electrolytic disturbance or drug (former EDIS)', True, False, False, 'STTC', 'STTC', 'global'),
    _S('WPW', 'Wolf-Parkinson-White syndrome', True, False, False, 'CD', 'WPW', 'morphology'),
    _S('ILBBB', 'incomplete left bundle branch block', True, False, False, 'CD', 'ILBBB', 'morphology'),
    _S('IPLMI', 'inferoposterolateral myocardial infarction', True, False, False, 'MI', 'IMI', 'morphology'),
    _S('ISCAN', 'ischemic in anterior leads', True, False, False, 'STTC', 'ISCA', 'morphology'),
    _S('IPMI', 'inferoposterior myocardial infarction', True, False, False, 'MI', 'IMI', 'morphology'),
    _S('SEHYP', 'septal hypertrophy', True, False, False, 'HYP', 'SEHYP', 'morphology'),
    _S('INJIN', 'subendocardial injury in inferior leads', True, False, False, 'MI', 'IMI', 'morphology'),
    _S('INJLA', 'subendocardial injury in lateral leads', True, False, False, 'MI', 'AMI', 'morphology'),
    _S('PMI', 'posterior myocardial infarction', True, False, False, 'MI', 'PMI', 'morphology'),
    _S('3AVB', 'third degree AV block', True, False, False, 'CD', '_AVB', 'rhythm'),
    _S('INJIL', 'subendocardial injury in inferolateral leads', True, False, False, 'MI', 'IMI', 'morphology'),
    _S('2AVB', 'second degree AV block', True, False, False, 'CD', '_AVB', 'rhythm'),
    _S('ABQRS', 'abnormal QRS', False, True, False, None, None, 'morphology'),
    _S('PVC', 'ventricular premature complex', False, True, False, None, None, 'morphology'),
    _S('STD_', 'non-specific ST depression', False, True, False, None, None, 'morphology'),
    _S('VCLVH', 'voltage criteria (QRS) for left ventricular hypertrophy', False, True, False, None, None, 'morphology'),
    _S('QWAVE', 'Q waves present', False, True, False, None, None, 'morphology'),
    _S('LOWT', 'low amplitude T-waves', False, True, False, None, None, 'morphology'),
    _S('NT_', 'non-specific T-wave changes', False, True, False, None, None, 'morphology'),
    _S('PAC', 'atrial premature complex', False, True, False, None, None, 'morphology'),
    _S('LPR', 'prolonged PR interval', False, True, False, None, None, 'morphology'),
    _S('INVT', 'inverted T-waves', False, True, False, None, None, 'morphology'),
    _S('LVOLT', 'low QRS voltages in the frontal and horizontal leads', False, True, False, None, None, 'morphology'),
    _S('HVOLT', 'high QRS voltage', False, True, False, None, None, 'morphology'),
    _S('TAB_', 'T-wave abnormality', False, True, False, None, None, 'morphology'),
    _S('STE_', 'non-specific ST elevation', False, True, False, None, None, 'morphology'),
    _S('PRC(S)', 'premature complex(es)', False, True, False, None, None, 'morphology'),
    _S('SR', 'sinus rhythm', False, False, True, None, None, 'rhythm'),
    _S('AFIB', 'atrial fibrillation', False, False, True, None, None, 'rhythm'),
    _S('STACH', 'sinus tachycardia', False, False, True, None, None, 'rhythm'),
    _S('SARRH', 'sinus arrhythmia', False, False, True, None, None, 'rhythm'),
    _S('SBRAD', 'sinus bradycardia', False, False, True, None, None, 'rhythm'),
    _S('PACE', 'normal functioning artificial pacemaker', False, False, True, None, None, 'rhythm'),
    _S('SVARR', 'supraventricular arrhythmia', False, False, True, None, None, 'rhythm'),
    _S('BIGU', 'bigeminal pattern (unknown origin, SV or Ventricular)', False, False, True, None, None, 'rhythm'),
    _S('AFLT', 'atrial flutter', False, False, True, None, None, 'rhythm'),
    _S('SVTAC', 'supraventricular tachycardia', False, False, True, None, None, 'rhythm'),
    _S('PSVT', 'paroxysmal supraventricular tachycardia', False, False, True, None, None, 'rhythm'),
    _S('TRIGU', 'trigeminal pattern (unknown origin, SV or Ventricular)', False, False, True, None, None, 'rhythm'),
)
del _S

_BY_CODE = {s.code: s for s in STATEMENTS}

#: Label sets by name (the three branches and ``all``), each a tuple of codes in the order of method §1.4.
LABEL_SETS: dict[str, tuple[str, ...]] = {
    **{b: tuple(s.code for s in STATEMENTS if s.branch == b) for b in BRANCHES},
    "all": tuple(s.code for s in STATEMENTS),
}

#: Branch of every code.
BRANCH_OF: dict[str, str] = {s.code: s.branch for s in STATEMENTS}


def label_set(name: str) -> tuple[str, ...]:
    """Codes of a label set (``'rhythm'``, ``'morphology'``, ``'global'`` or ``'all'``) in the order of method §1.4."""
    try:
        return LABEL_SETS[name]
    except KeyError:
        raise ValueError(f"unknown label set {name!r}; choose one of {sorted(LABEL_SETS)}") from None


def statement(code: str) -> Statement:
    """The :class:`Statement` of an SCP code; a clear error for a code PTB-XL does not define."""
    try:
        return _BY_CODE[code]
    except KeyError:
        raise KeyError(f"unknown SCP code {code!r}: not one of PTB-XL's 71 statements") from None


def branch_of(code: str) -> str:
    """The ProtoECGNet branch that reads ``code``."""
    return statement(code).branch


def _flag(value: str) -> bool:
    return value.strip() not in ("", "0", "0.0", "nan")


def check_statements_csv(path: str | Path) -> list[str]:
    """Compare a PTB-XL ``scp_statements.csv`` with the built-in table.

    Returns a list of human-readable disagreements (empty when the file agrees): statements
    missing from either side, a different row order, or a different description, type flag or
    diagnostic class.
    """
    path = Path(path)
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    if not rows or "description" not in rows[0]:
        return [f"{path}: not a PTB-XL scp_statements.csv (no 'description' column)"]
    code_col = next(iter(rows[0]))  # the unnamed first column holds the code
    problems: list[str] = []
    file_codes = [r[code_col] for r in rows]
    missing = [c for c in LABEL_SETS["all"] if c not in file_codes]
    extra = [c for c in file_codes if c not in _BY_CODE]
    if missing:
        problems.append(f"{path}: lacks {len(missing)} built-in statement(s): {', '.join(missing)}")
    if extra:
        problems.append(f"{path}: has {len(extra)} statement(s) the built-in table does not know: {', '.join(extra)}")
    common = [c for c in file_codes if c in _BY_CODE]
    if common != [c for c in LABEL_SETS["all"] if c in common]:
        problems.append(f"{path}: statements are in a different order than PTB-XL v1.0.3")
    for r in rows:
        s = _BY_CODE.get(r[code_col])
        if s is None:
            continue
        if r["description"].strip() != s.description:
            problems.append(f"{path}: {s.code} description {r['description']!r} != built-in {s.description!r}")
        for col, val in (("diagnostic", s.diagnostic), ("form", s.form), ("rhythm", s.rhythm)):
            if col in r and _flag(r[col] or "") != val:
                problems.append(f"{path}: {s.code} column {col!r} is {r[col]!r}, built-in says {val}")
        cls = (r.get("diagnostic_class") or "").strip() or None
        if cls != s.superclass:
            problems.append(f"{path}: {s.code} diagnostic_class {cls!r} != built-in {s.superclass!r}")
    return problems
