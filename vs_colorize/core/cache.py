"""User cache layout and registry names. Pure Python, shared with ``export``.

Layout under :func:`cache_dir` (``$VS_COLORIZE_CACHE``, else ``$XDG_CACHE_HOME/vs-colorize``, else
``~/.cache/vs-colorize``)::

    weights/   downloaded third-party weights (e.g. DeOldify's ColorizeVideo_gen.pth)
    models/    ONNX artifacts the filters resolve by registry name: <name>-<precision>.onnx
    engines/   TensorRT engines keyed by :func:`engine_key`
    bsindex/   BestSource index files (never next to the user's media)
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

#: Names the filters resolve in ``models/``; DeOldify's three generators and our bundled demo.
REGISTRY_NAMES: tuple[str, ...] = ("video", "stable", "artistic", "demo")


def cache_dir() -> Path:
    env = os.environ.get("VS_COLORIZE_CACHE")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "vs-colorize"


def subdir(name: str) -> Path:
    """A cache subdirectory, created on demand."""
    path = cache_dir() / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def registry_model_path(name: str, precision: str = "fp32") -> Path:
    """Where the artifact for a registry name lives (whether or not it exists yet)."""
    return cache_dir() / "models" / f"{name}-{precision}.onnx"


def engine_key(**identity: object) -> str:
    """A short stable hash of an engine's identity (ONNX hash, TensorRT version, GPU, shapes, precision…)."""
    blob = json.dumps(identity, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:24]
