"""``protoecg evaluate`` and ``protoecg explain``: reading a finished run."""
from __future__ import annotations

import json
import sys

__all__ = ["cmd_evaluate", "cmd_explain"]


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

    if getattr(args, "record", None) is not None:
        from .records import cmd_explain_record

        return cmd_explain_record(args)

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

