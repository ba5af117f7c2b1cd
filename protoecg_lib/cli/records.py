"""``protoecg explain --record``, ``protoecg predict``, ``protoecg run pack`` and ``protoecg run record``:
a run on one's own ECGs, a run packed for others, and its headline figures as a small record."""
from __future__ import annotations

import json
import warnings
from pathlib import Path

from .errors import UsageError

__all__ = ["add_record_commands", "cmd_explain_record", "cmd_predict", "cmd_run_pack", "cmd_run_record"]


def add_record_commands(sub) -> None:
    """Add ``predict`` and ``run pack`` to the ``protoecg`` sub-commands."""
    p = sub.add_parser("predict", help="label probabilities of WFDB records (any 12-lead record: .dat or .mat "
                                       "signal, any rate) with a finished run, as a table or JSON")
    p.add_argument("--run", type=Path, required=True, help="run directory written by `protoecg pipeline`")
    p.add_argument("--record", type=Path, nargs="+", required=True, help="PATH.hea of each record")
    p.add_argument("--threshold", type=float, default=0.5, help="probability at which a label counts as predicted (runs without a calibration; a calibrated run lists its operating point's labels)")
    p.add_argument("--all-labels", action="store_true", help="list every label, not only the predicted ones")
    p.add_argument("--json", action="store_true", help="print JSON: {record: {label: probability}}")
    p.set_defaults(func=cmd_predict)

    run = sub.add_parser("run", help="finished run directories: pack one for others to fetch")
    rsub = run.add_subparsers(dest="run_command", required=True)
    p = rsub.add_parser("pack", help="RUN -> RUN.tar.gz and its SHA-256, for cached_run(url=..., sha256=...)")
    p.add_argument("run", type=Path, help="a finished run directory")
    p.add_argument("--out", type=Path, default=None, help="archive to write (default: RUN.tar.gz beside RUN)")
    p.add_argument("--include-state", action="store_true", help="also pack the resume states (state.pt)")
    p.set_defaults(func=cmd_run_pack)
    p = rsub.add_parser("record", help="RUN -> a small JSON of its headline figures (test AUROCs with CIs, "
                                       "calibration, budget, machine, commit), as the book's results page uses")
    p.add_argument("run", type=Path, help="a finished run directory")
    p.add_argument("--name", required=True, help="the record's name, e.g. fast-excerpt-s0")
    p.add_argument("--data", required=True, help="the data in words, e.g. 'PTB-XL excerpt, 488 records, 100 Hz'")
    p.add_argument("--group", default=None, help="records of one group (other seeds) are summarised together")
    p.add_argument("--command", default=None, help="the command that made the run, recorded as given")
    p.add_argument("--note", default="")
    p.add_argument("--out", type=Path, required=True, help="JSON file to write")
    p.set_defaults(func=cmd_run_record)


def cmd_explain_record(args) -> int:
    """``protoecg explain --record PATH.hea``: explain one WFDB record with the run (JSON + PNGs)."""
    from ..evaluation.explain import save_explanation
    from ..evaluation.external import explain_record

    data = None
    if args.data_root is not None:
        from ..runs import Run

        run = Run(args.run)
        options = {k: v for k, v in (run.config.get("data", {}).get("options") or {}).items()
                   if k in ("sampling_rate", "target_rate", "highpass", "standardize", "likelihood_threshold", "folds")}
        from ..data import load_ptbxl

        data = load_ptbxl(args.data_root, **options)
    with warnings.catch_warnings():  # what was done to the record is printed as its notes
        warnings.simplefilter("ignore", UserWarning)
        highlight = getattr(args, "highlight", "ig")
        explanation = explain_record(args.run, args.record, data=data, top_k=args.top_k, threshold=args.threshold,
                                     max_labels=args.max_labels, highlight=None if highlight == "none" else highlight)
    paths = save_explanation(explanation, args.out)
    print(explanation.summary())
    print(f"\nwrote {paths[0]} and {len(paths) - 1} figure(s) to {args.out}")
    return 0


def cmd_predict(args) -> int:
    """``protoecg predict``: probabilities per label of each record (table or JSON)."""
    from ..evaluation.external import predict_records

    if not 0.0 < args.threshold < 1.0:
        raise UsageError(f"--threshold {args.threshold}: give a probability between 0 and 1")
    with warnings.catch_warnings():  # what was done to each record is printed as its notes
        warnings.simplefilter("ignore", UserWarning)
        frame = predict_records(args.run, args.record)
    notes = frame.attrs.get("notes", {})
    chosen = frame.attrs.get("listed")     # a calibrated run: its operating point, not --threshold

    def predicted(rec, row):
        if chosen is not None:
            return chosen[rec]
        return [c for c, p in row.sort_values(ascending=False).items() if p >= args.threshold]

    if args.json:
        out = {rec: {"probabilities": {c: round(float(p), 6) for c, p in row.items()},
                     "predicted": predicted(rec, row), "notes": notes.get(rec, [])} for rec, row in frame.iterrows()}
        print(json.dumps(out, indent=1))
        return 0
    from ..labels import statement

    for rec, row in frame.iterrows():
        print(f"{rec}" + "".join(f"\n  note: {n}" for n in notes.get(rec, [])))
        shown = row.sort_values(ascending=False)
        if not args.all_labels:
            shown = shown[predicted(rec, row)]
            if chosen is not None:
                print("  calibrated probabilities; labels listed at the run's operating point (its expected label count)")
        if shown.empty:
            top = row.sort_values(ascending=False).head(3)
            print(f"  no label reaches {args.threshold:g}; highest: "
                  + ", ".join(f"{c} {p:.3f}" for c, p in top.items()))
            continue
        print(f"  {'label':<8} {'probability':>11}  statement")
        for code, p in shown.items():
            print(f"  {code:<8} {p:>11.3f}  {_describe(statement, code)}")
    return 0


def _describe(statement, code: str) -> str:
    try:
        return str(statement(code).description)
    except Exception:  # an unknown code in a foreign run: show the code alone
        return ""


def cmd_run_pack(args) -> int:
    """``protoecg run pack RUN``: a reproducible .tar.gz and its SHA-256."""
    from ..runs.archive import pack_run

    archive, digest = pack_run(args.run, args.out, include_state=args.include_state)
    size = archive.stat().st_size
    print(f"{archive}  ({size / 1e6:.1f} MB)\nsha256 {digest}  (also in {archive.name}.sha256)\n"
          f"publish it and fetch it with cached_run(url=URL, sha256=\"{digest}\")")
    return 0



def cmd_run_record(args) -> int:
    """``protoecg run record RUN --name N --data D --out FILE``: the run's headline record as JSON."""
    from ..runs.results import result_record, results_table, write_result_record

    try:
        rec = result_record(args.run, name=args.name, data=args.data, group=args.group, command=args.command,
                            note=args.note)
    except FileNotFoundError as err:
        raise UsageError(str(err)) from None
    write_result_record(rec, args.out)
    print(results_table([rec], "runs") + "\n" + results_table([rec], "auroc"), end="")
    print(f"wrote {args.out}")
    return 0
