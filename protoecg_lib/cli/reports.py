"""``protoecg calibrate``, ``evaluate``, ``diagnose`` and ``explain``: reading a finished run."""
from __future__ import annotations

import json
import sys

__all__ = ["cmd_calibrate", "cmd_evaluate", "cmd_diagnose", "cmd_explain"]


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
    """Metrics of a finished run from its saved predictions (spec §8.1)."""
    from ..evaluation.evaluate import evaluate_run, format_evaluation

    result = evaluate_run(args.run, args.split, n_boot=args.n_boot, seed=args.seed)
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        print(format_evaluation(result, per_label=args.per_label))
    return 0


def cmd_explain(args) -> int:
    """A case-based explanation of one ECG: JSON and one PNG per (label, prototype) (spec §7)."""
    from ..evaluation.explain import explain_run_ecg, save_explanation

    try:
        explanation = explain_run_ecg(args.run, args.ecg_id, top_k=args.top_k, threshold=args.threshold,
                                      max_labels=args.max_labels)
    except KeyError as exc:  # an ecg_id that is not in the run's data
        print(f"protoecg: error: {exc.args[0]}", file=sys.stderr)
        return 2
    paths = save_explanation(explanation, args.out)
    print(explanation.summary())
    print(f"\nwrote {paths[0]} and {len(paths) - 1} figure(s) to {args.out}")
    return 0

