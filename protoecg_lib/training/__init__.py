"""Training: the losses, the staged trainer, projection, and the pipeline as declared stages (method §3-§6).

Modules: :mod:`~protoecg_lib.training.losses` (every loss term), :mod:`~protoecg_lib.training.config`
(stage settings and presets), :mod:`~protoecg_lib.training.loop` (the shared epoch loop),
:mod:`~protoecg_lib.training.branch` (a branch's ``prototypes``/``joint``/``classifier`` stages),
:mod:`~protoecg_lib.training.heads` (linear heads on frozen features: classifier and fusion),
:mod:`~protoecg_lib.training.baseline` (the black-box baseline / feature extractor),
:mod:`~protoecg_lib.training.projection` (prototypes onto real training ECGs),
:mod:`~protoecg_lib.training.calibrate` (calibrated probabilities of a run, fitted on validation),
:mod:`~protoecg_lib.training.pipeline` (the stages in order) and :mod:`~protoecg_lib.training.cache`
(finished runs the book reuses).
"""
from .baseline import train_baseline
from .branch import set_stage, train_branch
from .cache import cached_run
from .calibrate import calibrate_layout, calibrate_run
from .config import STAGES, TrainConfig, stage_config, train_presets
from .heads import branch_features, fusion_criterion, predict_logits, train_head
from .loop import StageResult, fit_epochs
from .objective import LossWeights, PrototypeLoss
from .config import PipelineConfig, pipeline_config
from .pipeline import open_context, run_pipeline, run_stages
from .context import StageContext
from .stages import Stage, format_summary_table, optional_stages, pipeline_stages
from .projection import project_prototypes, source_similarities

__all__ = [
    "STAGES", "TrainConfig", "train_presets", "StageResult", "fit_epochs", "set_stage", "train_branch",
    "train_head", "fusion_criterion", "branch_features", "predict_logits", "train_baseline", "LossWeights",
    "PrototypeLoss", "project_prototypes", "source_similarities", "PipelineConfig", "pipeline_config", "Stage",
    "StageContext", "pipeline_stages", "optional_stages", "open_context", "run_stages", "run_pipeline",
    "format_summary_table", "cached_run", "stage_config", "calibrate_layout", "calibrate_run",
]
