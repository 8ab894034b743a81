"""The shipped ``pssr3-x4-confocal`` model, run as users run it (``superres(clip)`` without a model: VapourSynth,
ONNX Runtime, percentile normalisation), must keep its model card's target on held-out confocal Sequence1:
PSNR at least bicubic + 1 dB and less frame-to-frame error flicker than bicubic, on plain 4x area-downsampled LR
and on the crappifier's LR. The numbers are recomputed here (the first frames of the sequence, to stay quick);
the card's full tables come from ``vs-colorize-train sr evaluate`` and ``scripts/sr_runtime_check.py``."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import vapoursynth as vs

from vs_colorize.filters.superres import superres
from vs_colorize.training.sr.crappify import SRCrappifyConfig, crappify_stack, without_noise
from vs_colorize.training.sr.data import load_sequence
from vs_colorize.training.sr.evaluate import bicubic, distinct_frames
from vs_colorize.training.sr.metrics import error_flicker, psnr

core = vs.core
FRAMES = 6


def as_clip(frames: np.ndarray) -> vs.VideoNode:
    """A GRAYS clip holding the float32 ``(T, h, w)`` movie ``frames``."""
    t, h, w = frames.shape
    blank = core.std.BlankClip(format=vs.GRAYS, width=w, height=h, length=t, keep=True)

    def fill(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        out = f.copy()
        np.asarray(out[0])[...] = frames[n]
        return out

    return blank.std.ModifyFrame(blank, fill)


@pytest.fixture(scope="module")
def heldout(data_dir: Path) -> np.ndarray:
    hr = load_sequence(data_dir / "microscopy" / "drosophila_gfp_histone_timelapse_seq1", 1)[:FRAMES]
    hr = hr[distinct_frames(hr)]  # as the evaluation: frame 3 repeats frame 2 bit for bit
    return hr[:, : hr.shape[1] // 16 * 16, : hr.shape[2] // 16 * 16]


@pytest.mark.parametrize("lr_kind", ["area", "crappifier"])
def test_shipped_model_beats_bicubic_by_one_db_with_less_error_flicker(
    heldout: np.ndarray, lr_kind: str
) -> None:
    cfg = dataclasses.replace(SRCrappifyConfig(), spread=0.0)
    lr = crappify_stack(
        heldout, without_noise(cfg) if lr_kind == "area" else cfg, np.random.default_rng(1234)
    )
    clip = superres(as_clip(lr))
    frames = [clip.get_frame(n) for n in range(clip.num_frames)]
    assert frames[0].props["VSColorizeModel"] == "pssr3-x4-confocal"
    model = np.stack([np.asarray(f[0]) for f in frames]).clip(0, 1)
    base = bicubic(lr, 4)

    def mean_psnr(movie: np.ndarray) -> float:
        return float(np.mean([psnr(p, t) for p, t in zip(movie, heldout, strict=True)]))

    gain = mean_psnr(model) - mean_psnr(base)
    assert gain >= 1.0, f"{lr_kind}: shipped model only {gain:+.2f} dB over bicubic"
    assert error_flicker(model, heldout) < error_flicker(base, heldout)
