"""``protoecg calibrate``, ``evaluate``, ``diagnose``, ``explain`` and ``quality``: reading a finished run."""
from __future__ import annotations

import json
import sys

__all__ = ["cmd_calibrate", "cmd_evaluate", "cmd_diagnose", "cmd_explain", "cmd_quality"]


def cmd_calibrate(args) -> int:
    """(Re)fit every model's calibration on its validation predictions; rewrite the prob_ columns."""
    from ..training.calibrate import calibrate_run

    cals = calibrate_run(args.run, method=args.method, operating_point=args.operating_point)
    for who, cal in cals.items():
        print(f"{who:<11} pooled slope {cal.info['pooled_slope']:.3g}, offset {cal.info['pooled_offset']:+.3g}, "
              f"method {cal.method}, operating point {cal.info['operating_point']}")
    print(f"wrote calibration*.json in {args.run} and calibrated prob_ columns in {args.run}/predictions; "
          "`protoecg evaluate` reports ECE and labels per ECG")
    return 0


def cmd_diagnose(args) -> int:
    """Collapse diagnostics of a run, per branch and for the fused model and the baseline."""
    from ..evaluation.diagnostics import format_diagnostics, run_diagnostics

    diags = run_diagnostics(args.run, args.split, stage=args.stage)
    if args.json:
        print(json.dumps({k: d.to_dict() for k, d in diags.items()}, indent=1, default=float))
    else:
        print(format_diagnostics(diags, per_label=args.per_label))
    return 0


def cmd_evaluate(args) -> int:
    """Metrics of a finished run from its saved predictions (method §8.1)."""
    from ..evaluation.evaluate import evaluate_run, format_evaluation

    result = evaluate_run(args.run, args.split, n_boot=args.n_boot, seed=args.seed)
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        print(format_evaluation(result, per_label=args.per_label))
    return 0


def cmd_explain(args) -> int:
    """A case-based explanation of one ECG: JSON and one PNG per (label, prototype) (method §7)."""
    from ..evaluation.explain import explain_run_ecg, save_explanation

    if getattr(args, "record", None) is not None:
        from .records import cmd_explain_record

        return cmd_explain_record(args)

    try:
        highlight = getattr(args, "highlight", "ig")
        explanation = explain_run_ecg(args.run, args.ecg_id, top_k=args.top_k, threshold=args.threshold,
                                      max_labels=args.max_labels, highlight=None if highlight == "none" else highlight)
    except KeyError as exc:  # an ecg_id that is not in the run's data
        print(f"protoecg: error: {exc.args[0]}", file=sys.stderr)
        return 2
    paths = save_explanation(explanation, args.out)
    print(explanation.summary())
    print(f"\nwrote {paths[0]} and {len(paths) - 1} figure(s) to {args.out}")
    return 0



def cmd_quality(args) -> int:
    """Do the explanations point at the evidence? Localisation (pointing game) and deletion per highlight."""
    from ..evaluation.quality import public_report, run_quality

    try:
        result = run_quality(args.run, split=args.split, evidence=args.evidence, methods=tuple(args.methods),
                             n_boot=args.n_boot, max_pairs=args.max_pairs,
                             labels=args.labels.split(",") if args.labels else None)
    except ValueError as exc:
        print(f"protoecg: error: {exc}", file=sys.stderr)
        return 2
    public = public_report(result, args.run)
    if args.json:
        print(json.dumps(public, indent=1, default=float))
        return 0
    print(f"localisation on the {result['split']} fold ({result['evidence']}; labels {result['labels']}), "
          "pointing game: does the highlight's peak fall on the evidence?")
    print(f"{'method':14s}{'pairs':>7s}{'ECGs':>6s}{'hit':>8s}{'chance':>8s}{'lift':>7s}{'95% CI':>16s}"
          f"{'segment lift':>14s}{'deletion top/random':>22s}")
    for m, r in result["localisation"].items():
        d = result["deletion"].get(m, {})
        lift = float("nan") if r["lift"] is None else r["lift"]
        seg = float("nan") if r["segment"]["lift"] is None else r["segment"]["lift"]
        print(f"{m:14s}{r['pairs']:7d}{r['ecgs']:6d}{r['hit_rate']:8.3f}{r['chance']:8.3f}{lift:7.2f}"
              f"  [{r['lift_ci'][0]:5.2f}, {r['lift_ci'][1]:5.2f}]{seg:14.2f}"
              f"{d.get('similarity_drop_top', float('nan')):13.3f}/{d.get('similarity_drop_random', float('nan')):.3f}")
    if not result["localisation"]:
        print("no (prototype, ECG) pair with evidence on this fold: nothing to measure")
    return 0
