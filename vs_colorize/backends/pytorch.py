"""PyTorch backend: runs a ``torch.export`` artifact (``.pt2``) on the CPU or a CUDA GPU.

Metadata lives in the sidecar ``<file>.pt2.json`` (``ModelInfo.to_props()``). ``vs_colorize`` never
imports ``training``: the graph and weights come entirely from the ``.pt2`` file, which
:func:`vs_colorize.core.pt2.safe_pt2_bytes` checks first (a ``.pt2`` never runs code here).
"""

from __future__ import annotations

import functools
import importlib.util
import io
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import vapoursynth as vs

from ..checks import check_int, error
from ..core.contract import ModelInfo
from ..core.pt2 import Pt2Error, safe_pt2_bytes
from .base import SessionBackend, cuda_device_count

log = logging.getLogger("vs_colorize")


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
        compile: run the module through ``torch.compile`` (Inductor; needs a C compiler on the CPU). The first
            call of each input shape compiles (seconds to minutes); later calls reuse it.
        cuda_graphs: capture one CUDA graph per input shape and replay it (CUDA only: no per-kernel launch cost;
            static input/output buffers on the GPU). Refused with ``device="cpu"``; ignored with a warning when
            ``device="auto"`` resolves to the CPU.
        num_streams: concurrent model copies (see :class:`~vs_colorize.backends.base.Backend`).
        batch_size: frames per model call (see :class:`~vs_colorize.backends.base.SessionBackend`).
    """

    device: str = "auto"
    fp16: bool | None = None
    channels_last: bool = True
    num_threads: int = 0
    compile: bool = False
    cuda_graphs: bool = False

    name: ClassVar[str] = "torch"

    def __post_init__(self) -> None:
        super().__post_init__()
        if not (self.device in ("auto", "cpu", "cuda") or self.device.startswith("cuda:")):
            raise error("Torch", f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {self.device!r}")
        check_int(self.num_threads, "Torch", "num_threads", 0, 256)
        if self.cuda_graphs and self.device == "cpu":
            raise error("Torch", "cuda_graphs needs a CUDA device, got device='cpu'")

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
        graphs = self.cuda_graphs
        if graphs and device.type != "cuda":
            log.warning("Torch: cuda_graphs ignored: device %r resolved to the CPU", self.device)
            graphs = False
        if self.compile:
            module = torch.compile(module, dynamic=False)
        return TorchSession(
            module, device, torch.float16 if half else torch.float32, self.channels_last, cuda_graphs=graphs,
            label="compiled" if self.compile else "",
        )  # fmt: skip


class TorchSession:
    """A loaded ``torch.export`` module as a :class:`~vs_colorize.backends.session.Session`.

    With ``cuda_graphs`` each input shape is captured once into a ``torch.cuda.CUDAGraph`` (after warm-up runs
    on a side stream, as the CUDA-graph documentation asks) over static input/output tensors; a call copies the
    input into the static tensor (from pinned host memory, asynchronously), replays the graph and copies the
    output back. Calls of one session are serialised by the session pool, so the static buffers are never shared.
    **Unverified:** written against torch's documented CUDA-graph API; the development machines have no GPU.
    """

    def __init__(
        self,
        module: Any,
        device: Any,
        dtype: Any,
        channels_last: bool,
        *,
        cuda_graphs: bool = False,
        label: str = "",
    ) -> None:
        import torch

        self._torch = torch
        self._module = module
        self._device = device
        self._dtype = dtype
        self._channels_last = channels_last
        self._graphs: dict[tuple[int, ...], tuple[Any, Any, Any]] | None = {} if cuda_graphs else None
        precision = "fp16" if dtype == torch.float16 else "fp32"
        extras = "".join(f"/{e}" for e in (label, "cuda-graphs" if cuda_graphs else "") if e)
        self.description = f"Torch[{device}/{precision}{extras}]"

    def _input(self, x: np.ndarray) -> Any:
        torch = self._torch
        t = torch.from_numpy(x)
        if self._device.type == "cuda":
            t = t.pin_memory().to(self._device, non_blocking=True)
        t = t.to(self._dtype)
        return t.contiguous(memory_format=torch.channels_last) if self._channels_last else t

    def __call__(self, x: np.ndarray) -> np.ndarray:
        torch = self._torch
        with torch.inference_mode():
            if self._graphs is None:
                out: np.ndarray = self._module(self._input(x)).float().cpu().numpy()
                return out
            graph, static_in, static_out = self._graphs.get(x.shape) or self._capture(x)
            static_in.copy_(self._input(x))
            graph.replay()
            result: np.ndarray = static_out.float().cpu().numpy()
            return result

    def _capture(self, x: np.ndarray) -> tuple[Any, Any, Any]:
        torch = self._torch
        static_in = self._input(x).clone()
        side = torch.cuda.Stream(self._device)
        side.wait_stream(torch.cuda.current_stream(self._device))
        with torch.cuda.stream(side):
            for _ in range(3):  # warm-up: lazy initialisation and autotuning stay out of the graph
                self._module(static_in)
        torch.cuda.current_stream(self._device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            static_out = self._module(static_in)
        assert self._graphs is not None
        self._graphs[x.shape] = (graph, static_in, static_out)
        return graph, static_in, static_out
