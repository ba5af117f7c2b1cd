"""The ``feature_extractor`` stage: a plain backbone + linear head with the weighted BCE (spec §4.1).
On the 1D backbone and all 71 labels it is the black-box baseline the book compares against.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..data.dataset import PTBXL, Split
from ..data.torchdata import SplitDataset, make_loader
from ..device import pick_device
from .config import TrainConfig
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
    the weighted BCE (spec §4.1). On the 1D backbone and all 71 labels it is the black-box baseline.

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
    train_ds = SplitDataset(train_split)
    val_x = torch.from_numpy(np.array(val_split.signals, dtype=np.float32))
    val_t = torch.as_tensor(val_split.targets)
    use_amp = cfg.amp and device.startswith("cuda")
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    best = {}

    def run_epoch(epoch, optimizer):
        total, n = 0.0, 0
        for x, y, _ in make_loader(train_ds, cfg.batch_size, shuffle=True, seed=cfg.seed * 1000 + epoch):
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            with autocast(device, use_amp):
                logits = model(x)
            loss = weighted_bce(logits.float(), y, pos_weight)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            total += float(loss.detach()) * len(x)
            n += len(x)
        return {"train_loss": total / max(n, 1), "train_terms": {}}

    def evaluate():
        model.eval()
        logits = torch.cat([model(val_x[s:s + cfg.eval_batch_size].to(device)).float().cpu()
                            for s in range(0, len(val_x), cfg.eval_batch_size)])
        return validation_record(val_split.targets, logits, val_t, pos_weight.cpu())

    def on_best(epoch, record):
        best["sd"] = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        if out_dir is not None:
            save_checkpoint(out_dir / "best.pt", model, extra={"epoch": epoch, "stage": "feature_extractor",
                                                                "val_auroc": float(record.get("val_auroc", float("nan")))})

    params = list(model.parameters())
    model.requires_grad_(True)
    result = fit_epochs(module=model, params=params, cfg=cfg, run_epoch=run_epoch, evaluate=evaluate,
                        set_modes=model.train, out_dir=out_dir, on_best=on_best,
                        tag={"branch": model.config.name, "stage": "feature_extractor"}, resume=resume,
                        stop_after=stop_after, verbose=verbose, log_path=None if log_path is None else Path(log_path))
    finished = stop_after is None or result.epochs_run >= cfg.num_epochs or result.stopped_early
    if finished:
        if "sd" in best:
            model.load_state_dict(best["sd"])
        elif out_dir is not None and (out_dir / "best.pt").is_file():
            from ..models.checkpoints import load_checkpoint

            model.load_state_dict(load_checkpoint(out_dir / "best.pt")[0].state_dict())
    model.requires_grad_(False)
    model.eval()
    return result
