"""Where a phase runs and at which precision: device selection, autocast and gradient scaling, memory format.

AMP and ``channels_last`` only switch on for CUDA (bf16 autocast also on the CPU; fp16 requests there are logged and
ignored), so the CPU tests exercise the same code path minus the autocast context.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import torch
from torch import nn

log = logging.getLogger(__name__)


def select_device(name: str, local_rank: int = 0) -> torch.device:
    """``"auto"`` → ``cuda:<local_rank>`` when CUDA is visible, else CPU; otherwise ``torch.device(name)``."""
    if name == "auto":
        return torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"select_device: device {name!r} asked for but CUDA is not available")
    return dev


class Precision:
    """Autocast and gradient scaling for one device.

    Args:
        device: where the models run.
        amp: ``"none"``, ``"bf16"`` or ``"fp16"``. bf16 runs on CUDA and on the CPU (a generator-pretraining
            step of the tiny model took 1.7–1.9× less time than fp32 on a 2-core AVX-512-BF16 CPU,
            ``scripts/bench.py --sections train``); fp16 only on CUDA, with a ``GradScaler``.
        channels_last: NHWC memory format for models and inputs; only honoured on CUDA.
    """

    def __init__(self, device: torch.device, amp: str, channels_last: bool) -> None:
        cuda = device.type == "cuda"
        if not cuda and amp == "fp16":
            log.warning("precision: amp=fp16 ignored on %s (fp16 autocast needs CUDA; use amp=bf16)", device)
        self.device = device
        use = cuda or amp == "bf16"
        self.dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(amp) if use else None
        self.channels_last = channels_last and cuda
        self.fp16 = self.dtype is torch.float16

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        """``torch.autocast`` with the AMP dtype, or a no-op context."""
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.dtype)

    def scaler(self) -> torch.amp.GradScaler:
        """A gradient scaler, enabled only for fp16."""
        return torch.amp.GradScaler(self.device.type, enabled=self.fp16)

    def model[M: nn.Module](self, module: M) -> M:
        """Move ``module`` to the device (NHWC when ``channels_last``); returns it."""
        module.to(self.device)
        if self.channels_last:
            module.to(memory_format=torch.channels_last)
        return module

    def batch(self, x: torch.Tensor) -> torch.Tensor:
        """Move a batch to the device in the model's memory format."""
        x = x.to(self.device, non_blocking=True)
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x
