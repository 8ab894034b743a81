"""PyTorch backend: runs a ``torch.export`` artifact (``.pt2``) on the CPU or a CUDA GPU.

Metadata lives in the sidecar ``<file>.pt2.json`` (``ModelInfo.to_props()``). ``vs_colorize`` never
imports ``training``: the graph and weights come entirely from the ``.pt2`` file, which
:func:`vs_colorize.core.pt2.safe_pt2_bytes` checks first (a ``.pt2`` never runs code here).
"""

from __future__ import annotations

import functools
import importlib.util
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import vapoursynth as vs

from ..checks import check_int, error
from ..core.contract import ModelInfo
from ..core.pt2 import Pt2Error, safe_pt2_bytes
from .base import SessionBackend, cuda_device_count


@functools.cache
def torch_available() -> bool:
    """Whether torch is importable (checked without importing it)."""
    return importlib.util.find_spec("torch") is not None


def _import_torch(func: str) -> Any:
    try:
        import torch
    except ImportError as exc:
        raise error(func, "backend Torch needs torch: pip install 'vs-colorize[training]'") from exc
    return torch


@dataclass(frozen=True, kw_only=True)
class Torch(SessionBackend):
    """PyTorch on ``torch.export`` artifacts.

    Args:
        device: ``"auto"`` (CUDA if a GPU is visible, else CPU), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        fp16: half precision; None = on CUDA only (fp16 on the CPU is slow and not supported by every op).
        channels_last: feed NHWC-strided tensors (faster convolutions on CUDA).
        num_threads: CPU threads for torch (``torch.set_num_threads``, process-wide); 0 leaves torch's
            setting alone.
        num_streams: concurrent model copies (see :class:`~vs_colorize.backends.base.Backend`).
    """

    device: str = "auto"
    fp16: bool | None = None
    channels_last: bool = True
    num_threads: int = 0

    name: ClassVar[str] = "torch"

    def __post_init__(self) -> None:
        super().__post_init__()
        if not (self.device in ("auto", "cpu", "cuda") or self.device.startswith("cuda:")):
            raise error("Torch", f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {self.device!r}")
        check_int(self.num_threads, "Torch", "num_threads", 0, 256)

    @property
    def resolved_device(self) -> str:
        """The device string torch will use."""
        if self.device == "auto":
            return "cuda" if cuda_device_count() > 0 and torch_available() else "cpu"
        return self.device

    @property
    def gpu(self) -> bool:
        return self.resolved_device.startswith("cuda")

    @property
    def formats(self) -> tuple[str, ...]:
        return ("pt2",)

    def open(self, path: Path, info: ModelInfo, shape: tuple[int, int, int, int]) -> TorchSession:
        torch = _import_torch("Torch")
        if self.num_threads:
            torch.set_num_threads(self.num_threads)
        device = torch.device(self.resolved_device)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise error("Torch", f"device={self.device!r} but torch sees no CUDA GPU")
        half = self.fp16 if self.fp16 is not None else device.type == "cuda"
        try:  # the archive is checked and copied first: torch never unpickles or evaluates what is in it
            data = safe_pt2_bytes(path, func="Torch")
        except (Pt2Error, FileNotFoundError) as exc:
            raise vs.Error(str(exc)) from None
        try:
            module = torch.export.load(io.BytesIO(data)).module()
        except Exception as exc:
            raise error("Torch", f"cannot load model {str(path)!r} with torch.export.load: {exc}") from exc
        module = module.to(device)
        if half:
            module = module.half()
        return TorchSession(module, device, torch.float16 if half else torch.float32, self.channels_last)


class TorchSession:
    """A loaded ``torch.export`` module as a :class:`~vs_colorize.frames.Session`."""

    def __init__(self, module: Any, device: Any, dtype: Any, channels_last: bool) -> None:
        import torch

        self._torch = torch
        self._module = module
        self._device = device
        self._dtype = dtype
        self._channels_last = channels_last
        precision = "fp16" if dtype == torch.float16 else "fp32"
        self.description = f"Torch[{device}/{precision}]"

    def __call__(self, x: np.ndarray) -> np.ndarray:
        torch = self._torch
        with torch.inference_mode():
            t = torch.from_numpy(x).to(self._device, self._dtype)
            if self._channels_last:
                t = t.contiguous(memory_format=torch.channels_last)
            y = self._module(t)
            return y.float().cpu().numpy()
