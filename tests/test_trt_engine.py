"""TensorRT engine building and running.

Only the argument checks, the lazy imports and the profile derivation run on this project's machines;
everything that needs TensorRT and a GPU is behind the ``trt``/``gpu`` markers and skips where those are
absent (and has not been run by us: see docs/export.md).
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import numpy as np
import pytest
import torch
from test_export_onnx import filled_tiny, run_onnx

from vs_colorize.core.contract import ModelInfo
from vs_colorize.export.onnx import to_onnx
from vs_colorize.export.trt import profile_shapes
from vs_colorize.trt_engine import build_engine


def test_importing_the_runtime_module_loads_nothing_heavy():
    code = (
        "import sys, vs_colorize.trt_engine\n"
        "print(sorted(m for m in ('tensorrt', 'cuda', 'torch', 'onnxruntime') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize(
    ("shapes", "message"),
    [
        (((1, 3, 64), (1, 3, 64, 64), (1, 3, 64, 64)), "min_shape must be 4 positive ints"),
        (((1, 3, 64, 64), (1, 3, 32, 64), (1, 3, 128, 128)), "min_shape <= opt_shape <= max_shape"),
        (((1, 3, 64, 64), (1, 3, 64, 64), (1, 3, 0, 64)), "max_shape must be 4 positive ints"),
    ],
)
def test_build_engine_checks_shapes_before_touching_tensorrt(tmp_path, shapes, message):
    lo, opt, hi = shapes
    with pytest.raises(ValueError, match=r"^build_engine: ") as exc:
        build_engine(tmp_path / "m.onnx", min_shape=lo, opt_shape=opt, max_shape=hi)
    assert message in str(exc.value)
    with pytest.raises(FileNotFoundError, match="build_engine: onnx_path"):
        build_engine(
            tmp_path / "m.onnx", min_shape=(1, 3, 64, 64), opt_shape=(1, 3, 64, 64), max_shape=(1, 3, 64, 64)
        )


def test_profile_shapes_follow_the_metadata():
    static = ModelInfo(kind="colorize", arch="tiny", static_size=(64, 96))
    assert profile_shapes(static, max_batch=4) == ((1, 3, 64, 96), (1, 3, 64, 96), (4, 3, 64, 96))
    dynamic = ModelInfo(kind="colorize", arch="video", dynamic_range=(64, 1024))
    assert profile_shapes(dynamic) == ((1, 3, 64, 64), (1, 3, 336, 336), (1, 3, 1024, 1024))
    assert profile_shapes(dynamic, opt_size=2000)[1] == (1, 3, 1024, 1024)
    assert profile_shapes(dynamic, opt_size=330)[1] == (1, 3, 336, 336)


@pytest.fixture(scope="module")
def tiny_onnx(tmp_path_factory):
    torch.set_num_threads(1)
    path = tmp_path_factory.mktemp("trt") / "tiny.onnx"
    to_onnx(filled_tiny(), path, render_size=64, dynamic=(64, 128))
    return path


@pytest.mark.trt
@pytest.mark.gpu
def test_engine_matches_onnxruntime_and_is_cached(tiny_onnx, tmp_path):
    from vs_colorize.trt_engine import TRTRunner

    shapes = {"min_shape": (1, 3, 64, 64), "opt_shape": (1, 3, 96, 96), "max_shape": (2, 3, 128, 128)}
    engine = build_engine(tiny_onnx, cache_dir=tmp_path, **shapes)
    assert engine.parent == tmp_path and engine.suffix == ".engine"
    assert list(tmp_path.glob("timing-*.cache"))
    stamp = engine.stat().st_mtime_ns
    assert build_engine(tiny_onnx, cache_dir=tmp_path, **shapes) == engine
    assert engine.stat().st_mtime_ns == stamp  # reused, not rebuilt
    assert build_engine(tiny_onnx, cache_dir=tmp_path, fp16=False, **shapes) != engine

    rng = np.random.default_rng(6)
    with TRTRunner(engine) as run:
        for shape in [(1, 3, 64, 64), (2, 3, 80, 128), (1, 3, 112, 96)]:
            x = rng.random(shape, dtype=np.float32)
            got = run(x)
            assert got.dtype == np.float32 and got.shape == shape
            assert np.abs(got - run_onnx(tiny_onnx, x)).max() <= 1e-2
        with pytest.raises(ValueError, match="outside the engine's optimisation profile"):
            run(np.zeros((1, 3, 144, 144), np.float32))


@pytest.mark.trt
@pytest.mark.gpu
def test_corrupt_cached_engine_is_rebuilt(tiny_onnx, tmp_path):
    shapes = {"min_shape": (1, 3, 64, 64), "opt_shape": (1, 3, 64, 64), "max_shape": (1, 3, 64, 64)}
    engine = build_engine(tiny_onnx, cache_dir=tmp_path, timing_cache=False, **shapes)
    good = engine.read_bytes()
    engine.write_bytes(good[: len(good) // 3])
    assert build_engine(tiny_onnx, cache_dir=tmp_path, timing_cache=False, **shapes) == engine
    assert len(engine.read_bytes()) > len(good) // 3


def test_engine_sidecar_lets_the_filter_read_a_raw_engine(tmp_path):
    from vs_colorize.export.trt import write_engine_sidecar
    from vs_colorize.models import read_info

    engine = tmp_path / "tiny.engine"
    engine.write_bytes(b"serialized engine bytes")
    info = ModelInfo(kind="colorize", arch="tiny", dynamic_range=(64, 512), source_sha256="ab" * 32)
    side = write_engine_sidecar(engine, info, fp16=True)
    assert side.name == "tiny.engine.json"
    assert read_info(engine, func="colorize") == dataclasses.replace(info, precision="fp16")


@pytest.mark.trt
@pytest.mark.gpu
def test_pinned_runner_returns_fresh_arrays_and_batches_match(tiny_onnx, tmp_path):
    """The pinned staging buffers are reused: each call must still return its own array; a batch of 2 gives
    the two single frames' outputs; two runners (two streams) give the same results concurrently."""
    import threading

    from vs_colorize.trt_engine import TRTRunner

    shapes = {"min_shape": (1, 3, 64, 64), "opt_shape": (2, 3, 64, 64), "max_shape": (2, 3, 64, 64)}
    engine = build_engine(tiny_onnx, cache_dir=tmp_path, fp16=False, **shapes)
    x = np.random.default_rng(7).random((2, 3, 64, 64), dtype=np.float32)
    with TRTRunner(engine) as a, TRTRunner(engine) as b:
        first, second = a(x[:1]), a(x[1:])
        assert not np.array_equal(first, second)  # the first result was not overwritten by the second call
        np.testing.assert_allclose(a(x), np.concatenate([first, second]), atol=1e-5)
        results: dict[str, np.ndarray] = {}
        threads = [
            threading.Thread(target=lambda r=r, k=k: results.__setitem__(k, r(x)))
            for k, r in (("a", a), ("b", b))
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        np.testing.assert_array_equal(results["a"], results["b"])
