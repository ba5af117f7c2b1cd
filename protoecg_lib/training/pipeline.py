"""The whole ProtoECGNet pipeline as a declared list of stages (method §4.1 "paper pipeline", §5, §6).

For each branch: joint training -> projection onto real training ECGs -> the branch's own classifier
-> its predictions. Then the fusion head over the three projected branches and its predictions, the
black-box baseline with the same budget and its predictions, the calibration of every model's
probabilities on the validation fold, and the summary (the same evaluation as ``protoecg evaluate``).
With ``PipelineConfig.pretrain_root`` the same pipeline first runs (cached) on that root, and the
joint stages and the baseline start from its weights. Each :class:`Stage` names the files it reads and writes in the run
directory (:class:`~protoecg_lib.runs.layout.RunLayout`); a stage whose outputs are all there is
skipped, so an interrupted run resumes where it stopped. Under ``torchrun`` every rank runs the same
stages in step (:mod:`~protoecg_lib.training.distributed`); a barrier ends each stage and only rank 0
writes files and the summary. ``protoecg train --stage``, the pipeline,
:func:`~protoecg_lib.training.cache.cached_run` and the tests' tiny runs all go through
:func:`run_stages`.
"""
from __future__ import annotations

import dataclasses
import json
import platform
import time
from pathlib import Path

import torch

from .. import __version__
from ..data import PTBXL, describe_source, load_ptbxl
from ..device import pick_device
from ..files import atomic_write_json
from ..runs import Run, RunLayout, damaged_files, forget_files, record_files
from ..runs.manifest import manifest_entry
from . import distributed as dist
from .config import PipelineConfig, pipeline_config
from .context import StageContext
from .stages import Stage, format_summary_table, pipeline_stages, timed

__all__ = ["Stage", "StageContext", "open_context", "run_stages", "run_pipeline", "format_summary_table"]


# --------------------------------------------------------------------------- running them
def _start_run(ctx: StageContext, update: bool = False) -> None:
    """Write ``config.json``, or check that an existing one describes the same run (``update``: record
    this command's settings, as ``protoecg train`` does for the stage it runs)."""
    ds = ctx.data
    meta = {"pipeline": ctx.config.to_dict(), "data": {"root": str(ds.root), "source": ds.source, "fs": ds.fs,
                                                        "records": len(ds), "options": ds.options},
            "versions": {"protoecg": __version__, "torch": torch.__version__, "python": platform.python_version()},
            "device": ctx.device}
    path = ctx.layout.config
    if path.is_file() and ctx.resume and not update:
        old = json.loads(path.read_text())
        if old.get("pipeline") != json.loads(json.dumps(meta["pipeline"], default=float)) or \
                old.get("data", {}).get("root") != meta["data"]["root"]:
            raise ValueError(f"{ctx.layout.root} holds a run with another configuration or data root; use another "
                             "--out folder, or resume=False (--restart) to start over there.")
    atomic_write_json(path, meta)


def open_context(root=None, preset="fast", out=None, *, config=None, data=None, device=None, resume=True,
                 verbose=True, progress=False, init=None, update_config=False) -> StageContext:
    """Load the data and settings the stages need and write (or check) the run's ``config.json``.

    ``verbose``: ``True`` prints every epoch, ``"summary"`` one line per stage, ``False`` nothing
    (:mod:`~protoecg_lib.training.context`)."""
    if out is None:
        raise ValueError("a run needs an output folder (out=...)")
    config = config or pipeline_config(preset)
    if data is None:
        if not dist.is_main():
            dist.barrier()          # rank 0 fills the signal cache first; the other ranks then read it
        ds = load_ptbxl(root)
        if dist.is_main():
            dist.barrier()
    else:
        ds = data
    ctx = StageContext(ds, config, RunLayout(out), device or pick_device(), resume=resume, verbose=verbose,
                       progress=progress, init=None if init is None else Path(init))
    _start_run(ctx, update=update_config)
    dist.barrier()
    return ctx


def run_stages(ctx: StageContext, stages: list[Stage], *, only: set[str] | None = None) -> list[str]:
    """Run ``stages`` in order, skipping those already done (when resuming); return the names run.

    ``only`` restricts the run to these stage names; their inputs must then exist already (the error
    names the stage that writes a missing one). After a stage ran, the SHA-256 of every file it
    declares goes into the run's ``manifest.json`` (:mod:`protoecg_lib.runs.manifest`); a stage one of
    whose files no longer matches its entry is not done: its files are removed and it runs again from
    its start (seeded as before, so on a CPU it writes the same weights and predictions).
    """
    ran = []
    writers = {p: s.name for s in stages for p in s.writes}
    for stage in stages:
        if only is not None and stage.name not in only:
            continue
        damaged = damaged_files(ctx.layout, stage.writes)
        dist.barrier()                # distributed: every rank has looked before rank 0 removes anything
        if damaged:   # a file changed since the stage wrote it: the stage runs again from its start
            path, problem = damaged[0]
            ctx.tell(f"[{stage.name}] {path} {problem}: running the stage again from its start")
            if dist.is_main():
                forget_files(ctx.layout, stage.writes)
                for p in stage.writes:
                    p.unlink(missing_ok=True)
        elif ctx.resume and stage.done():
            ctx.say(f"[{stage.name}] already done in {ctx.layout.root}")
            ctx.stage_done(stage.name, msg="already done")
            if dist.is_main() and any(manifest_entry(ctx.layout, p) is None for p in stage.writes):
                record_files(ctx.layout, stage.writes, stage.name)    # a run from before the manifest
            continue
        missing = [] if (ctx.init is not None and only is not None) else stage.missing_inputs()
        if missing:
            first = writers.get(missing[0], "an earlier stage")
            raise FileNotFoundError(f"stage {stage.name!r} needs {missing[0]}, which is missing: run the "
                                    f"{first!r} stage first (or the whole pipeline) with the same --out")
        timed(ctx, stage.name, lambda s=stage: s.run(ctx))
        ctx.stage_done(stage.name, ctx.timings[stage.name])
        if dist.is_main():          # in a distributed run rank 0 wrote the stage's files
            record_files(ctx.layout, stage.writes, stage.name)
        dist.barrier()
        ran.append(stage.name)
    return ran


def run_pipeline(
    root: str | Path | None = None,
    preset: str = "fast",
    out: str | Path | None = None,
    *,
    config: PipelineConfig | None = None,
    data: PTBXL | None = None,
    device: str | None = None,
    resume: bool = True,
    verbose: bool | str = True,
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
        The run directory (created). Stages already finished there are not repeated.
    config : PipelineConfig, optional
    data : PTBXL, optional
        An already loaded root.
    device : str, optional
        Default: CUDA, else MPS, else CPU.
    verbose : bool or 'summary'
        ``True``: every stage's header and every training epoch (the command line's output);
        ``"summary"``: one line per stage when it ends (the book's chapters); ``False``: nothing.
    progress : bool
        Progress bars (tqdm) over the batches of every joint epoch and of projection.
    """
    t_start = time.perf_counter()
    ctx = open_context(root, preset, out, config=config, data=data, device=device, resume=resume,
                       verbose=verbose, progress=progress)
    ctx.say(f"protoecg pipeline ({ctx.config.preset}) on {ctx.device}\n{describe_source(ctx.data)}\n"
            f"run directory: {ctx.layout.root}")
    if ctx.verbose == "summary":
        ctx.tell(f"protoecg pipeline ({ctx.config.preset}) on {ctx.device}, {len(ctx.data)} ECGs; one line per stage:")
    if ctx.config.pretrain_root is not None:
        from .cache import cached_run            # the cache runs pipelines: imported here, not at module level

        t0 = time.perf_counter()
        ctx.tell(f"pretraining on {ctx.config.pretrain_root} (a cached run of the same settings there)")
        ctx.pretrained = cached_run(ctx.config.pretrain_root,
                                    config=dataclasses.replace(ctx.config, pretrain_root=None), verbose=verbose)
        ctx.timings["pretraining"] = time.perf_counter() - t0
    stages = pipeline_stages(ctx.config, ctx.layout)
    summary, body = stages[-1], stages[:-1]
    run_stages(ctx, body)
    ctx.timings["total"] = time.perf_counter() - t_start
    if dist.is_main() and not (ctx.resume and summary.done()):
        t0 = time.perf_counter()
        summary.run(ctx)            # reads the prediction files: rank 0 only
        record_files(ctx.layout, summary.writes, summary.name)
        ctx.stage_done(summary.name, time.perf_counter() - t0)
    dist.barrier()
    return Run(ctx.layout.root)
