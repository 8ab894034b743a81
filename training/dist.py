"""Distributed training helpers (torchrun / DDP): set-up from the environment, reductions, unwrapping.

Launch with ``torchrun --nproc-per-node N -m vs_colorize.training nogan ...`` (multi-node: ``--nnodes``, ``--rdzv-endpoint``).
Without torchrun's variables everything runs as a single process. NCCL is used on CUDA, gloo on CPU.
Only rank 0 writes files (checkpoints, images, TensorBoard); every rank sees the same batches' shards and the same
switch decisions (losses are all-reduced before the GAN switcher looks at them).
"""

from __future__ import annotations

import gc
import logging
import os
from dataclasses import dataclass

import torch
import torch.distributed as torch_dist
from torch import nn

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistInfo:
    """This process's place in the job."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that writes files."""
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        """More than one process."""
        return self.world > 1


def init_distributed(device: str = "auto") -> DistInfo:
    """Join the process group described by torchrun's ``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` variables.

    Returns a single-process :class:`DistInfo` when ``WORLD_SIZE`` is unset or 1. On CUDA the process binds to
    ``cuda:LOCAL_RANK`` and uses NCCL; otherwise gloo.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = device != "cpu" and torch.cuda.is_available()
    if use_cuda:
        torch.cuda.set_device(local_rank)
    if not torch_dist.is_initialized():
        torch_dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    log.info(
        "distributed: rank %d of %d (local rank %d, %s)", rank, world, local_rank, torch_dist.get_backend()
    )
    return DistInfo(rank=rank, world=world, local_rank=local_rank)


def cleanup(*, sync: bool = True) -> None:
    """Leave the process group if one was joined.

    With ``sync`` every rank first meets at a barrier, so no peer is still inside a collective when the group goes
    away (pass ``sync=False`` on an error path, where a dead peer would make the barrier wait for its timeout).
    Unreachable DDP wrappers still hold the group; collecting them first lets the group's worker threads be joined
    here, while the interpreter is fully alive, instead of during interpreter shutdown, where gloo can abort.
    """
    if not (torch_dist.is_available() and torch_dist.is_initialized()):
        return
    if sync:
        torch_dist.barrier()
    gc.collect()
    torch_dist.destroy_process_group()


def barrier() -> None:
    """Wait for every rank (no-op when single-process)."""
    if torch_dist.is_available() and torch_dist.is_initialized():
        torch_dist.barrier()


def mean_across(value: torch.Tensor) -> torch.Tensor:
    """The mean of a tensor over ranks (the tensor itself when single-process)."""
    if not (torch_dist.is_available() and torch_dist.is_initialized()):
        return value
    out = value.detach().clone()
    torch_dist.all_reduce(out, op=torch_dist.ReduceOp.SUM)
    return out / torch_dist.get_world_size()


def wrap(model: nn.Module, info: DistInfo, device: torch.device) -> nn.Module:
    """``DistributedDataParallel(model)`` when distributed, else ``model``.

    Parameters and buffers are broadcast from rank 0 when wrapping; buffers (BatchNorm statistics, spectral-norm
    vectors) are re-synchronised from rank 0 before each forward (DDP's default).
    """
    if not info.enabled:
        return model
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids)
