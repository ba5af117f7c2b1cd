"""Does a branch tell its labels apart? Collapse diagnostics for a branch or a run (issue 16).

A prototype branch can reach a respectable validation AUROC on its dominant labels while scoring
every label alike: sigmoid latents are all positive, so with un-centred latents every latent points
roughly along ``(1, ..., 1)``, every prototype similarity rises and falls with the same "common
mode", and under the fixed +1/-0.5 last layer every class logit is about the same multiple of the
mean similarity. These numbers show it:

* ``logit_correlation``: mean pairwise Pearson correlation, across ECGs, between the logits of two
  labels (1 = every label ranks the ECGs identically; a healthy multi-label model is near 0);
* ``latent_cosine``: mean pairwise cosine between the latents of two ECGs (1 = all latents parallel);
* ``similarity_spread``: mean over prototypes of the standard deviation of the similarity across ECGs,
  and ``similarity_common_mode``: the share of the similarities' variance on their first principal
  component (1 = one number per ECG explains every prototype);
* per label: AUROC (ranked by logits), test and **training** positives, so a label that has no
  training positive (and can only be guessed) is visible and can be left out of the macro.

:func:`branch_diagnostics` computes them for one branch (a :class:`~protoecg_lib.models.ProtoBranch`
or a run's branch) on one split; :func:`prediction_diagnostics` needs only logits (any model, from a
run's prediction CSVs); :func:`run_diagnostics` does every branch, the fusion model and the baseline
of a run; :func:`format_diagnostics` prints them (``protoecg diagnose --run RUN``). Splits other than
``val`` and ``test`` have no saved predictions, so the fusion model and the baseline are reported on
those two only.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from .auroc import auroc_per_label

__all__ = [
    "logit_correlation", "latent_cosine", "similarity_spread", "label_table", "BranchDiagnostics",
    "branch_diagnostics", "prediction_diagnostics", "run_diagnostics", "format_diagnostics",
]


def logit_correlation(logits: np.ndarray) -> float:
    """Mean pairwise Pearson correlation across ECGs between label columns of ``logits (N, C)``.

    Columns that are constant over the ECGs (no ranking at all) are left out; NaN when fewer than
    two columns remain.
    """
    x = np.asarray(logits, np.float64)
    x = x[:, x.std(axis=0) > 1e-12]
    if x.shape[1] < 2:
        return float("nan")
    c = np.corrcoef(x, rowvar=False)                       # (C', C')
    iu = np.triu_indices_from(c, k=1)
    return float(np.mean(c[iu]))


def latent_cosine(latent: np.ndarray) -> float:
    """Mean pairwise cosine between ECG latents ``(N, D)`` (2D latents flattened), diagonal excluded."""
    z = np.asarray(latent, np.float64).reshape(len(latent), -1)
    z = z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12)
    g = z @ z.T                                            # (N, N)
    n = len(z)
    if n < 2:
        return float("nan")
    return float((g.sum() - np.trace(g)) / (n * (n - 1)))


def similarity_spread(similarity: np.ndarray) -> dict:
    """How much prototype similarities ``(N, P)`` vary across ECGs, and how much of it is shared.

    Returns
    -------
    dict
        ``mean`` (mean similarity), ``spread`` (mean over prototypes of the std across ECGs),
        ``common_mode`` (share of the centred similarities' variance on the first principal
        component), ``prototype_correlation`` (mean pairwise correlation between prototypes).
    """
    s = np.asarray(similarity, np.float64)
    centred = s - s.mean(axis=0, keepdims=True)
    var = np.linalg.svd(centred, compute_uv=False) ** 2 if centred.size else np.zeros(1)
    return {"mean": float(s.mean()), "spread": float(s.std(axis=0).mean()),
            "common_mode": float(var[0] / var.sum()) if var.sum() > 0 else float("nan"),
            "prototype_correlation": logit_correlation(s)}


def label_table(y_true: np.ndarray, logits: np.ndarray, labels, train_positives) -> pd.DataFrame:
    """Per label: AUROC ranked by logits, positives in the evaluated split and in the training split.

    Columns ``label, auroc, positives, negatives, train_positives, skipped``.
    """
    table = auroc_per_label(y_true, logits, labels).reset_index().rename(columns={"support": "positives"})
    table["train_positives"] = np.asarray(train_positives, int)
    return table[["label", "auroc", "positives", "negatives", "train_positives", "skipped"]]


def _macros(table: pd.DataFrame) -> dict:
    ok = table["auroc"].notna()
    trained = ok & (table["train_positives"] > 0)
    return {"macro_auroc": float(table.loc[ok, "auroc"].mean()) if ok.any() else float("nan"),
            "macro_auroc_trained": float(table.loc[trained, "auroc"].mean()) if trained.any() else float("nan"),
            "labels_evaluated": int(ok.sum()), "labels_trained": int(trained.sum())}


@dataclass
class BranchDiagnostics:
    """Collapse diagnostics of one model on one split (see the module notes).

    Attributes
    ----------
    who : str
        ``'rhythm'``, ``'morphology'``, ``'global'``, ``'fusion'`` or ``'baseline'``.
    split : str
    logit_correlation : float
    macro_auroc : float
        Over labels with a positive and a negative in the split.
    macro_auroc_trained : float
        The same, only over labels that also have a training positive.
    labels : pandas.DataFrame
        :func:`label_table`.
    latent_cosine : float or None
        Branches only (needs the model).
    similarity : dict or None
        :func:`similarity_spread`; branches only.
    """

    who: str
    split: str
    logit_correlation: float
    macro_auroc: float
    macro_auroc_trained: float
    labels_evaluated: int
    labels_trained: int
    labels: pd.DataFrame = field(repr=False)
    latent_cosine: float | None = None
    similarity: dict | None = None

    def auroc(self, code: str) -> float:
        """AUROC of one label (NaN when it has no positive or no negative in the split)."""
        row = self.labels.loc[self.labels["label"] == code, "auroc"]
        return float(row.iloc[0]) if len(row) and pd.notna(row.iloc[0]) else float("nan")

    def to_dict(self) -> dict:
        """JSON-able summary (the per-label table as a list of records)."""
        return {"who": self.who, "split": self.split, "logit_correlation": self.logit_correlation,
                "macro_auroc": self.macro_auroc, "macro_auroc_trained": self.macro_auroc_trained,
                "labels_evaluated": self.labels_evaluated, "labels_trained": self.labels_trained,
                "latent_cosine": self.latent_cosine, "similarity": self.similarity,
                "labels": self.labels.replace({np.nan: None}).to_dict("records")}


def prediction_diagnostics(who: str, split: str, y_true: np.ndarray, logits: np.ndarray, labels,
                           train_positives) -> BranchDiagnostics:
    """Diagnostics that need only logits ``(N, C)``, targets ``(N, C)`` and training positives ``(C,)``."""
    table = label_table(y_true, logits, labels, train_positives)
    return BranchDiagnostics(who=who, split=split, logit_correlation=logit_correlation(logits),
                             labels=table, **_macros(table))


@torch.no_grad()
def _branch_outputs(branch, signals, batch_size: int = 128) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    branch.eval()
    device = next(branch.parameters()).device
    logits, sims, latents = [], [], []
    for start in range(0, len(signals), batch_size):
        x = torch.from_numpy(np.array(signals[start:start + batch_size], dtype=np.float32)).to(device)
        out = branch(x)
        logits.append(out.logits.cpu().double())
        sims.append(out.similarity.cpu().double())
        latents.append(out.latent.cpu().double().reshape(len(x), -1))
    return torch.cat(logits).numpy(), torch.cat(sims).numpy(), torch.cat(latents).numpy()


def branch_diagnostics(source, split: str = "test", *, data=None, branch: str = "rhythm",
                       stage: str = "classifier") -> BranchDiagnostics:
    """Collapse diagnostics of one branch on one split.

    Parameters
    ----------
    source : ProtoBranch, Run or path of a run directory
        A branch module, or a run whose ``branch`` is loaded at ``stage``.
    split : {'train', 'val', 'test'}
    data : PTBXL, optional
        The loaded root; default (for a run) the root named in the run's ``config.json``.
    branch : str
        Which branch of a run (ignored for a ProtoBranch).
    stage : {'joint', 'projected', 'classifier'}
        Which checkpoint of a run: before projection, right after it, or with its trained last layer.

    Returns
    -------
    BranchDiagnostics
    """
    from ..models import ProtoBranch
    from ..runs import Run

    if isinstance(source, ProtoBranch):
        module = source
        if data is None:
            raise ValueError("branch_diagnostics(ProtoBranch, ...) needs data=load_ptbxl(root)")
    else:
        run = source if isinstance(source, Run) else Run(Path(source))
        module = run.load_branch(branch, stage)
        data = data if data is not None else run.load_data()
    sp = data.split(split, module.config.label_set)
    train_pos = data.split("train", module.config.label_set).targets.sum(axis=0)
    logits, sims, latents = _branch_outputs(module, sp.signals)
    diag = prediction_diagnostics(module.name, split, sp.targets, logits, sp.labels, train_pos)
    diag.latent_cosine = latent_cosine(latents)
    diag.similarity = similarity_spread(sims)
    return diag


def run_diagnostics(run, split: str = "test", *, data=None, stage: str = "classifier") -> dict[str, BranchDiagnostics]:
    """:func:`branch_diagnostics` for the three branches of a run, and logit-only diagnostics of the
    fusion model and the baseline from the run's prediction CSVs. Keys: branch names, ``fusion``,
    ``baseline`` (when the run has one)."""
    from ..labels import BRANCHES, LABEL_SETS
    from ..runs import Run

    run = run if isinstance(run, Run) else Run(Path(run))
    data = data if data is not None else run.load_data()
    out = {name: branch_diagnostics(run, split, data=data, branch=name, stage=stage) for name in BRANCHES}
    train_pos = data.split("train", "all").targets.sum(axis=0)
    for who in ("fusion", "baseline"):
        if run.layout.predictions(split, who).is_file():
            pred = run.predictions(split, who)
            logits = pred.scores
            out[who] = prediction_diagnostics(who, split, pred.y_true, logits, LABEL_SETS["all"], train_pos)
    return out


def format_diagnostics(diags: dict[str, BranchDiagnostics] | BranchDiagnostics, per_label: bool = False) -> str:
    """A text table: one row per model (logit correlation, latent cosine, similarity spread and
    common mode, macro AUROC over all / trained labels), optionally the per-label AUROCs."""
    if isinstance(diags, BranchDiagnostics):
        diags = {diags.who: diags}
    head = (f"{'model':<11}{'logit corr':>11}{'latent cos':>11}{'sim spread':>11}{'common mode':>12}"
            f"{'macro AUROC':>12}{'(trained)':>11}{'labels':>8}")
    lines = [head]
    for who, d in diags.items():
        lc = "" if d.latent_cosine is None else f"{d.latent_cosine:.3f}"
        sp = "" if d.similarity is None else f"{d.similarity['spread']:.3g}"
        cm = "" if d.similarity is None else f"{d.similarity['common_mode']:.3f}"
        lines.append(f"{who:<11}{d.logit_correlation:>11.3f}{lc:>11}{sp:>11}{cm:>12}{d.macro_auroc:>12.3f}"
                     f"{d.macro_auroc_trained:>11.3f}{d.labels_trained:>4}/{d.labels_evaluated:<3}")
    if per_label:
        for who, d in diags.items():
            t = d.labels[d.labels["auroc"].notna()]
            lines.append(f"\n{who} ({d.split}): label, AUROC, positives, training positives")
            lines += [f"  {r.label:<8}{r.auroc:>7.3f}{int(r.positives):>6}{int(r.train_positives):>6}"
                      for r in t.itertuples()]
    return "\n".join(lines)
