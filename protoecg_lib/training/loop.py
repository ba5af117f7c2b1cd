"""The epoch loop every stage shares: optimise, validate, keep the best, stop early, resume.

Adam with coupled weight decay, a cosine schedule over ``num_epochs`` (stepped per epoch), early
stopping and checkpoint selection on the dataset-level macro AUROC of the plain validation fold
(not the official resampled one, method §9.2 B2), seeded, and resumable from ``state.pt``. One JSON
line per epoch goes to the run's ``metrics.jsonl``.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import Tensor, nn

from ..evaluation.auroc import macro_auroc
from ..files import atomic_save_torch, writes_here
from .config import TrainConfig
from .losses import weighted_bce

__all__ = ["StageResult", "fit_epochs", "make_optimizer", "validation_record", "autocast"]


@dataclass
class StageResult:
    """What a stage left behind."""

    stage: str
    best_epoch: int
    best_score: float
    epochs_run: int
    history: list[dict]
    stopped_early: bool
    seconds: float

    def summary(self) -> str:
        """One line: ``16 epochs, best val macro AUROC 0.71 at epoch 9`` (``, stopped early``)."""
        score = f"{self.best_score:.2f}" if _finite(self.best_score) else "n/a"
        return (f"{self.epochs_run} epoch{'s' if self.epochs_run != 1 else ''}, best val macro AUROC {score} "
                f"at epoch {self.best_epoch + 1}{', stopped early' if self.stopped_early else ''}")


def _scheduler(optimizer, cfg: TrainConfig):
    if cfg.scheduler == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=cfg.num_epochs)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: 1.0)


def make_optimizer(params: list[nn.Parameter], cfg: TrainConfig, fused: bool | None = None) -> torch.optim.Adam:
    """Adam with coupled weight decay (method §4.2), in torch's fused form when the parameters allow it.

    The fused kernel updates every parameter in one pass (the same update up to float rounding as
    the per-parameter loop, about four times faster on a CPU for a ResNet-18 branch, and no
    temporaries). ``fused=False`` gives the per-parameter loop; ``None`` chooses fused for float32
    parameters on the CPU or CUDA.
    """
    params = list(params)
    if fused is None:
        fused = bool(params) and all(p.dtype == torch.float32 and p.device.type in ("cpu", "cuda") for p in params)
    if fused:
        try:
            return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=True)
        except (RuntimeError, TypeError, ValueError):  # a build without the fused kernel
            pass
    return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def _finite(x: float) -> bool:
    return x is not None and math.isfinite(x)


def fit_epochs(
    *,
    module: nn.Module,
    params: list[nn.Parameter],
    cfg: TrainConfig,
    run_epoch: Callable[[int, torch.optim.Optimizer], dict],
    evaluate: Callable[[], dict],
    set_modes: Callable[[], None],
    out_dir: Path | None,
    on_best: Callable[[int, dict], None] | None = None,
    tag: dict | None = None,
    resume: bool = True,
    stop_after: int | None = None,
    verbose: bool = True,
    log_path: Path | None = None,
) -> StageResult:
    """The shared loop: optimise ``params``, validate every epoch, keep the best, stop early, resume.

    Parameters
    ----------
    module : nn.Module
        What ``params`` belong to; its ``state_dict`` is saved in ``state.pt`` for resuming.
    run_epoch : callable(epoch, optimizer) -> dict
        One pass over the training data; returns ``{"train_loss": float, "train_terms": {...}}``.
    evaluate : callable() -> dict
        Validation; returns at least ``{"val_auroc": float, "val_loss": float}``.
    set_modes : callable()
        Puts trained modules in train mode and frozen ones in eval mode (called every epoch,
        because ``evaluate`` switches to eval).
    out_dir : Path, optional
        Where ``state.pt`` (resume) goes; nothing is saved when None.
    log_path : Path, optional
        A JSON-lines file that gets one record per epoch (the run's ``metrics.jsonl``).
    on_best : callable(epoch, record), optional
        Called when the validation AUROC improves (e.g. to save ``best.pt``).
    stop_after : int, optional
        Stop after this many epochs in this call without finishing (to test resuming, or to
        time-box a session); a later call resumes.
    """
    optimizer = make_optimizer(params, cfg)
    scheduler = _scheduler(optimizer, cfg)
    state_path = out_dir / "state.pt" if out_dir is not None else None
    start, best, best_epoch, bad, history, done = 0, -math.inf, -1, 0, [], False
    if resume and state_path is not None and state_path.is_file():
        state = torch.load(state_path, map_location="cpu", weights_only=True)
        module.load_state_dict(state["module"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng"])
        start, best, best_epoch, bad = state["epoch"] + 1, state["best"], state["best_epoch"], state["bad"]
        history, done = json.loads(state["history"]), state["done"]
    t0 = time.perf_counter()
    epochs_this_call = 0
    stopped_early = done and bad >= cfg.patience
    for epoch in range(start, cfg.num_epochs):
        if done:
            break
        set_modes()
        t_epoch = time.perf_counter()
        record = {**(tag or {}), "epoch": epoch, "lr": optimizer.param_groups[0]["lr"]}
        record.update(run_epoch(epoch, optimizer))
        scheduler.step()
        with torch.no_grad():
            record.update(evaluate())
        record["time_s"] = round(time.perf_counter() - t_epoch, 3)
        score = record.get("val_auroc", float("nan"))
        improved = (_finite(score) and score > best) or (best_epoch < 0)
        if improved:
            best, best_epoch, bad = (score if _finite(score) else -math.inf), epoch, 0
            if on_best is not None:
                on_best(epoch, record)
        else:
            bad += 1
        record["best"] = improved
        history.append(record)
        if verbose and writes_here():
            terms = record.get("train_terms", {})
            extra = " ".join(f"{k}={v:.3g}" for k, v in terms.items() if k not in ("cls",))
            print(f"  {tag.get('branch', '') if tag else ''} {tag.get('stage', '') if tag else ''} epoch {epoch + 1:>3}/"
                  f"{cfg.num_epochs}: train {record['train_loss']:.4f} ({extra}) | val loss "
                  f"{record.get('val_loss', float('nan')):.4f}, macro AUROC {score:.4f}{' *' if improved else ''}"
                  f" | {record['time_s']:.1f} s", flush=True)
        if log_path is not None and writes_here():               # rank 0 only in a distributed run
            log_path.parent.mkdir(parents=True, exist_ok=True)
            with open(log_path, "a") as fh:
                fh.write(json.dumps(record, default=float) + "\n")
        done = bad >= cfg.patience or epoch + 1 >= cfg.num_epochs
        stopped_early = bad >= cfg.patience
        if state_path is not None:
            atomic_save_torch({"module": module.state_dict(), "optimizer": optimizer.state_dict(),
                          "scheduler": scheduler.state_dict(), "rng": torch.get_rng_state(), "epoch": epoch,
                          "best": best, "best_epoch": best_epoch, "bad": bad,
                          "history": json.dumps(history, default=float), "done": done}, state_path)
        epochs_this_call += 1
        if stop_after is not None and epochs_this_call >= stop_after and not done:
            break
    return StageResult(stage=(tag or {}).get("stage", ""), best_epoch=best_epoch, best_score=best,
                       epochs_run=len(history), history=history, stopped_early=stopped_early,
                       seconds=time.perf_counter() - t0)


def autocast(device: str, enabled: bool):
    """float16 autocast on CUDA when ``enabled`` (``TrainConfig.amp``); otherwise float32, with TF32
    matrix products and convolutions allowed on CUDA (the paper trains in float32 on GPUs)."""
    if device.startswith("cuda"):
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        if enabled:
            return torch.autocast("cuda", dtype=torch.float16)
    return torch.autocast("cpu", enabled=False)


def validation_record(y_true: np.ndarray, logits: Tensor, targets: Tensor, pos_weight: Tensor) -> dict:
    # AUROC ranks logits, not sigmoid(logits): the same order, but no float ties where the sigmoid saturates
    # (right after projection the +1/-0.5 last layer gives logits of several hundred, method §2.3)
    val_loss = float(weighted_bce(logits, targets, pos_weight))
    return {"val_loss": val_loss, "val_auroc": macro_auroc(y_true, logits.detach().cpu().double().numpy())}
