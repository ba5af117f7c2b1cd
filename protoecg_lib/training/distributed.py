"""Training on several processes with torch's own engine (``torchrun`` + DistributedDataParallel).

``torchrun --nproc_per_node N -m protoecg_lib pipeline ...`` starts N copies of the command; each
calls :func:`init_from_env` (the CLI does), which joins the process group (NCCL on GPUs, gloo on
CPUs) and gives the rank its device. Every rank then runs the same stages in step:

* **training** (joint, prototypes, feature extractor / baseline): every rank draws the same seeded
  permutation of the training split (:func:`epoch_batches`, the order one process uses) and takes
  its contiguous part of each global batch (:func:`shard_batch`); the branch is wrapped in
  :class:`~torch.nn.parallel.DistributedDataParallel`, which all-reduces (averages) the gradients.
  Each rank scales its loss by ``n_rank * world / n_batch`` so that the average is the gradient of
  the one-process loss of the whole batch. BatchNorm uses the statistics of the whole global batch
  (:func:`sharded_batch`, a synchronised batch norm written with ``all_reduce`` so it also runs on
  gloo/CPU), and dropout draws the mask of the whole global batch on every rank and keeps its rows,
  so the step is the one-process step up to float reordering.
* **validation, features, predictions**: each rank computes a contiguous block of the split and
  :func:`gather_rows` concatenates the blocks in rank order before the AUROC (every rank gets the
  same logits, so early stopping agrees).
* **projection**: each rank sweeps its block of the training split; :func:`reduce_best` keeps, per
  prototype, the best (similarity, ecg row, window) over ranks, ties going to the first row in split
  order, as one process does.
* **files**: only rank 0 writes (:func:`protoecg_lib.files.atomic_write` skips the write on other
  ranks); stages end with a :func:`barrier`.

With one process every helper is the identity, so the single-process code path is unchanged.
"""
from __future__ import annotations

import contextlib
import datetime
import functools
import os
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..models.branch import LatentCentering

__all__ = ["init_from_env", "shutdown", "is_distributed", "rank", "world_size", "is_main", "barrier",
           "split_sizes", "local_block", "epoch_batches", "BatchShard", "shard_batch", "all_reduce_sum",
           "gather_rows", "reduce_best", "sharded_batch", "wrap_ddp"]


# --------------------------------------------------------------------------- the process group

def init_from_env(device: str | None = None, timeout_s: float = 1800.0) -> str | None:
    """Join the process group that ``torchrun`` describes in the environment, if it describes one.

    Reads ``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``. With CUDA
    (and ``device`` not naming the CPU) the backend is NCCL and the rank uses ``cuda:LOCAL_RANK``;
    otherwise gloo on the CPU. Returns the device this rank should use (``device`` unchanged when
    not distributed).
    """
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or not torch.distributed.is_available():
        return device
    local = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = torch.cuda.is_available() and (device is None or str(device).startswith("cuda"))
    if device is not None and not use_cuda and not str(device).startswith("cpu"):
        raise ValueError(f"distributed training runs on CUDA (NCCL) or on the CPU (gloo), not on {device!r}")
    if use_cuda:
        if local >= torch.cuda.device_count():
            raise RuntimeError(f"LOCAL_RANK {local} but only {torch.cuda.device_count()} GPU(s) are visible; "
                               "start torchrun with --nproc_per_node at most the number of GPUs")
        torch.cuda.set_device(local)
    if not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if use_cuda else "gloo",
                                             timeout=datetime.timedelta(seconds=timeout_s))
    return f"cuda:{local}" if use_cuda else "cpu"


def shutdown(wait: bool = True) -> None:
    """Leave the process group, if one was joined (after a final barrier unless ``wait`` is False,
    as after an error, when the other ranks may never reach it)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        if wait:
            torch.distributed.barrier()
        torch.distributed.destroy_process_group()


def is_distributed() -> bool:
    """True inside a process group of more than one rank."""
    return (torch.distributed.is_available() and torch.distributed.is_initialized()
            and torch.distributed.get_world_size() > 1)


def rank() -> int:
    return torch.distributed.get_rank() if is_distributed() else 0


def world_size() -> int:
    return torch.distributed.get_world_size() if is_distributed() else 1


def is_main() -> bool:
    """Rank 0 (or the only process): the one that prints and writes files."""
    return rank() == 0


def barrier() -> None:
    if is_distributed():
        torch.distributed.barrier()


# --------------------------------------------------------------------------- sharding

def split_sizes(n: int, parts: int) -> list[int]:
    """``n`` rows in ``parts`` contiguous blocks as even as possible, the first ones one larger."""
    base, extra = divmod(int(n), int(parts))
    return [base + (1 if i < extra else 0) for i in range(parts)]


def local_block(n: int) -> tuple[int, int]:
    """``(start, stop)`` of this rank's contiguous block of ``n`` rows (all of them on one process)."""
    sizes = split_sizes(n, world_size())
    start = sum(sizes[:rank()])
    return start, start + sizes[rank()]


def epoch_batches(n: int, batch_size: int, seed: int, shuffle: bool = True) -> list[Tensor]:
    """The global batches of one epoch: ``torch.randperm(n)`` from a generator seeded with ``seed`` (the
    order a ``RandomSampler`` with that generator gives), cut into batches of ``batch_size``; the same
    on every rank."""
    if shuffle:
        order = torch.randperm(int(n), generator=torch.Generator().manual_seed(int(seed)))
    else:
        order = torch.arange(int(n))
    return list(order.split(int(batch_size)))


@dataclass
class BatchShard:
    """Where this rank's rows sit in the global batch (read by the synchronised layers)."""

    offset: int = 0
    total: int = 0


def shard_batch(batch: Tensor) -> tuple[Tensor, int, int]:
    """This rank's contiguous part of a global batch: ``(indices, offset, total)``."""
    sizes = split_sizes(len(batch), world_size())
    offset = sum(sizes[:rank()])
    return batch[offset:offset + sizes[rank()]], offset, len(batch)


# --------------------------------------------------------------------------- collectives

def all_reduce_sum(values: Tensor) -> Tensor:
    """Sum of ``values`` over ranks (a new tensor; ``values`` itself on one process)."""
    if not is_distributed():
        return values
    out = values.clone()
    if torch.distributed.get_backend() == "nccl" and out.device.type != "cuda":
        out = out.cuda()            # NCCL reduces GPU tensors only
    torch.distributed.all_reduce(out)
    return out.to(values.device)


def gather_rows(rows: Tensor) -> Tensor:
    """Concatenate every rank's ``rows (n_rank, ...)`` in rank order (blocks may differ in length)."""
    if not is_distributed():
        return rows
    device = rows.device
    if torch.distributed.get_backend() == "nccl" and device.type != "cuda":
        rows = rows.cuda()
    lengths = torch.tensor([len(rows)], device=rows.device)
    all_lengths = [torch.zeros_like(lengths) for _ in range(world_size())]
    torch.distributed.all_gather(all_lengths, lengths)
    longest = int(max(int(x) for x in all_lengths))
    padded = rows.new_zeros((longest, *rows.shape[1:]))
    padded[:len(rows)] = rows
    parts = [torch.empty_like(padded) for _ in range(world_size())]
    torch.distributed.all_gather(parts, padded.contiguous())
    return torch.cat([p[:int(k)] for p, k in zip(parts, all_lengths)]).to(device)


def reduce_best(score: Tensor, row: Tensor, window: Tensor, patch: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Per prototype, the best ``(score, row, window, patch)`` over ranks.

    ``score (P,)`` (``-inf`` where a rank found no eligible ECG), ``row (P,)`` the global split row
    (``-1`` for none), ``window (P,)``, ``patch (P, K)``. The highest score wins; equal scores go to
    the smallest row, i.e. the first ECG in split order, as one process's sweep decides.
    """
    if not is_distributed():
        return score, row, window, patch
    gathered = []
    for t in (score, row, window, patch):
        parts = [torch.empty_like(t) for _ in range(world_size())]
        torch.distributed.all_gather(parts, t.contiguous())
        gathered.append(torch.stack(parts))                       # (R, P) or (R, P, K)
    scores, rows, windows, patches = gathered
    best = scores.max(dim=0).values                                # (P,)
    big = torch.iinfo(rows.dtype).max
    rank_rows = torch.where((scores == best[None]) & (rows >= 0), rows, torch.full_like(rows, big))
    winner = rank_rows.argmin(dim=0)                               # (P,) the rank holding the first best row
    cols = torch.arange(score.shape[0], device=score.device)
    return (best, rows[winner, cols], windows[winner, cols], patches[winner, cols])


# --------------------------------------------------------------------------- global-batch layers

class _SyncBatchNorm(torch.autograd.Function):
    """Batch norm over the rows of every rank (statistics and their gradients summed with all_reduce)."""

    @staticmethod
    def forward(ctx, x, weight, bias, eps):
        dims = [d for d in range(x.ndim) if d != 1]
        shape = [1, -1] + [1] * (x.ndim - 2)
        xf = x.float()
        count = torch.tensor([xf.numel() / max(xf.shape[1], 1)], device=x.device, dtype=torch.float32)
        sums = all_reduce_sum(torch.cat([xf.sum(dims), count]))
        n = sums[-1]
        mean = sums[:-1] / n
        centred = xf - mean.view(shape)
        var = all_reduce_sum(centred.square().sum(dims)) / n              # biased, as batch norm normalises
        invstd = torch.rsqrt(var + eps)
        xhat = centred * invstd.view(shape)
        y = xhat * weight.float().view(shape) + bias.float().view(shape)
        ctx.save_for_backward(xhat, invstd, weight)
        ctx.n = n
        unbiased = var * (n / (n - 1)) if n > 1 else var                # for the running variance
        ctx.mark_non_differentiable(mean, unbiased)
        return y.to(x.dtype), mean, unbiased

    @staticmethod
    def backward(ctx, grad_y, _grad_mean, _grad_var):
        xhat, invstd, weight = ctx.saved_tensors
        dims = [d for d in range(xhat.ndim) if d != 1]
        shape = [1, -1] + [1] * (xhat.ndim - 2)
        g = grad_y.float()
        local = torch.stack([g.sum(dims), (g * xhat).sum(dims)])         # (2, C): for bias and weight
        total = all_reduce_sum(local) / ctx.n
        grad_x = (g - total[0].view(shape) - xhat * total[1].view(shape)) * (invstd * weight.float()).view(shape)
        return grad_x.to(grad_y.dtype), local[1].to(weight.dtype), local[0].to(weight.dtype), None


def _sync_batchnorm_forward(module: nn.modules.batchnorm._BatchNorm, x: Tensor) -> Tensor:
    if not module.training:
        return type(module).forward(module, x)
    module._check_input_dim(x)
    momentum = 0.0 if module.momentum is None else module.momentum
    if module.track_running_stats:
        module.num_batches_tracked.add_(1)
        if module.momentum is None:
            momentum = 1.0 / float(module.num_batches_tracked)
    y, mean, var = _SyncBatchNorm.apply(x, module.weight, module.bias, module.eps)
    if module.track_running_stats:
        with torch.no_grad():
            module.running_mean.mul_(1 - momentum).add_(mean.to(module.running_mean.dtype), alpha=momentum)
            module.running_var.mul_(1 - momentum).add_(var.to(module.running_var.dtype), alpha=momentum)
    return y


class _GlobalMean(torch.autograd.Function):
    """Mean over every rank's rows (dims other than 1), gradient shared back to every row."""

    @staticmethod
    def forward(ctx, x):
        dims = [d for d in range(x.ndim) if d != 1]
        count = torch.tensor([x.numel() / max(x.shape[1], 1)], device=x.device, dtype=torch.float32)
        sums = all_reduce_sum(torch.cat([x.float().sum(dims), count]))
        ctx.n, ctx.shape, ctx.dtype = sums[-1], x.shape, x.dtype
        return (sums[:-1] / sums[-1]).to(x.dtype)

    @staticmethod
    def backward(ctx, grad_mean):
        total = all_reduce_sum(grad_mean.float()) / ctx.n                   # every rank's share of the mean
        shape = [1, -1] + [1] * (len(ctx.shape) - 2)
        return total.view(shape).expand(ctx.shape).to(ctx.dtype)


def _sync_centering_forward(module: nn.Module, latent: Tensor) -> Tensor:
    """LatentCentering('running') in training: the global batch's mean (one process's result)."""
    if not module.training:
        return type(module).forward(module, latent)
    mean = _GlobalMean.apply(latent)                                   # (D,)
    with torch.no_grad():
        module.running_mean.lerp_(mean.detach().to(module.running_mean.dtype), module.momentum)
    return latent - mean.view([1, -1] + [1] * (latent.ndim - 2))


def _sharded_dropout_forward(module: nn.Dropout, shard: BatchShard, x: Tensor) -> Tensor:
    if not module.training or module.p == 0:
        return type(module).forward(module, x)
    fmt = torch.channels_last if x.ndim == 4 and x.is_contiguous(memory_format=torch.channels_last) \
        and not x.is_contiguous() else torch.contiguous_format
    noise = torch.empty((shard.total, *x.shape[1:]), dtype=x.dtype, device=x.device, memory_format=fmt)
    noise.bernoulli_(1 - module.p).div_(1 - module.p)               # what F.dropout draws for the whole batch
    return x * noise[shard.offset:shard.offset + len(x)]


@contextlib.contextmanager
def sharded_batch(model: nn.Module, shard: BatchShard):
    """While active (and distributed), ``model``'s batch norms and running latent centrings use the global
    batch's statistics and its dropouts the global batch's mask (rows ``shard.offset ...`` of it). Nothing changes on one process."""
    if not is_distributed():
        yield model
        return
    patched = []
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.affine:
            m.forward = functools.partial(_sync_batchnorm_forward, m)
            patched.append(m)
        elif isinstance(m, LatentCentering) and m.mode == "running":
            m.forward = functools.partial(_sync_centering_forward, m)
            patched.append(m)
        elif type(m) is nn.Dropout:
            m.forward = functools.partial(_sharded_dropout_forward, m, shard)
            patched.append(m)
    try:
        yield model
    finally:
        for m in patched:
            del m.forward


def wrap_ddp(module: nn.Module, device: str) -> nn.Module:
    """``module`` in DistributedDataParallel when distributed (gradients averaged over ranks), else itself."""
    if not is_distributed():
        return module
    import inspect

    from torch.nn.parallel import DistributedDataParallel

    ids = [torch.device(device).index] if str(device).startswith("cuda") else None
    # batch-norm buffers stay equal on every rank (global-batch statistics): no per-forward buffer sync
    no_sync = ({"forward_sync_buffers": False} if "forward_sync_buffers" in
               inspect.signature(DistributedDataParallel.__init__).parameters else {"broadcast_buffers": False})
    return DistributedDataParallel(module, device_ids=ids, **no_sync)
