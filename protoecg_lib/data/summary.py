"""What a loaded root holds: records, patients, labels per split, skipped records, source, checksums."""
from __future__ import annotations

from ..labels import LABEL_SETS
from .dataset import PTBXL, SPLITS

__all__ = ["summarize", "format_summary"]


def summarize(ds: PTBXL) -> dict:
    """A JSON-able summary of a loaded root (what ``protoecg data summary --json`` prints)."""
    recs = ds.records
    splits = {s: {"records": int((recs["split"] == s).sum()),
                  "patients": int(recs.loc[recs["split"] == s, "patient_id"].nunique())} for s in SPLITS}
    label_sets = {}
    for name, codes in LABEL_SETS.items():
        per_split = {s: ds.targets(name, s).sum(axis=0).astype(int) for s in SPLITS}
        positives = {c: {s: int(per_split[s][j]) for s in SPLITS} for j, c in enumerate(codes)}
        label_sets[name] = {
            "num_labels": len(codes),
            "present": sum(1 for c in codes if sum(positives[c].values()) > 0),
            "present_in_train": sum(1 for c in codes if positives[c]["train"] > 0),
            "positives": positives,
        }
    return {
        "root": str(ds.root),
        "source": ds.source,
        "sampling_rate": ds.fs,
        "records": len(recs),
        "patients": int(recs["patient_id"].nunique()),
        "splits": splits,
        "skipped": int(len(ds.skipped)),
        "skipped_reasons": ds.skipped["reason"].value_counts().to_dict() if len(ds.skipped) else {},
        "ages_over_89": int(recs["age_over_89"].sum()),
        "label_sets": label_sets,
        "checksums": ds.checksums,
        "statement_problems": ds.statement_problems,
    }


def format_summary(summary: dict) -> str:
    """The summary as a few readable lines for a terminal."""
    s = summary
    lines = [f"PTB-XL root {s['root']} ({s['source']}, {s['sampling_rate']} Hz)",
             f"  records {s['records']}, patients {s['patients']}, skipped {s['skipped']}"
             + (f" ({', '.join(f'{v} {k}' for k, v in s['skipped_reasons'].items())})" if s["skipped"] else "")]
    lines.append("  splits: " + ", ".join(f"{k} {v['records']} ({v['patients']} patients)" for k, v in s["splits"].items()))
    for name, ls in s["label_sets"].items():
        lines.append(f"  label set {name:<10} {ls['num_labels']:>2} labels, {ls['present']:>2} present, "
                     f"{ls['present_in_train']:>2} with training positives")
    ck = s["checksums"]
    if ck is None:
        lines.append("  checksums: no reference list in the root")
    else:
        lines.append(f"  checksums vs {ck['reference']}: " + (", ".join(f"{f} {'ok' if v else 'MISMATCH'}" for f, v in ck["files"].items()) or "nothing to check"))
    for p in s["statement_problems"]:
        lines.append(f"  scp_statements.csv: {p}")
    return "\n".join(lines)
