"""A run directory, opened: what ``protoecg pipeline`` wrote, read back for evaluation and explanation.

``Run(path)`` reads config, metrics, prototype sources, predictions, checkpoints and the evaluation
through :class:`~protoecg_lib.runs.layout.RunLayout`, and loads the data the run was trained on
(:meth:`Run.load_data`).
"""
from __future__ import annotations

import json
from pathlib import Path

from ..labels import BRANCHES, label_set
from .layout import RunLayout
from .manifest import manifest_entry, rerun_hint, verify_file
from .records import PrototypeSource, Predictions, load_prototype_sources, read_predictions

__all__ = ["Run"]

#: Options of ``load_ptbxl`` a run records and :meth:`Run.load_data` passes back.
_DATA_OPTIONS = ("sampling_rate", "target_rate", "highpass", "standardize", "likelihood_threshold", "folds",
                 "on_bad_record", "unknown_codes")


class Run:
    """A run directory written by :func:`protoecg_lib.training.run_pipeline`.

    Parameters
    ----------
    path : path
        The run directory; it must hold ``config.json``.
    """

    def __init__(self, path: str | Path):
        self.layout = RunLayout(path)
        if not self.layout.config.is_file():
            raise FileNotFoundError(f"{self.path} is not a protoecg run directory (no config.json). "
                                    "Create one with `protoecg pipeline --out DIR`.")

    @property
    def path(self) -> Path:
        return self.layout.root

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r}, complete={self.complete})"

    def __eq__(self, other) -> bool:
        return isinstance(other, Run) and self.path == other.path

    def __hash__(self) -> int:
        return hash(self.path)

    # ------------------------------------------------------------------ records
    @property
    def config(self) -> dict:
        return json.loads(self.layout.config.read_text())

    @property
    def complete(self) -> bool:
        return self.layout.summary.is_file()

    @property
    def summary(self) -> dict:
        p = self.layout.summary
        if not p.is_file():
            raise FileNotFoundError(f"{p} is missing: the pipeline has not finished (run it again to resume)")
        return json.loads(p.read_text())

    def metrics(self) -> list[dict]:
        """One record per epoch of every stage (``metrics.jsonl``)."""
        p = self.layout.metrics
        return [json.loads(line) for line in p.read_text().splitlines() if line.strip()] if p.is_file() else []

    def evaluation(self, split: str = "test") -> dict:
        """What ``protoecg evaluate`` wrote for ``split`` (``evaluation_<split>.json``)."""
        p = self.layout.evaluation(split)
        if not p.is_file():
            raise FileNotFoundError(f"{p} is missing: run `protoecg evaluate --run {self.path} --split {split}`")
        return json.loads(p.read_text())

    def prototype_sources(self, branch: str) -> list[PrototypeSource]:
        """Where each prototype of ``branch`` was projected (``<branch>/prototypes.json``)."""
        self._check_branch(branch)
        verify_file(self.layout, self.layout.prototypes(branch))
        return load_prototype_sources(self.layout.prototypes(branch))

    def all_prototype_sources(self) -> dict[str, list[PrototypeSource]]:
        """``{branch: prototype_sources(branch)}`` for the three branches."""
        return {b: self.prototype_sources(b) for b in BRANCHES}

    def predictions(self, split: str = "test", who: str = "fusion") -> Predictions:
        """Predictions of ``who`` (``'fusion'``, a branch name, or ``'baseline'``) on ``split``."""
        verify_file(self.layout, self.layout.predictions(split, who))
        return read_predictions(self.layout.predictions(split, who))

    def calibration(self, who: str = "fusion"):
        """The :class:`~protoecg_lib.evaluation.calibration.Calibration` of ``who`` (``'fusion'``, a branch
        name or ``'baseline'``), or None for a run without one (written before calibration existed, or
        with ``calibration=None``; ``protoecg calibrate --run RUN`` adds it)."""
        from ..evaluation.calibration import Calibration

        path = self.layout.calibration(who)
        return Calibration.load(path) if path.is_file() else None

    # ------------------------------------------------------------------ models
    def load_checkpoint(self, path: Path, map_location: str = "cpu"):
        """A checkpoint of this run, checked against the run's manifest first; either problem (a changed
        file, or one torch cannot or will not read) is one line that names the stage to re-run."""
        from ..models.checkpoints import CheckpointError, load_checkpoint

        verify_file(self.layout, path)
        try:
            model, _ = load_checkpoint(path, map_location=map_location)
        except CheckpointError as err:
            entry = manifest_entry(self.layout, path)
            raise CheckpointError(f"{err} {rerun_hint(self.layout, entry and entry.get('stage'))}") from None
        return model.eval()

    def load_model(self, map_location: str = "cpu"):
        """The full ProtoECGNet (projected branches, branch classifiers, fusion head), in eval mode."""
        return self.load_checkpoint(self.layout.model, map_location)

    def load_branch(self, branch: str, which: str = "classifier", map_location: str = "cpu"):
        """One branch: ``'joint'`` (before projection), ``'projected'`` or ``'classifier'`` (final)."""
        self._check_branch(branch)
        return self.load_checkpoint(self.layout.branch_checkpoint(branch, which), map_location)

    def load_baseline(self, map_location: str = "cpu"):
        """The black-box baseline, in eval mode."""
        return self.load_checkpoint(self.layout.baseline, map_location)

    # ------------------------------------------------------------------ data
    def load_data(self):
        """The PTB-XL root the run was trained on, loaded with the same options (``config.json``)."""
        from ..data import load_ptbxl

        data = self.config.get("data", {})
        root = data.get("root")
        if not root or not (Path(root) / "ptbxl_database.csv").is_file():
            raise FileNotFoundError(f"{self.path}: the run was trained on the PTB-XL root {root!r}, which is not "
                                    "there; load the data yourself and pass data=load_ptbxl(ROOT)")
        options = dict(data.get("options") or {})
        return load_ptbxl(root, **{k: options[k] for k in _DATA_OPTIONS if k in options})

    def branch_labels(self, branch: str) -> tuple[str, ...]:
        self._check_branch(branch)
        return label_set(branch)

    @staticmethod
    def _check_branch(branch: str) -> None:
        if branch not in BRANCHES:
            raise ValueError(f"unknown branch {branch!r}; choose one of {BRANCHES}")
