"""Spectral-norm and weight-norm convolutions with DeOldify's state-dict layout.

DeOldify used torch's old hook-based ``torch.nn.utils.spectral_norm`` / ``weight_norm``. These
modules reproduce them as plain modules with the same parameter and buffer names, so DeOldify's
published ``.pth`` files load with ``strict=True``:

* :class:`SNConv` keeps ``weight_orig`` (Parameter), ``weight_u`` ``[out]`` and ``weight_v``
  ``[in·k…]`` (buffers) and an optional ``bias``. In train mode every forward runs one power
  iteration in place under ``no_grad`` first (``n_power_iterations=1, eps=1e-12``); in eval mode
  it only computes ``W = weight_orig / σ`` with ``σ = u · (W_mat v)``.
* :class:`WNConv2d` keeps ``weight_g`` ``[out,1,1,1]``, ``weight_v`` (direction) and ``bias``.

Both expose :meth:`effective_weight`, which :func:`vs_colorize.training.archs.bake.bake_norms` uses to fold
them into plain convolutions for export.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

_EPS = 1e-12


def _normalize(x: Tensor) -> Tensor:
    return x / x.norm().clamp_min(_EPS)


class SNConv(nn.Module):
    """A Conv1d/Conv2d with DeOldify's (torch's legacy) spectral normalisation.

    Args:
        ni: input channels (≥ 1).
        nf: output channels (≥ 1).
        ks: square kernel size.
        stride: convolution stride (default 1).
        padding: zero padding; ``None`` (default) means ``(ks - 1) // 2``.
        bias: whether the conv has a bias (default ``True``).
        ndim: 2 for Conv2d (default), 1 for the Conv1d used by self-attention.

    The weight is initialised with ``kaiming_normal_`` (fastai's default), the bias with zeros and
    ``weight_u``/``weight_v`` with normalised Gaussian noise, as ``spectral_norm`` does.
    """

    weight_u: Tensor  # buffers (registered in __init__)
    weight_v: Tensor

    def __init__(
        self,
        ni: int,
        nf: int,
        ks: int,
        stride: int = 1,
        padding: int | None = None,
        bias: bool = True,
        ndim: int = 2,
    ) -> None:
        super().__init__()
        if ndim not in (1, 2):
            raise ValueError(f"SNConv: ndim must be 1 or 2, got {ndim}")
        self.in_channels, self.out_channels, self.kernel_size = ni, nf, ks
        self.stride = stride
        self.padding = (ks - 1) // 2 if padding is None else padding
        self.ndim = ndim
        # Registration order bias → weight_orig → u → v matches torch's spectral_norm state dicts.
        self.bias = nn.Parameter(torch.zeros(nf)) if bias else None
        weight = torch.empty(nf, ni, *([ks] * ndim))
        nn.init.kaiming_normal_(weight)
        self.weight_orig = nn.Parameter(weight)
        self.register_buffer("weight_u", _normalize(torch.randn(nf)))
        self.register_buffer("weight_v", _normalize(torch.randn(ni * ks**ndim)))

    def _matrix(self) -> Tensor:
        return self.weight_orig.reshape(self.out_channels, -1)

    def effective_weight(self) -> Tensor:
        """``weight_orig / σ`` from the current ``weight_u``/``weight_v`` (no power iteration)."""
        sigma = torch.dot(self.weight_u, torch.mv(self._matrix(), self.weight_v))
        return self.weight_orig / sigma

    def forward(self, x: Tensor) -> Tensor:
        if self.training:
            with torch.no_grad():
                w_mat = self._matrix()
                F.normalize(torch.mv(w_mat.t(), self.weight_u), dim=0, eps=_EPS, out=self.weight_v)
                F.normalize(torch.mv(w_mat, self.weight_v), dim=0, eps=_EPS, out=self.weight_u)
            u = self.weight_u.clone(memory_format=torch.contiguous_format)
            v = self.weight_v.clone(memory_format=torch.contiguous_format)
            weight = self.weight_orig / torch.dot(u, torch.mv(self._matrix(), v))
        else:
            weight = self.effective_weight()
        conv = F.conv2d if self.ndim == 2 else F.conv1d
        return conv(x, weight, self.bias, self.stride, self.padding)

    def _load_from_state_dict(
        self,
        state_dict: dict[str, Any],
        prefix: str,
        local_metadata: dict[str, Any],
        strict: bool,
        missing_keys: list[str],
        unexpected_keys: list[str],
        error_msgs: list[str],
    ) -> None:
        _upgrade_old_spectral_layout(state_dict, prefix, self.out_channels)
        super()._load_from_state_dict(
            state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
        )

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding}, bias={self.bias is not None}, conv{self.ndim}d"
        )


@torch.no_grad()
def _upgrade_old_spectral_layout(state_dict: dict[str, Any], prefix: str, out_channels: int) -> None:
    """Rewrite an old spectral-norm layout in ``state_dict`` to ``weight_orig/weight_u/weight_v``.

    Two old layouts carry a ``weight`` key and no ``weight_v``:

    * torch < 1.0 ("version None"): ``weight_orig``, ``weight_u`` and the normalised ``weight``;
      σ is the least-squares ratio ``⟨W_orig, W_orig⟩ / ⟨W_orig, W⟩`` (torch's own load hook
      takes ``mean(weight_orig / weight)``, which turns NaN on a zero weight);
    * a plain convolution ``weight`` (e.g. from a baked model): it becomes ``weight_orig`` with
      σ = 1 and ``u`` an approximate leading left singular vector.

    ``v`` is then ``Wᵀu · σ / ‖Wᵀu‖²``, so ``u · (W v) = σ`` and the eval weight is exactly the
    stored one. (Torch solves ``v = W⁺u`` instead, which costs an SVD; the value of ``v`` only
    matters through σ, because a train-mode step recomputes ``v`` from ``u`` first.)
    """
    w_key, o_key, u_key, v_key = (prefix + s for s in ("weight", "weight_orig", "weight_u", "weight_v"))
    has_orig, has_u = o_key in state_dict, u_key in state_dict
    if w_key not in state_dict or v_key in state_dict or has_orig != has_u:
        return  # current layout, or an inconsistent one left to the strict key check
    weight = state_dict.pop(w_key)
    if has_orig:
        w_orig = state_dict[o_key]
        u = state_dict[u_key].double()
        w_o, w = w_orig.double().flatten(), weight.double().flatten()
        sigma = w_o.dot(w_o) / w_o.dot(w)  # least squares; torch's mean(w_orig / w) fails on zeros
    else:
        w_orig = state_dict[o_key] = weight
        w_mat = weight.reshape(out_channels, -1).double()
        u = _normalize(torch.ones_like(w_mat[:, 0]))
        for _ in range(3):
            u = _normalize(torch.mv(w_mat, torch.mv(w_mat.t(), u)))
        state_dict[u_key] = u.to(weight.dtype)
        sigma = torch.ones((), dtype=torch.float64)
    wtu = torch.mv(w_orig.reshape(out_channels, -1).double().t(), u)
    state_dict[v_key] = (wtu * (sigma / wtu.dot(wtu).clamp_min(_EPS))).to(w_orig.dtype)


class WNConv2d(nn.Module):
    """A Conv2d with torch's legacy weight normalisation (``weight_g``, ``weight_v``; dim 0).

    ``W = weight_g · weight_v / ‖weight_v‖`` with the norm per output channel over dims 1..3.

    Args:
        ni: input channels.
        nf: output channels.
        ks: square kernel size.
        stride: stride (default 1).
        padding: ``None`` (default) means ``(ks - 1) // 2``.
        bias: whether the conv has a bias (default ``True``, zero-initialised).
    """

    def __init__(
        self, ni: int, nf: int, ks: int, stride: int = 1, padding: int | None = None, bias: bool = True
    ) -> None:
        super().__init__()
        self.in_channels, self.out_channels, self.kernel_size = ni, nf, ks
        self.stride = stride
        self.padding = (ks - 1) // 2 if padding is None else padding
        self.bias = nn.Parameter(torch.zeros(nf)) if bias else None
        direction = torch.empty(nf, ni, ks, ks)
        nn.init.kaiming_normal_(direction)
        self.weight_g = nn.Parameter(direction.flatten(1).norm(dim=1).reshape(nf, 1, 1, 1))
        self.weight_v = nn.Parameter(direction)

    def effective_weight(self) -> Tensor:
        """``weight_g · weight_v / ‖weight_v‖`` (per output channel)."""
        norm = self.weight_v.flatten(1).norm(dim=1).reshape(-1, 1, 1, 1)
        return self.weight_v * (self.weight_g / norm)

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.effective_weight(), self.bias, self.stride, self.padding)

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding}, bias={self.bias is not None}"
        )


def icnr_(weight: Tensor, scale: int = 2) -> None:
    """ICNR initialisation (fastai ``icnr``) of a pixel-shuffle conv weight, in place.

    The ``scale²`` output channels that PixelShuffle folds into one output pixel block share one
    Kaiming-normal kernel, so the freshly initialised upsampler behaves like nearest upsampling.
    """
    nf = weight.shape[0]
    if nf % (scale * scale):
        raise ValueError(f"icnr_: weight's output channels must be a multiple of {scale * scale}, got {nf}")
    kernel = torch.empty(nf // (scale * scale), *weight.shape[1:])
    nn.init.kaiming_normal_(kernel)
    with torch.no_grad():
        weight.copy_(kernel.repeat_interleave(scale * scale, dim=0))
