"""Training data: folder scanning, the deterministic split, on-the-fly crappify, the resumable sampler and loaders.

Every random choice of a sample comes from a numpy ``Generator`` seeded with ``(seed, epoch, position)``; the
sampler yields those keys. So a batch depends only on the global step (not on worker count or scheduling), which
is what makes ``--resume`` reproduce an uninterrupted run exactly. Workers still get distinct numpy/python seeds
(:func:`seed_worker`) for anything else that draws.
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset, Sampler

from vs_colorize.training.archs.imagenet import imagenet_stats
from vs_colorize.training.config import CrappifyConfig, DataConfig
from vs_colorize.training.crappify import crappify

log = logging.getLogger(__name__)

IMAGE_EXTS = frozenset({".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp"})
#: An image whose mean channel spread (max − min over R, G, B, 8-bit, on a 64 px thumbnail) is below this is grey.
GREY_SPREAD = 2.0

#: A sample key: (item index, epoch, position in the epoch, stream seed).
Key = tuple[int, int, int, int]


def stable_hash(text: str) -> int:
    """A 64-bit hash of a string that does not change between processes or Python versions."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")


def is_val(rel: str, val_pct: float) -> bool:
    """Whether relative path ``rel`` belongs to the validation split (hash of the path, so stable across runs)."""
    return stable_hash("split:" + rel) / 2.0**64 < val_pct


@dataclass
class Scan:
    """The usable images of a set of folders. ``train``/``val`` hold absolute paths (as strings)."""

    train: list[str]
    val: list[str]
    corrupt: int
    grey: int

    def save(self, path: Path) -> None:
        """Write the scan as JSON (atomically)."""
        from vs_colorize.core.fileio import atomic_output

        with atomic_output(path, overwrite=True) as tmp:
            tmp.write_text(json.dumps(self.__dict__))

    @classmethod
    def load(cls, path: Path) -> Scan:
        """Read a scan written by :meth:`save`."""
        return cls(**json.loads(path.read_text()))


def _image_kind(path: Path) -> str:
    """``"ok"``, ``"grey"`` or ``"corrupt"`` (decodes a small thumbnail)."""
    try:
        with Image.open(path) as im:
            im.draft("RGB", (128, 128))
            im.thumbnail((64, 64))
            rgb = np.asarray(im.convert("RGB"), dtype=np.int16)
    except Exception as err:  # PIL raises many types for bad files
        log.debug("scan: %s: %s", path, err)
        return "corrupt"
    if rgb.size == 0:
        return "corrupt"
    spread = rgb.max(axis=2) - rgb.min(axis=2)
    return "grey" if float(spread.mean()) < GREY_SPREAD else "ok"


def scan_images(dirs: Sequence[str | Path], val_pct: float, max_images: int = 0, workers: int = 0) -> Scan:
    """Find colour images under ``dirs`` (recursive; JPEG/PNG/TIFF/WebP) and split them into train/val.

    The split is by a hash of each file's path relative to its folder; ``max_images > 0`` keeps that many files
    (the first in hash order, so also deterministic). Corrupt and grey files are skipped and counted in the log.
    ``workers > 0`` checks the files in that many processes (the result is the same).
    """
    if not dirs:
        raise ValueError("scan_images: dirs must name at least one folder")
    found: list[tuple[int, str, Path]] = []
    for d in dirs:
        root = Path(d)
        if not root.is_dir():
            raise ValueError(f"scan_images: dirs: {str(root)!r} is not a directory")
        for p in root.rglob("*"):
            if p.suffix.lower() in IMAGE_EXTS and p.is_file():
                rel = p.relative_to(root).as_posix()
                found.append((stable_hash("order:" + rel), rel, p))
    found.sort()
    if max_images > 0:
        found = found[:max_images]
    scan = Scan(train=[], val=[], corrupt=0, grey=0)
    paths = [p for _, _, p in found]
    if workers > 0:
        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            kinds = pool.map(_image_kind, paths, chunksize=64)
    else:
        kinds = [_image_kind(p) for p in paths]
    for (_, rel, p), kind in zip(found, kinds, strict=True):
        if kind == "corrupt":
            scan.corrupt += 1
        elif kind == "grey":
            scan.grey += 1
        else:
            (scan.val if is_val(rel, val_pct) else scan.train).append(str(p.resolve()))
    log.info(
        "scan: %d images found, %d train, %d val; skipped %d corrupt and %d grey",
        len(found),
        len(scan.train),
        len(scan.val),
        scan.corrupt,
        scan.grey,
    )
    if not scan.train:
        raise ValueError(f"scan_images: no usable colour images under {[str(d) for d in dirs]}")
    return scan


def select(items: Sequence[str], frac: float, max_images: int, salt: str) -> list[str]:
    """A deterministic subset: the fraction ``frac`` of ``items`` (at least one), capped at ``max_images`` if > 0."""
    n = min(len(items), max(1, round(len(items) * frac)))
    if max_images > 0:
        n = min(n, max_images)
    return sorted(items, key=lambda p: stable_hash(salt + p))[:n]


def load_rgb(path: str | Path) -> Image.Image:
    """Open an image file as 8-bit RGB."""
    with Image.open(path) as im:
        return im.convert("RGB")


def random_crop(
    im: Image.Image, size: int, rng: np.random.Generator, max_zoom: float, p_zoom: float, flip: bool
) -> np.ndarray:
    """DeOldify's light augmentation: a square crop zoomed by up to ``max_zoom`` at a random place, resized to
    ``size`` (bilinear) and flipped left-right half the time; returns uint8 ``[size, size, 3]``."""
    w, h = im.size
    zoom = float(rng.uniform(1.0, max_zoom)) if max_zoom > 1 else 1.0
    zoom = zoom if rng.random() < p_zoom else 1.0
    side = min(w, h) / zoom
    left = float(rng.uniform(0, w - side))
    top = float(rng.uniform(0, h - side))
    out = im.resize((size, size), Image.Resampling.BILINEAR, box=(left, top, left + side, top + side))
    arr = np.asarray(out)
    if flip and rng.random() < 0.5:
        arr = arr[:, ::-1]
    return np.ascontiguousarray(arr)


def centre_crop(im: Image.Image, size: int) -> np.ndarray:
    """The largest centred square, resized to ``size``; uint8 ``[size, size, 3]``."""
    w, h = im.size
    side = min(w, h)
    box = ((w - side) / 2, (h - side) / 2, (w + side) / 2, (h + side) / 2)
    return np.asarray(im.resize((size, size), Image.Resampling.BILINEAR, box=box))


def normalise(arr01: np.ndarray) -> torch.Tensor:
    """``[H, W, 3]`` in [0, 1] → ImageNet-normalised ``[3, H, W]`` float32."""
    t = torch.from_numpy(np.ascontiguousarray(arr01, dtype=np.float32)).permute(2, 0, 1)
    mean, std = imagenet_stats(ndim=3)
    return (t - mean) / std


def denormalise(t: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`normalise` for ``[..., 3, H, W]``, clamped to [0, 1]."""
    mean, std = imagenet_stats(ndim=3, device=t.device)
    return (t.float() * std + mean).clamp(0, 1)


def _rng(key: Key) -> np.random.Generator:
    idx, epoch, pos, seed = key
    return np.random.default_rng([seed, epoch, pos, idx])


class ColorizeDataset(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """(crappified grey input, colour target) pairs, both ImageNet-normalised, indexed by sample :data:`Key`.

    ``train=False`` uses the centre crop and no crappify randomness beyond the grey conversion (validation).
    """

    def __init__(self, items: Sequence[str], cfg: DataConfig, size: int, train: bool = True) -> None:
        self.items = list(items)
        self.cfg = cfg
        self.size = size
        self.train = train
        self._clean = CrappifyConfig(max_lighting=0.0, noise="none")

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, key: Key) -> tuple[torch.Tensor, torch.Tensor]:
        rng = _rng(key)
        im = load_rgb(self.items[key[0]])
        if self.train:
            rgb = random_crop(im, self.size, rng, self.cfg.max_zoom, self.cfg.p_zoom, self.cfg.do_flip)
            grey, _ = crappify(rgb, self.cfg.crappify, rng)
        else:
            rgb = centre_crop(im, self.size)
            grey, _ = crappify(rgb, self._clean, rng)
        return normalise(grey), normalise(rgb.astype(np.float32) / 255.0)


class CriticDataset(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """Real (label 1) and generated (label 0) colour images for the critic, normalised, with crop/flip."""

    def __init__(self, items: Sequence[tuple[str, float]], cfg: DataConfig, size: int) -> None:
        self.items = list(items)
        self.cfg = cfg
        self.size = size

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, key: Key) -> tuple[torch.Tensor, torch.Tensor]:
        path, label = self.items[key[0]]
        rgb = random_crop(
            load_rgb(path), self.size, _rng(key), self.cfg.max_zoom, self.cfg.p_zoom, self.cfg.do_flip
        )
        return normalise(rgb.astype(np.float32) / 255.0), torch.tensor(label, dtype=torch.float32)


class StepSampler(Sampler[list[Key]]):
    """Batches of sample keys for global steps ``start .. total-1``, epoch after epoch, sharded over ranks.

    Epoch ``e`` is a permutation drawn from ``torch.Generator().manual_seed(seed + e)``; global batch ``b`` of an
    epoch is ``batch_size·world`` consecutive positions of it and this rank takes its own ``batch_size`` slice.
    Incomplete final batches are dropped (like fastai's training loader).
    """

    def __init__(
        self, n: int, batch_size: int, seed: int, total: int, start: int = 0, rank: int = 0, world: int = 1
    ):
        if batch_size < 1:
            raise ValueError(f"StepSampler: batch_size must be >= 1, got {batch_size}")
        per_step = batch_size * world
        if n < per_step:
            raise ValueError(
                f"StepSampler: {n} training images are fewer than one global batch "
                f"(batch_size {batch_size} × {world} processes)"
            )
        self.n, self.batch_size, self.seed = n, batch_size, seed
        self.total, self.start, self.rank, self.world = total, start, rank, world
        self.steps_per_epoch = n // per_step

    def __len__(self) -> int:
        return max(0, self.total - self.start)

    def __iter__(self) -> Iterator[list[Key]]:
        perm: list[int] = []
        epoch = -1
        for step in range(self.start, self.total):
            e, b = divmod(step, self.steps_per_epoch)
            if e != epoch:
                epoch = e
                perm = torch.randperm(self.n, generator=torch.Generator().manual_seed(self.seed + e)).tolist()
            first = b * self.batch_size * self.world + self.rank * self.batch_size
            yield [(perm[p], e, p, self.seed) for p in range(first, first + self.batch_size)]


def seed_worker(worker_id: int) -> None:
    """DataLoader ``worker_init_fn``: distinct, reproducible numpy/python seeds per worker."""
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


def make_loader(
    dataset: Dataset[tuple[torch.Tensor, torch.Tensor]],
    sampler: StepSampler,
    cfg: DataConfig,
    pin_memory: bool,
) -> DataLoader[tuple[torch.Tensor, torch.Tensor]]:
    """A DataLoader over ``sampler``'s batches with ``cfg.num_workers`` workers (pinned memory when asked).

    The loader's own generator is seeded from the sampler so creating it never touches the global torch RNG.
    Workers start through ``forkserver`` (forking a process that already runs torch threads can deadlock).
    """
    return DataLoader(
        dataset,
        batch_sampler=sampler,
        num_workers=cfg.num_workers,
        multiprocessing_context="forkserver" if cfg.num_workers > 0 else None,
        pin_memory=pin_memory and cfg.pin_memory,
        worker_init_fn=seed_worker,
        generator=torch.Generator().manual_seed(sampler.seed),
    )
