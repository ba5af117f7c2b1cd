"""Save and load models together with the config that built them (method §9.2 B1, B10, B18).

A checkpoint is one ``torch.save`` file holding only tensors and plain Python values::

    {"format": "protoecg-checkpoint", "version": 1, "kind": "branch" | "model" | "baseline",
     "config": config.to_dict(), "state_dict": {...}, "extra": {...}}

``kind`` names the class rebuilt on load: :class:`ProtoBranch` (config :class:`BranchConfig`),
:class:`ProtoECGNet` (:class:`ModelConfig`) or :class:`~protoecg_lib.models.baseline.BaselineNet`
(:class:`~protoecg_lib.models.baseline.BaselineConfig`; the feature-extractor stage and black-box
baseline).

* Loading rebuilds the model from the stored config alone and reads the file with
  ``torch.load(weights_only=True)`` (no arbitrary code runs on load).
* Weights are loaded strictly: a missing, unexpected or mis-shaped tensor is an error naming the
  parameters, the shapes and the file (never a silent partial load, unlike §9.2 B1).
* Saving writes a temporary file next to the target and renames it (``os.replace``), so an
  interrupted save never leaves a corrupt file under the final name.
"""
from __future__ import annotations

import os
import pickle
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ..files import atomic_write
from .baseline import BaselineConfig, BaselineNet
from .branch import ProtoBranch
from .config import BranchConfig, ModelConfig
from .fusion import ProtoECGNet

__all__ = ["CheckpointError", "FORMAT", "VERSION", "save_checkpoint", "load_checkpoint",
           "read_checkpoint", "load_weights"]

FORMAT = "protoecg-checkpoint"
VERSION = 1
_PLAIN = (str, int, float, bool, type(None))
#: kind -> (model class, config class) rebuilt by load_checkpoint.
_KINDS = {"branch": (ProtoBranch, BranchConfig), "model": (ProtoECGNet, ModelConfig),
          "baseline": (BaselineNet, BaselineConfig)}


class CheckpointError(ValueError):
    """A checkpoint file is corrupt, of an unknown format, or does not match its config."""


def _check_plain(value: Any, where: str) -> None:
    """Raise TypeError unless ``value`` is tensors / plain values / lists / str-keyed dicts."""
    if isinstance(value, (Tensor, *_PLAIN)):
        return
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _check_plain(item, f"{where}[{i}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, (str, int)):
                raise TypeError(f"checkpoint extra: key {key!r} at {where} must be a str or int")
            _check_plain(item, f"{where}[{key!r}]")
        return
    raise TypeError(f"checkpoint extra: {where} is a {type(value).__name__}; only tensors, str, int, "
                    "float, bool, None, lists and dicts can be stored (they must load with weights_only=True)")


def save_checkpoint(path: str | os.PathLike, model: nn.Module, extra: Mapping[str, Any] | None = None) -> Path:
    """Write ``model`` (:class:`ProtoBranch`, :class:`ProtoECGNet` or ``BaselineNet``), its config and ``extra``.

    Parameters
    ----------
    path : path-like
        Target file; parent folders are created. Written atomically.
    model : ProtoBranch, ProtoECGNet or BaselineNet
    extra : mapping, optional
        Anything else to keep (epoch, metrics, optimizer state dict, ...): tensors and plain
        values only.

    Returns
    -------
    Path
        The written file.
    """
    kind = next((k for k, (cls, _) in _KINDS.items() if type(model) is cls), None)
    if kind is None:
        raise TypeError(f"save_checkpoint saves a ProtoBranch, ProtoECGNet or BaselineNet, got {type(model).__name__}")
    extra = dict(extra or {})
    _check_plain(extra, "extra")
    payload = {
        "format": FORMAT, "version": VERSION, "kind": kind,
        "config": model.config.to_dict(),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "extra": extra,
    }
    return atomic_write(path, lambda fh: torch.save(payload, fh))


def read_checkpoint(path: str | os.PathLike, map_location: Any = "cpu") -> dict[str, Any]:
    """Read and validate a checkpoint file without building a model.

    Returns the stored dict (``format``, ``version``, ``kind``, ``config``, ``state_dict``,
    ``extra``). Raises FileNotFoundError for a missing file and :class:`CheckpointError` for a
    truncated/corrupt file or one that is not a protoecg checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError:
        # torch's own message is 40 lines that advise weights_only=False, i.e. running the file's code: never
        raise CheckpointError(f"checkpoint {path} holds Python objects other than tensors and plain values (or is "
                              "damaged); protoecg does not unpickle such files, since that can run code. Re-create "
                              "it with the stage that writes it.") from None
    except (RuntimeError, EOFError, OSError, zipfile.BadZipFile, ValueError) as err:
        reason = str(err).strip().splitlines()[0][:120] if str(err).strip() else type(err).__name__
        raise CheckpointError(f"checkpoint {path} is truncated or damaged ({reason}); re-create it with the stage "
                              "that writes it.") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a protoecg checkpoint (no format={FORMAT!r} entry); "
                              "a bare state dict can be loaded with load_weights(model, state_dict)")
    version = payload.get("version")
    if version != VERSION:
        raise CheckpointError(f"checkpoint {path} has format version {version!r}; this protoecg_lib "
                              f"reads version {VERSION} (upgrade protoecg_lib for newer files)")
    for key in ("kind", "config", "state_dict"):
        if key not in payload:
            raise CheckpointError(f"checkpoint {path} lacks its {key!r} entry")
    if payload["kind"] not in _KINDS:
        raise CheckpointError(f"checkpoint {path} has unknown kind {payload['kind']!r}")
    payload.setdefault("extra", {})
    return payload


def load_weights(model: nn.Module, state_dict: Mapping[str, Tensor], source: str = "state dict") -> None:
    """Strictly load ``state_dict`` into ``model``; every problem is listed with names and shapes.

    Raises :class:`CheckpointError` naming ``source`` (e.g. the file) when keys are missing,
    unexpected, or have other shapes; nothing is loaded in that case.
    """
    own = model.state_dict()
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    mismatched = [f"{k}: file {tuple(v.shape)} vs model {tuple(own[k].shape)}"
                  for k, v in state_dict.items()
                  if k in own and (not isinstance(v, Tensor) or tuple(v.shape) != tuple(own[k].shape))]
    if missing or unexpected or mismatched:
        parts = []
        if mismatched:
            parts.append(f"shape mismatch for {len(mismatched)} tensor(s): " + "; ".join(mismatched[:10]))
        if missing:
            parts.append(f"missing {len(missing)} tensor(s): " + ", ".join(missing[:10]))
        if unexpected:
            parts.append(f"unexpected {len(unexpected)} tensor(s): " + ", ".join(unexpected[:10]))
        raise CheckpointError(f"weights in {source} do not match the model built from the config: "
                              + " | ".join(parts))
    model.load_state_dict(state_dict, strict=True)


def load_checkpoint(path: str | os.PathLike, map_location: Any = "cpu",
                    kind: str | None = None) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild a model from a checkpoint's config and load its weights strictly.

    Parameters
    ----------
    path : path-like
    map_location : str or torch.device
        Where tensors are loaded; the model is moved there.
    kind : {'branch', 'model', 'baseline'}, optional
        Expected kind; an error if the file holds another.

    Returns
    -------
    model : ProtoBranch, ProtoECGNet or BaselineNet
        In eval mode (call ``.train()`` to continue training).
    extra : dict
        The ``extra`` dict given to :func:`save_checkpoint`.
    """
    payload = read_checkpoint(path, map_location)
    if kind is not None and payload["kind"] != kind:
        raise CheckpointError(f"checkpoint {path} holds a {payload['kind']!r}, expected a {kind!r}")
    model_cls, config_cls = _KINDS[payload["kind"]]
    try:
        config = config_cls.from_dict(payload["config"])
        # building a model draws its random initial weights from the global stream; the weights come from
        # the file, so fork the stream: loading a checkpoint never changes what a later random draw gives
        with torch.random.fork_rng(devices=[]):
            if model_cls is BaselineNet:
                model: nn.Module = BaselineNet(config)
            else:  # the weights come from the file: never fetch ImageNet weights here
                model = model_cls(config, load_pretrained=False)
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"checkpoint {path}: its stored config is invalid: {err}") from err
    load_weights(model, payload["state_dict"], source=str(path))
    if isinstance(map_location, (str, torch.device)):
        model.to(map_location)
    model.eval()
    return model, payload["extra"]
