"""The run's manifest: the SHA-256 of every file a stage wrote, checked whenever the file is read back.

``RUN/manifest.json``::

    {"format": "protoecg-manifest", "version": 1,
     "files": {"<path relative to RUN>": {"sha256": "...", "bytes": 123, "stage": "<stage name>"}, ...}}

The stage runner (:func:`protoecg_lib.training.pipeline.run_stages`) calls :func:`record_files`
with the files a stage declares as its outputs right after the stage finished, so every checkpoint,
prototype file and predictions file of a run has an entry naming the stage that writes it.
:func:`verify_file` is called before a file is read (``Run.load_model``, ``load_branch``,
``load_baseline``, ``predictions``, ``prototype_sources``, and a stage reading an earlier stage's
checkpoint): a file of another size or another digest raises :class:`RunFileError`, one line that
names the file and the command that writes it again. Files without an entry (runs written before the
manifest existed, or by hand) are read unchecked.
"""
from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Iterable

from ..files import atomic_write_json, file_lock, sha256_file
from .layout import RunLayout

__all__ = ["RunFileError", "MANIFEST_FORMAT", "record_files", "forget_files", "manifest_entry", "verify_file",
           "damaged_files", "rerun_hint"]

MANIFEST_FORMAT = "protoecg-manifest"
_VERSION = 1
#: The stages ``protoecg train --stage`` runs on their own (the others run with ``protoecg pipeline``).
_TRAIN_STAGES = ("feature_extractor", "prototypes", "joint", "projection", "classifier")


class RunFileError(ValueError):
    """A run file that does not match its manifest entry (changed, truncated or damaged)."""


def _read(layout: RunLayout) -> dict:
    path = layout.manifest
    if not path.is_file():
        return {"format": MANIFEST_FORMAT, "version": _VERSION, "files": {}}
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise RunFileError(f"{path} is damaged ({type(err).__name__}); delete it to read the run's files "
                           "unchecked, or re-run the pipeline with --restart") from None
    if manifest.get("format") != MANIFEST_FORMAT or not isinstance(manifest.get("files"), dict):
        raise RunFileError(f"{path} is not a protoecg run manifest; delete it to read the run's files unchecked")
    return manifest


def _key(layout: RunLayout, path: Path) -> str:
    return Path(path).resolve().relative_to(layout.root.resolve()).as_posix()


def record_files(layout: RunLayout, paths: Iterable[Path], stage: str) -> None:
    """Record the SHA-256, size and writing ``stage`` of each existing file in ``paths``."""
    with file_lock(layout.manifest_lock):
        manifest = _read(layout)
        for path in paths:
            path = Path(path)
            if path.is_file():
                manifest["files"][_key(layout, path)] = {"sha256": sha256_file(path), "bytes": path.stat().st_size,
                                                         "stage": stage}
        atomic_write_json(layout.manifest, manifest, indent=1)


def forget_files(layout: RunLayout, paths: Iterable[Path]) -> None:
    """Drop the entries of ``paths`` (a stage about to write them again)."""
    if not layout.manifest.is_file():
        return
    with file_lock(layout.manifest_lock):
        manifest = _read(layout)
        for path in paths:
            manifest["files"].pop(_key(layout, Path(path)), None)
        atomic_write_json(layout.manifest, manifest, indent=1)


def manifest_entry(layout: RunLayout, path: Path) -> dict | None:
    """The manifest's entry for ``path`` (``sha256``, ``bytes``, ``stage``), None when it has none."""
    if not layout.manifest.is_file():
        return None
    return _read(layout)["files"].get(_key(layout, Path(path)))


def _problem(path: Path, entry: dict) -> str | None:
    """What is wrong with ``path`` against its entry, or None when it matches."""
    if not path.is_file():
        return "is missing"
    size = path.stat().st_size
    if size != entry["bytes"]:
        what = "truncated" if size < entry["bytes"] else "changed"
        return f"is {what} ({size} bytes; the run's manifest records {entry['bytes']})"
    if sha256_file(path) != entry["sha256"]:
        return "was changed or damaged (its SHA-256 differs from the one in the run's manifest)"
    return None


def verify_file(layout: RunLayout, path: Path) -> None:
    """Raise :class:`RunFileError` when ``path`` does not match its manifest entry (no entry: nothing to check)."""
    path = Path(path)
    entry = manifest_entry(layout, path)
    if entry is None:
        return
    problem = _problem(path, entry)
    if problem is not None:
        raise RunFileError(f"{path} {problem}. {rerun_hint(layout, entry.get('stage'))}")


def damaged_files(layout: RunLayout, paths: Iterable[Path]) -> list[tuple[Path, str]]:
    """``(path, problem)`` for each of ``paths`` that exists but does not match its manifest entry."""
    if not layout.manifest.is_file():
        return []
    files = _read(layout)["files"]
    out = []
    for path in paths:
        path = Path(path)
        entry = files.get(_key(layout, path))
        if entry is not None and path.is_file() and (problem := _problem(path, entry)) is not None:
            out.append((path, problem))
    return out


def rerun_hint(layout: RunLayout, stage: str | None) -> str:
    """The sentence that says which command writes a run file again (the stage, with the run's settings)."""
    args = ["--out", str(layout.root)]
    try:
        config = json.loads(layout.config.read_text())
        pipeline, root = config.get("pipeline", {}), config.get("data", {}).get("root")
        options = config.get("data", {}).get("options") or {}
        data_args = []
        if options.get("sampling_rate", 100) != 100:
            data_args += ["--sampling-rate", str(options["sampling_rate"])]
        if options.get("target_rate"):
            data_args += ["--target-rate", str(options["target_rate"])]
        if options.get("on_bad_record") == "skip":
            data_args.append("--skip-bad")
        if options.get("unknown_codes") == "skip":
            data_args += ["--unknown-codes", "skip"]
        args = (["--root", str(root)] if root else []) + data_args + [
            "--preset", str(pipeline.get("preset", "fast")), "--seed", str(pipeline.get("seed", 42))] + args
    except (OSError, ValueError):
        pass
    pipeline_cmd = shlex.join(["protoecg", "pipeline", *args])
    if stage is None:
        return f"Delete it and run `{pipeline_cmd}`, which redoes the stages whose files are missing."
    branch, _, step = stage.partition("/")
    if step in _TRAIN_STAGES:
        cmd = shlex.join(["protoecg", "train", "--branch", branch, "--stage", step, *args])
    elif stage == "fusion":
        cmd = shlex.join(["protoecg", "train", "--stage", "fusion", *args])
    else:
        cmd = pipeline_cmd
    return (f"Re-run the stage {stage!r} that writes it: `{cmd}`" +
            (f" (or `{pipeline_cmd}`, which redoes every damaged stage)." if cmd != pipeline_cmd else
             " (it redoes every damaged stage)."))
