"""The sparse evidence tier's episodic findings: intermittent bundle-branch block in a few beats.

In the ``sparse`` tier (:class:`.generate.SyntheticConfig` ``evidence='sparse'``) an intermittent
label of :data:`.findings.INTERMITTENT_LABELS` (CRBBB, CLBBB) is drawn in 1-3 consecutive conducted
beats only (template key ``'Nx'``); every other beat keeps the normal conducted template, and the
label's evidence lies on the blocked beats only (selector ``episodic`` of ``protoecg_lib.synthetic.record``). Isolated
PVCs and PACs need no template of their own: ``protoecg_lib.synthetic.record`` draws 1-2 of them per record.
"""
from __future__ import annotations

import copy

from .findings import INTERMITTENT_LABELS
from .knobs import conducted_template
from .waves import Template

__all__ = ["is_sparse", "intermittent_templates", "mark_intermittent"]


def is_sparse(cfg) -> bool:
    """True when a generator config asks for the ``sparse`` evidence tier."""
    return getattr(cfg, "evidence", "default") == "sparse"


def intermittent_templates(b) -> tuple[Template, Template | None]:
    """Conducted template(s): ``(normal, blocked)`` for an intermittent block of the sparse tier.

    The normal template is built on a copy of the builder without the intermittent label (its draws
    do not touch the record's random stream); the blocked one is the record's own conducted template,
    and the intermittent label's evidence request is re-targeted to the blocked beats only.
    """
    codes = b.labels & set(INTERMITTENT_LABELS) if is_sparse(b.cfg) else set()
    if not codes:
        return conducted_template(b), None
    normal_builder = copy.deepcopy(b)
    normal_builder.labels = b.labels - codes
    normal_builder.requests = []
    normal = conducted_template(normal_builder)
    blocked = conducted_template(b)
    b.requests = [(label, leads, "episodic" if label in codes else sel, seg) for label, leads, sel, seg in b.requests]
    return normal, blocked


def mark_intermittent(b, beats: list, duration: float) -> None:
    """Sparse tier: 1-3 consecutive conducted sinus beats (inside the strip) take the blocked template ``Nx``."""
    idx = [i for i, bt in enumerate(beats) if bt.kind == "N" and bt.vt == "N" and 0.6 <= bt.r <= duration - 0.6]
    if not idx:
        return
    n = int(b.rng.integers(1, 4))
    first = int(b.rng.integers(0, max(1, len(idx) - n + 1)))
    for i in idx[first:first + n]:
        beats[i].vt = "Nx"
