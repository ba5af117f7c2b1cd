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
    from .data.synthetic import write_synthetic_root

    path = write_synthetic_root(args.root, num_records=args.num_records, seed=args.seed,
                                sampling_rates=tuple(args.sampling_rate), overwrite=args.overwrite)
    print(f"wrote a synthetic PTB-XL root with {args.num_records} records to {path}")
    return 0


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
