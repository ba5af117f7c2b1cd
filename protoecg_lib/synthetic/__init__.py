"""A synthetic PTB-XL: 12-lead ECGs with known labels and known evidence, in PTB-XL's own layout.

The generator (beat and rhythm models, label knobs, evidence spans, the PTB-XL-layout writer) is
independent of the real-data loader: it writes a root that :func:`protoecg_lib.data.load_ptbxl`
reads like any PTB-XL download. See :mod:`protoecg_lib.synthetic.root` for the design.
"""
from .evidence import EVIDENCE_FILE, EvidenceSpan, evidence_mask, load_evidence
from .findings import EPISODIC_LABELS, INTERMITTENT_LABELS, LABEL_PHYSIOLOGY, NOT_SIMULATED, SIMULATED_LABELS, \
    SPARSE_PHYSIOLOGY
from .generate import EVIDENCE_TIERS, BeatAnatomy, SyntheticConfig, describe_beat, generate_record, record_rng, sample_labels
from .root import GENERATOR_VERSION, MARKER, TIERS, read_marker, synthetic_root, write_synthetic_root
from .writer import PTBXL_COLUMNS

__all__ = [
    "SyntheticConfig", "EvidenceSpan", "BeatAnatomy", "TIERS", "GENERATOR_VERSION", "MARKER", "EVIDENCE_FILE",
    "LABEL_PHYSIOLOGY", "NOT_SIMULATED", "SIMULATED_LABELS", "PTBXL_COLUMNS",
    "EVIDENCE_TIERS", "EPISODIC_LABELS", "INTERMITTENT_LABELS", "SPARSE_PHYSIOLOGY",
    "sample_labels", "generate_record", "describe_beat", "record_rng",
    "write_synthetic_root", "synthetic_root", "read_marker", "load_evidence", "evidence_mask",
]
