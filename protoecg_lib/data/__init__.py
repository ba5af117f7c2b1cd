"""PTB-XL data: metadata, signals through wfdb, physiological sanity, a memory-mapped cache,
preprocessing, splits, torch loaders and download. The synthetic generator is :mod:`protoecg_lib.synthetic`."""
from .dataset import FULL_NUM_RECORDS, PTBXL, SPLITS, Split, load_ptbxl
from .metadata import DEFAULT_FOLDS, DataError, FoldMapping, parse_scp_codes, read_metadata, targets_from_codes
from .preprocess import LeadStandardizer, highpass
from .records import read_record, resample
from .resolve import describe_source, resolve_root
from .sanity import SanityError, check_ecg_input
from .summary import format_summary, summarize
from .torchdata import SplitDataset, as_batch, make_loader, sample_weights

__all__ = [
    "PTBXL", "Split", "load_ptbxl", "SPLITS", "FULL_NUM_RECORDS",
    "DataError", "FoldMapping", "DEFAULT_FOLDS", "read_metadata", "parse_scp_codes", "targets_from_codes",
    "highpass", "LeadStandardizer", "read_record", "resample", "SanityError", "check_ecg_input",
    "resolve_root", "describe_source", "summarize", "format_summary",
    "SplitDataset", "make_loader", "sample_weights", "as_batch",
]
