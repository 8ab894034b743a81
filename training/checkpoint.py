"""Generator and critic checkpoints: our self-describing format and DeOldify's fastai ``.pth`` files.

Our format (written by :func:`save_generator` / :func:`save_critic`, atomically)::

    {"format": GENERATOR_FORMAT | CRITIC_FORMAT, "version": 1, "package_version": "x.y.z",
     "arch_config": dataclasses.asdict(config), "state_dict": model.state_dict(), **extra}

``extra`` keys (optimiser states, step, RNG states, ...) are stored as given and ignored when
loading a model. DeOldify's files are fastai ``Learner.save`` output: ``{'model': state_dict,
'opt': optimizer_state}`` or a bare state dict. Everything is read with ``weights_only=True``;
the numpy scalar/array types fastai (and training loops) put into optimiser states are allowed.
"""

from __future__ import annotations

import dataclasses
import os
import pickle
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from training.archs import Critic, CriticConfig, GeneratorConfig, UnetGenerator, preset
from training.archs.infer import LayoutError, infer_critic_config, infer_generator_config
from training.archs.norms import SNConv
from training.safe_load import offending_global
from vs_colorize._version import __version__
from vs_colorize.core.fileio import atomic_output, sha256_file

GENERATOR_FORMAT = "vs-colorize/generator"
CRITIC_FORMAT = "vs-colorize/critic"
FORMAT_VERSION = 1
_RESERVED = ("format", "version", "package_version", "arch_config", "state_dict")
_DEOLDIFY_PRESETS = ("video", "stable", "artistic")

__all__ = [
    "CRITIC_FORMAT",
    "FORMAT_VERSION",
    "GENERATOR_FORMAT",
    "CheckpointError",
    "load_critic",
    "load_generator",
    "read_checkpoint",
    "save_critic",
    "save_generator",
    "sha256_file",
]


class CheckpointError(ValueError):
    """A file is not a checkpoint of the expected kind (corrupt, truncated, foreign, mismatched)."""


def save_generator(path: str | os.PathLike[str], gen: UnetGenerator, **extra: Any) -> Path:
    """Write ``gen`` (and ``extra`` entries) as our generator checkpoint, atomically, replacing
    any existing file. Returns the path.

    Raises:
        ValueError: ``gen`` is not an (unbaked) :class:`UnetGenerator`, or ``extra`` uses a
            reserved key (format, version, package_version, arch_config, state_dict).
    """
    if not isinstance(gen, UnetGenerator):
        raise ValueError(f"save_generator: gen must be a UnetGenerator, got {type(gen).__name__}")
    return _save(path, gen, GENERATOR_FORMAT, "save_generator", extra)


def save_critic(path: str | os.PathLike[str], crit: Critic, **extra: Any) -> Path:
    """Write ``crit`` as our critic checkpoint (same layout and rules as :func:`save_generator`)."""
    if not isinstance(crit, Critic):
        raise ValueError(f"save_critic: crit must be a Critic, got {type(crit).__name__}")
    return _save(path, crit, CRITIC_FORMAT, "save_critic", extra)


def _save(
    path: str | os.PathLike[str], model: nn.Module, fmt: str, where: str, extra: dict[str, Any]
) -> Path:
    clash = sorted(set(extra) & set(_RESERVED))
    if clash:
        raise ValueError(f"{where}: extra keys {clash} are reserved")
    if not any(isinstance(m, SNConv) for m in model.modules()):
        raise ValueError(f"{where}: the model has been through bake_norms; save the unbaked model")
    payload = {
        "format": fmt,
        "version": FORMAT_VERSION,
        "package_version": __version__,
        "arch_config": dataclasses.asdict(model.config),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        **extra,
    }
    with atomic_output(path, overwrite=True) as tmp:
        torch.save(payload, tmp)
    return Path(path)


def load_generator(path: str | os.PathLike[str], name: str | None = None) -> UnetGenerator:
    """Load a generator in eval mode on the CPU from our checkpoint or a DeOldify ``*_gen.pth``.

    Args:
        path: the checkpoint file.
        name: DeOldify files: ``None`` (default) infers the architecture from keys and shapes and
            names it after the matching preset (the video/stable architecture is reported as
            ``"video"``); ``"video"``, ``"stable"`` or ``"artistic"`` builds that preset. Our
            files: ``None`` keeps the stored config; a preset name with the same architecture
            renames it; anything else is an error.

    Returns:
        The model, with ``config`` and ``source_sha256`` (sha256 of ``path``) set.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        CheckpointError: unreadable, truncated, foreign or mismatching files (the message names
            the file and what was expected).
    """
    obj = read_checkpoint(path, "load_generator")
    where = f"load_generator: {os.fspath(path)!r}"
    if isinstance(obj, Mapping) and "format" in obj:
        config, state = _ours(obj, GENERATOR_FORMAT, where, GeneratorConfig)
        if name is not None and name != config.name:
            config = _rename(config, name, where)
    else:
        state = _deoldify_state(obj, where, "a DeOldify generator .pth")
        if name is None:
            try:
                config = infer_generator_config(state)
            except LayoutError as exc:
                raise CheckpointError(
                    f"{where} is not a DeOldify generator state dict: {exc}; expected a vs-colorize "
                    "generator checkpoint or ColorizeVideo/Stable/Artistic_gen.pth"
                ) from None
        elif name in _DEOLDIFY_PRESETS:
            config = preset(name)
        else:
            raise ValueError(f"load_generator: name must be None or one of {_DEOLDIFY_PRESETS}, got {name!r}")
    model = _load_state(UnetGenerator, config, state, where, f"the {config.name!r} generator")
    model.source_sha256 = sha256_file(path)
    return model.eval()


def load_critic(path: str | os.PathLike[str]) -> Critic:
    """Load a critic in eval mode on the CPU from our checkpoint or a DeOldify ``*_crit.pth``
    (the configuration is inferred from keys and shapes; dropout ``p`` defaults to 0.15).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        CheckpointError: unreadable, truncated, foreign or mismatching files.
    """
    obj = read_checkpoint(path, "load_critic")
    where = f"load_critic: {os.fspath(path)!r}"
    if isinstance(obj, Mapping) and "format" in obj:
        config, state = _ours(obj, CRITIC_FORMAT, where, CriticConfig)
    else:
        state = _deoldify_state(obj, where, "a DeOldify critic .pth")
        try:
            config = infer_critic_config(state)
        except LayoutError as exc:
            raise CheckpointError(
                f"{where} is not a DeOldify critic state dict: {exc}; expected a vs-colorize critic "
                "checkpoint or Colorize*_crit.pth"
            ) from None
    model = _load_state(Critic, config, state, where, "the critic")
    model.source_sha256 = sha256_file(path)
    return model.eval()


def read_checkpoint(path: str | os.PathLike[str], where: str = "read_checkpoint") -> Any:
    """``torch.load(path, map_location='cpu', weights_only=True)`` with numpy scalar/array types
    allowed, turning every failure into a clear error.

    Args:
        path: the file.
        where: the public function name used in error messages.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        CheckpointError: the file is not a readable ``torch.save`` file (truncated, random bytes),
            or it needs globals that are unsafe to unpickle.
    """
    if not Path(path).is_file():
        raise FileNotFoundError(f"{where}: checkpoint file {os.fspath(path)!r} does not exist")
    try:
        with torch.serialization.safe_globals(_numpy_globals()):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "Unsupported global" in str(exc):
            raise CheckpointError(
                f"{where}: {os.fspath(path)!r} contains objects that are not safe to unpickle "
                f"(only tensors, containers, numbers, strings and numpy scalars/arrays are allowed; it needs "
                f"{offending_global(exc)}); it was not loaded"
            ) from None
        raise _unreadable(where, path, exc) from None
    except Exception as exc:  # torch raises RuntimeError, EOFError, ValueError, ... on bad files
        raise _unreadable(where, path, exc) from None


def _unreadable(where: str, path: str | os.PathLike[str], exc: BaseException) -> CheckpointError:
    return CheckpointError(
        f"{where}: {os.fspath(path)!r} is not a readable PyTorch checkpoint (truncated, corrupt or not "
        f"written by torch.save: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); "
        "expected a vs-colorize checkpoint or a DeOldify .pth"
    )


def _numpy_globals() -> list[Any]:
    import numpy as np

    try:
        from numpy._core.multiarray import _reconstruct, scalar
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import _reconstruct, scalar  # type: ignore[no-redef]
    kinds = (np.float64, np.float32, np.float16, np.int64, np.int32, np.uint32, np.uint8, np.bool_)
    return [scalar, _reconstruct, np.ndarray, np.dtype, *(type(np.dtype(k)) for k in kinds)]


def _ours[C](obj: Mapping[str, Any], fmt: str, where: str, cls: type[C]) -> tuple[C, Mapping[str, Tensor]]:
    if obj.get("format") != fmt:
        raise CheckpointError(f"{where} has format {obj.get('format')!r}, expected {fmt!r}")
    version = obj.get("version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CheckpointError(
            f"{where} has format version {version!r}; this vs-colorize ({__version__}) reads up to "
            f"{FORMAT_VERSION}"
        )
    try:
        config = cls.from_dict(obj["arch_config"])  # type: ignore[attr-defined]
        state = obj["state_dict"]
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{where} has a broken arch_config/state_dict: {exc}") from None
    return config, state


def _rename(config: GeneratorConfig, name: str, where: str) -> GeneratorConfig:
    try:
        target = preset(name)
    except ValueError:
        raise ValueError(
            f"load_generator: name must be None, {config.name!r} or a preset, got {name!r}"
        ) from None
    if not target.same_architecture(config):
        raise CheckpointError(f"{where} holds a {config.name!r} architecture, not the {name!r} preset")
    return dataclasses.replace(config, name=name)


def _deoldify_state(obj: Any, where: str, expected: str) -> Mapping[str, Tensor]:
    if isinstance(obj, Mapping) and set(obj.keys()) == {"model", "opt"}:
        obj = obj["model"]
    if not isinstance(obj, Mapping) or not obj or not all(isinstance(v, Tensor) for v in obj.values()):
        raise CheckpointError(
            f"{where} holds a {type(obj).__name__} that is not a state dict; expected {expected} "
            "({'model': state_dict, 'opt': ...} or a bare state dict) or a vs-colorize checkpoint"
        )
    return obj


def _load_state[M: nn.Module](
    cls: Callable[[Any], M], config: Any, state: Mapping[str, Tensor], where: str, what: str
) -> M:
    """Build ``cls(config)`` without initialising memory and adopt ``state``'s tensors (strict)."""
    with torch.device("meta"):
        model = cls(config)
    try:
        model.load_state_dict(dict(state), strict=True, assign=True)
    except RuntimeError as exc:
        detail = str(exc).replace("\n\t", " ")
        if len(detail) > 600:
            detail = detail[:600] + "…"
        raise CheckpointError(f"{where} does not fit {what}: {detail}") from None
    return model.float()
