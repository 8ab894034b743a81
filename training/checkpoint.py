"""Model files: one self-describing layout for every network (colorize generator, critic, SR net), and
DeOldify's fastai ``.pth`` files.

Our layout (written by :func:`save_generator` / :func:`save_critic` / :func:`save_sr`, atomically)::

    {"format": "vs-colorize/generator" | "vs-colorize/critic" | "vs-colorize/sr",
     "version": FORMAT_VERSION,            # of this layout (an int), never the package
     "package_version": "x.y.z",           # the vs-colorize that wrote it
     "arch_config": dataclasses.asdict(model.config), "state_dict": model.state_dict(), **meta}

``meta`` keys describe the weights (``step``, ``phase``, ``images_seen``, an SR model's ``crappify`` config, ...);
they are stored as given and ignored when a model is built. Training state (optimisers, schedulers, scalers, RNG)
never goes into a model file: it lives in a :class:`vs_colorize.training.state.TrainState` file, which holds its models in
this same layout (:func:`model_record`). DeOldify's files are fastai ``Learner.save`` output:
``{'model': state_dict, 'opt': optimizer_state}`` or a bare state dict. Everything is read with
``weights_only=True``; the numpy scalar/array types fastai puts into optimiser states are allowed. SR files of
the first layout (``"format": "vs-colorize-sr/1"``) still load.

Loading never hashes the file unless asked (``identify=True``): only an export records where its weights came from.
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

from vs_colorize._version import __version__
from vs_colorize.core.fileio import atomic_output, sha256_file
from vs_colorize.training.archs import Critic, CriticConfig, GeneratorConfig, UnetGenerator, preset
from vs_colorize.training.archs.infer import LayoutError, infer_critic_config, infer_generator_config
from vs_colorize.training.archs.norms import SNConv
from vs_colorize.training.archs.safe_load import offending_global
from vs_colorize.training.archs.sr import SRConfig, SRNet

GENERATOR_FORMAT = "vs-colorize/generator"
CRITIC_FORMAT = "vs-colorize/critic"
SR_FORMAT = "vs-colorize/sr"
#: The first SR layout: ``{"format": LEGACY_SR_FORMAT, "version": <package>, "model": <SRConfig>, "crappify",
#: "train_state": {"steps", ...}, "state_dict"}``; read and converted by :func:`sr_from_record`.
LEGACY_SR_FORMAT = "vs-colorize-sr/1"
FORMAT_VERSION = 1
RESERVED = ("format", "version", "package_version", "arch_config", "state_dict")
_DEOLDIFY_PRESETS = ("video", "stable", "artistic")

__all__ = [
    "CRITIC_FORMAT",
    "FORMAT_VERSION",
    "GENERATOR_FORMAT",
    "SR_FORMAT",
    "CheckpointError",
    "critic_from_record",
    "generator_from_record",
    "load_critic",
    "load_generator",
    "load_sr",
    "meta_of",
    "model_record",
    "read_checkpoint",
    "save_critic",
    "save_generator",
    "save_sr",
    "sha256_file",
    "sr_from_record",
    "sr_record",
]


class CheckpointError(ValueError):
    """A file is not a checkpoint of the expected kind (corrupt, truncated, foreign, mismatched)."""


def _format_of(model: nn.Module) -> tuple[str, Any]:
    """The format name and the config dataclass of ``model``."""
    if isinstance(model, UnetGenerator):
        return GENERATOR_FORMAT, model.config
    if isinstance(model, Critic):
        return CRITIC_FORMAT, model.config
    if isinstance(model, SRNet):
        return SR_FORMAT, model.config
    raise ValueError(
        f"model_record: model must be a UnetGenerator, Critic or SRNet, got {type(model).__name__}"
    )


def model_record(model: nn.Module, where: str = "model_record", **meta: Any) -> dict[str, Any]:
    """The dict a model file holds for ``model`` (CPU tensors), plus ``meta``.

    Raises:
        ValueError: ``model`` is not a generator, critic or SR net, a colorize model has been through
            ``bake_norms``, or ``meta`` uses a reserved key (format, version, package_version, arch_config,
            state_dict). ``where`` names the public function in the message.
    """
    fmt, config = _format_of(model)
    clash = sorted(set(meta) & set(RESERVED))
    if clash:
        raise ValueError(f"{where}: extra keys {clash} are reserved")
    if fmt != SR_FORMAT and not any(isinstance(m, SNConv) for m in model.modules()):
        raise ValueError(f"{where}: the model has been through bake_norms; save the unbaked model")
    return {
        "format": fmt,
        "version": FORMAT_VERSION,
        "package_version": __version__,
        "arch_config": dataclasses.asdict(config),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        **meta,
    }


def save_generator(path: str | os.PathLike[str], gen: UnetGenerator, **meta: Any) -> Path:
    """Write ``gen`` (and ``meta`` entries) as our generator file, atomically, replacing any existing file.
    Returns the path.

    Raises:
        ValueError: ``gen`` is not an (unbaked) :class:`UnetGenerator`, or ``meta`` uses a reserved key.
    """
    if not isinstance(gen, UnetGenerator):
        raise ValueError(f"save_generator: gen must be a UnetGenerator, got {type(gen).__name__}")
    return _write(path, model_record(gen, "save_generator", **meta))


def save_critic(path: str | os.PathLike[str], crit: Critic, **meta: Any) -> Path:
    """Write ``crit`` as our critic file (same layout and rules as :func:`save_generator`)."""
    if not isinstance(crit, Critic):
        raise ValueError(f"save_critic: crit must be a Critic, got {type(crit).__name__}")
    return _write(path, model_record(crit, "save_critic", **meta))


def save_sr(path: str | os.PathLike[str], net: SRNet, **meta: Any) -> Path:
    """Write the SR net ``net`` in the same layout (``meta``: e.g. ``crappify=config.to_dict()``, ``step``)."""
    if not isinstance(net, SRNet):
        raise ValueError(f"save_sr: net must be an SRNet, got {type(net).__name__}")
    return _write(path, model_record(net, "save_sr", **meta))


def _write(path: str | os.PathLike[str], payload: dict[str, Any]) -> Path:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path, overwrite=True) as tmp:
        torch.save(payload, tmp)
    return Path(path)


def meta_of(record: Mapping[str, Any]) -> dict[str, Any]:
    """The ``meta`` entries of a model record (everything but the reserved keys)."""
    return {k: v for k, v in record.items() if k not in RESERVED}


def load_generator(
    path: str | os.PathLike[str], name: str | None = None, *, identify: bool = False
) -> UnetGenerator:
    """Load a generator in eval mode on the CPU from our file or a DeOldify ``*_gen.pth``.

    Args:
        path: the checkpoint file.
        name: DeOldify files: ``None`` (default) infers the architecture from keys and shapes and
            names it after the matching preset (the video/stable architecture is reported as
            ``"video"``); ``"video"``, ``"stable"`` or ``"artistic"`` builds that preset. Our
            files: ``None`` keeps the stored config; a preset name with the same architecture
            renames it; anything else is an error.
        identify: also set ``source_sha256`` (sha256 of ``path``; reads the whole file once more). Exports ask
            for it because they record it; training does not.

    Returns:
        The model, with ``config`` (and, with ``identify``, ``source_sha256``) set.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        CheckpointError: unreadable, truncated, foreign or mismatching files (the message names
            the file and what was expected).
    """
    obj = read_checkpoint(path, "load_generator")
    where = f"load_generator: {os.fspath(path)!r}"
    if isinstance(obj, Mapping) and "format" in obj:
        model = generator_from_record(obj, where, name)
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
    if identify:
        model.source_sha256 = sha256_file(path)
    return model.eval()


def load_critic(path: str | os.PathLike[str], *, identify: bool = False) -> Critic:
    """Load a critic in eval mode on the CPU from our file or a DeOldify ``*_crit.pth`` (the configuration is
    inferred from keys and shapes; dropout ``p`` defaults to 0.15). ``identify`` as in :func:`load_generator`.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        CheckpointError: unreadable, truncated, foreign or mismatching files.
    """
    obj = read_checkpoint(path, "load_critic")
    where = f"load_critic: {os.fspath(path)!r}"
    if isinstance(obj, Mapping) and "format" in obj:
        model = critic_from_record(obj, where)
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
    if identify:
        model.source_sha256 = sha256_file(path)
    return model.eval()


def load_sr(path: str | os.PathLike[str]) -> SRNet:
    """Load an SR net in eval mode on the CPU from our file (either SR layout); its ``meta`` (crappifier
    config, steps, ...) is ``meta_of(read_checkpoint(path))``.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        CheckpointError: unreadable, truncated or foreign files, or another network's file.
    """
    return sr_from_record(read_checkpoint(path, "load_sr"), f"load_sr: {os.fspath(path)!r}").eval()


def generator_from_record(record: Any, where: str, name: str | None = None) -> UnetGenerator:
    """Build the generator a model record holds (as loaded: no file is read). ``name`` renames the config to
    a preset of the same architecture (see :func:`load_generator`). ``where`` prefixes error messages."""
    config, state = _ours(record, GENERATOR_FORMAT, where, GeneratorConfig.from_dict)
    if name is not None and name != config.name:
        config = _rename(config, name, where)
    return _load_state(UnetGenerator, config, state, where, f"the {config.name!r} generator")


def critic_from_record(record: Any, where: str) -> Critic:
    """Build the critic a model record holds (as loaded: no file is read)."""
    config, state = _ours(record, CRITIC_FORMAT, where, CriticConfig.from_dict)
    return _load_state(Critic, config, state, where, "the critic")


def sr_from_record(record: Any, where: str) -> SRNet:
    """Build the SR net a model record holds (either SR layout; as loaded: no file is read)."""
    config, state = _ours(sr_record(record, where), SR_FORMAT, where, _sr_config)
    return _load_state(SRNet, config, state, where, "the SR net")


def sr_record(record: Any, where: str) -> Any:
    """``record`` in today's layout: a file of the first SR layout is converted (``model`` → ``arch_config``, the
    package version under ``package_version``, its ``train_state`` summary as meta with ``steps`` → ``step``);
    anything else is returned as it is."""
    if isinstance(record, Mapping) and record.get("format") == LEGACY_SR_FORMAT:
        return _upgrade_legacy_sr(record, where)
    return record


def _sr_config(data: Mapping[str, Any]) -> SRConfig:
    return SRConfig(**data)


def _upgrade_legacy_sr(record: Mapping[str, Any], where: str) -> dict[str, Any]:
    try:
        summary = dict(record.get("train_state") or {})
        meta = {
            k: v
            for k, v in record.items()
            if k not in ("format", "version", "model", "state_dict", "train_state")
        }
        if "steps" in summary:
            meta["step"] = summary.pop("steps")
        return {
            "format": SR_FORMAT,
            "version": FORMAT_VERSION,
            "package_version": record.get("version"),
            "arch_config": record["model"],
            "state_dict": record["state_dict"],
            **summary,
            **meta,
        }
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{where} is a broken {LEGACY_SR_FORMAT} file: {exc}") from None


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
        from numpy.core.multiarray import _reconstruct, scalar

    kinds = (np.float64, np.float32, np.float16, np.int64, np.int32, np.uint32, np.uint8, np.bool_)
    return [scalar, _reconstruct, np.ndarray, np.dtype, *(type(np.dtype(k)) for k in kinds)]


def _ours[C](
    obj: Any, fmt: str, where: str, from_dict: Callable[[Mapping[str, Any]], C]
) -> tuple[C, Mapping[str, Tensor]]:
    if not isinstance(obj, Mapping) or obj.get("format") != fmt:
        found = obj.get("format") if isinstance(obj, Mapping) else type(obj).__name__
        raise CheckpointError(f"{where} has format {found!r}, expected {fmt!r}")
    version = obj.get("version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CheckpointError(
            f"{where} has format version {version!r}; this vs-colorize ({__version__}) reads up to "
            f"{FORMAT_VERSION}"
        )
    try:
        config = from_dict(obj["arch_config"])
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
