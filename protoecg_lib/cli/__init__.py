"""The ``protoecg`` command (also ``python -m protoecg_lib``).

Groups: ``data`` (summary, download, synth), ``train``, ``pipeline``, ``calibrate``, ``evaluate``, ``diagnose``,
``explain`` (an ECG of the run's data, or ``--record`` any WFDB record), ``predict`` (records' probabilities),
``quality``, ``run pack``, ``run record``.
Each sub-command imports what it needs when it runs, so ``protoecg --help`` is instant.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .data import cmd_data_download, cmd_data_summary, cmd_data_synth
from .records import add_record_commands
from .reports import cmd_calibrate, cmd_diagnose, cmd_evaluate, cmd_explain, cmd_quality
from .training import cmd_pipeline, cmd_train

__all__ = ["main", "build_parser"]


def _add_root(p: argparse.ArgumentParser, required: bool = False) -> None:
    if required:
        p.add_argument("--root", type=Path, required=True, help="PTB-XL root (folder with ptbxl_database.csv)")
    else:
        p.add_argument("--root", type=Path, help="PTB-XL root (folder with ptbxl_database.csv); default: "
                                                 "$PROTOECG_DATA")


def _add_data_options(p: argparse.ArgumentParser) -> None:
    """The loader's options (``load_ptbxl``) that its error messages advise."""
    p.add_argument("--sampling-rate", type=int, choices=(100, 500), default=100,
                   help="read records100 (filename_lr) or records500 (filename_hr)")
    p.add_argument("--target-rate", type=int, default=None,
                   help="resample to this rate after reading (e.g. --sampling-rate 500 --target-rate 100)")
    p.add_argument("--skip-bad", action="store_true",
                   help="leave out broken or implausible records with one warning (on_bad_record='skip')")
    p.add_argument("--unknown-codes", choices=("error", "skip"), default="error",
                   help="an SCP code outside the 71 statements: stop (default) or drop it with a warning")


def _add_training_options(p: argparse.ArgumentParser) -> None:
    _add_root(p)
    _add_data_options(p)
    p.add_argument("--preset", choices=("auto", "fast", "paper"), default="auto",
                   help="model and training settings (paper: method §4.2-4.3; fast: CPU minutes; auto, the default: "
                        "paper on a GPU, fast on a CPU; PROTOECG_FAST=1 forces fast)")
    p.add_argument("--out", type=Path, required=True, help="run directory (resumed when it exists)")
    p.add_argument("--device", default=None, help="cuda, mps or cpu (default: the best available)")
    p.add_argument("--epochs", type=int, default=None, help="override the number of epochs of the network stages")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--restart", action="store_true", help="ignore finished steps in --out and start over")
    p.add_argument("--progress", action="store_true", help="progress bars per epoch")
    p.add_argument("--amp", action="store_true", help="float16 mixed precision on CUDA (default: float32 with TF32 "
                                                      "matrix products, as the paper trains)")


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = argparse.ArgumentParser(prog="protoecg", description="ProtoECGNet on PTB-XL: data, training, "
                                     "evaluation and case-based explanations.")
    parser.add_argument("--version", action="version", version=f"protoecg {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    data = sub.add_parser("data", help="PTB-XL data: summary, download, synthetic roots")
    dsub = data.add_subparsers(dest="data_command", required=True)

    p = dsub.add_parser("summary", help="records, patients, splits and labels of a root")
    _add_root(p)
    _add_data_options(p)
    p.add_argument("--strict", action="store_true", help="refuse a root with listed records missing")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_data_summary)

    p = dsub.add_parser("download", help="download PTB-XL v1.0.3 from PhysioNet with checksums and resume")
    _add_root(p, required=True)
    p.add_argument("--sampling-rate", type=int, choices=(100, 500), default=100)
    p.add_argument("--subset", default="full", help="'full' or a number N: the first N records by ecg_id")
    p.add_argument("--base-url", default=None, help="mirror URL (default: $PROTOECG_PHYSIONET_URL or PhysioNet)")
    p.add_argument("--method", choices=("auto", "zip", "files"), default="auto",
                   help="auto: PhysioNet's single zip for the full set, one request per file for a subset")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_data_download)

    p = dsub.add_parser("synth", help="write a synthetic PTB-XL root with ground-truth evidence")
    _add_root(p, required=True)
    p.add_argument("--num-records", type=int, default=1500)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--sampling-rate", type=int, nargs="+", choices=(100, 500), default=[100])
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--evidence", choices=("default", "sparse"), default="default",
                   help="evidence tier: 'sparse' renders episodic findings (isolated PVC/PAC, intermittent "
                        "bundle-branch block) in a few beats only, for localisation measures")
    p.set_defaults(func=cmd_data_synth)

    p = sub.add_parser("pipeline", help="all three branches: joint -> projection -> classifier, then fusion, "
                                        "test predictions, the black-box baseline and a summary table")
    _add_training_options(p)
    p.add_argument("--no-baseline", action="store_true", help="skip the black-box baseline")
    p.add_argument("--beat-timing", choices=("none", "rr"), default=None,
                   help="the rhythm branch also reads RR-interval features (default: the preset's choice, "
                        "rr for fast, none for paper)")
    p.add_argument("--pretrain-root", type=Path, default=None,
                   help="pretrain on this root first (a synthetic one, say; cached) and fine-tune on --root")
    p.set_defaults(func=cmd_pipeline)

    p = sub.add_parser("train", help="one training stage of one branch (method §4.1)")
    _add_training_options(p)
    p.add_argument("--branch", choices=("rhythm", "morphology", "global"))
    p.add_argument("--stage", required=True,
                   choices=("feature_extractor", "prototypes", "joint", "projection", "classifier", "fusion"))
    p.add_argument("--init", type=Path, default=None,
                   help="checkpoint to start from (a branch, or a feature extractor whose backbone is copied)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="metrics of a finished run from its saved predictions: AUROCs with patient "
                                        "bootstrap CIs, per-label table, F1 at validation-tuned thresholds, baseline")
    p.add_argument("--run", type=Path, required=True, help="run directory written by `protoecg pipeline`")
    p.add_argument("--split", choices=("test", "val"), default="test")
    p.add_argument("--n-boot", type=int, default=None, help="bootstrap resamples (default: the run's setting)")
    p.add_argument("--seed", type=int, default=None, help="bootstrap seed (default: the run's seed)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--per-label", action="store_true", help="also print the per-label table")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("calibrate", help="(re)fit calibrated probabilities of a finished run on its validation "
                                         "predictions (prior correction for pos_weight + Platt scaling)")
    p.add_argument("--run", type=Path, required=True, help="run directory written by `protoecg pipeline`")
    p.add_argument("--method", choices=("platt", "pooled", "temperature", "prior"), default=None,
                   help="default: the run's setting (platt)")
    p.add_argument("--operating-point", choices=("expected", "p50", "f1"), default=None,
                   help="how labels are listed (default: the run's setting, expected)")
    p.set_defaults(func=cmd_calibrate)

    p = sub.add_parser("diagnose", help="does each branch tell its labels apart? logit correlation across labels, "
                                        "latent cosine, similarity spread, per-label AUROC with training positives")
    p.add_argument("--run", type=Path, required=True, help="run directory written by `protoecg pipeline`")
    p.add_argument("--split", choices=("test", "val", "train"), default="test")
    p.add_argument("--stage", choices=("joint", "projected", "classifier"), default="classifier",
                   help="which checkpoint of each branch")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--per-label", action="store_true", help="also print per-label AUROCs")
    p.set_defaults(func=cmd_diagnose)

    p = sub.add_parser("explain", help="case-based explanation of one ECG: predicted labels, their prototypes "
                                       "ranked by contribution, source ECGs and matching windows (JSON + PNGs)")
    p.add_argument("--run", type=Path, required=True, help="run directory written by `protoecg pipeline`")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--ecg-id", type=int, help="an ECG of the run's data (e.g. one of predictions/test.csv)")
    which.add_argument("--record", type=Path, help="any 12-lead WFDB record, PATH.hea (.dat or .mat signal, any rate)")
    p.add_argument("--data-root", type=Path, default=None, help="with --record: the run's training root, when it "
                                                                "moved (the prototype figures show its ECGs)")
    p.add_argument("--out", type=Path, required=True, help="folder for the JSON and the figures")
    p.add_argument("--top-k", type=int, default=3, help="prototypes per label, for and against")
    p.add_argument("--threshold", type=float, default=0.5, help="probability at which a label counts as predicted (runs without a calibration; a calibrated run lists its operating point's labels)")
    p.add_argument("--max-labels", type=int, default=None, help="explain at most this many predicted labels "
                                                                "(the most probable; default: all)")
    p.add_argument("--highlight", choices=("ig", "gradient", "occlusion", "none"), default="ig",
                   help="faithful highlight shown beside the nominal window of time-localised prototypes "
                        "(default ig, chosen on validation; none: skip)")
    p.set_defaults(func=cmd_explain)

    p = sub.add_parser("quality", help="do the explanations point at the evidence? localisation (pointing game, "
                                       "lift over chance with bootstrap CIs) and deletion, per highlight method")
    p.add_argument("--run", type=Path, required=True, help="run directory written by `protoecg pipeline`")
    p.add_argument("--split", choices=("test", "val"), default="test")
    p.add_argument("--evidence", type=Path, default=None,
                   help="evidence JSON (default: the synthetic root's, or ectopic beats detected in a real root)")
    p.add_argument("--methods", nargs="+", default=["window", "occlusion", "gradient", "ig"],
                   choices=("window", "occlusion", "gradient", "ig"))
    p.add_argument("--labels", default=None, help="comma-separated labels (default: the root's episodic labels)")
    p.add_argument("--max-pairs", type=int, default=None, help="a seeded random subset of (ECG, prototype) pairs")
    p.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples of records for the lift CI")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_quality)

    add_record_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; an expected error (bad input, a damaged or missing file) is one line on stderr and
    exit status 2, never a traceback. The library's error types are all ValueErrors (``DataError``,
    ``SanityError``, ``CheckpointError``, ``RunFileError``, ``UsageError``) or FileNotFoundError/KeyError."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError, KeyError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        print(f"protoecg: error: {' '.join(str(message).split())}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
