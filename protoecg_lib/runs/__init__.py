"""The run directory: its layout, the typed records it holds, and :class:`Run` to read it back.

A run is what ``protoecg pipeline --out RUN`` writes (see :mod:`protoecg_lib.runs.layout`); every
module that reads or writes one goes through :class:`RunLayout` and the records here.
"""
from .layout import MODEL_NAMES, PREDICTION_SPLITS, TRAINING_STAGES, RunLayout
from .manifest import RunFileError, damaged_files, forget_files, record_files, verify_file
from .records import (Predictions, PrototypeSource, load_prototype_sources, read_predictions,
                      save_prototype_sources, source_summary, write_predictions)
from .probabilities import probabilities
from .run import Run

__all__ = ["Run", "RunLayout", "TRAINING_STAGES", "PREDICTION_SPLITS", "MODEL_NAMES", "PrototypeSource",
           "save_prototype_sources", "load_prototype_sources", "source_summary", "Predictions",
           "write_predictions", "read_predictions", "RunFileError", "record_files", "forget_files", "verify_file",
           "damaged_files", "probabilities"]
