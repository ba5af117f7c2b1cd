"""Deprecated location (0.1): the pipeline moved to :mod:`protoecg_lib.training` in 0.2; this alias
goes in 0.3."""
import warnings

from .training import cached_run, format_summary_table, pipeline_config, run_pipeline  # noqa: F401
from .training.config import PipelineConfig  # noqa: F401

warnings.warn("protoecg_lib.pipeline moved to protoecg_lib.training (import cached_run, run_pipeline, "
              "pipeline_config from there); this alias is removed in 0.3", FutureWarning, stacklevel=2)
