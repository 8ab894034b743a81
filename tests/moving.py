"""Generated colour pictures in motion (and their grey versions) for the temporal/keyframe tests."""

from __future__ import annotations

import numpy as np
import vapoursynth as vs

core = vs.core


def _field(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Smooth random texture in 0..1 (coarse noise, bilinearly upsampled ×8)."""
    coarse = rng.uniform(0.0, 1.0, (h // 8 + 2, w // 8 + 2))
    ys, xs = np.linspace(0, coarse.shape[0] - 1.001, h), np.linspace(0, coarse.shape[1] - 1.001, w)
    y0, x0 = ys.astype(int), xs.astype(int)
    fy, fx = (ys - y0)[:, None], (xs - x0)[None, :]
    c = coarse
    return (
        c[y0][:, x0] * (1 - fy) * (1 - fx)
        + c[y0 + 1][:, x0] * fy * (1 - fx)
        + c[y0][:, x0 + 1] * (1 - fy) * fx
        + c[y0 + 1][:, x0 + 1] * fy * fx
    )


def colour_motion(
    width: int = 64, height: int = 48, length: int = 8, *, step: tuple[int, int] = (2, 1), seed: int = 0
) -> vs.VideoNode:
    """RGB24 frames of one textured colour picture panning by ``step`` pixels per frame."""
    rng = np.random.default_rng(seed)
    big_h, big_w = height + abs(step[1]) * length + 8, width + abs(step[0]) * length + 8
    rgb = np.stack([_field(rng, big_h, big_w) for _ in range(3)])
    rgb = (rgb * 200 + 28).astype(np.uint8)
    blank = core.std.BlankClip(format=vs.RGB24, width=width, height=height, length=length, keep=True)

    def fill(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        out = f.copy()
        y, x = (s * n + (-s * length if s < 0 else 0) for s in (step[1], step[0]))
        for p in range(3):
            np.copyto(np.asarray(out[p]), rgb[p, y : y + height, x : x + width])
        return out

    return core.std.SetFrameProps(blank.std.ModifyFrame(blank, fill), _Matrix=0, _Range=1)


def to_yuv(rgb: vs.VideoNode, fmt: int = vs.YUV420P8) -> vs.VideoNode:
    """The colour truth in ``fmt`` (BT.709, limited range, left siting) with explicit props."""
    yuv = core.resize.Bicubic(rgb, format=fmt, matrix=1, range=0, chromaloc=0)
    return core.std.SetFrameProps(yuv, _Matrix=1, _Range=0, _ChromaLocation=0)


def grey(rgb: vs.VideoNode, fmt: int = vs.YUV420P8) -> vs.VideoNode:
    """The truth's luma with neutral chroma: what the colorizer gets."""
    yuv = to_yuv(rgb, fmt)
    blank = core.std.BlankClip(yuv, keep=True)
    return core.std.ShufflePlanes([yuv, blank], [0, 1, 2], vs.YUV)


def chroma(frame: vs.VideoFrame) -> np.ndarray:
    return np.stack([np.asarray(frame[1]), np.asarray(frame[2])]).astype(np.float64)
