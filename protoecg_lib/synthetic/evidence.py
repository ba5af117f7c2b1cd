"""Ground-truth evidence of synthetic records: where (leads, seconds) each label's finding lies.

``synthetic_evidence.json`` holds, per ecg_id and label, a list of spans; :func:`evidence_mask`
turns spans into a ``(12, T)`` mask at any sampling rate.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np

from ..labels import LEADS

__all__ = ["EVIDENCE_FILE", "EvidenceSpan", "load_evidence", "evidence_mask"]


EVIDENCE_FILE = "synthetic_evidence.json"


_LEAD_INDEX = {name.upper(): i for i, name in enumerate(LEADS)}


@dataclass(frozen=True)
class EvidenceSpan:
    """Where evidence for a label lies: lead names and a time span in seconds (valid at any fs)."""

    leads: tuple[str, ...]
    start: float
    end: float

    def to_dict(self) -> dict:
        return {"leads": list(self.leads), "start": self.start, "end": self.end}

    @classmethod
    def from_dict(cls, d: Mapping) -> "EvidenceSpan":
        return cls(tuple(d["leads"]), float(d["start"]), float(d["end"]))


def _evidence_of(plan) -> dict[str, list[EvidenceSpan]]:
    return {label: [EvidenceSpan(tuple(leads), float(s), float(e)) for leads, s, e in spans]
            for label, spans in plan.evidence.items()}


def load_evidence(root: str | Path) -> dict[int, dict[str, list[EvidenceSpan]]]:
    """Read ``synthetic_evidence.json``: ecg_id -> label -> list of :class:`EvidenceSpan`."""
    path = Path(root) / EVIDENCE_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: {root} is not a synthetic root (only synthetic data carry "
                                "ground-truth evidence); generate one with write_synthetic_root or synthetic_root")
    raw = json.loads(path.read_text())
    return {int(eid): {label: [EvidenceSpan.from_dict(s) for s in spans] for label, spans in per.items()}
            for eid, per in raw.items()}


def evidence_mask(spans: Iterable[EvidenceSpan | Mapping], fs: float, num_samples: int) -> np.ndarray:
    """Boolean mask of where evidence lies.

    Parameters
    ----------
    spans : iterable of EvidenceSpan (or dicts with leads/start/end)
    fs : float
        Sampling rate of the signal the mask is for.
    num_samples : int
        T.

    Returns
    -------
    ndarray, shape (12, T), bool: True on the span's leads from sample floor(start fs) up to,
    not including, ceil(end fs) (clipped to the record).
    """
    mask = np.zeros((12, num_samples), dtype=bool)
    for span in spans:
        if isinstance(span, Mapping):
            span = EvidenceSpan.from_dict(span)
        try:
            rows = [_LEAD_INDEX[name.upper()] for name in span.leads]
        except KeyError as e:
            raise ValueError(f"unknown lead name {e.args[0]!r} in evidence span; leads are {LEADS}") from None
        a = max(0, int(np.floor(span.start * fs + 1e-9)))       # tolerate 9.95 * 100 = 994.999...
        b = min(num_samples, int(np.ceil(span.end * fs - 1e-9)))
        if b > a:
            mask[np.ix_(rows, np.arange(a, b))] = True
    return mask
