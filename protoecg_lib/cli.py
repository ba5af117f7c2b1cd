"""The ``protoecg`` command (also ``python -m protoecg_lib``).

Groups: ``data`` (summary, download, synth), ``train``, ``pipeline``, ``evaluate``, ``explain``.
Each sub-command imports what it needs when it runs, so ``protoecg --help`` is instant.
"""
from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

__all__ = ["main", "build_parser"]


def _add_root(p: argparse.ArgumentParser, required: bool = False) -> None:
    p.add_argument("--root", type=Path, required=required,
                   help="PTB-XL root (folder with ptbxl_database.csv); default: $PROTOECG_DATA")


def _cmd_data_summary(args) -> int:
    from .data import format_summary, load_ptbxl, summarize

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = load_ptbxl(args.root, sampling_rate=args.sampling_rate, strict=args.strict,
                        on_bad_record="skip" if args.skip_bad else "raise")
    summary = summarize(ds)
    summary["warnings"] = [str(w.message) for w in caught]
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(format_summary(summary))
        for w in summary["warnings"]:
            print(f"  warning: {w}")
    return 0


def _cmd_data_download(args) -> int:
    from .data.download import PHYSIONET_URL, DownloadError, download_ptbxl

    subset = args.subset if args.subset == "full" else int(args.subset)
    try:
        report = download_ptbxl(args.root, sampling_rate=args.sampling_rate, subset=subset,
                                base_url=args.base_url or PHYSIONET_URL, progress=not args.quiet)
    except DownloadError as exc:
        print(f"protoecg: download failed: {exc}", file=sys.stderr)
        if getattr(exc, "report", None) is not None:
            print(exc.report, file=sys.stderr)
        print("Run the same command again: finished files are kept and partial ones resume.", file=sys.stderr)
        return 1
    print(report)
    return 0


def _cmd_data_synth(args) -> int:
    from .synthetic import write_synthetic_root

    try:
        path = write_synthetic_root(args.root, num_records=args.num_records, seed=args.seed,
                                    sampling_rates=tuple(args.sampling_rate), overwrite=args.overwrite)
    except (FileExistsError, ValueError) as exc:
        print(f"protoecg: error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote a synthetic PTB-XL root with {args.num_records} records to {path}")
    return 0


def _cmd_pipeline(args) -> int:
    from .training.pipeline import pipeline_config, run_pipeline

    config = pipeline_config(args.preset, baseline=not args.no_baseline, seed=args.seed)
    if args.epochs is not None:
        for stage in ("joint", "feature_extractor", "prototypes"):
            config.train[stage] = config.train[stage].replace(num_epochs=args.epochs)
    run_pipeline(args.root, out=args.out, config=config, device=args.device, resume=not args.restart,
                 progress=args.progress)
    return 0


def _cmd_train(args) -> int:
    """One stage of one branch (or the fusion head), reading earlier stages from the run directory."""
    from .models.checkpoints import load_checkpoint
    from .labels import BRANCHES
    from .models import ProtoBranch
    from .training.pipeline import (_start_run, open_context, pipeline_config, step_baseline, step_classifier, step_fusion,
                           step_joint, step_projection)

    config = pipeline_config(args.preset, seed=args.seed)
    if args.epochs is not None and args.stage in config.train:
        config.train[args.stage] = config.train[args.stage].replace(num_epochs=args.epochs)
    ctx = open_context(args.root, out=args.out, config=config, device=args.device, resume=not args.restart,
                       progress=args.progress)
    out = Path(args.out)
    if not (out / "config.json").is_file():
        _start_run(ctx)

    def need(path: Path, what: str) -> Path:
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing: run the {what} stage first "
                                    f"(`protoecg train --stage {what} ...` with the same --out)")
        return path

    if args.stage == "fusion":
        branches = {n: load_checkpoint(need(out / n / "classifier" / "best.pt", "classifier"))[0] for n in BRANCHES}
        step_fusion(ctx, branches)
        print(f"fusion model written to {out / 'model.pt'}")
        return 0
    if args.branch is None:
        raise SystemExit("protoecg train: --branch is required for this stage")
    name = args.branch
    if args.stage == "feature_extractor":
        from .models.baseline import BaselineConfig

        bc = config.model.branches[name]
        ctx.config.baseline = BaselineConfig(backbone=bc.backbone, label_set=bc.label_set, base_width=bc.base_width,
                                             dropout=bc.dropout, name=f"{name}-feature-extractor")
        step_baseline(ctx, folder=out / name / "feature_extractor")
        print(f"feature extractor written to {out / name / 'feature_extractor' / 'best.pt'}; start joint "
              f"training from it with --stage joint --init that file")
        return 0
    if args.stage in ("joint", "prototypes"):
        init = None
        if args.init is not None:
            init, _ = load_checkpoint(args.init)
            if not isinstance(init, ProtoBranch):  # a feature extractor: copy its backbone into a new branch
                fe = init
                init = ProtoBranch(config.model.branches[name])
                init.backbone.load_state_dict(fe.backbone.state_dict(), strict=True)
                print(f"[{name}] backbone initialised from the feature extractor {args.init}")
        if args.stage == "joint":
            step_joint(ctx, name, init=init)
        else:
            from .training.trainer import train_branch

            branch = init or load_checkpoint(need(out / name / "joint" / "best.pt", "joint"))[0]
            train_branch(branch, ctx.ds, "prototypes", config.train["prototypes"], out / name / "prototypes",
                         device=ctx.device, resume=ctx.resume, log_path=ctx.log_path)
        return 0
    if args.stage == "projection":
        src = args.init or need(out / name / "joint" / "best.pt", "joint")
        step_projection(ctx, load_checkpoint(src)[0])
        return 0
    if args.stage == "classifier":
        src = args.init or need(out / name / "projected.pt", "projection")
        step_classifier(ctx, load_checkpoint(src)[0])
        return 0
    raise SystemExit(f"unknown stage {args.stage!r}")


def _cmd_evaluate(args) -> int:
    """Metrics of a finished run from its saved predictions (spec §8.1)."""
    from .evaluation.evaluate import evaluate_run, format_evaluation

    result = evaluate_run(args.run, args.split, n_boot=args.n_boot, seed=args.seed)
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        print(format_evaluation(result, per_label=args.per_label))
    return 0


def _cmd_explain(args) -> int:
    """A case-based explanation of one ECG: JSON and one PNG per (label, prototype) (spec §7)."""
    from .evaluation.explain import explain_run_ecg, save_explanation

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


def _add_training_options(p: argparse.ArgumentParser) -> None:
    _add_root(p)
    p.add_argument("--preset", choices=("fast", "paper"), default="fast",
                   help="model and training settings (paper: spec §4.2-4.3; fast: CPU minutes)")
    p.add_argument("--out", type=Path, required=True, help="run directory (resumed when it exists)")
    p.add_argument("--device", default=None, help="cuda, mps or cpu (default: the best available)")
    p.add_argument("--epochs", type=int, default=None, help="override the number of epochs of the network stages")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--restart", action="store_true", help="ignore finished steps in --out and start over")
    p.add_argument("--progress", action="store_true", help="progress bars per epoch")


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(prog="protoecg", description="ProtoECGNet on PTB-XL: data, training, "
                                     "evaluation and case-based explanations.")
    parser.add_argument("--version", action="version", version=f"protoecg {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    data = sub.add_parser("data", help="PTB-XL data: summary, download, synthetic roots")
    dsub = data.add_subparsers(dest="data_command", required=True)

    p = dsub.add_parser("summary", help="records, patients, splits and labels of a root")
    _add_root(p)
    p.add_argument("--sampling-rate", type=int, choices=(100, 500), default=100)
    p.add_argument("--strict", action="store_true", help="refuse a root with listed records missing")
    p.add_argument("--skip-bad", action="store_true", help="skip broken records instead of failing")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_cmd_data_summary)

    p = dsub.add_parser("download", help="download PTB-XL v1.0.3 from PhysioNet with checksums and resume")
    _add_root(p, required=True)
    p.add_argument("--sampling-rate", type=int, choices=(100, 500), default=100)
    p.add_argument("--subset", default="full", help="'full' or a number N: the first N records by ecg_id")
    p.add_argument("--base-url", default=None, help="mirror URL (default: PhysioNet)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_data_download)

    p = dsub.add_parser("synth", help="write a synthetic PTB-XL root with ground-truth evidence")
    _add_root(p, required=True)
    p.add_argument("--num-records", type=int, default=1500)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--sampling-rate", type=int, nargs="+", choices=(100, 500), default=[100])
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=_cmd_data_synth)

    p = sub.add_parser("pipeline", help="all three branches: joint -> projection -> classifier, then fusion, "
                                        "test predictions, the black-box baseline and a summary table")
    _add_training_options(p)
    p.add_argument("--no-baseline", action="store_true", help="skip the black-box baseline")
    p.set_defaults(func=_cmd_pipeline)

    p = sub.add_parser("train", help="one training stage of one branch (spec §4.1)")
    _add_training_options(p)
    p.add_argument("--branch", choices=("rhythm", "morphology", "global"))
    p.add_argument("--stage", required=True,
                   choices=("feature_extractor", "prototypes", "joint", "projection", "classifier", "fusion"))
    p.add_argument("--init", type=Path, default=None,
                   help="checkpoint to start from (a branch, or a feature extractor whose backbone is copied)")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("evaluate", help="metrics of a finished run from its saved predictions: AUROCs with patient "
                                        "bootstrap CIs, per-label table, F1 at validation-tuned thresholds, baseline")
    p.add_argument("--run", type=Path, required=True, help="run directory written by `protoecg pipeline`")
    p.add_argument("--split", choices=("test", "val"), default="test")
    p.add_argument("--n-boot", type=int, default=None, help="bootstrap resamples (default: the run's setting)")
    p.add_argument("--seed", type=int, default=None, help="bootstrap seed (default: the run's seed)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--per-label", action="store_true", help="also print the per-label table")
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("explain", help="case-based explanation of one ECG: predicted labels, their prototypes "
                                       "ranked by contribution, source ECGs and matching windows (JSON + PNGs)")
    p.add_argument("--run", type=Path, required=True, help="run directory written by `protoecg pipeline`")
    p.add_argument("--ecg-id", type=int, required=True, help="the ECG to explain (e.g. one of predictions/test.csv)")
    p.add_argument("--out", type=Path, required=True, help="folder for the JSON and the figures")
    p.add_argument("--top-k", type=int, default=3, help="prototypes per label, for and against")
    p.add_argument("--threshold", type=float, default=0.5, help="probability at which a label counts as predicted")
    p.add_argument("--max-labels", type=int, default=None, help="explain at most this many predicted labels "
                                                                "(the most probable; default: all)")
    p.set_defaults(func=_cmd_explain)

    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from .data.metadata import DataError

    try:
        return int(args.func(args) or 0)
    except (DataError, FileNotFoundError) as exc:
        print(f"protoecg: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
