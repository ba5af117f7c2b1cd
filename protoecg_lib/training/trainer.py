"""Staged training of ProtoECGNet branches and heads (spec §4, §6).

Stages (spec §4.1):

=====================  ==========================================  ===================================
stage                  trained (in the optimizer, train mode)      frozen (eval mode, no gradient)
=====================  ==========================================  ===================================
``prototypes``         prototype vectors                           backbone, add-on, last layer
``joint``              backbone, add-on, prototype vectors         last layer (+1 / -0.5)
``classifier``         the branch's last layer                     backbone, add-on, prototypes
``fusion``             the fusion head                             all three branches
``feature_extractor``  a plain backbone + linear head              nothing (also the black-box baseline)
=====================  ==========================================  ===================================

Frozen modules are excluded from the optimizer **and** put in eval mode, so BatchNorm statistics
and dropout do not drift (the official code leaves them in train mode, spec §9.2 B6). Because
frozen parts are deterministic, the ``classifier`` and ``fusion`` stages train their linear heads
on similarities computed once (spec §6 notes this is exact).

Every stage: Adam with coupled weight decay, cosine schedule over ``num_epochs`` (stepped per
epoch), early stopping and checkpoint selection on the dataset-level macro AUROC of the plain
validation fold (not the official resampled one, §9.2 B2), seeded and deterministic on CPU,
resumable from ``state.pt`` after an interruption. One line per epoch goes to ``metrics.jsonl``.
"""
from __future__ import annotations

import json
import math
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import Tensor, nn

from .cooccurrence import class_weights as compute_class_weights
from .cooccurrence import jaccard
from ..data.dataset import PTBXL, Split
from ..data.torchdata import SplitDataset, as_batch, make_loader
from .losses import LossWeights, PrototypeLoss, fusion_loss, weighted_bce
from ..evaluation.metrics import macro_auroc, sigmoid
from ..models import ProtoBranch
from ..teaching.chapter import pick_device

__all__ = [
    "STAGES", "TrainConfig", "train_presets", "StageResult", "set_stage", "train_branch",
    "branch_features", "train_head", "train_baseline", "predict_logits", "fit_epochs",
    "fusion_criterion",
]

STAGES = ("feature_extractor", "prototypes", "joint", "classifier", "fusion")


@dataclass
class TrainConfig:
    """Optimisation settings of one stage (spec §4.2; README/lab-script values by default)."""

    num_epochs: int = 200
    lr: float = 1e-4
    batch_size: int = 32
    weight_decay: float = 1.7e-4
    patience: int = 10
    scheduler: str = "cosine"          # 'cosine' (T_max = num_epochs) or 'constant'
    seed: int = 42
    class_weights: str = "official"    # spec §1.5 formula, or 'standard' (N - n_c) / n_c
    loss: LossWeights = field(default_factory=LossWeights)
    amp: bool = True                   # mixed precision (float16 autocast + grad scaling) on CUDA only
    eval_batch_size: int = 128

    def __post_init__(self):
        if isinstance(self.loss, dict):
            self.loss = LossWeights(**self.loss)
        if self.scheduler not in ("cosine", "constant"):
            raise ValueError(f"scheduler must be 'cosine' or 'constant', not {self.scheduler!r}")
        for name in ("num_epochs", "batch_size", "patience"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})

    def replace(self, **changes) -> "TrainConfig":
        return TrainConfig.from_dict({**self.to_dict(), **changes})


def train_presets(preset: str) -> dict[str, TrainConfig]:
    """Stage settings for a preset: ``paper`` (spec §4.2 for every stage) or ``fast`` (CPU minutes).

    ``fast`` keeps the method and shortens everything else: few epochs and a short patience for the
    network stages, with a learning rate of 1e-3 so that a few epochs move the weights; the linear
    heads (branch classifier, fusion) train on pre-computed similarities, so they get many cheap
    epochs at 1e-2 (right after projection the +1/-0.5 last layer saturates, spec §2.3, and a
    few hundred small steps would not move it far enough).
    """
    if preset == "paper":
        base = TrainConfig()
        return {s: base.replace() for s in STAGES}
    if preset == "fast":
        return {
            "feature_extractor": TrainConfig(num_epochs=8, lr=1e-3, patience=4),
            "prototypes": TrainConfig(num_epochs=4, lr=1e-3, patience=3),
            "joint": TrainConfig(num_epochs=8, lr=1e-3, patience=4),
            "classifier": TrainConfig(num_epochs=200, lr=1e-2, patience=30, batch_size=64),
            "fusion": TrainConfig(num_epochs=200, lr=1e-2, patience=30, batch_size=64),
        }
    raise ValueError(f"unknown training preset {preset!r}; choose 'paper' or 'fast'")


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


# --------------------------------------------------------------------------- stages and freezing

def set_stage(branch: ProtoBranch, stage: str) -> list[nn.Parameter]:
    """Freeze what ``stage`` does not train and return the parameters it trains (spec §4.1).

    Every module goes to eval mode; the modules whose weights the stage trains go back to train
    mode (only ``joint`` trains modules with BatchNorm/dropout). Frozen parameters get
    ``requires_grad = False`` and are not returned, so they are not in the optimizer.
    """
    if stage == "joint":
        trained_modules = [branch.backbone, branch.add_on]
        params = [*branch.backbone.parameters(), *branch.add_on.parameters(), branch.prototype_layer.prototypes]
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


# --------------------------------------------------------------------------- the epoch loop

def _save_atomic(obj, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(obj, fh)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _scheduler(optimizer, cfg: TrainConfig):
    if cfg.scheduler == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=cfg.num_epochs)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: 1.0)


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
    optimizer = torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
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
        if verbose:
            terms = record.get("train_terms", {})
            extra = " ".join(f"{k}={v:.3g}" for k, v in terms.items() if k not in ("cls",))
            print(f"  {tag.get('branch', '') if tag else ''} {tag.get('stage', '') if tag else ''} epoch {epoch + 1:>3}/"
                  f"{cfg.num_epochs}: train {record['train_loss']:.4f} ({extra}) | val loss "
                  f"{record.get('val_loss', float('nan')):.4f}, macro AUROC {score:.4f}{' *' if improved else ''}"
                  f" | {record['time_s']:.1f} s", flush=True)
        if log_path is not None:
            log_path.parent.mkdir(parents=True, exist_ok=True)
            with open(log_path, "a") as fh:
                fh.write(json.dumps(record, default=float) + "\n")
        done = bad >= cfg.patience or epoch + 1 >= cfg.num_epochs
        stopped_early = bad >= cfg.patience
        if state_path is not None:
            _save_atomic({"module": module.state_dict(), "optimizer": optimizer.state_dict(),
                          "scheduler": scheduler.state_dict(), "rng": torch.get_rng_state(), "epoch": epoch,
                          "best": best, "best_epoch": best_epoch, "bad": bad,
                          "history": json.dumps(history, default=float), "done": done}, state_path)
        epochs_this_call += 1
        if stop_after is not None and epochs_this_call >= stop_after and not done:
            break
    return StageResult(stage=(tag or {}).get("stage", ""), best_epoch=best_epoch, best_score=best,
                       epochs_run=len(history), history=history, stopped_early=stopped_early,
                       seconds=time.perf_counter() - t0)


# --------------------------------------------------------------------------- helpers

def _autocast(device: str, enabled: bool):
    if enabled and device.startswith("cuda"):
        return torch.autocast("cuda", dtype=torch.float16)
    return torch.autocast("cpu", enabled=False)


@torch.no_grad()
def predict_logits(model: Callable[[Tensor], Tensor], signals, batch_size: int = 128,
                   device: str = "cpu") -> np.ndarray:
    """Logits ``(N, C)`` float64 of ``model(signals) -> logits`` over a whole array, batched.

    Rank-based metrics should use these rather than probabilities: ``sigmoid`` saturates to exactly
    0 or 1 for large logits and turns distinct scores into ties.
    """
    outs = []
    for start in range(0, len(signals), batch_size):
        x = as_batch(signals[start:start + batch_size], device)
        outs.append(model(x).double().cpu())
    return torch.cat(outs).numpy()


@torch.no_grad()
def branch_features(branch: ProtoBranch, signals, batch_size: int = 128, device: str | None = None) -> Tensor:
    """Pooled similarities ``(N, P)`` (float32, on the CPU) of a frozen branch (eval mode) over an array of ECGs.

    ``device`` defaults to the branch's own; naming another one is an error (move the branch first).
    """
    own = next(branch.parameters()).device
    if device is not None and torch.device(device) != own and not (torch.device(device).type == own.type == "cuda"):
        raise ValueError(f"branch_features: the branch is on {own} but device={device!r} was asked for; "
                         f"move it first (branch.to({device!r})) or leave device unset")
    device = own
    was_training = branch.training
    branch.eval()
    outs = []
    for start in range(0, len(signals), batch_size):
        x = as_batch(signals[start:start + batch_size], device)
        outs.append(branch(x).similarity.float().cpu())
    branch.train(was_training)
    return torch.cat(outs)


def _label_stats(split: Split, formula: str) -> tuple[np.ndarray, np.ndarray]:
    return compute_class_weights(split.targets, formula=formula), jaccard(split.targets)


def _val_record(y_true: np.ndarray, logits: Tensor, targets: Tensor, pos_weight: Tensor) -> dict:
    # AUROC ranks logits, not sigmoid(logits): the same order, but no float ties where the sigmoid saturates
    # (right after projection the +1/-0.5 last layer gives logits of several hundred, spec §2.3)
    val_loss = float(weighted_bce(logits, targets, pos_weight))
    return {"val_loss": val_loss, "val_auroc": macro_auroc(y_true, logits.double().numpy())}


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
    """Train one branch in one stage (``prototypes``, ``joint`` or ``classifier``), spec §4.

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
    pos_weight, cooc = _label_stats(train_split, cfg.class_weights)
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
        train_ds = SplitDataset(train_split)
        val_x = torch.from_numpy(np.array(val_split.signals, dtype=np.float32))
        val_t = torch.as_tensor(val_split.targets)
        use_amp = cfg.amp and device.startswith("cuda")
        scaler = torch.amp.GradScaler("cuda", enabled=use_amp)

        def run_epoch(epoch, optimizer):
            loader = make_loader(train_ds, cfg.batch_size, shuffle=True, seed=cfg.seed * 1000 + epoch)
            total, n, sums = 0.0, 0, {}
            if progress:
                from tqdm.auto import tqdm

                loader = tqdm(loader, desc=f"{branch.name} {stage} epoch {epoch + 1}", leave=False)
            for x, y, _ in loader:
                x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
                with _autocast(device, use_amp):
                    out = branch(x)
                loss, terms = criterion(out.logits.float(), out.similarity.float(),
                                        branch.prototype_layer.prototypes, y)
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
                b = len(x)
                total += float(loss.detach()) * b
                n += b
                for k, v in terms.items():
                    sums[k] = sums.get(k, 0.0) + float(v) * b
            return {"train_loss": total / max(n, 1), "train_terms": {k: v / max(n, 1) for k, v in sums.items()}}

        def evaluate():
            branch.eval()
            logits = []
            for start in range(0, len(val_x), cfg.eval_batch_size):
                with _autocast(device, use_amp):
                    logits.append(branch(val_x[start:start + cfg.eval_batch_size].to(device)).logits.float().cpu())
            logits = torch.cat(logits)
            return _val_record(val_split.targets, logits, val_t, criterion.pos_weight.cpu())

        result = fit_epochs(module=branch, params=params, cfg=cfg, run_epoch=run_epoch, evaluate=evaluate,
                            set_modes=lambda: set_stage(branch, stage), out_dir=out_dir, on_best=on_best,
                            tag=tag, resume=resume, stop_after=stop_after, verbose=verbose, log_path=log_path)
    else:
        raise ValueError(f"train_branch trains 'prototypes', 'joint' or 'classifier', not {stage!r}")

    # leave the branch at its best epoch, frozen and in eval mode
    finished = stop_after is None or result.epochs_run >= cfg.num_epochs or result.stopped_early
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
    """The ``classifier`` stage: last layer only, on similarities of the frozen branch (spec §4.1, §3.7)."""
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
    """Train a linear head on pre-computed features (branch classifier or fusion, spec §4.1, §6).

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
        return _val_record(y_va_np, logits, y_va.cpu(), pos_weight)

    def keep_best(epoch, record):
        best_head["sd"] = {k: v.detach().clone() for k, v in head.state_dict().items()}
        if out_dir is not None:
            _save_atomic(best_head["sd"], Path(out_dir) / "head_best.pt")
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
    """The fusion-stage loss: weighted BCE over 71 labels + L1 of the fusion weights (spec §3.7, §6)."""
    pw = torch.as_tensor(pos_weight, dtype=torch.float32)

    def loss_fn(head: nn.Linear):
        def fn(logits, targets):
            return fusion_loss(logits, targets, pw.to(logits.device), head.weight,
                               masked_identity=None if masked_identity is None else masked_identity.to(logits.device),
                               l1=l1)
        return fn

    return loss_fn


# --------------------------------------------------------------------------- feature extractor / baseline

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
    pos_weight = torch.as_tensor(compute_class_weights(train_split.targets, formula=cfg.class_weights)).to(device)
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
            with _autocast(device, use_amp):
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
        return _val_record(val_split.targets, logits, val_t, pos_weight.cpu())

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
