"""Training one branch in one stage: ``prototypes``, ``joint`` or ``classifier`` (method §4).

Stages (method §4.1):

=====================  ==========================================  ===================================
stage                  trained (in the optimizer, train mode)      frozen (eval mode, no gradient)
=====================  ==========================================  ===================================
``prototypes``         prototype vectors                           backbone, add-on, last layer
``joint``              backbone, add-on, prototype vectors         last layer (+1 / -0.5)
                       (and the beat encoder, when the branch
                       reads beat timing)
``classifier``         the branch's last layer                     backbone, add-on, prototypes
``fusion``             the fusion head                             all three branches
``feature_extractor``  a plain backbone + linear head              nothing (also the black-box baseline)
=====================  ==========================================  ===================================

Frozen modules are excluded from the optimizer **and** put in eval mode, so BatchNorm statistics
and dropout do not drift (the official code leaves them in train mode, method §9.2 B6). Because
frozen parts are deterministic, the ``classifier`` and ``fusion`` stages train their linear heads
on similarities computed once (method §6 notes this is exact).

The loop itself (optimiser, schedule, early stopping, resume) is :mod:`protoecg_lib.training.loop`.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ..data.dataset import PTBXL, Split
from ..data.torchdata import SplitDataset
from ..device import pick_device
from ..models import ProtoBranch
from . import distributed as dist
from .config import TrainConfig
from .heads import branch_features, predict_logits, train_head
from .loop import StageResult, autocast, fit_epochs, validation_record
from .objective import PrototypeLoss

__all__ = ["set_stage", "joint_step", "train_branch"]

_TERMS = ("cls", "clst", "sep", "spars", "div", "cnrst")


# --------------------------------------------------------------------------- stages and freezing

def set_stage(branch: ProtoBranch, stage: str) -> list[nn.Parameter]:
    """Freeze what ``stage`` does not train and return the parameters it trains (method §4.1).

    Every module goes to eval mode; the modules whose weights the stage trains go back to train
    mode (only ``joint`` trains modules with BatchNorm/dropout). Frozen parameters get
    ``requires_grad = False`` and are not returned, so they are not in the optimizer.
    """
    if stage == "joint":
        # the latent centring (a running mean, no weights) and the beat-timing encoder train with the add-on
        trained_modules = [branch.backbone, branch.add_on, branch.center]
        if branch.beat_encoder is not None:
            trained_modules.append(branch.beat_encoder)
        params = [p for m in trained_modules for p in m.parameters()] + [branch.prototype_layer.prototypes]
    elif stage == "prototypes":
        trained_modules, params = [], [branch.prototype_layer.prototypes]
    elif stage == "classifier":
        trained_modules, params = [], [branch.last_layer.weight]
    else:
        raise ValueError(f"set_stage handles 'prototypes', 'joint' and 'classifier', not {stage!r}")
    branch.requires_grad_(False)
    branch.eval()
    for p in params:
        p.requires_grad_(True)
    for m in trained_modules:
        m.train()
    return params


# --------------------------------------------------------------------------- one step

def joint_step(model: nn.Module, branch: ProtoBranch, criterion: PrototypeLoss, optimizer: torch.optim.Optimizer,
               scaler: torch.amp.GradScaler, signals: torch.Tensor, targets: torch.Tensor, *,
               use_amp: bool = False, loss_scale: float = 1.0) -> tuple[torch.Tensor, dict]:
    """One optimisation step of the ``prototypes`` or ``joint`` stage (method §3, §4.1) on a batch.

    Parameters
    ----------
    model : nn.Module
        ``branch`` itself, or its DistributedDataParallel wrapper.
    signals : Tensor, shape (B, 12, T)
    targets : Tensor, shape (B, C)
    loss_scale : float
        Multiplies the loss before ``backward`` (``n_rank * world / n_batch`` in a distributed run,
        so that the averaged gradient is the whole batch's; 1 on one process).

    Returns
    -------
    loss : Tensor, scalar (detached, unscaled)
    terms : dict of detached unweighted loss terms
    """
    optimizer.zero_grad(set_to_none=True)      # before the forward: the last step's gradients are freed first
    with autocast(str(signals.device), use_amp):
        out = model(signals)
    prototypes = branch.prototype_layer.prototypes
    if len(signals):
        loss, terms = criterion(out.logits.float(), out.similarity.float(), prototypes, targets)
    else:                                      # an empty shard of a short last batch: no loss, same graph
        loss, terms = out.logits.sum() * 0.0 + prototypes.sum() * 0.0, {}
    scaler.scale(loss * loss_scale if loss_scale != 1.0 else loss).backward()
    scaler.step(optimizer)
    scaler.update()
    return loss.detach(), terms


# --------------------------------------------------------------------------- branch stages

def train_branch(
    branch: ProtoBranch,
    data: PTBXL | tuple[Split, Split],
    stage: str = "joint",
    cfg: TrainConfig | None = None,
    out_dir: str | Path | None = None,
    *,
    device: str | None = None,
    resume: bool = True,
    stop_after: int | None = None,
    verbose: bool = True,
    progress: bool = False,
    log_path: str | Path | None = None,
) -> StageResult:
    """Train one branch in one stage (``prototypes``, ``joint`` or ``classifier``), method §4.

    Parameters
    ----------
    branch : ProtoBranch
        Trained in place; at the end it holds the **best** epoch's weights (by validation AUROC).
    data : PTBXL or (train Split, val Split)
        A loaded root (its train/val splits for the branch's label set are used) or the two splits.
    stage : {'prototypes', 'joint', 'classifier'}
    cfg : TrainConfig
    out_dir : path, optional
        Stage folder: ``state.pt`` (resume) and ``best.pt`` (checkpoint with config).
    log_path : path, optional
        JSON-lines file for one record per epoch (default ``out_dir / "metrics.jsonl"``).
    device : str, optional
        Default: CUDA, else MPS, else CPU.
    """
    from ..models.checkpoints import load_checkpoint, save_checkpoint

    cfg = cfg or TrainConfig()
    device = device or pick_device()
    out_dir = Path(out_dir) if out_dir is not None else None
    if log_path is None and out_dir is not None:
        log_path = out_dir / "metrics.jsonl"
    log_path = Path(log_path) if log_path is not None else None
    if isinstance(data, PTBXL):
        train_split, val_split = data.split("train", branch.config.label_set), data.split("val", branch.config.label_set)
    else:
        train_split, val_split = data
    if train_split.labels != branch.labels:
        raise ValueError(f"the data's label set {len(train_split.labels)} labels does not match branch "
                         f"{branch.name!r} ({branch.num_classes} labels)")
    torch.manual_seed(cfg.seed)
    branch.to(device)
    pos_weight, cooc = train_split.class_weights(cfg.class_weights), train_split.cooccurrence()
    criterion = PrototypeLoss(pos_weight, branch.class_identity.cpu(), cooc, cfg.loss).to(device)
    tag = {"branch": branch.name, "stage": stage}
    best_path = out_dir / "best.pt" if out_dir is not None else None
    best_state = {}

    def on_best(epoch, record):
        if best_path is not None:
            save_checkpoint(best_path, branch, extra={"epoch": epoch, "val_auroc": float(record.get("val_auroc", float("nan"))),
                                                      "stage": stage})
        else:
            best_state["sd"] = {k: v.detach().clone() for k, v in branch.state_dict().items()}

    if stage == "classifier":
        result = _train_branch_classifier(branch, train_split, val_split, cfg, criterion, device, out_dir,
                                          on_best, tag, resume, stop_after, verbose, log_path)
    elif stage in ("joint", "prototypes"):
        params = set_stage(branch, stage)
        train_ds = SplitDataset(train_split)                      # streams batches from the cache
        val_t = torch.as_tensor(val_split.targets)
        use_amp = cfg.amp and device.startswith("cuda")
        scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
        model = dist.wrap_ddp(branch, device)                     # the branch itself on one process
        shard = dist.BatchShard()

        def run_epoch(epoch, optimizer):
            batches = dist.epoch_batches(len(train_ds), cfg.batch_size, seed=cfg.seed * 1000 + epoch)
            if progress and dist.is_main():
                from tqdm.auto import tqdm

                batches = tqdm(batches, desc=f"{branch.name} {stage} epoch {epoch + 1}", leave=False)
            sums = torch.zeros(8, dtype=torch.float64)            # loss * b, b, then the six terms * b
            for batch in batches:
                index, shard.offset, shard.total = dist.shard_batch(batch)
                x, y, _ = train_ds[index]
                x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
                with dist.sharded_batch(branch, shard):
                    loss, terms = joint_step(model, branch, criterion, optimizer, scaler, x, y, use_amp=use_amp,
                                             loss_scale=len(index) * dist.world_size() / max(shard.total, 1))
                b = len(index)
                sums[0] += float(loss) * b
                sums[1] += b
                for i, k in enumerate(_TERMS):
                    sums[2 + i] += float(terms.get(k, 0.0)) * b
            sums = dist.all_reduce_sum(sums)
            n = max(float(sums[1]), 1.0)
            return {"train_loss": float(sums[0]) / n,
                    "train_terms": {k: float(sums[2 + i]) / n for i, k in enumerate(_TERMS)}}

        def evaluate():
            branch.eval()
            logits = torch.from_numpy(predict_logits(lambda x: branch(x).logits, val_split.signals,
                                                     cfg.eval_batch_size, device)).float()
            return validation_record(val_split.targets, logits, val_t, criterion.pos_weight.cpu())

        result = fit_epochs(module=branch, params=params, cfg=cfg, run_epoch=run_epoch, evaluate=evaluate,
                            set_modes=lambda: set_stage(branch, stage), out_dir=out_dir, on_best=on_best,
                            tag=tag, resume=resume, stop_after=stop_after, verbose=verbose, log_path=log_path)
        del model
    else:
        raise ValueError(f"train_branch trains 'prototypes', 'joint' or 'classifier', not {stage!r}")

    # leave the branch at its best epoch, frozen and in eval mode
    finished = stop_after is None or result.epochs_run >= cfg.num_epochs or result.stopped_early
    dist.barrier()                                                # rank 0 has written best.pt
    if finished:
        if best_path is not None and best_path.is_file():
            best_model, _ = load_checkpoint(best_path)
            branch.load_state_dict(best_model.state_dict())
        elif "sd" in best_state:
            branch.load_state_dict(best_state["sd"])
    branch.requires_grad_(False)
    branch.eval()
    return result


def _train_branch_classifier(branch, train_split, val_split, cfg, criterion, device, out_dir, on_best, tag,
                             resume, stop_after, verbose, log_path) -> StageResult:
    """The ``classifier`` stage: last layer only, on similarities of the frozen branch (method §4.1, §3.7)."""
    set_stage(branch, "classifier")
    feats_train = branch_features(branch, train_split.signals, cfg.eval_batch_size, device)
    feats_val = branch_features(branch, val_split.signals, cfg.eval_batch_size, device)
    head = branch.last_layer

    def loss_fn(logits, targets):
        return criterion.classifier_loss(logits, targets, head.weight)

    return train_head(head, (feats_train, torch.as_tensor(train_split.targets)),
                      (feats_val, torch.as_tensor(val_split.targets), val_split.targets), loss_fn, cfg,
                      criterion.pos_weight.cpu(), out_dir=out_dir, on_best=on_best, tag=tag, resume=resume,
                      stop_after=stop_after, verbose=verbose, device=device, log_path=log_path)
