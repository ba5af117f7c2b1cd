"""``protoecg data``: summary, download and synthetic roots."""
from __future__ import annotations

import json
import sys
import warnings

__all__ = ["cmd_data_summary", "cmd_data_download", "cmd_data_synth"]


def cmd_data_summary(args) -> int:
    from ..data import format_summary, load_ptbxl, summarize

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


def cmd_data_download(args) -> int:
    from ..data.download import DownloadError, download_ptbxl, download_size

    subset = args.subset if args.subset == "full" else int(args.subset)
    method = getattr(args, "method", "auto")
    if not args.quiet:
        print(f"downloading {download_size(args.sampling_rate, subset, method)} into {args.root}", file=sys.stderr)
    try:
        report = download_ptbxl(args.root, sampling_rate=args.sampling_rate, subset=subset,
                                base_url=args.base_url, progress=not args.quiet, method=method)
    except DownloadError as exc:
        print(f"protoecg: download failed: {exc}", file=sys.stderr)
        if getattr(exc, "report", None) is not None:
            print(exc.report, file=sys.stderr)
        print("Run the same command again: finished files are kept and partial ones resume.", file=sys.stderr)
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

