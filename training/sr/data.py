"""Microscopy sequences in, 3-frame training tuples out.

Sources (:func:`load_sequence`): a multi-page TIFF stack (``.tif``/``.tiff``, read with tifffile), a folder of
frames (TIFF or anything PyAV decodes, e.g. PNG; sorted by name) or a video file (PyAV). 8-bit and 16-bit
integers are divided by the dtype's maximum, floats are clipped to [0, 1]. Multi-channel frames become GRAY: one
channel by index (``channel=1`` for GFP stored in the green channel) or, with ``channel=None``, BT.601 luma.

:class:`TripletDataset` cuts 3-frame tuples (t−1, t, t+1) from the interior of each sequence with one random crop
shared by the tuple, and crappifies every tuple twice, independently, against one HR target (frame t), or
(``pair="adjacent"``) pairs it with its neighbouring tuple. With
``normalize=(pmin, pmax)`` inputs and target are in percentile-normalised units (:mod:`vs_colorize.core.percentile`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from vs_colorize.core.percentile import normalize as apply_range
from vs_colorize.core.percentile import percentile_range

from .crappify import SRCrappifyConfig, crappify, crappify_stack, draw_gain, without_noise

TIFF_SUFFIXES = (".tif", ".tiff")
IMAGE_SUFFIXES = (*TIFF_SUFFIXES, ".png", ".jpg", ".jpeg", ".bmp")
LUMA = np.array([0.299, 0.587, 0.114])
PAIRS = ("noise", "adjacent")


def to_unit_gray(frame: np.ndarray, channel: int | None = None) -> np.ndarray:
    """One frame (H, W) or (H, W, C) of any integer or float dtype → float32 (H, W) in [0, 1]."""
    a = np.asarray(frame)
    if np.issubdtype(a.dtype, np.integer):
        x = a.astype(np.float32) / np.float32(np.iinfo(a.dtype).max)
    elif np.issubdtype(a.dtype, np.floating):
        x = np.clip(a.astype(np.float32), 0.0, 1.0)
    else:
        raise ValueError(f"to_unit_gray: unsupported dtype {a.dtype}")
    if x.ndim == 3:
        if channel is not None:
            if not 0 <= channel < x.shape[2]:
                raise ValueError(f"to_unit_gray: channel must be in 0..{x.shape[2] - 1}, got {channel}")
            x = x[:, :, channel]
        elif x.shape[2] >= 3:
            x = (x[:, :, :3] @ LUMA).astype(np.float32)
        else:
            x = x[:, :, 0]
    if x.ndim != 2:
        raise ValueError(f"to_unit_gray: expected (H, W) or (H, W, C), got shape {a.shape}")
    return x


def _read_tiff(path: Path) -> list[np.ndarray]:
    import tifffile

    with tifffile.TiffFile(path) as tif:
        series = tif.series[0]
        data, colour = series.asarray(), series.axes.endswith("S")  # S = samples (RGB) per pixel
    frame_dims = 3 if colour else 2
    return list(data.reshape(-1, *data.shape[-frame_dims:]))


def _read_av(path: Path) -> list[np.ndarray]:
    import av

    frames = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            fmt = frame.format.name
            if fmt.startswith("gray16"):
                frames.append(frame.to_ndarray(format="gray16le"))
            elif fmt in ("gray", "gray8"):
                frames.append(frame.to_ndarray())
            else:
                frames.append(frame.to_ndarray(format="rgb24"))
    return frames


def _read_any(path: Path) -> list[np.ndarray]:
    return _read_tiff(path) if path.suffix.lower() in TIFF_SUFFIXES else _read_av(path)


def load_sequence(path: str | os.PathLike[str], channel: int | None = None) -> np.ndarray:
    """Load a TIFF stack, a folder of frames or a video as float32 ``(T, H, W)`` in [0, 1].

    Args:
        path: file or directory.
        channel: channel index for multi-channel frames; None = BT.601 luma (ignored for GRAY data).
    """
    p = Path(path)
    if p.is_dir():
        files = sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise ValueError(f"load_sequence: path {os.fspath(p)!r} holds no image files")
        raw = [frame for f in files for frame in _read_any(f)]
    elif p.is_file():
        raw = _read_any(p)
    else:
        raise FileNotFoundError(f"load_sequence: path {os.fspath(p)!r} does not exist")
    frames = [to_unit_gray(f, channel) for f in raw]
    if not frames:
        raise ValueError(f"load_sequence: path {os.fspath(p)!r} decoded to no frames")
    if len({f.shape for f in frames}) != 1:
        raise ValueError(f"load_sequence: frames of {os.fspath(p)!r} differ in size")
    return np.stack(frames)


class TripletDataset(Dataset[tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]]):
    """Random (LR₁, LR₂, HR₁, HR₂) samples from 3-frame tuples of GRAY sequences.

    Each item: ``lr1``, ``lr2`` float32 ``[window, crop/scale, crop/scale]`` and their targets ``hr1``, ``hr2``
    ``[1, crop, crop]``, all sharing one crop. With ``pair="noise"`` (PSSR's) both copies are independent
    crappifications of frames t−1, t, t+1 and both targets are frame t; with ``pair="adjacent"`` the second copy
    is the neighbouring tuple (centre t−1 or t+1, its own noise) and ``hr2`` its centre frame. With ``window=1``
    only the centre frame is input (the single-frame baseline). Sampling is seeded per index, so epoch ``e`` item
    ``i`` is reproducible.

    Args:
        sequences: float32 ``(T, H, W)`` arrays in [0,1], T >= 3, H and W >= ``crop``.
        crop: HR crop side, a multiple of ``cfg.scale``.
        cfg: crappifier configuration.
        length: items per epoch.
        window: 3 (t−1, t, t+1) or 1.
        seed: base seed.
        pair: what the second copy is, ``"noise"`` (default: the same tuple, crappified again) or
            ``"adjacent"`` (the neighbouring tuple, so that a loss can compare the errors of two consecutive frames).
        normalize: None (raw [0, 1] intensities) or ``(pmin, pmax)``: CARE's per-image percentile
            normalisation. As in CSBDeep the statistics come from the whole image, not the crop: for each tuple
            centre the full LR window (crappified once, gain 1, seeded) gives ``lo``/``hi`` — what the runtime
            computes on a whole LR window. Each sample scales them by its gain; both LR copies and the HR target
            are mapped with them, so the network learns ``normalize(HR)`` from ``normalize(LR)`` with the input's
            statistics, which the runtime inverts with the input's statistics.
    """

    def __init__(
        self,
        sequences: Sequence[np.ndarray],
        *,
        crop: int,
        cfg: SRCrappifyConfig,
        length: int,
        window: int = 3,
        seed: int = 0,
        pair: str = "noise",
        normalize: tuple[float, float] | None = None,
    ) -> None:
        if pair not in PAIRS:
            raise ValueError(f"TripletDataset: pair must be one of {PAIRS}, got {pair!r}")
        if window not in (1, 3):
            raise ValueError(f"TripletDataset: window must be 1 or 3, got {window}")
        if crop <= 0 or crop % cfg.scale:
            raise ValueError(f"TripletDataset: crop must be a positive multiple of {cfg.scale}, got {crop}")
        if length < 1:
            raise ValueError(f"TripletDataset: length must be >= 1, got {length}")
        least = 4 if pair == "adjacent" else 3  # two interior frames for a pair of neighbouring tuples
        for i, s in enumerate(sequences):
            if s.ndim != 3 or s.shape[0] < least or min(s.shape[1:]) < crop:
                raise ValueError(
                    f"TripletDataset: sequences[{i}] must be (T>={least}, H>={crop}, W>={crop}), got {s.shape}"
                )
        self.sequences = list(sequences)
        self.crop, self.cfg, self.length, self.window, self.seed = crop, cfg, length, window, seed
        self.pair = pair
        self.epoch = 0
        # every interior frame t of every sequence is one tuple centre
        self.centres = [(i, t) for i, s in enumerate(self.sequences) for t in range(1, s.shape[0] - 1)]
        self.normalize = normalize
        self.clean = without_noise(cfg)
        self.ranges: dict[tuple[int, int, bool], tuple[float, float]] = {}  # (sequence, centre, clean)
        if normalize is not None:
            rng = np.random.default_rng((seed, 0x5EED))
            for i, t in self.centres:
                frames = self.sequences[i][t - 1 : t + 2] if window == 3 else self.sequences[i][t : t + 1]
                for clean in (False, True) if cfg.clean_fraction > 0 else (False,):
                    lr = np.stack([crappify(f, self.clean if clean else cfg, rng, 1.0) for f in frames])
                    self.ranges[i, t, clean] = percentile_range(lr, *normalize)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        rng = np.random.default_rng((self.seed, self.epoch, index))
        seq_i, t = self.centres[int(rng.integers(len(self.centres)))]
        seq = self.sequences[seq_i]
        t2 = t
        if self.pair == "adjacent":  # the neighbouring tuple, t-1 or t+1, whichever are interior
            steps = [d for d in (-1, 1) if 1 <= t + d <= seq.shape[0] - 2]
            t2 = t + steps[int(rng.integers(len(steps)))]
        first = min(t, t2) - 1
        y = int(rng.integers(seq.shape[1] - self.crop + 1))
        x = int(rng.integers(seq.shape[2] - self.crop + 1))
        frames = seq[first : max(t, t2) + 2, y : y + self.crop, x : x + self.crop]
        if rng.random() < 0.5:  # flips and 90° turns: microscopy has no preferred orientation
            frames = frames[:, :, ::-1]
        frames = np.ascontiguousarray(np.rot90(frames, int(rng.integers(4)), axes=(1, 2)))
        centres = (t - first, t2 - first)  # indices of the two tuple centres in ``frames``
        inputs = [frames[c : c + 1] if self.window == 1 else frames[c - 1 : c + 2] for c in centres]
        targets = [frames[c : c + 1].copy() for c in centres]
        clean = self.cfg.clean_fraction > 0 and bool(rng.random() < self.cfg.clean_fraction)
        cfg = self.clean if clean else self.cfg
        if self.normalize is None:
            lr1 = crappify_stack(inputs[0], cfg, rng)
            lr2 = crappify_stack(inputs[1], cfg, rng)
            return _tensors(lr1, lr2, *targets)
        out = []
        for k, tk in enumerate((t, t2)):  # the same draws as crappify_stack: one gain, then each frame
            gain = draw_gain(cfg, rng)
            lr = np.stack([crappify(f, cfg, rng, gain) for f in inputs[k]])
            lo, hi = self.ranges[seq_i, tk, clean]
            # each copy is mapped by its own gain-scaled range, each target by its centre's plain range
            out.append((apply_range(lr, lo * gain, hi * gain), apply_range(targets[k], lo, hi)))
        (lr1, hr1), (lr2, hr2) = out
        return _tensors(lr1, lr2, hr1, hr2)


def _tensors(
    lr1: np.ndarray, lr2: np.ndarray, hr1: np.ndarray, hr2: np.ndarray
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """One :class:`TripletDataset` item as tensors (sharing the arrays' memory)."""
    return torch.from_numpy(lr1), torch.from_numpy(lr2), torch.from_numpy(hr1), torch.from_numpy(hr2)
