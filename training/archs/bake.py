"""Fold spectral norm and weight norm into plain convolutions (for ONNX/TensorRT export)."""

from __future__ import annotations

import copy

import torch
from torch import nn

from .norms import SNConv, WNConv2d


def bake_norms[M: nn.Module](model: M) -> M:
    """Return an eval-mode deep copy of ``model`` with every :class:`SNConv` / :class:`WNConv2d`
    replaced by a plain ``nn.Conv1d``/``nn.Conv2d`` holding its eval-mode effective weight.

    The copy computes the same function as ``model.eval()`` (no power iteration, BatchNorm with
    running statistics) and carries no spectral/weight-norm buffers, hooks or parametrizations.
    Attributes such as ``config`` and ``source_sha256`` are kept. ``model`` itself is untouched.
    """
    baked = copy.deepcopy(model).eval()
    for parent in list(baked.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, SNConv | WNConv2d):
                setattr(parent, name, _plain_conv(child))
    return baked


@torch.no_grad()
def _plain_conv(module: SNConv | WNConv2d) -> nn.Conv1d | nn.Conv2d:
    weight = module.effective_weight()
    conv_cls = nn.Conv1d if weight.dim() == 3 else nn.Conv2d
    conv = conv_cls(
        module.in_channels,
        module.out_channels,
        module.kernel_size,
        stride=module.stride,
        padding=module.padding,
        bias=module.bias is not None,
        device="meta",  # no throw-away initialisation; the parameters are replaced below
    )
    conv.weight = nn.Parameter(weight)  # computed under no_grad: a fresh tensor
    if module.bias is not None:
        conv.bias = nn.Parameter(module.bias.detach().clone())
    return conv.eval()
