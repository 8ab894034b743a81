"""Batched inference (``batch_size``): byte-identical to batch 1, one model call per block, bounded cache."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import onnx_models as om
import pytest
import vapoursynth as vs
from test_superres import sr_model

from vs_colorize import colorize, superres
from vs_colorize.backends import MLRT, ORT, get_backend
from vs_colorize.backends.session import BlockCache, Session, block_views, infer_clip

core = vs.core
DEMO = Path(__file__).resolve().parents[1] / "vs_colorize" / "assets" / "demo-fp32.onnx"


def planes(clip: vs.VideoNode, order: list[int] | None = None) -> list[np.ndarray]:
    frames = range(clip.num_frames) if order is None else order
    return [
        np.stack([np.asarray(f[p]) for p in range(f.format.num_planes)]) for f in map(clip.get_frame, frames)
    ]


@pytest.fixture(scope="module")
def demo_reference() -> tuple[vs.VideoNode, list[np.ndarray]]:
    clip = om.noise_clip(vs.RGB24, 96, 64, length=7)
    out = colorize(clip, DEMO, render_factor=4, backend=ORT(provider="cpu"))
    return clip, planes(out)


@pytest.mark.parametrize(("batch", "streams"), [(2, 1), (3, 1), (4, 2), (8, 1)])
def test_demo_model_batches_are_byte_identical(
    demo_reference: tuple[vs.VideoNode, list[np.ndarray]], batch: int, streams: int
) -> None:
    """The shipped convolutional demo model: 7 frames (a tail block in every case, one block shorter than the
    batch at 8), in order and in random order, equal to batch 1 bit for bit; props stay those of frame n."""
    clip, reference = demo_reference
    out = colorize(
        clip, DEMO, render_factor=4, backend=ORT(provider="cpu", batch_size=batch, num_streams=streams)
    )
    assert all(np.array_equal(a, b) for a, b in zip(reference, planes(out), strict=True))
    order = [6, 2, 0, 5, 5, 1, 3]
    assert all(np.array_equal(reference[n], got) for n, got in zip(order, planes(out, order), strict=True))
    assert out.get_frame(4).props["VSColorizeBackend"].endswith(f"batch {batch}")


def test_superres_batches_with_tiles_are_byte_identical(tmp_path: Path) -> None:
    """Superres (3 stacked window clips as channels) whole and tiled: batch 3 over 5 frames equals batch 1."""
    model = sr_model(tmp_path / "m.onnx", blur=True)
    src = om.noise_clip(vs.GRAY8, 40, 24, length=5)
    for tile in (None, 16):
        ref = planes(superres(src, model, backend=ORT(provider="cpu"), tile=tile, overlap=8))
        got = planes(superres(src, model, backend=ORT(provider="cpu", batch_size=3), tile=tile, overlap=8))
        assert all(np.array_equal(a, b) for a, b in zip(ref, got, strict=True))


class Counting:
    """A real ORT session that records the batch of every call."""

    def __init__(self, inner: Session) -> None:
        self.inner = inner
        self.calls: list[int] = []
        self.description = inner.description

    def __call__(self, x: np.ndarray) -> np.ndarray:
        self.calls.append(x.shape[0])
        return self.inner(x)


@pytest.mark.parametrize("streams", [1, 2])
def test_one_model_call_per_block(streams: int, tmp_path: Path) -> None:
    """7 frames at batch 3: 3 calls of exactly 3 frames (the tail padded), however many streams request them."""
    clip = om.noise_clip(vs.RGBS, 32, 32, length=7)
    model = om.tint(tmp_path / "tint.onnx")
    sessions = [
        Counting(ORT(provider="cpu").open(model, om.colorize_info(), (3, 3, 32, 32))) for _ in range(streams)
    ]
    out = infer_clip([clip], sessions, width=32, height=32, out_channels=3, func="t", batch=3)
    frames = planes(out)
    calls = [c for s in sessions for c in s.calls]
    assert calls == [3, 3, 3]
    single = planes(infer_clip([clip], [sessions[0].inner], width=32, height=32, out_channels=3, func="t"))
    assert all(np.array_equal(a, b) for a, b in zip(single, frames, strict=True))


def test_block_views_cover_blocks_and_tail() -> None:
    clip = om.noise_clip(vs.GRAY8, 8, 8, length=5).std.SetFrameProps()
    clip = clip.std.ModifyFrame(clip, lambda n, f: _tag(n, f))
    views = block_views(clip, 2)
    got = [[v.get_frame(n).props["Idx"] for n in range(5)] for v in views]
    assert got == [[0, 0, 2, 2, 4], [1, 1, 3, 3, 4]]


def _tag(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
    out = f.copy()
    out.props["Idx"] = n
    return out


def test_block_cache_computes_once_under_threads_and_stays_bounded() -> None:
    cache = BlockCache(capacity=2)
    computed: list[int] = []
    gate = threading.Barrier(4)

    def compute(k: int) -> np.ndarray:
        computed.append(k)
        time.sleep(0.02)  # long enough for the other threads to ask for the same block meanwhile
        return np.arange(4, dtype=np.float32)[:, None] + k

    def ask(j: int) -> None:
        gate.wait()
        assert cache.get(0, j, 4, lambda: compute(0))[0, 0] == j

    threads = [threading.Thread(target=ask, args=(j,)) for j in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert computed == [0] and len(cache) == 0  # every frame served once: the block is dropped
    for k in range(1, 6):  # random access leaving every block partly served: the oldest are evicted
        cache.get(k, 0, 4, lambda k=k: compute(k))
        assert len(cache) <= 2
    assert cache.get(5, 1, 4, lambda: compute(99))[0, 0] == 6  # still held: not recomputed
    assert cache.get(1, 1, 4, lambda: compute(1))[0, 0] == 2  # evicted: computed again, same values
    assert computed == [0, 1, 2, 3, 4, 5, 1]


def test_failed_block_is_not_kept() -> None:
    cache = BlockCache(capacity=2)

    def fail() -> np.ndarray:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        cache.get(0, 0, 2, fail)
    assert cache.get(0, 1, 2, lambda: np.ones((2, 1)))[0, 0] == 1


def test_batch_size_is_checked_and_mlrt_has_none() -> None:
    with pytest.raises(vs.Error, match=r"ORT: batch_size must be 1\.\.64, got 0"):
        ORT(batch_size=0)
    assert get_backend("ort", func="f", batch_size=4) == ORT(batch_size=4)
    with pytest.raises(vs.Error, match="backend MLRT has no setting 'batch_size'"):
        get_backend(MLRT(), func="f", batch_size=2)


def test_cli_batch_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``vs-colorize colorize --batch B`` reaches the backend: 2 gives the batch-1 picture, 0 is refused by name."""
    from PIL import Image

    from vs_colorize.cli import main

    src = tmp_path / "grey.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (48, 64), dtype=np.uint8)).save(src)
    args = ["colorize", str(src), "--model", str(DEMO), "--render-factor", "4", "--backend", "ort"]
    outs = []
    for batch in ("1", "2"):
        out = tmp_path / f"b{batch}.png"
        assert main([*args[:2], str(out), *args[2:], "--batch", batch]) == 0
        outs.append(np.asarray(Image.open(out)))
    assert np.array_equal(outs[0], outs[1])
    assert main([*args[:2], str(tmp_path / "b0.png"), *args[2:], "--batch", "0"]) == 2
    assert "ORT: batch_size must be 1..64, got 0" in capsys.readouterr().err
    assert not (tmp_path / "b0.png").exists()
