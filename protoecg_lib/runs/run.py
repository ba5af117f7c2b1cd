"""A run directory, opened: what ``protoecg pipeline`` wrote, read back for evaluation and explanation.

Layout (DEVELOPING.md)::

    RUN/config.json            pipeline config, data root and source, versions
    RUN/metrics.jsonl          one record per epoch, every branch and stage
    RUN/<branch>/joint/        best.pt, state.pt        (joint training)
    RUN/<branch>/projected.pt  the branch right after projection
    RUN/<branch>/prototypes.json   prototype provenance
    RUN/<branch>/classifier/   best.pt                  (the branch's own classifier)
    RUN/fusion/                head_best.pt, state.pt
    RUN/model.pt               the full ProtoECGNet (projected branches + fusion head)
    RUN/baseline/best.pt       the black-box baseline
    RUN/predictions/<split>[_<who>].csv   ecg_id, patient_id, true_<code>, prob_<code>
    RUN/summary.json           the final table
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..labels import BRANCHES, label_set

__all__ = ["Run", "write_predictions"]


def write_predictions(path: Path, ecg_id, patient_id, labels, y_true, y_logit) -> Path:
    """Write per-record predictions: ``ecg_id, patient_id``, then ``true_<code>``, ``prob_<code>`` and
    ``logit_<code>`` per label (the logits keep the ranking where probabilities saturate)."""
    from ..evaluation.metrics import sigmoid

    y_logit = np.asarray(y_logit, dtype=np.float64)
    df = pd.DataFrame({"ecg_id": np.asarray(ecg_id), "patient_id": np.asarray(patient_id)})
    true = pd.DataFrame(np.asarray(y_true).astype(int), columns=[f"true_{c}" for c in labels])
    prob = pd.DataFrame(sigmoid(y_logit), columns=[f"prob_{c}" for c in labels])
    logit = pd.DataFrame(y_logit, columns=[f"logit_{c}" for c in labels])
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.concat([df, true, prob, logit], axis=1).to_csv(path, index=False, float_format="%.8g")
    return path


@dataclass
class Run:
    """A run directory written by :func:`protoecg_lib.training.pipeline.run_pipeline`."""

    path: Path

    def __post_init__(self):
        self.path = Path(self.path)
        if not (self.path / "config.json").is_file():
            raise FileNotFoundError(f"{self.path} is not a protoecg run directory (no config.json). "
                                    "Create one with `protoecg pipeline --out DIR`.")

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r}, complete={self.complete})"

    @property
    def config(self) -> dict:
        return json.loads((self.path / "config.json").read_text())

    @property
    def complete(self) -> bool:
        return (self.path / "summary.json").is_file()

    @property
    def summary(self) -> dict:
        p = self.path / "summary.json"
        if not p.is_file():
            raise FileNotFoundError(f"{p} is missing: the pipeline has not finished (run it again to resume)")
        return json.loads(p.read_text())

    def metrics(self) -> list[dict]:
        p = self.path / "metrics.jsonl"
        return [json.loads(l) for l in p.read_text().splitlines() if l.strip()] if p.is_file() else []

    def provenance(self, branch: str) -> list[dict]:
        from ..training.projection import load_provenance

        return load_provenance(self.path / branch / "prototypes.json")

    def predictions(self, split: str = "test", who: str = "fusion"):
        """:class:`~protoecg_lib.evaluation.metrics.Predictions` of ``who`` (``'fusion'``, a branch name, or
        ``'baseline'``) on ``split``."""
        from ..evaluation.metrics import read_predictions

        name = f"{split}.csv" if who == "fusion" else f"{split}_{who}.csv"
        return read_predictions(self.path / "predictions" / name)

    def load_model(self, map_location: str = "cpu"):
        """The full ProtoECGNet (projected branches, branch classifiers, fusion head), in eval mode."""
        from ..models.checkpoints import load_checkpoint

        model, _ = load_checkpoint(self.path / "model.pt", map_location=map_location)
        return model.eval()

    def load_branch(self, branch: str, which: str = "classifier", map_location: str = "cpu"):
        """One branch: ``'joint'`` (before projection), ``'projected'`` or ``'classifier'`` (final)."""
        from ..models.checkpoints import load_checkpoint

        path = {"joint": self.path / branch / "joint" / "best.pt", "projected": self.path / branch / "projected.pt",
                "classifier": self.path / branch / "classifier" / "best.pt"}[which]
        model, _ = load_checkpoint(path, map_location=map_location)
        return model.eval()

    def load_baseline(self, map_location: str = "cpu"):
        from ..models.checkpoints import load_checkpoint

        model, _ = load_checkpoint(self.path / "baseline" / "best.pt", map_location=map_location)
        return model.eval()

    def branch_labels(self, branch: str) -> tuple[str, ...]:
        if branch not in BRANCHES:
            raise ValueError(f"unknown branch {branch!r}; choose one of {BRANCHES}")
        return label_set(branch)
