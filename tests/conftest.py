"""Shared fixtures, the markers that skip cleanly where a GPU, TensorRT or vs-mlrt is absent, and the shared-data
policy.

Every skip in the suite comes from here, for one of two reasons:

* a marker names optional hardware or software: ``gpu``, ``trt``, ``mlrt`` (optionally ``mlrt("ov")`` for one
  plugin), or ``absent(name)`` for a test of the clear error given when ``name`` is *not* installed;
* shared data (``../shared/data``, ``../shared/reference``) is missing: :func:`require_shared`. On a user's bare
  clone that skips with a reason naming the folder; when ``CI=true`` it fails, so CI never passes by skipping.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
DATA = SHARED / "data"
REFERENCE = SHARED / "reference" / "deoldify"


def in_ci() -> bool:
    """Whether this run is CI's (``CI=true``, as GitHub Actions and most CI services set it)."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1")


def require_shared(folder: Path) -> Path:
    """``folder`` if it exists; else skip naming it (a bare clone), or fail when :func:`in_ci`."""
    if folder.is_dir():
        return folder
    reason = (
        f"shared data folder {folder} is missing (clone the shared data beside the repository as ../shared)"
    )
    if in_ci():
        pytest.fail(f"CI=true: {reason}; CI must not pass by skipping", pytrace=False)
    pytest.skip(reason)


def _has_cuda() -> bool:
    if importlib.util.find_spec("torch") is None:
        return False
    import torch

    return torch.cuda.is_available()


def _mlrt_plugins() -> set[str]:
    try:
        import vapoursynth as vs
    except ImportError:
        return set()
    return {ns for ns in ("ort", "ov", "trt") if hasattr(vs.core, ns)}


def _has_ort_cuda() -> bool:
    import onnxruntime

    return "CUDAExecutionProvider" in onnxruntime.get_available_providers()


#: What ``absent(name)`` can name, with the probe saying whether it is installed.
PRESENT: dict[str, Callable[[], bool]] = {
    "tensorrt": lambda: importlib.util.find_spec("tensorrt") is not None,
    "cuda": _has_cuda,
    "ort-cuda": _has_ort_cuda,
    "mlrt-trt": lambda: "trt" in _mlrt_plugins(),
}


def _skip_reason(marker: pytest.Mark, cache: dict[str, bool]) -> str | None:
    def probe(key: str, fn: Callable[[], bool]) -> bool:
        if key not in cache:
            cache[key] = fn()
        return cache[key]

    if marker.name == "gpu" and not probe("gpu", _has_cuda):
        return "no CUDA GPU visible"
    if marker.name == "trt" and not probe("tensorrt", PRESENT["tensorrt"]):
        return "tensorrt is not installed"
    if marker.name == "mlrt":
        wanted = marker.args or ("ort", "ov", "trt")
        have = [p for p in wanted if probe(f"mlrt-{p}", lambda p=p: p in _mlrt_plugins())]
        if not have:
            return f"no vs-mlrt plugin ({'/'.join(f'core.{p}' for p in wanted)}) is installed"
    if marker.name == "absent":
        (name,) = marker.args
        if probe(name, PRESENT[name]):
            return f"{name} is installed here (this test checks the error given without it)"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    cache: dict[str, bool] = {}
    for item in items:
        for marker in item.iter_markers():
            reason = _skip_reason(marker, cache)
            if reason is not None:
                item.add_marker(pytest.mark.skip(reason=reason))
                break


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own user cache so nothing leaks into ~/.cache or between tests."""
    cache = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("VS_COLORIZE_CACHE", str(cache))
    return cache


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """``../shared/data`` (see :func:`require_shared`)."""
    return require_shared(DATA)


@pytest.fixture(scope="session")
def film() -> Path:
    """The real B&W film clip that ships with the repository (public domain, scripts/samples/SOURCES.md):
    no shared data needed, so a bare clone runs the film tests too."""
    return Path(__file__).resolve().parents[1] / "scripts" / "samples" / "a-bomb_blast_effects_part.mp4"


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """``../shared/reference/deoldify``, DeOldify's reference outputs (see :func:`require_shared`)."""
    return require_shared(REFERENCE)


def find_ffmpeg() -> str | None:
    """An ffmpeg binary: PATH first, then the one bundled by imageio-ffmpeg (a dev dependency)."""
    found = shutil.which("ffmpeg")
    if found:
        return found
    try:
        import imageio_ffmpeg
    except ImportError:
        return None
    return imageio_ffmpeg.get_ffmpeg_exe()


@pytest.fixture(scope="session")
def ffmpeg() -> str:
    """The ffmpeg binary; the dev extra ships one (imageio-ffmpeg), so a missing one is a broken setup."""
    binary = find_ffmpeg()
    if binary is None:
        pytest.fail(
            "no ffmpeg binary: install the dev extra (imageio-ffmpeg) or put ffmpeg on PATH", pytrace=False
        )
    return binary


@pytest.fixture
def ffmpeg_on_path(ffmpeg: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """``ffmpeg`` reachable as plain ``ffmpeg`` on ``PATH`` (for ``--encoder ffmpeg``, which runs it by name)."""
    folder = tmp_path / "ffmpeg-bin"
    folder.mkdir()
    (folder / "ffmpeg").symlink_to(ffmpeg)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    return ffmpeg
