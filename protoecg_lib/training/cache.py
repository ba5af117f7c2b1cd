"""Finished runs kept in the cache: what the book's chapters ask for (load if present, else train once).

:func:`cached_run` keys a run by its data root (path and metadata checksum), its full configuration
and the library version; it returns the finished run from ``$PROTOECG_CACHE/runs`` or runs the
pipeline there once, under a file lock, so chapters executed in parallel do not train twice.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from .. import __version__, settings
from ..files import file_lock, sha256_file
from ..runs import Run, RunLayout
from .pipeline import PipelineConfig, pipeline_config, run_pipeline

__all__ = ["cached_run", "run_key"]


def run_key(root: str | Path, config: PipelineConfig) -> str:
    """A 16-hex-digit key for (data root, its metadata, configuration, library version)."""
    root = Path(root)
    blob = {"root": str(root.resolve()), "config": config.to_dict(), "version": __version__,
            "meta": sha256_file(root / "ptbxl_database.csv")}
    return hashlib.sha256(json.dumps(blob, sort_keys=True, default=float).encode()).hexdigest()[:16]


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
    """
    from ..data.resolve import resolve_root

    root = resolve_root(root)
    preset = preset or (config.preset if config is not None else ("fast" if settings.is_fast() else "paper"))
    config = config or pipeline_config(preset)
    key = run_key(root, config)
    folder = settings.cache_dir("runs") / f"{preset}-{key}"
    with file_lock(settings.cache_dir("runs") / f"{preset}-{key}.lock"):
        if RunLayout(folder).summary.is_file():
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
