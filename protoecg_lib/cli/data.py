"""``protoecg data``: summary, download and synthetic roots."""
from __future__ import annotations

import json
import sys
import warnings

from .errors import UsageError

__all__ = ["cmd_data_summary", "cmd_data_download", "cmd_data_synth", "load_data", "check_data_options"]


def load_data(args, strict: bool = False):
    """``load_ptbxl`` with the command's data options (``--sampling-rate``, ``--target-rate``,
    ``--skip-bad``, ``--unknown-codes``); call :func:`check_data_options` first."""
    from ..data import load_ptbxl

    return load_ptbxl(args.root, sampling_rate=args.sampling_rate, target_rate=args.target_rate, strict=strict,
                      on_bad_record="skip" if args.skip_bad else "raise", unknown_codes=args.unknown_codes)


def check_data_options(args, model_rate: int | None = None) -> None:
    """Refuse data options that cannot work, before anything is read (``model_rate``: the rate the
    model's presets take)."""
    if args.target_rate is not None and args.target_rate <= 0:
        raise UsageError(f"--target-rate {args.target_rate}: give a rate in Hz above 0")
    rate = args.target_rate or args.sampling_rate
    if model_rate is not None and rate != model_rate:
        raise UsageError(f"the presets take 10 s at {model_rate} Hz ({10 * model_rate} samples) but the data would be "
                         f"at {rate} Hz; pass --target-rate {model_rate} to resample the {args.sampling_rate} Hz "
                         "records")
    if args.root is not None and not args.root.exists():
        raise UsageError(f"--root {args.root} does not exist; pass the folder that holds ptbxl_database.csv")


def cmd_data_summary(args) -> int:
    from ..data import format_summary, summarize

    check_data_options(args)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = load_data(args, strict=args.strict)
    summary = summarize(ds)
    summary["warnings"] = [str(w.message) for w in caught]
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(format_summary(summary))
        for w in summary["warnings"]:
            print(f"  warning: {w}")
    return 0


def cmd_data_download(args) -> int:
    from ..data.download import DownloadError, download_ptbxl, download_size

    subset = args.subset if args.subset == "full" else int(args.subset)
    method = getattr(args, "method", "auto")
    if not args.quiet:
        print(f"downloading {download_size(args.sampling_rate, subset, method)} into {args.root}", file=sys.stderr)
    try:
        report = download_ptbxl(args.root, sampling_rate=args.sampling_rate, subset=subset,
                                base_url=args.base_url, progress=not args.quiet, method=method)
    except DownloadError as exc:   # the report first, the one line that says what failed and what to do last
        if getattr(exc, "report", None) is not None:
            print(exc.report, file=sys.stderr)
        print(f"protoecg: download failed: {exc}", file=sys.stderr)
        return 1
    print(report)
    return 0


def cmd_data_synth(args) -> int:
    from ..synthetic import write_synthetic_root

    try:
        path = write_synthetic_root(args.root, num_records=args.num_records, seed=args.seed,
                                    sampling_rates=tuple(args.sampling_rate), overwrite=args.overwrite,
                                    evidence=getattr(args, "evidence", None))
    except (FileExistsError, ValueError) as exc:
        print(f"protoecg: error: {exc}", file=sys.stderr)
        return 2
    tier = "" if getattr(args, "evidence", "default") in (None, "default") else f" ({args.evidence} evidence tier)"
    print(f"wrote a synthetic PTB-XL root with {args.num_records} records{tier} to {path}")
    return 0

