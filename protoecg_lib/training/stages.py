"""The pipeline's stages, declared (method §4.1 "paper pipeline", §5, §6).

Each :class:`Stage` names the run-directory files it reads and writes
(:class:`~protoecg_lib.runs.layout.RunLayout`) and what it runs: joint training, projection, the
classifier stage and predictions per branch, then the fusion head and its predictions, the black-box
baseline and its predictions, the calibration of every model's probabilities on the validation fold
(:mod:`~protoecg_lib.training.calibrate`), and the summary (the same evaluation as ``protoecg evaluate``).
:func:`pipeline_stages` lists them in order; :mod:`~protoecg_lib.training.pipeline` runs them.
"""
from __future__ import annotations

import json
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..device import peak_memory_mb
from ..files import atomic_write_json
from ..labels import BRANCHES
from ..models import ProtoBranch, ProtoECGNet
from ..models.baseline import BaselineConfig, BaselineNet
from ..models.checkpoints import load_checkpoint, save_checkpoint
from ..runs import Run, RunLayout, save_prototype_sources, source_summary, write_predictions
from .baseline import train_baseline
from .branch import train_branch
from .calibrate import calibrate_layout
from .config import PipelineConfig, stage_config
from .context import StageContext
from .heads import branch_features, fusion_criterion, predict_logits, train_head
from .projection import project_prototypes

__all__ = ["StageContext", "Stage", "pipeline_stages", "optional_stages", "format_summary_table", "timed",
           "stage_seed"]


def stage_seed(seed: int, name: str) -> int:
    """The seed of stage ``name`` in a run seeded with ``seed``: ``seed`` plus a constant of the stage.

    The constant is the CRC-32 of the stage's name modulo 1,000,003, so every stage draws from its own
    stream and its result does not depend on which stages ran before it in the same process (a resumed
    run gives the numbers of an uninterrupted one). Stages that seed themselves with the run's seed
    (joint training, the baseline) keep doing so inside their own stream.
    """
    return int(seed) + zlib.crc32(name.encode("utf-8")) % 1_000_003


@dataclass(frozen=True)
class Stage:
    """One step of the pipeline and the run-directory files it reads and writes.

    Attributes
    ----------
    name : str
        ``'<branch>/joint'``, ``'<branch>/projection'``, ``'<branch>/classifier'``,
        ``'<branch>/predictions'``, ``'fusion'``, ``'fusion/predictions'``, ``'baseline'``,
        ``'baseline/predictions'``, ``'summary'`` (optional: ``'<branch>/prototypes'``,
        ``'<branch>/feature_extractor'``).
    reads, writes : tuple of Path
        Files in the run directory. The stage is done when every file it writes is there (and a
        training stage's ``state.pt`` says it finished).
    run : callable(StageContext)
    state : Path, optional
        The training state whose ``done`` flag must be set for the stage to count as done.
    """

    name: str
    reads: tuple[Path, ...]
    writes: tuple[Path, ...]
    run: Callable[[StageContext], None]
    state: Path | None = None

    def done(self) -> bool:
        if not all(p.is_file() for p in self.writes):
            return False
        if self.state is None:
            return True
        return bool(torch.load(self.state, map_location="cpu", weights_only=True).get("done"))

    def missing_inputs(self) -> list[Path]:
        return [p for p in self.reads if not p.is_file()]


def format_summary_table(summary: dict) -> str:
    """The end-of-run table: test macro AUROC per branch, fusion and baseline."""
    lines = ["", f"test-fold results ({summary['data']['source']} data, {summary['preset']} preset)",
             f"{'model':<34}{'macro AUROC':>12}{'labels':>9}"]

    def row(name: str, entry: dict) -> str:
        m = entry["macro_auroc"]
        point = _point(m)
        ci = f"   95% CI {m['lo']:.3f}-{m['hi']:.3f}" if isinstance(m, dict) and m.get("lo") is not None else ""
        return f"{name:<34}{_num(point):>12}{entry['labels_evaluated']:>5}/{entry.get('labels', entry.get('n_labels'))}{ci}"

    for name, b in summary["branches"].items():
        lines.append(row(name + " branch (own classifier)", b))
    if summary.get("fusion"):
        lines.append(row("ProtoECGNet fusion (71 labels)", summary["fusion"]))
    if summary.get("baseline"):
        lines.append(row("black-box ResNet1D-18 (71 labels)", summary["baseline"]))
    for who in ("fusion", "baseline"):
        cal = (summary.get(who) or {}).get("calibration")
        if cal:
            raw, c = cal["raw"], cal["calibrated"]
            lines.append(f"{who}: ECE {raw['ece']:.3f} -> {c['ece']:.3f} calibrated; labels listed per ECG (median) "
                         f"{raw['median_listed']:g} at sigmoid >= 0.5 -> {c['median_listed']:g} (true {cal['true_median']:g})")
    t = summary.get("timings_s", {})
    lines.append(f"wall time {t.get('total', float('nan')):.0f} s, peak memory {summary.get('peak_rss_mb', 0):.0f} MB")
    return "\n".join(lines)


def _num(x, digits: int = 4) -> str:
    return "n/a" if x is None or (isinstance(x, float) and np.isnan(x)) else f"{x:.{digits}f}"


def _point(m):
    return m["point"] if isinstance(m, dict) else m


def timed(ctx: StageContext, name: str, fn: Callable[[], None]) -> None:
    """Run ``fn`` as stage ``name``: seeded with :func:`stage_seed` in a forked CPU random stream (the
    caller's stream is left as it was), timed into ``ctx.timings``."""
    t0 = time.perf_counter()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(stage_seed(ctx.config.seed, name))
        fn()
    ctx.timings[name] = time.perf_counter() - t0


def _joint(name: str, stage: str = "joint") -> Callable[[StageContext], None]:
    def run(ctx: StageContext) -> None:
        torch.manual_seed(ctx.config.seed)
        branch = _initial_branch(ctx, name)
        cfg = stage_config(ctx.config.train, stage, name)
        ctx.say(f"[{name}] {stage} training: {branch.num_prototypes} prototypes, {branch.num_classes} labels, "
                f"lr {cfg.lr:g}, up to {cfg.num_epochs} epochs" + _start_note(branch))
        result = train_branch(branch, ctx.data, stage, cfg, ctx.layout.stage_dir(name, stage), device=ctx.device,
                              resume=ctx.resume, verbose=ctx.per_epoch, progress=ctx.progress,
                              log_path=ctx.layout.metrics)
        ctx.note(result.summary() + _start_note(branch).replace(";", ","))
        ctx.keep(ctx.layout.best(name, stage), branch)
    return run


def _start_note(branch: ProtoBranch) -> str:
    if branch.config.pretrained:
        return "; backbone from ImageNet" if branch.imagenet_weights else "; backbone from scratch (no ImageNet weights)"
    return ""


def _initial_branch(ctx: StageContext, name: str) -> ProtoBranch:
    """A new branch, the ``--init`` checkpoint (a branch, or a feature extractor whose backbone is copied),
    or the branch pretrained on ``config.pretrain_root`` (its joint stage's best weights)."""
    if ctx.pretrained is not None and ctx.init is None:
        ctx.say(f"[{name}] joint training starts from the weights pretrained on {ctx.config.pretrain_root}")
        return load_checkpoint(ctx.pretrained.layout.best(name, "joint"))[0]
    branch = ProtoBranch(ctx.config.model.branches[name])
    if ctx.init is None:
        return branch
    init, _ = load_checkpoint(ctx.init)
    if isinstance(init, ProtoBranch):
        return init
    branch.backbone.load_state_dict(init.backbone.state_dict(), strict=True)
    ctx.say(f"[{name}] backbone initialised from the feature extractor {ctx.init}")
    return branch


def _prototypes_only(name: str) -> Callable[[StageContext], None]:
    def run(ctx: StageContext) -> None:
        branch = load_checkpoint(ctx.init)[0] if ctx.init else ctx.take(ctx.layout.best(name, "joint"))
        result = train_branch(branch, ctx.data, "prototypes", ctx.config.train["prototypes"],
                              ctx.layout.stage_dir(name, "prototypes"), device=ctx.device, resume=ctx.resume,
                              verbose=ctx.per_epoch, log_path=ctx.layout.metrics)
        ctx.note(result.summary())
        ctx.keep(ctx.layout.best(name, "prototypes"), branch)
    return run


def _projection(name: str) -> Callable[[StageContext], None]:
    def run(ctx: StageContext) -> None:
        branch = load_checkpoint(ctx.init)[0] if ctx.init else ctx.take(ctx.layout.best(name, "joint"))
        sources = project_prototypes(branch, ctx.data.split("train", name), device=ctx.device, progress=ctx.progress)
        save_prototype_sources(sources, ctx.layout.prototypes(name))
        save_checkpoint(ctx.layout.projected(name), branch, extra={"stage": "projection"})
        ctx.keep(ctx.layout.projected(name), branch)
        s = source_summary(sources)
        msg = (f"{s['projected']}/{s['prototypes']} prototypes projected onto {s['distinct_source_ecgs']} training "
               f"ECGs ({s['duplicates']} duplicates, {s['not_projected']} without a training positive)")
        ctx.note(msg)
        ctx.say(f"[{name}] {msg}")
    return run


def _classifier(name: str) -> Callable[[StageContext], None]:
    def run(ctx: StageContext) -> None:
        branch = load_checkpoint(ctx.init)[0] if ctx.init else ctx.take(ctx.layout.projected(name))
        ctx.say(f"[{name}] classifier stage (last layer on frozen similarities)")
        result = train_branch(branch, ctx.data, "classifier", stage_config(ctx.config.train, "classifier", name),
                              ctx.layout.stage_dir(name, "classifier"), device=ctx.device, resume=ctx.resume,
                              verbose=ctx.per_epoch, log_path=ctx.layout.metrics)
        ctx.note(result.summary())
        ctx.keep(ctx.layout.best(name, "classifier"), branch.eval())
    return run


def _write_split_predictions(ctx: StageContext, fn, label_set: str, who: str) -> None:
    for split in ("val", "test"):
        sp = ctx.data.split(split, label_set)
        logits = predict_logits(fn, sp.signals, device=ctx.device)
        write_predictions(ctx.layout.predictions(split, who), sp.ecg_id, sp.patient_id, sp.labels, sp.targets, logits)
    ctx.note(f"predictions for {len(ctx.data.split('val', label_set))} validation and "
             f"{len(ctx.data.split('test', label_set))} test ECGs")


def _branch_predictions(name: str) -> Callable[[StageContext], None]:
    def run(ctx: StageContext) -> None:
        branch = ctx.peek(ctx.layout.best(name, "classifier")).to(ctx.device).eval()
        _write_split_predictions(ctx, lambda x: branch(x).logits, name, name)
    return run


def _fusion(ctx: StageContext) -> None:
    """The fusion head over the three frozen, projected branches (method §6); ``RUN/model.pt``."""
    model = ProtoECGNet(ctx.config.model, load_pretrained=False)
    for name in BRANCHES:
        model.branches[name].load_state_dict(ctx.peek(ctx.layout.best(name, "classifier")).state_dict())
    model.to(ctx.device).eval().requires_grad_(False)
    feats, splits = {}, {}
    for split in ("train", "val", "test"):
        sp = splits[split] = ctx.data.split(split, "all")
        feats[split] = torch.cat([branch_features(model.branches[n], sp.signals, device=ctx.device)
                                  for n in BRANCHES], dim=1)                       # (N, sum P)
    cfg = ctx.config.train["fusion"]
    pos_weight = splits["train"].class_weights(cfg.class_weights)
    masked = model.fusion_identity.cpu() if ctx.config.model.fusion == "masked" else None
    ctx.say(f"[fusion] Linear({feats['train'].shape[1]} -> 71) on the projected branches' similarities")
    result = train_head(model.fusion, (feats["train"], torch.as_tensor(splits["train"].targets)),
               (feats["val"], torch.as_tensor(splits["val"].targets), splits["val"].targets),
               fusion_criterion(pos_weight, cfg.loss.l1, masked)(model.fusion), cfg, torch.as_tensor(pos_weight),
               out_dir=ctx.layout.fusion_dir, tag={"branch": "fusion", "stage": "fusion"}, resume=ctx.resume,
               verbose=ctx.per_epoch, device=ctx.device, log_path=ctx.layout.metrics)
    ctx.note(result.summary())
    model.eval()
    save_checkpoint(ctx.layout.model, model, extra={"stage": "fusion"})
    ctx.keep(ctx.layout.model, model)


def _fusion_predictions(ctx: StageContext) -> None:
    model = ctx.peek(ctx.layout.model).to(ctx.device).eval()
    _write_split_predictions(ctx, lambda x: model(x).logits, "all", "fusion")


def _feature_extractor(name: str | None) -> Callable[[StageContext], None]:
    """The black-box baseline (``name=None``) or a branch's feature extractor (method §4.1)."""
    def run(ctx: StageContext) -> None:
        torch.manual_seed(ctx.config.seed)
        if name is None:
            config, folder = ctx.config.baseline, ctx.layout.baseline_dir
        else:
            bc = ctx.config.model.branches[name]
            config = BaselineConfig(backbone=bc.backbone, label_set=bc.label_set, base_width=bc.base_width,
                                    dropout=bc.dropout, name=f"{name}-feature-extractor")
            folder = ctx.layout.stage_dir(name, "feature_extractor")
        base = BaselineNet(config)
        if name is None and ctx.pretrained is not None:
            base.load_state_dict(load_checkpoint(ctx.pretrained.layout.baseline)[0].state_dict())
            ctx.say(f"[baseline] starts from the weights pretrained on {ctx.config.pretrain_root}")
        ctx.say(f"[{base.config.name}] plain ResNet-18 ({base.config.backbone}) on {len(base.labels)} labels, "
                "same budget as joint training")
        result = train_baseline(base, ctx.data, ctx.config.train["feature_extractor"], folder, device=ctx.device,
                                resume=ctx.resume, verbose=ctx.per_epoch, log_path=ctx.layout.metrics)
        ctx.note(result.summary())
        ctx.keep(folder / "best.pt", base)
    return run


def _baseline_predictions(ctx: StageContext) -> None:
    base = ctx.peek(ctx.layout.baseline).to(ctx.device).eval()
    _write_split_predictions(ctx, base, "all", "baseline")


def _calibration(ctx: StageContext) -> None:
    """Calibrated probabilities for every model, fitted on its validation logits (issue 16)."""
    cals = calibrate_layout(ctx.layout, ctx.data, ctx.config)
    fused = cals.get("fusion")
    if fused is not None:
        msg = f"{len(cals)} models calibrated on the validation fold ({fused.method}, operating point " \
              f"{fused.info['operating_point']})"
        ctx.note(msg)
        ctx.say(f"[calibration] {msg}; calibrated prob_ columns written")


def _summary(ctx: StageContext) -> None:
    """Evaluate the run exactly as ``protoecg evaluate`` does and write ``summary.json``."""
    from ..evaluation.diagnostics import prediction_diagnostics
    from ..evaluation.evaluate import evaluate_run

    run = Run(ctx.layout.root)
    evaluation = evaluate_run(run, "test")
    models = evaluation["models"]
    meta = json.loads(ctx.layout.config.read_text())
    summary = {"preset": ctx.config.preset, "device": ctx.device, "data": meta["data"], "branches": {},
               "evaluation": ctx.layout.evaluation("test").name}
    if ctx.pretrained is not None:
        summary["pretrained_on"] = {"root": ctx.config.pretrain_root, "run": str(ctx.pretrained.path)}
    for name in BRANCHES:
        pred = run.predictions("test", name)
        diag = prediction_diagnostics(name, "test", pred.y_true, pred.scores, pred.labels,
                                      ctx.data.split("train", name).targets.sum(axis=0))
        summary["branches"][name] = {**_headline(models[name]),
                                     "macro_auroc_trained": diag.macro_auroc_trained,
                                     "labels_trained": diag.labels_trained,
                                     "logit_correlation": diag.logit_correlation,
                                     "projection": source_summary(run.prototype_sources(name))}
    summary["fusion"] = {**models["fusion"], "per_branch": evaluation["fusion_per_branch"]}
    if "baseline" in models:
        summary["baseline"] = models["baseline"]
        summary["interpretability_price"] = {m: evaluation["interpretability_price"][m] for m in ("macro", "weighted")}
    summary["timings_s"] = {k: round(v, 2) for k, v in ctx.timings.items()}
    summary["peak_rss_mb"] = round(peak_memory_mb(), 1)
    atomic_write_json(ctx.layout.summary, summary)
    ctx.say(format_summary_table(summary))
    ctx.note("test macro AUROC " + ", ".join(f"{who} {_num(_point(summary[who]['macro_auroc']), 2)}"
                                             for who in ("fusion", "baseline") if summary.get(who)))


def _headline(model_eval: dict) -> dict:
    return {"macro_auroc": model_eval["macro_auroc"], "weighted_auroc": model_eval["weighted_auroc"],
            "labels_evaluated": model_eval["labels_evaluated"], "labels": model_eval["n_labels"]}


def pipeline_stages(config: PipelineConfig, layout: RunLayout) -> list[Stage]:
    """The pipeline's stages in order, each with the run-directory files it reads and writes."""
    L = layout
    stages = []
    for b in BRANCHES:
        stages += [
            Stage(f"{b}/joint", (), (L.best(b, "joint"), L.state(b, "joint")), _joint(b), L.state(b, "joint")),
            Stage(f"{b}/projection", (L.best(b, "joint"),), (L.projected(b), L.prototypes(b)), _projection(b)),
            Stage(f"{b}/classifier", (L.projected(b),), (L.best(b, "classifier"), L.state(b, "classifier")),
                  _classifier(b), L.state(b, "classifier")),
            Stage(f"{b}/predictions", (L.best(b, "classifier"),),
                  (L.predictions("val", b), L.predictions("test", b)), _branch_predictions(b)),
        ]
    classifiers = tuple(L.best(b, "classifier") for b in BRANCHES)
    stages += [
        Stage("fusion", classifiers, (L.model, L.fusion_dir / "state.pt"), _fusion, L.fusion_dir / "state.pt"),
        Stage("fusion/predictions", (L.model,), (L.predictions("val"), L.predictions("test")), _fusion_predictions),
    ]
    predictions = [L.predictions(s, w) for s in ("val", "test") for w in ("fusion", *BRANCHES)]
    if config.baseline is not None:
        stages += [
            Stage("baseline", (), (L.baseline, L.baseline_dir / "state.pt"), _feature_extractor(None),
                  L.baseline_dir / "state.pt"),
            Stage("baseline/predictions", (L.baseline,),
                  (L.predictions("val", "baseline"), L.predictions("test", "baseline")), _baseline_predictions),
        ]
        predictions += [L.predictions(s, "baseline") for s in ("val", "test")]
    reads = tuple(predictions)
    if config.calibration is not None:
        who = ["fusion", *BRANCHES] + (["baseline"] if config.baseline is not None else [])
        calibrations = tuple(L.calibration(w) for w in who)
        stages.append(Stage("calibration", tuple(predictions), calibrations, _calibration))
        reads += calibrations
    stages.append(Stage("summary", reads, (L.evaluation("test"), L.summary), _summary))
    return stages


def optional_stages(config: PipelineConfig, layout: RunLayout) -> list[Stage]:
    """Stages the paper pipeline does not run but ``protoecg train --stage`` offers (method §4.1)."""
    L = layout
    out = []
    for b in BRANCHES:
        out += [
            Stage(f"{b}/prototypes", (L.best(b, "joint"),), (L.best(b, "prototypes"), L.state(b, "prototypes")),
                  _prototypes_only(b), L.state(b, "prototypes")),
            Stage(f"{b}/feature_extractor", (), (L.best(b, "feature_extractor"), L.state(b, "feature_extractor")),
                  _feature_extractor(b), L.state(b, "feature_extractor")),
        ]
    return out
