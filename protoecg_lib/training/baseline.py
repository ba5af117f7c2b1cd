"""The ``feature_extractor`` stage: a plain backbone + linear head with the weighted BCE (method §4.1).
On the 1D backbone and all 71 labels it is the black-box baseline the book compares against.
"""
from __future__ import annotations

from pathlib import Path

import torch

from ..data.dataset import PTBXL, Split
from ..data.torchdata import SplitDataset
from ..device import pick_device
from . import distributed as dist
from .config import TrainConfig
from .heads import predict_logits
from .loop import StageResult, autocast, fit_epochs, validation_record
from .losses import weighted_bce

__all__ = ["train_baseline"]


def train_baseline(
    model,
    data: PTBXL | tuple[Split, Split],
    cfg: TrainConfig | None = None,
    out_dir: str | Path | None = None,
    *,
    device: str | None = None,
    resume: bool = True,
    stop_after: int | None = None,
    verbose: bool = True,
    log_path: str | Path | None = None,
) -> StageResult:
    """The ``feature_extractor`` stage: a :class:`~protoecg_lib.models.baseline.BaselineNet` trained with
    the weighted BCE (method §4.1). On the 1D backbone and all 71 labels it is the black-box baseline.

    At the end the model holds its best epoch's weights; ``out_dir/best.pt`` keeps them with the config.
    """
    from ..models.checkpoints import save_checkpoint

    cfg = cfg or TrainConfig()
    device = device or pick_device()
    out_dir = Path(out_dir) if out_dir is not None else None
    if log_path is None and out_dir is not None:
        log_path = out_dir / "metrics.jsonl"
    if isinstance(data, PTBXL):
        train_split, val_split = data.split("train", model.config.label_set), data.split("val", model.config.label_set)
    else:
        train_split, val_split = data
    torch.manual_seed(cfg.seed)
    model.to(device)
    pos_weight = torch.as_tensor(train_split.class_weights(cfg.class_weights), dtype=torch.float32).to(device)
    train_ds = SplitDataset(train_split)                          # streams batches from the cache
    val_t = torch.as_tensor(val_split.targets)
    use_amp = cfg.amp and device.startswith("cuda")
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    best = {}
    shard = dist.BatchShard()

    def run_epoch(epoch, optimizer):
        sums = torch.zeros(2, dtype=torch.float64)                # loss * b, b
        for batch in dist.epoch_batches(len(train_ds), cfg.batch_size, seed=cfg.seed * 1000 + epoch):
            index, shard.offset, shard.total = dist.shard_batch(batch)
            x, y, _ = train_ds[index]
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            optimizer.zero_grad(set_to_none=True)                 # before the forward (frees last step's grads)
            with dist.sharded_batch(model, shard), autocast(device, use_amp):
                logits = net(x)
            loss = weighted_bce(logits.float(), y, pos_weight) if len(x) else logits.sum() * 0.0
            scale = len(index) * dist.world_size() / max(shard.total, 1)
            scaler.scale(loss * scale if scale != 1.0 else loss).backward()
            scaler.step(optimizer)
            scaler.update()
            sums[0] += float(loss.detach()) * len(x)
            sums[1] += len(x)
        sums = dist.all_reduce_sum(sums)
        return {"train_loss": float(sums[0]) / max(float(sums[1]), 1.0), "train_terms": {}}

    def evaluate():
        model.eval()
        logits = torch.from_numpy(predict_logits(model, val_split.signals, cfg.eval_batch_size, device)).float()
        return validation_record(val_split.targets, logits, val_t, pos_weight.cpu())

    def on_best(epoch, record):
        best["sd"] = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        if out_dir is not None:
            save_checkpoint(out_dir / "best.pt", model, extra={"epoch": epoch, "stage": "feature_extractor",
                                                                "val_auroc": float(record.get("val_auroc", float("nan")))})

    params = list(model.parameters())
    model.requires_grad_(True)
    net = dist.wrap_ddp(model, device)                            # the model itself on one process
    result = fit_epochs(module=model, params=params, cfg=cfg, run_epoch=run_epoch, evaluate=evaluate,
                        set_modes=model.train, out_dir=out_dir, on_best=on_best,
                        tag={"branch": model.config.name, "stage": "feature_extractor"}, resume=resume,
                        stop_after=stop_after, verbose=verbose, log_path=None if log_path is None else Path(log_path))
    del net
    finished = stop_after is None or result.epochs_run >= cfg.num_epochs or result.stopped_early
    dist.barrier()                                                # rank 0 has written best.pt
    if finished:
        if "sd" in best:
            model.load_state_dict(best["sd"])
        elif out_dir is not None and (out_dir / "best.pt").is_file():
            from ..models.checkpoints import load_checkpoint

            model.load_state_dict(load_checkpoint(out_dir / "best.pt")[0].state_dict())
    model.requires_grad_(False)
    model.eval()
    return result
