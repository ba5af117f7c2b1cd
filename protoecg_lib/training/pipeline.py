"""The whole ProtoECGNet pipeline in one call (spec §4.1 "paper pipeline", §5, §6).

For each branch: joint training -> projection onto real training ECGs -> the branch's own classifier.
Then the fusion head over the three projected branches, test-set predictions, the black-box baseline
with the same budget, and a summary table. Every step writes into the run directory and is skipped
when its output is already there, so an interrupted run resumes where it stopped.

``cached_run(...)`` is what the book's chapters call: it loads a finished run from the cache, or runs
the pipeline once (under a file lock, so chapters executed in parallel do not train twice).
"""
from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import json
import platform
import resource
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .. import __version__, settings
from ..models.checkpoints import load_checkpoint, save_checkpoint
from .cooccurrence import class_weights as compute_class_weights
from ..data import PTBXL, describe_source, load_ptbxl
from ..labels import BRANCHES, LABEL_SETS
from ..evaluation.metrics import evaluation_table, macro_auroc
from ..models import ModelConfig, ProtoBranch, ProtoECGNet, get_preset
from ..models.baseline import BaselineConfig, BaselineNet
from ..teaching.chapter import pick_device
from .projection import project_prototypes, provenance_summary, save_provenance
from ..runs.run import Run, write_predictions
from ..evaluation.metrics import sigmoid, tune_thresholds
from .trainer import (TrainConfig, branch_features, fusion_criterion, predict_logits, train_baseline,
                    train_branch, train_head, train_presets)

__all__ = ["PipelineConfig", "pipeline_config", "run_pipeline", "cached_run", "format_summary_table", "open_context",
           "step_joint", "step_projection", "step_classifier", "step_branch", "step_fusion", "step_baseline"]


@dataclass
class PipelineConfig:
    """Everything a pipeline run depends on besides the data."""

    preset: str
    model: ModelConfig
    train: dict[str, TrainConfig]
    baseline: BaselineConfig | None = None
    seed: int = 42
    n_boot: int = 1000

    def to_dict(self) -> dict:
        return {"preset": self.preset, "model": self.model.to_dict(),
                "train": {k: v.to_dict() for k, v in self.train.items()},
                "baseline": None if self.baseline is None else self.baseline.to_dict(),
                "seed": self.seed, "n_boot": self.n_boot}

    @classmethod
    def from_dict(cls, d: dict) -> "PipelineConfig":
        return cls(preset=d["preset"], model=ModelConfig.from_dict(d["model"]),
                   train={k: TrainConfig.from_dict(v) for k, v in d["train"].items()},
                   baseline=None if d.get("baseline") is None else BaselineConfig.from_dict(d["baseline"]),
                   seed=d.get("seed", 42), n_boot=d.get("n_boot", 1000))


def pipeline_config(preset: str = "fast", *, baseline: bool = True, seed: int = 42,
                    contrastive: bool = True) -> PipelineConfig:
    """The pipeline settings of a preset (``paper`` or ``fast``).

    The baseline is a ResNet1D-18 on all 71 labels, as wide as the rhythm branch's backbone and trained
    with the same stage settings as joint training (same data, splits and budget).
    ``contrastive=False`` drops the contrastive prototype loss (the ablation of spec §8.4).
    """
    model = get_preset(preset)
    train = train_presets(preset)
    train = {k: v.replace(seed=seed) for k, v in train.items()}
    if not contrastive:
        for stage in ("joint", "prototypes"):
            train[stage] = train[stage].replace(loss=dataclasses.replace(train[stage].loss, use_contrastive=False))
    train["feature_extractor"] = train["joint"].replace()
    base = None
    if baseline:
        base = BaselineConfig(backbone="1d", label_set="all", base_width=model.branches["rhythm"].base_width)
    return PipelineConfig(preset=preset, model=model, train=train, baseline=base, seed=seed,
                          n_boot=200 if preset == "fast" else 1000)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _say(verbose: bool, msg: str) -> None:
    if verbose:
        print(msg, flush=True)


def _write_json(path: Path, obj) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, default=float))
    tmp.replace(path)


def _f1_summary(y_true, y_prob, thresholds) -> dict:
    from ..evaluation.metrics import f1_scores

    _, macro, micro = f1_scores(y_true, y_prob, thresholds)
    _, macro05, micro05 = f1_scores(y_true, y_prob, 0.5)
    return {"tuned_on_val": {"macro": macro, "micro": micro}, "at_0.5": {"macro": macro05, "micro": micro05}}


def _test_auroc(y_true, y_prob) -> dict:
    present = ((y_true.sum(0) > 0) & (y_true.sum(0) < len(y_true)))
    return {"macro_auroc": macro_auroc(y_true, y_prob), "labels_evaluated": int(present.sum()),
            "labels": int(y_true.shape[1])}


class _Ctx:
    """What every pipeline step needs: data, settings, output folder, device, logging."""

    def __init__(self, ds: PTBXL, config: PipelineConfig, out: Path, device: str, resume: bool,
                 verbose: bool, progress: bool):
        self.ds, self.config, self.out, self.device = ds, config, Path(out), device
        self.resume, self.verbose, self.progress = resume, verbose, progress
        self.log_path = self.out / "metrics.jsonl"
        self.timings: dict[str, float] = {}

    def say(self, msg: str) -> None:
        _say(self.verbose, msg)


def step_joint(ctx: _Ctx, name: str, init: ProtoBranch | None = None) -> ProtoBranch:
    """Joint training of one branch (spec §4.1); ``RUN/<branch>/joint/best.pt``."""
    torch.manual_seed(ctx.config.seed)
    branch = init if init is not None else ProtoBranch(ctx.config.model.branches[name])
    ctx.say(f"[{name}] joint training: {branch.num_prototypes} prototypes, {branch.num_classes} labels")
    t0 = time.perf_counter()
    train_branch(branch, ctx.ds, "joint", ctx.config.train["joint"], ctx.out / name / "joint", device=ctx.device,
                 resume=ctx.resume, verbose=ctx.verbose, progress=ctx.progress, log_path=ctx.log_path)
    ctx.timings[f"{name}/joint"] = time.perf_counter() - t0
    return branch


def step_projection(ctx: _Ctx, branch: ProtoBranch) -> list[dict]:
    """Projection onto training ECGs (spec §5); ``RUN/<branch>/projected.pt`` and ``prototypes.json``."""
    name, t0 = branch.name, time.perf_counter()
    codes = dict(zip(ctx.ds.records["ecg_id"].astype(int), ctx.ds.records["codes"]))
    provenance = project_prototypes(branch, ctx.ds.split("train", name), codes=codes, device=ctx.device,
                                    progress=ctx.progress)
    save_provenance(provenance, ctx.out / name / "prototypes.json")
    save_checkpoint(ctx.out / name / "projected.pt", branch, extra={"stage": "projection"})
    ctx.timings[f"{name}/projection"] = time.perf_counter() - t0
    s = provenance_summary(provenance)
    ctx.say(f"[{name}] projected {s['projected']}/{s['prototypes']} prototypes onto {s['distinct_source_ecgs']} "
            f"training ECGs ({s['duplicates']} duplicates, {s['not_projected']} without a training positive)")
    return provenance


def step_classifier(ctx: _Ctx, branch: ProtoBranch) -> ProtoBranch:
    """The branch's own classifier on its frozen, projected similarities; ``RUN/<branch>/classifier/best.pt``."""
    name, t0 = branch.name, time.perf_counter()
    ctx.say(f"[{name}] classifier stage (last layer on frozen similarities)")
    train_branch(branch, ctx.ds, "classifier", ctx.config.train["classifier"], ctx.out / name / "classifier",
                 device=ctx.device, resume=ctx.resume, verbose=ctx.verbose, log_path=ctx.log_path)
    ctx.timings[f"{name}/classifier"] = time.perf_counter() - t0
    return branch.eval()


def _finished(stage_dir: Path) -> bool:
    state = stage_dir / "state.pt"
    return state.is_file() and bool(torch.load(state, weights_only=True)["done"]) and (stage_dir / "best.pt").is_file()


def step_branch(ctx: _Ctx, name: str) -> ProtoBranch:
    """Joint -> projection -> classifier for one branch, skipping what the run directory already holds."""
    bdir = ctx.out / name
    if ctx.resume and _finished(bdir / "classifier"):
        ctx.say(f"[{name}] finished branch found in {bdir}")
        return load_checkpoint(bdir / "classifier" / "best.pt")[0]
    if ctx.resume and (bdir / "projected.pt").is_file():
        ctx.say(f"[{name}] projected branch found, skipping joint training and projection")
        branch = load_checkpoint(bdir / "projected.pt")[0]
    else:
        branch = step_joint(ctx, name)
        step_projection(ctx, branch)
    return step_classifier(ctx, branch)


def _split_logits(ctx: _Ctx, fn, labels: str, who: str) -> dict[str, np.ndarray]:
    """Logits of ``fn`` on val and test, written to ``RUN/predictions``."""
    out = {}
    for split in ("val", "test"):
        sp = ctx.ds.split(split, labels)
        out[split] = predict_logits(fn, sp.signals, device=ctx.device)
        name = f"{split}.csv" if who == "fusion" else f"{split}_{who}.csv"
        write_predictions(ctx.out / "predictions" / name, sp.ecg_id, sp.patient_id, sp.labels, sp.targets, out[split])
    return out


def step_fusion(ctx: _Ctx, branches: dict[str, ProtoBranch]) -> ProtoECGNet:
    """The fusion head over the three frozen, projected branches (spec §6); ``RUN/model.pt``."""
    t0 = time.perf_counter()
    model = ProtoECGNet(ctx.config.model, load_pretrained=False)
    for name in BRANCHES:
        model.branches[name].load_state_dict(branches[name].state_dict())
    model.to(ctx.device).eval().requires_grad_(False)
    feats, splits = {}, {}
    for split in ("train", "val", "test"):
        sp = splits[split] = ctx.ds.split(split, "all")
        feats[split] = torch.cat([branch_features(model.branches[n], sp.signals, device=ctx.device)
                                  for n in BRANCHES], dim=1)                       # (N, sum P)
    cfg = ctx.config.train["fusion"]
    pos_weight = compute_class_weights(splits["train"].targets, formula=cfg.class_weights)
    masked = model.fusion_identity.cpu() if ctx.config.model.fusion == "masked" else None
    ctx.say(f"[fusion] Linear({feats['train'].shape[1]} -> 71) on the projected branches' similarities")
    train_head(model.fusion, (feats["train"], torch.as_tensor(splits["train"].targets)),
               (feats["val"], torch.as_tensor(splits["val"].targets), splits["val"].targets),
               fusion_criterion(pos_weight, cfg.loss.l1, masked)(model.fusion), cfg, torch.as_tensor(pos_weight),
               out_dir=ctx.out / "fusion", tag={"branch": "fusion", "stage": "fusion"}, resume=ctx.resume,
               verbose=ctx.verbose, device=ctx.device, log_path=ctx.log_path)
    model.eval()
    save_checkpoint(ctx.out / "model.pt", model, extra={"stage": "fusion"})
    ctx.timings["fusion"] = time.perf_counter() - t0
    return model


def step_baseline(ctx: _Ctx, folder: Path | None = None) -> BaselineNet:
    """The black-box baseline with the same data, splits and budget (``RUN/baseline/best.pt``), or a
    branch's feature extractor (``feature_extractor`` stage) when ``ctx.config.baseline`` says so."""
    t0 = time.perf_counter()
    torch.manual_seed(ctx.config.seed)
    base = BaselineNet(ctx.config.baseline)
    ctx.say(f"[{base.config.name}] plain ResNet-18 ({base.config.backbone}) on {len(base.labels)} labels, "
            "same budget as joint training")
    train_baseline(base, ctx.ds, ctx.config.train["feature_extractor"], folder or ctx.out / "baseline",
                   device=ctx.device, resume=ctx.resume, verbose=ctx.verbose, log_path=ctx.log_path)
    ctx.timings["baseline"] = time.perf_counter() - t0
    return base


def _evaluate(ctx: _Ctx, logits: dict[str, np.ndarray]) -> dict:
    """Test-fold table for a 71-label model: AUROCs with patient-bootstrap CIs, F1 at tuned thresholds."""
    val, test = ctx.ds.split("val", "all"), ctx.ds.split("test", "all")
    table = evaluation_table(test.targets, logits["test"], test.labels, groups=test.patient_id,
                             n_boot=ctx.config.n_boot, seed=ctx.config.seed)
    table["f1"] = _f1_summary(test.targets, sigmoid(logits["test"]),
                              tune_thresholds(val.targets, sigmoid(logits["val"])))
    cols = {n: [LABEL_SETS["all"].index(c) for c in LABEL_SETS[n]] for n in BRANCHES}
    table["per_branch"] = {n: _test_auroc(test.targets[:, cols[n]], logits["test"][:, cols[n]]) for n in BRANCHES}
    return table


def _start_run(ctx: _Ctx) -> dict:
    ds, out = ctx.ds, ctx.out
    meta = {"pipeline": ctx.config.to_dict(), "data": {"root": str(ds.root), "source": ds.source, "fs": ds.fs,
                                                        "records": len(ds), "options": ds.options},
            "versions": {"protoecg": __version__, "torch": torch.__version__, "python": platform.python_version()},
            "device": ctx.device}
    cfg_path = out / "config.json"
    if cfg_path.is_file() and ctx.resume:
        old = json.loads(cfg_path.read_text())
        if old.get("pipeline") != json.loads(json.dumps(meta["pipeline"], default=float)) or \
                old.get("data", {}).get("root") != meta["data"]["root"]:
            raise ValueError(f"{out} holds a run with another configuration or data root; use another "
                             "--out folder, or resume=False to start over there.")
    out.mkdir(parents=True, exist_ok=True)
    _write_json(cfg_path, meta)
    return meta


def open_context(root=None, preset="fast", out=None, *, config=None, data=None, device=None, resume=True,
                 verbose=True, progress=False) -> _Ctx:
    """Load the data and settings a pipeline step needs (used by the CLI's single-stage commands)."""
    if out is None:
        raise ValueError("a run needs an output folder (out=...)")
    config = config or pipeline_config(preset)
    ds = data if data is not None else load_ptbxl(root)
    return _Ctx(ds, config, Path(out), device or pick_device(), resume, verbose, progress)


def run_pipeline(
    root: str | Path | None = None,
    preset: str = "fast",
    out: str | Path | None = None,
    *,
    config: PipelineConfig | None = None,
    data: PTBXL | None = None,
    device: str | None = None,
    resume: bool = True,
    verbose: bool = True,
    progress: bool = False,
) -> Run:
    """Joint training, projection and classifier per branch, then fusion and the baseline; write ``out``.

    Parameters
    ----------
    root : path, optional
        PTB-XL root (default: ``PROTOECG_DATA`` / the library's choice). Ignored when ``data`` is given.
    preset : {'fast', 'paper'}
        Model and training settings (ignored when ``config`` is given).
    out : path
        The run directory (created). Steps already finished there are not repeated.
    config : PipelineConfig, optional
    data : PTBXL, optional
        An already loaded root.
    device : str, optional
        Default: CUDA, else MPS, else CPU.
    """
    t_start = time.perf_counter()
    ctx = open_context(root, preset, out, config=config, data=data, device=device, resume=resume,
                       verbose=verbose, progress=progress)
    ctx.say(f"protoecg pipeline ({ctx.config.preset}) on {ctx.device}\n{describe_source(ctx.ds)}\n"
            f"run directory: {ctx.out}")
    meta = _start_run(ctx)
    summary: dict = {"preset": ctx.config.preset, "device": ctx.device, "data": meta["data"], "branches": {}}

    branches = {}
    for name in BRANCHES:
        branch = branches[name] = step_branch(ctx, name)
        logits = _split_logits(ctx, lambda x, b=branch: b(x).logits, name, name)
        summary["branches"][name] = {**_test_auroc(ctx.ds.split("test", name).targets, logits["test"]),
                                     "projection": provenance_summary(Run(ctx.out).provenance(name))}
    model = step_fusion(ctx, branches)
    summary["fusion"] = _evaluate(ctx, _split_logits(ctx, lambda x: model(x).logits, "all", "fusion"))
    if ctx.config.baseline is not None:
        base = step_baseline(ctx)
        summary["baseline"] = _evaluate(ctx, _split_logits(ctx, base, "all", "baseline"))
    ctx.timings["total"] = time.perf_counter() - t_start
    summary["timings_s"] = {k: round(v, 2) for k, v in ctx.timings.items()}
    summary["peak_rss_mb"] = round(_peak_rss_mb(), 1)
    _write_json(ctx.out / "summary.json", summary)
    ctx.say(format_summary_table(summary))
    return Run(ctx.out)


def format_summary_table(summary: dict) -> str:
    """The end-of-run table: test macro AUROC per branch, fusion and baseline."""
    lines = ["", f"test-fold results ({summary['data']['source']} data, {summary['preset']} preset)",
             f"{'model':<34}{'macro AUROC':>12}{'labels':>9}"]
    for name, b in summary["branches"].items():
        lines.append(f"{name + ' branch (own classifier)':<34}{b['macro_auroc']:>12.4f}"
                     f"{b['labels_evaluated']:>5}/{b['labels']}")
    f = summary.get("fusion")
    if f:
        m = f["macro_auroc"]
        lines.append(f"{'ProtoECGNet fusion (71 labels)':<34}{m['point']:>12.4f}{f['labels_evaluated']:>5}/71"
                     f"   95% CI {m['lo']:.3f}-{m['hi']:.3f}")
    b = summary.get("baseline")
    if b:
        m = b["macro_auroc"]
        lines.append(f"{'black-box ResNet1D-18 (71 labels)':<34}{m['point']:>12.4f}{b['labels_evaluated']:>5}/71"
                     f"   95% CI {m['lo']:.3f}-{m['hi']:.3f}")
    t = summary.get("timings_s", {})
    lines.append(f"wall time {t.get('total', float('nan')):.0f} s, peak memory {summary.get('peak_rss_mb', 0):.0f} MB")
    return "\n".join(lines)


# ---------------------------------------------------------------- the book's entry point

@contextmanager
def _locked(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def cached_run(root: str | Path | None = None, preset: str | None = None, *, config: PipelineConfig | None = None,
               verbose: bool = True) -> Run:
    """A finished pipeline run for this data and configuration: from the cache, or trained now (once).

    Parameters
    ----------
    root : path, optional
        PTB-XL root (default: the library's choice, see :func:`protoecg_lib.data.resolve_root`).
    preset : {'fast', 'paper'}, optional
        Default: ``fast`` when ``PROTOECG_FAST`` is set, else ``paper``.
    config : PipelineConfig, optional
        A variant (e.g. ``pipeline_config('fast', contrastive=False)``); default: the preset's.

    The cache key covers the data root and its metadata, the full configuration and the library
    version; chapters that run at the same time wait for one another instead of training twice.
    """
    from ..data.download import sha256_file
    from ..data.resolve import resolve_root

    root = resolve_root(root)
    preset = preset or (config.preset if config is not None else ("fast" if settings.is_fast() else "paper"))
    config = config or pipeline_config(preset)
    key = hashlib.sha256(json.dumps({"root": str(Path(root).resolve()), "config": config.to_dict(),
                                     "version": __version__, "meta": sha256_file(Path(root) / "ptbxl_database.csv")},
                                    sort_keys=True, default=float).encode()).hexdigest()[:16]
    folder = settings.cache_dir("runs") / f"{preset}-{key}"
    with _locked(settings.cache_dir("runs") / f"{preset}-{key}.lock"):
        if (folder / "summary.json").is_file():
            if verbose:
                print(f"using the cached {preset} pipeline run in {folder}")
            return Run(folder)
        if verbose:
            print(f"no cached {preset} run for {root}: running the pipeline once into {folder}")
            if preset == "paper":
                print("  paper settings: up to 200 epochs per stage for three ResNet-18 branches and the baseline; "
                      "on a GPU this takes hours on the full PTB-XL (less on a subset). It resumes if interrupted. "
                      "For a run of minutes, set PROTOECG_FAST=1 before the setup cell.")
        return run_pipeline(root, out=folder, config=config, verbose=verbose)
