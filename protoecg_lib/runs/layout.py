"""The run directory's layout: every path of a run, spelled once.

::

    RUN/config.json                     the pipeline config, data root and options, versions, device
    RUN/manifest.json                   SHA-256, size and writing stage of every file a stage wrote
    RUN/metrics.jsonl                   one JSON object per epoch, every branch and stage
    RUN/<branch>/<stage>/best.pt        best checkpoint of a training stage (joint, prototypes,
    RUN/<branch>/<stage>/state.pt       classifier, feature_extractor) and its resume state
    RUN/<branch>/projected.pt           the branch right after projection
    RUN/<branch>/prototypes.json        prototype sources (one record per prototype)
    RUN/fusion/head_best.pt, state.pt   the fusion head's best weights and resume state
    RUN/model.pt                        the full ProtoECGNet (projected branches + fusion head)
    RUN/baseline/best.pt, state.pt      the black-box baseline
    RUN/predictions/<split>.csv         fused predictions; <split>_<who>.csv for a branch or the baseline
    RUN/calibration.json                the fused model's calibration (prior correction + Platt, fitted on val);
    RUN/calibration_<who>.json          the same for a branch or the baseline
    RUN/evaluation_<split>.json         what ``protoecg evaluate`` computes from the predictions
    RUN/summary.json                    the final table (written last: a run is complete when it exists)

Nothing else in the library builds these paths; stages, the CLI, the evaluation and the tests ask a
:class:`RunLayout`.
"""
from __future__ import annotations

from pathlib import Path

from ..labels import BRANCHES

__all__ = ["RunLayout", "TRAINING_STAGES", "PREDICTION_SPLITS", "MODEL_NAMES"]

#: Folders of the training stages below ``RUN/<branch>/``.
TRAINING_STAGES = ("feature_extractor", "prototypes", "joint", "classifier")
#: Splits whose predictions a run saves.
PREDICTION_SPLITS = ("val", "test")
#: Who predictions can belong to (``who`` of :meth:`RunLayout.predictions`), in report order.
MODEL_NAMES = ("fusion", *BRANCHES, "baseline")


class RunLayout:
    """Paths inside one run directory (nothing is created or read here).

    Parameters
    ----------
    root : path
        The run directory.
    """

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"RunLayout({str(self.root)!r})"

    # ------------------------------------------------------------------ run-level files
    @property
    def config(self) -> Path:
        return self.root / "config.json"

    @property
    def manifest(self) -> Path:
        """``RUN/manifest.json``: the SHA-256 of every file a stage wrote (:mod:`protoecg_lib.runs.manifest`)."""
        return self.root / "manifest.json"

    @property
    def manifest_lock(self) -> Path:
        """The lock file processes hold while updating the manifest."""
        return self.root / ".manifest.lock"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.jsonl"

    @property
    def summary(self) -> Path:
        return self.root / "summary.json"

    @property
    def model(self) -> Path:
        return self.root / "model.pt"

    def evaluation(self, split: str = "test") -> Path:
        return self.root / f"evaluation_{split}.json"

    # ------------------------------------------------------------------ branches and stages
    def stage_dir(self, owner: str, stage: str) -> Path:
        """``RUN/<owner>/<stage>``: a branch's training stage (``owner`` is a branch name)."""
        if stage not in TRAINING_STAGES:
            raise ValueError(f"unknown training stage {stage!r}; choose one of {TRAINING_STAGES}")
        return self.root / owner / stage

    def best(self, owner: str, stage: str) -> Path:
        return self.stage_dir(owner, stage) / "best.pt"

    def state(self, owner: str, stage: str) -> Path:
        return self.stage_dir(owner, stage) / "state.pt"

    def projected(self, branch: str) -> Path:
        return self.root / branch / "projected.pt"

    def prototypes(self, branch: str) -> Path:
        return self.root / branch / "prototypes.json"

    def branch_checkpoint(self, branch: str, which: str = "classifier") -> Path:
        """A branch's checkpoint: ``'joint'`` (before projection), ``'projected'`` or ``'classifier'``."""
        if which == "projected":
            return self.projected(branch)
        if which in ("joint", "classifier", "prototypes"):
            return self.best(branch, which)
        raise ValueError(f"which must be 'joint', 'prototypes', 'projected' or 'classifier'; got {which!r}")

    # ------------------------------------------------------------------ fusion and baseline
    @property
    def fusion_dir(self) -> Path:
        return self.root / "fusion"

    @property
    def baseline_dir(self) -> Path:
        return self.root / "baseline"

    @property
    def baseline(self) -> Path:
        return self.baseline_dir / "best.pt"

    # ------------------------------------------------------------------ calibration
    def calibration(self, who: str = "fusion") -> Path:
        """``RUN/calibration.json`` for the fused model, ``calibration_<who>.json`` otherwise."""
        if who not in MODEL_NAMES:
            raise ValueError(f"unknown model {who!r}; choose one of {MODEL_NAMES}")
        return self.root / ("calibration.json" if who == "fusion" else f"calibration_{who}.json")

    # ------------------------------------------------------------------ predictions
    def predictions(self, split: str = "test", who: str = "fusion") -> Path:
        """``RUN/predictions/<split>.csv`` for the fused model, ``<split>_<who>.csv`` otherwise."""
        if who not in MODEL_NAMES:
            raise ValueError(f"unknown model {who!r}; choose one of {MODEL_NAMES}")
        name = f"{split}.csv" if who == "fusion" else f"{split}_{who}.csv"
        return self.root / "predictions" / name
