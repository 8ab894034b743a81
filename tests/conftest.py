"""Shared fixtures and the markers that skip cleanly where a GPU, TensorRT or vs-mlrt is absent."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
DATA = SHARED / "data"
REFERENCE = SHARED / "reference" / "deoldify"


def _has_cuda() -> bool:
    if importlib.util.find_spec("torch") is None:
        return False
    import torch

    return torch.cuda.is_available()


def _has_mlrt() -> bool:
    try:
        import vapoursynth as vs
    except ImportError:
        return False
    return any(hasattr(vs.core, ns) for ns in ("ort", "ov", "trt"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    checks = {
        "gpu": (_has_cuda, "no CUDA GPU visible"),
        "trt": (lambda: importlib.util.find_spec("tensorrt") is not None, "tensorrt is not installed"),
        "mlrt": (_has_mlrt, "no vs-mlrt plugin (core.ort/ov/trt) is installed"),
    }
    cache: dict[str, bool] = {}
    for item in items:
        for name, (probe, reason) in checks.items():
            if name in item.keywords:
                if name not in cache:
                    cache[name] = probe()
                if not cache[name]:
                    item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own user cache so nothing leaks into ~/.cache or between tests."""
    cache = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("VS_COLORIZE_CACHE", str(cache))
    return cache


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not DATA.is_dir():
        pytest.skip(f"shared data not found at {DATA}")
    return DATA


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    if not REFERENCE.is_dir():
        pytest.skip(f"DeOldify reference not found at {REFERENCE}")
    return REFERENCE
