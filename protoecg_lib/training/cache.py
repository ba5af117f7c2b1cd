"""Finished runs kept in the cache: what the book's chapters ask for (load if present, else fetch or train once).

:func:`cached_run` keys a run by its data root (path and metadata checksum), its full configuration
and the library version; it returns the finished run from ``$PROTOECG_CACHE/runs``, or fetches a
published run archive (``url`` and ``sha256``, see :mod:`protoecg_lib.runs.archive`), or runs the
pipeline there once -- under a file lock, so chapters executed in parallel do not train twice.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from .. import __version__, settings
from ..files import atomic_write_json, file_lock, sha256_file
from ..runs import Run, RunLayout
from .pipeline import PipelineConfig, pipeline_config, run_pipeline

__all__ = ["cached_run", "run_key", "fetch_run"]


def run_key(root: str | Path, config: PipelineConfig) -> str:
    """A 16-hex-digit key for (data root, its metadata, configuration, library version)."""
    root = Path(root)
    blob = {"root": str(root.resolve()), "config": config.to_dict(), "version": __version__,
            "meta": sha256_file(root / "ptbxl_database.csv")}
    return hashlib.sha256(json.dumps(blob, sort_keys=True, default=float).encode()).hexdigest()[:16]


def fetch_run(url: str, sha256: str, folder: str | Path, *, root: str | Path, config: PipelineConfig,
              verbose: bool = True) -> Run:
    """Fetch a run archive from ``url``, verify its SHA-256, unpack it into ``folder`` and return the run.

    The archive's pipeline configuration must equal ``config`` (else ``ValueError``: it is another
    run). Its ``config.json`` then names the local data root ``root`` (the trainer's root is kept as
    ``data.trained_root``), so :meth:`Run.load_data` finds the data here.
    """
    from ..data.fetch import fetch_url
    from ..runs.archive import unpack_run

    if not sha256:
        raise ValueError(f"url={url!r} needs its sha256 (printed by `protoecg run pack`): an archive is never "
                         "unpacked unverified")
    folder = Path(folder)
    archive = settings.cache_dir("downloads") / f"{folder.name}.tar.gz"
    if verbose:
        print(f"fetching the finished run {url} (sha256 {sha256[:12]}...) instead of training")
    fetch_url(url, archive, sha256)
    unpack_run(archive, folder, sha256=sha256)
    layout = RunLayout(folder)
    recorded = json.loads(layout.config.read_text())
    theirs = PipelineConfig.from_dict(recorded["pipeline"]).to_dict()
    if json.dumps(theirs, sort_keys=True, default=float) != json.dumps(config.to_dict(), sort_keys=True, default=float):
        import shutil

        shutil.rmtree(folder)
        raise ValueError(f"{url} holds a {theirs.get('preset')} run with another configuration than the "
                         f"{config.preset} run asked for; publish the run of this configuration, or drop url=")
    data = recorded.setdefault("data", {})
    data.setdefault("trained_root", data.get("root"))
    data["root"] = str(Path(root).resolve())
    atomic_write_json(layout.config, recorded)
    archive.unlink(missing_ok=True)
    return Run(folder)


def cached_run(root: str | Path | None = None, preset: str | None = None, *, config: PipelineConfig | None = None,
               verbose: bool | str = "summary", url: str | None = None, sha256: str | None = None) -> Run:
    """A finished pipeline run for this data and configuration: from the cache, fetched, or trained now (once).

    Parameters
    ----------
    root : path, optional
        PTB-XL root (default: the library's choice, see :func:`protoecg_lib.data.resolve_root`).
    preset : {'auto', 'fast', 'paper'}, optional
        Default ``'auto'``: :func:`protoecg_lib.settings.resolve_mode` (paper on a GPU, fast on a CPU,
        fast whenever ``PROTOECG_FAST=1``).
    config : PipelineConfig, optional
        A variant (e.g. ``pipeline_config('fast', contrastive=False)``); default: the preset's.
    verbose : bool or 'summary'
        When the pipeline runs: ``"summary"`` (default) prints one line per stage, ``True`` every
        training epoch, ``False`` nothing.
    url, sha256 : str, optional
        A published archive of this run (``protoecg run pack``): when the cache has no finished run,
        it is fetched (resumable), verified and unpacked instead of training.
    """
    from ..data.resolve import resolve_root

    root = resolve_root(root)
    preset = config.preset if config is not None and preset is None else settings.resolve_mode(preset)
    config = config or pipeline_config(preset)
    key = run_key(root, config)
    folder = settings.cache_dir("runs") / f"{preset}-{key}"
    with file_lock(settings.cache_dir("runs") / f"{preset}-{key}.lock"):
        if RunLayout(folder).summary.is_file():
            if verbose:
                print(f"using the cached {preset} pipeline run in {folder}")
            return Run(folder)
        if url is not None:
            return fetch_run(url, sha256, folder, root=root, config=config, verbose=verbose)
        if verbose:
            print(f"no cached {preset} run for {root}: running the pipeline once into {folder}")
            if preset == "paper":
                print("  paper settings: up to 200 epochs per stage for three ResNet-18 branches and the baseline; "
                      "on a GPU this takes hours on the full PTB-XL (less on a subset). It resumes if interrupted. "
                      "For a run of minutes, set MODE = \"fast\" in the setup cell.")
        return run_pipeline(root, out=folder, config=config, verbose=verbose)
