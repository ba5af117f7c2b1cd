"""What every pipeline stage is handed: :class:`StageContext`, and how much it prints.

Three levels of output (``verbose=``):

* ``True`` -- every line: a stage's header, one line per training epoch, its results (the
  ``protoecg`` command's default);
* ``"summary"`` -- one line per stage, printed when it ends (``rhythm joint: 16 epochs, best val
  macro AUROC 0.71 at epoch 9, 12 s``): what the book's chapters show when a run trains
  (:func:`~protoecg_lib.training.cache.cached_run`'s default);
* ``False`` -- nothing.
"""
from __future__ import annotations

from pathlib import Path

import torch

from ..data.dataset import PTBXL
from ..runs import Run, RunLayout
from .config import PipelineConfig

__all__ = ["StageContext", "SUMMARY", "check_verbose"]

#: The ``verbose`` value that prints one line per stage.
SUMMARY = "summary"


def check_verbose(verbose) -> bool | str:
    """``verbose`` as ``True``, ``False`` or ``"summary"`` (anything else is an error)."""
    if isinstance(verbose, str):
        if verbose != SUMMARY:
            raise ValueError(f"verbose is True, False or {SUMMARY!r}, not {verbose!r}")
        return SUMMARY
    return bool(verbose)


class StageContext:
    """What every stage needs: the data, the settings, the run layout, the device, and the models
    earlier stages of this process left in memory (so a stage need not reload what the previous one
    wrote; loading from disk gives the same weights)."""

    def __init__(self, data: PTBXL, config: PipelineConfig, layout: RunLayout, device: str, *, resume: bool = True,
                 verbose: bool | str = True, progress: bool = False, init: Path | None = None):
        self.data, self.config, self.layout, self.device = data, config, layout, device
        self.resume, self.verbose, self.progress, self.init = resume, check_verbose(verbose), progress, init
        #: the finished run on ``config.pretrain_root`` whose weights the joint stages and the baseline start from
        self.pretrained: Run | None = None
        self.timings: dict[str, float] = {}
        self._models: dict[Path, torch.nn.Module] = {}
        self._note: str | None = None

    @property
    def per_epoch(self) -> bool:
        """True when training prints every epoch (``verbose=True``)."""
        return self.verbose is True

    def say(self, msg: str) -> None:
        """A detail line: printed with ``verbose=True`` only."""
        if self.per_epoch:
            print(msg, flush=True)

    def tell(self, msg: str) -> None:
        """A line worth printing at every level but ``False`` (a header, a stage run again)."""
        if self.verbose:
            print(msg, flush=True)

    def note(self, msg: str) -> None:
        """What the running stage achieved, for its one line in ``"summary"`` mode."""
        self._note = msg

    def stage_done(self, name: str, seconds: float | None = None, msg: str | None = None) -> None:
        """In ``"summary"`` mode print the stage's one line: its name, its note (or ``msg``), its time."""
        note, self._note = msg or self._note or "done", None
        if self.verbose == SUMMARY:
            took = "" if seconds is None else f", {seconds:.{1 if seconds < 10 else 0}f} s"
            print(f"{name.replace('/', ' ')}: {note}{took}", flush=True)

    def keep(self, path: Path, model: torch.nn.Module) -> None:
        """Remember the model whose checkpoint is ``path`` for the next stage."""
        self._models[Path(path)] = model

    def take(self, path: Path) -> torch.nn.Module:
        """The model of checkpoint ``path``: the one a stage of this process kept, else loaded from disk.
        The caller owns it (it is forgotten here, so mutating it cannot leak into another stage)."""
        path = Path(path)
        model = self._models.pop(path, None)
        if model is None:   # checked against the run's manifest, one line naming the stage to re-run
            model = Run(self.layout.root).load_checkpoint(path)
        return model

    def peek(self, path: Path) -> torch.nn.Module:
        """Like :meth:`take`, but the model stays available for later stages."""
        model = self.take(path)
        self.keep(path, model)
        return model
