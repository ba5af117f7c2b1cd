"""Linear heads on frozen features: a branch's classifier stage and the fusion head (method §4.1, §6),
and the batched forward passes that compute those features and the logits of a whole split.

Because frozen modules are deterministic, the ``classifier`` and ``fusion`` stages train their
heads on similarities computed once (method §6 notes this is exact).
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import Tensor, nn

from ..data.torchdata import as_batch
from ..files import atomic_save_torch
from ..models import ProtoBranch
from . import distributed as dist
from .config import TrainConfig
from .loop import StageResult, fit_epochs, validation_record
from .losses import fusion_loss

__all__ = ["train_head", "fusion_criterion", "branch_features", "predict_logits"]


def _sharded_outputs(fn: Callable[[Tensor], Tensor], signals, batch_size: int, device) -> Tensor:
    """``fn`` over batches of ``signals`` in inference mode, on this rank's block of rows (all of them on
    one process), gathered over ranks in row order: ``(N, ...)`` float32 on the CPU."""
    start, stop = dist.local_block(len(signals))
    outs = []
    with torch.inference_mode():
        for s in range(start, stop, batch_size):
            x = as_batch(signals[s:min(s + batch_size, stop)], device)
            outs.append(fn(x).float().cpu())
    local = torch.cat(outs) if outs else None
    if dist.is_distributed():
        if local is None:   # an empty block still joins the gather, with the right trailing shape
            with torch.inference_mode():
                local = fn(as_batch(signals[:1], device)).float().cpu()[:0]
        return dist.gather_rows(local.clone())
    return local.clone()     # a normal tensor (usable in autograd), not an inference-mode one


def predict_logits(model: Callable[[Tensor], Tensor], signals, batch_size: int = 128,
                   device: str = "cpu") -> np.ndarray:
    """Logits ``(N, C)`` float64 of ``model(signals) -> logits`` over a whole array, batched.

    Runs in inference mode; in a distributed run every rank computes its block of rows and all get
    the whole array. Rank-based metrics should use these rather than probabilities: ``sigmoid``
    saturates to exactly 0 or 1 for large logits and turns distinct scores into ties.
    """
    return _sharded_outputs(model, signals, batch_size, device).cpu().double().numpy()   # float64 on the CPU only


def branch_features(branch: ProtoBranch, signals, batch_size: int = 128, device: str | None = None) -> Tensor:
    """Pooled similarities ``(N, P)`` (float32, on the CPU) of a frozen branch (eval mode) over an array of ECGs.

    ``device`` defaults to the branch's own; naming another one is an error (move the branch first).
    """
    own = next(branch.parameters()).device
    if device is not None and torch.device(device) != own and not (torch.device(device).type == own.type == "cuda"):
        raise ValueError(f"branch_features: the branch is on {own} but device={device!r} was asked for; "
                         f"move it first (branch.to({device!r})) or leave device unset")
    was_training = branch.training
    branch.eval()
    feats = _sharded_outputs(lambda x: branch(x).similarity, signals, batch_size, own)
    branch.train(was_training)
    return feats


def train_head(
    head: nn.Linear,
    train: tuple[Tensor, Tensor],
    val: tuple[Tensor, Tensor, np.ndarray],
    loss_fn: Callable[[Tensor, Tensor], tuple[Tensor, dict]],
    cfg: TrainConfig,
    pos_weight: Tensor,
    *,
    out_dir: Path | None = None,
    on_best=None,
    tag: dict | None = None,
    resume: bool = True,
    stop_after: int | None = None,
    verbose: bool = True,
    device: str = "cpu",
    log_path: Path | None = None,
) -> StageResult:
    """Train a linear head on pre-computed features (branch classifier or fusion, method §4.1, §6).

    ``train = (features (N, F), targets (N, C))``; ``val = (features, targets, targets as ndarray)``.
    At the end the head holds the best epoch's weights.
    """
    head.to(device)
    head.requires_grad_(True)
    head.train()
    x_tr, y_tr = train[0].to(device), train[1].to(device)
    x_va, y_va, y_va_np = val[0].to(device), val[1].to(device), val[2]
    best_head = {}

    def run_epoch(epoch, optimizer):
        g = torch.Generator().manual_seed(cfg.seed * 1000 + epoch)
        order = torch.randperm(len(x_tr), generator=g).to(device)
        total, n, sums = 0.0, 0, {}
        for start in range(0, len(order), cfg.batch_size):
            idx = order[start:start + cfg.batch_size]
            loss, terms = loss_fn(head(x_tr[idx]), y_tr[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(idx)
            n += len(idx)
            for k, v in terms.items():
                sums[k] = sums.get(k, 0.0) + float(v) * len(idx)
        return {"train_loss": total / max(n, 1), "train_terms": {k: v / max(n, 1) for k, v in sums.items()}}

    def evaluate():
        logits = head(x_va).float().cpu()
        return validation_record(y_va_np, logits, y_va.cpu(), pos_weight)

    def keep_best(epoch, record):
        best_head["sd"] = {k: v.detach().clone() for k, v in head.state_dict().items()}
        if out_dir is not None:
            atomic_save_torch(best_head["sd"], Path(out_dir) / "head_best.pt")
        if on_best is not None:
            on_best(epoch, record)

    def set_modes():
        head.train()

    result = fit_epochs(module=head, params=[p for p in head.parameters()], cfg=cfg, run_epoch=run_epoch,
                        evaluate=evaluate, set_modes=set_modes, out_dir=None if out_dir is None else Path(out_dir),
                        on_best=keep_best, tag=tag, resume=resume, stop_after=stop_after, verbose=False,
                        log_path=None if log_path is None else Path(log_path))
    if verbose:  # a linear head trains for many cheap epochs: one line for all of them
        who = " ".join(str((tag or {}).get(k, "")) for k in ("branch", "stage")).strip() or "head"
        print(f"  {who}: {result.epochs_run} epochs ({result.seconds:.1f} s), best val macro AUROC "
              f"{result.best_score:.4f} at epoch {result.best_epoch + 1}"
              f"{', stopped early' if result.stopped_early else ''}", flush=True)
    if "sd" in best_head:
        head.load_state_dict(best_head["sd"])
    elif out_dir is not None and (out_dir / "head_best.pt").is_file():
        head.load_state_dict(torch.load(out_dir / "head_best.pt", weights_only=True))
    head.requires_grad_(False)
    head.eval()
    return result


def fusion_criterion(pos_weight: np.ndarray, l1: float, masked_identity: Tensor | None = None):
    """The fusion-stage loss: weighted BCE over 71 labels + L1 of the fusion weights (method §3.7, §6)."""
    pw = torch.as_tensor(pos_weight, dtype=torch.float32)

    def loss_fn(head: nn.Linear):
        def fn(logits, targets):
            return fusion_loss(logits, targets, pw.to(logits.device), head.weight,
                               masked_identity=None if masked_identity is None else masked_identity.to(logits.device),
                               l1=l1)
        return fn

    return loss_fn
