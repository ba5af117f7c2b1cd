"""``protoecg pipeline`` and ``protoecg train``: the declared stages of
:mod:`protoecg_lib.training.pipeline`, all of them or one.

Both run distributed when started by ``torchrun --nproc_per_node N -m protoecg_lib ...``: each process
joins the group (:func:`~protoecg_lib.training.distributed.init_from_env`), rank 0 prints and writes.
"""
from __future__ import annotations

from pathlib import Path

from .data import check_data_options, load_data
from .errors import UsageError

__all__ = ["cmd_pipeline", "cmd_train", "resolve_preset"]


def resolve_preset(args) -> str:
    """``--preset auto`` -> ``fast`` or ``paper`` by the library's one rule (:func:`protoecg_lib.settings.resolve_mode`)."""
    from .. import settings
    from ..device import pick_device

    args.preset = settings.resolve_mode(args.preset, pick_device(args.device))
    return args.preset


#: The rate the fast and paper presets take (10 s = 1000 samples, method §1.1).
_MODEL_RATE = 100


def _check_args(args) -> None:
    """Everything that can be refused before the data are read or the run directory is written."""
    if args.epochs is not None and args.epochs < 1:
        raise UsageError(f"--epochs {args.epochs}: give at least 1")
    if args.out.exists() and not args.out.is_dir():
        raise UsageError(f"--out {args.out} is a file; give a folder for the run")
    if getattr(args, "init", None) is not None and not args.init.is_file():
        raise UsageError(f"--init {args.init} does not exist; give a checkpoint written by an earlier stage")
    check_data_options(args, model_rate=_MODEL_RATE)


def cmd_pipeline(args) -> int:
    """All stages in order (``protoecg pipeline``)."""
    from ..training import distributed as dist
    from ..training.pipeline import run_pipeline

    _check_args(args)
    resolve_preset(args)
    config = _config(args)
    device = dist.init_from_env(args.device)
    ok = False
    try:
        run_pipeline(data=_load_in_turn(args), out=args.out, config=config, device=device, resume=not args.restart,
                     progress=args.progress, verbose=dist.is_main())
        ok = True
    finally:
        dist.shutdown(wait=ok)
    return 0


def cmd_train(args) -> int:
    """One stage of one branch (or the fusion head), reading earlier stages from the run directory."""
    from ..training import distributed as dist
    from ..training.pipeline import open_context, run_stages
    from ..training.stages import optional_stages, pipeline_stages

    if args.stage != "fusion" and args.branch is None:
        raise UsageError(f"--branch is required for --stage {args.stage} (rhythm, morphology or global)")
    _check_args(args)
    resolve_preset(args)
    config = _config(args, stage=args.stage, base=_recorded_config(args))
    device = dist.init_from_env(args.device)
    ok = False
    try:
        ctx = open_context(data=_load_in_turn(args), out=args.out, config=config, device=device,
                           resume=not args.restart, progress=args.progress, init=args.init, update_config=True,
                           verbose=dist.is_main())
        name = "fusion" if args.stage == "fusion" else f"{args.branch}/{args.stage}"
        stages = pipeline_stages(config, ctx.layout) + optional_stages(config, ctx.layout)
        run_stages(ctx, stages, only={name})
        main, ok = dist.is_main(), True
    finally:
        dist.shutdown(wait=ok)
    if not main:
        return 0
    if args.stage == "feature_extractor":
        print(f"feature extractor written to {ctx.layout.best(args.branch, 'feature_extractor')}; start joint "
              "training from it with --stage joint --init that file")
    elif args.stage == "fusion":
        print(f"fusion model written to {ctx.layout.model}")
    return 0


def _load_in_turn(args):
    """The data of ``--root``; in a distributed run rank 0 loads first (it fills the signal cache) and the
    other ranks then read the cache."""
    from ..training import distributed as dist

    if not dist.is_main():
        dist.barrier()
    data = load_data(args)
    if dist.is_main():
        dist.barrier()
    return data


def _recorded_config(args):
    """The configuration an existing run directory records (``protoecg train`` continues it), or None."""
    import json
    from pathlib import Path

    from ..training.config import PipelineConfig

    path = Path(args.out) / "config.json"
    if args.restart or not path.is_file():
        return None
    recorded = PipelineConfig.from_dict(json.loads(path.read_text())["pipeline"])
    if recorded.preset != args.preset or recorded.seed != args.seed:
        raise UsageError(f"{args.out} holds a {recorded.preset} run with seed {recorded.seed}; pass --preset "
                         f"{recorded.preset} --seed {recorded.seed}, another --out, or --restart")
    return recorded


def _config(args, stage: str | None = None, base=None):
    from ..training.config import pipeline_config

    config = base or pipeline_config(args.preset, baseline=not getattr(args, "no_baseline", False), seed=args.seed,
                                     beat_timing=getattr(args, "beat_timing", None), amp=args.amp)
    if base is not None and args.amp:
        config.train = {k: v.replace(amp=True) for k, v in config.train.items()}
    if getattr(args, "pretrain_root", None) is not None:
        config.pretrain_root = str(Path(args.pretrain_root).expanduser().resolve())
    if args.epochs is not None:
        stages = (stage,) if stage is not None else ("joint", "feature_extractor", "prototypes")
        for s in list(config.train):
            if s.split(":")[0] in stages:            # "joint:rhythm" follows "joint"
                config.train[s] = config.train[s].replace(num_epochs=args.epochs)
    return config
