"""Torch-facing view of a split: seeded, batched DataLoaders that stream from the signal cache.

A batch is ``(signals (B, 12, T) float32, targets (B, C) float32, index (B,) long)`` where ``index``
points into the split (``split.ecg_id[index]`` gives the records). A batch is gathered with a single
indexing operation (no per-sample Python) straight from the split's signals -- a read-only view of
the memory-mapped cache -- so only the batch is ever copied into memory and a dataset larger than
RAM trains (the operating system pages the cache in and out); ``in_memory=True`` holds one copy of
the split instead. ``pin_memory`` is used when CUDA is available.
"""
from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import BatchSampler, DataLoader, Dataset, RandomSampler, SequentialSampler, WeightedRandomSampler

from .dataset import Split

__all__ = ["SplitDataset", "make_loader", "sample_weights", "as_batch", "gather_rows"]


def as_batch(signals, device: str | torch.device = "cpu") -> torch.Tensor:
    """A float32 tensor copy of ``signals`` (a slice of the read-only cache, or any array) on ``device``."""
    return torch.from_numpy(np.array(signals, dtype=np.float32)).to(device)


def gather_rows(signals, index: np.ndarray) -> np.ndarray:
    """``signals[index]`` as a new float32 array, reading the rows in ascending order (sequential reads
    of a memory map) and putting them back in ``index`` order."""
    index = np.asarray(index, dtype=np.int64)
    order = np.argsort(index, kind="stable")
    rows = np.asarray(signals[index[order]], dtype=np.float32)        # fancy indexing copies the rows
    out = np.empty_like(rows)
    out[order] = rows
    return out


class SplitDataset(Dataset):
    """A split whose batches are read on demand; indexing with a list of indices returns a whole batch.

    Parameters
    ----------
    split : Split
    in_memory : bool
        False (default): keep ``split.signals`` (the memory-mapped cache) and copy only each batch.
        True: copy the whole split into one array first.
    """

    def __init__(self, split: Split, in_memory: bool = False):
        self.split = split
        self.signals = np.array(split.signals, dtype=np.float32) if in_memory else split.signals  # (N, 12, T)
        self.targets = torch.from_numpy(np.array(split.targets, dtype=np.float32))              # (N, C)

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index):
        index = torch.as_tensor(index, dtype=torch.long).reshape(-1)
        signals = torch.from_numpy(gather_rows(self.signals, index.numpy()))
        return signals, self.targets[index], index


def sample_weights(targets: np.ndarray, class_weights: np.ndarray) -> np.ndarray:
    """Per-record sampling weights ``sum_c y_c w_c`` (method §1.6); records with no positive get the
    smallest positive weight instead of 0 so that every record can be drawn."""
    w = np.asarray(targets, np.float64) @ np.asarray(class_weights, np.float64)
    floor = w[w > 0].min() if (w > 0).any() else 1.0
    return np.where(w > 0, w, floor)


def make_loader(
    split: Split | SplitDataset,
    batch_size: int = 32,
    *,
    shuffle: bool = False,
    seed: int = 0,
    weighted: bool = False,
    class_weights: np.ndarray | None = None,
    drop_last: bool = False,
    pin_memory: bool | None = None,
) -> DataLoader:
    """A DataLoader over one split.

    Parameters
    ----------
    split : Split or SplitDataset
        What to iterate over (pass a :class:`SplitDataset` to reuse its tensors across loaders).
    batch_size : int
    shuffle : bool
        Reshuffle every epoch with a generator seeded by ``seed`` (same order for the same seed).
    weighted : bool
        Draw ``len(split)`` records with replacement, with weights from :func:`sample_weights`
        (``class_weights`` required); the official code does this for validation, we offer it for training.
    """
    dataset = split if isinstance(split, SplitDataset) else SplitDataset(split)
    generator = torch.Generator().manual_seed(int(seed))
    if weighted:
        if class_weights is None:
            raise ValueError("weighted=True needs class_weights (e.g. ds.class_weights(label_set))")
        weights = torch.as_tensor(sample_weights(dataset.targets.numpy(), class_weights))
        sampler = WeightedRandomSampler(weights, num_samples=len(dataset), replacement=True, generator=generator)
    elif shuffle:
        sampler = RandomSampler(dataset, generator=generator)
    else:
        sampler = SequentialSampler(dataset)
    if pin_memory is None:
        pin_memory = torch.cuda.is_available()
    return DataLoader(dataset, sampler=BatchSampler(sampler, batch_size, drop_last), batch_size=None,
                      pin_memory=pin_memory)
