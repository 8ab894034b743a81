"""The deterministic fill rule v1 of reference/deoldify/README.md §7.1 and reference loading helpers.

Every state-dict key gets a value computed from its name alone, so a re-implementation can be
compared with the original networks' outputs without any weights.
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import numpy as np
import torch

_DTYPES = {"float32": torch.float32, "int64": torch.int64}


def load_manifest(reference_dir: Path, name: str) -> list[tuple[str, list[int], str]]:
    """``manifest_<name>.json`` as a list of ``(key, shape, dtype)``."""
    with open(reference_dir / f"manifest_{name}.json") as f:
        return [(k, list(s), d) for k, s, d in json.load(f)]


def load_array(reference_dir: Path, filename: str) -> torch.Tensor:
    """A reference ``.npy`` file as a float32 tensor."""
    return torch.from_numpy(np.load(reference_dir / filename))


def _randn(shape: list[int], key: str) -> torch.Tensor:
    g = torch.Generator()
    g.manual_seed(zlib.crc32(key.encode("utf-8")))
    return torch.randn(shape, generator=g, dtype=torch.float32)


def fill_state_dict(manifest: list[tuple[str, list[int], str]]) -> dict[str, torch.Tensor]:
    """Values for every manifest key by fill rule v1, in manifest order."""
    keys = {k for k, _, _ in manifest}

    def sibling(key: str, leaf: str) -> bool:
        return f"{key.rsplit('.', 1)[0]}.{leaf}" in keys

    out: dict[str, torch.Tensor] = {}
    sn_prefixes: list[tuple[str, list[int]]] = []
    for key, shape, dtype in manifest:
        leaf = key.rsplit(".", 1)[1]
        if sibling(key, "weight_orig") and leaf in ("weight_u", "weight_v"):
            if leaf == "weight_u":
                sn_prefixes.append((key.rsplit(".", 1)[0], shape))
            continue
        if _DTYPES[dtype] == torch.int64:
            out[key] = torch.zeros(shape, dtype=torch.int64)
        elif leaf == "running_mean":
            out[key] = 0.02 * _randn(shape, key)
        elif leaf == "running_var":
            out[key] = 0.25 + 0.5 * _randn(shape, key).abs()
        elif sibling(key, "running_var") and leaf == "weight":
            out[key] = 1.0 + 0.1 * _randn(shape, key)
        elif sibling(key, "running_var") and leaf == "bias":
            out[key] = 0.02 * _randn(shape, key)
        elif leaf == "weight_g":
            out[key] = 1.0 + 0.1 * _randn(shape, key)
        elif leaf == "gamma":
            out[key] = 0.5 + 0.1 * _randn(shape, key)
        else:
            out[key] = 0.02 * _randn(shape, key)
    for prefix, u_shape in sn_prefixes:
        w = out[f"{prefix}.weight_orig"].double().reshape(u_shape[0], -1)
        u = _randn(u_shape, f"{prefix}.weight_u").double()
        u = u / u.norm().clamp_min(1e-12)
        v = w.T @ u
        v = v / v.norm().clamp_min(1e-12)
        out[f"{prefix}.weight_u"] = u.float()
        out[f"{prefix}.weight_v"] = v.float()
    return {k: out[k] for k, _, _ in manifest}


def fillcheck(reference_dir: Path, name: str) -> list[tuple[str, float, float]]:
    """``fillcheck_<name>.json`` as ``(key, sum, abs_sum)`` in float64."""
    with open(reference_dir / f"fillcheck_{name}.json") as f:
        return [(k, float(s), float(a)) for k, s, a in json.load(f)]
