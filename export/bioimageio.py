"""A superres artifact → a BioImage Model Zoo package (``rdf.yaml`` + ONNX weights + test tensors), read by
Fiji/deepImageJ, QuPath, ilastik and napari.

``vs-colorize-export bioimageio MODEL OUT.zip`` where MODEL is a ``superres`` ONNX artifact or an SR training
checkpoint (exported to ONNX first). The package is described with the spec's own library
(``bioimageio.spec``, format 0.5) and saved with its packager, so what it writes is valid by construction and
is validated once more after writing.

What the package says, and why:

* input ``frames``: ``[batch, 3 channels = frames t−1, t, t+1, y, x]`` of one grey time-lapse, in the raw
  sample type (``input_dtype``, default uint16); preprocessing converts to float32 and scales the type's range
  to [0, 1] — exactly what the ``superres`` filter does with a clip of that type; for a model trained with
  percentile normalisation (``ModelInfo.percentiles``) a ``scale_range`` step follows, per sample over the three
  frames together (axes channel, y, x) with the model's percentiles and the eps of :mod:`vs_colorize.core.percentile`
  — the filter's normalisation, step for step;
* output ``hr``: ``[batch, 1, scale·y, scale·x]`` float32 in [0, 1] (the axes' ``scale`` of 1/scale says the
  pixels are that much smaller); a normalised model's output is in the normalised units (the spec has no step
  that maps back with the input's percentiles; the README gives the formula, ``hr·(hi − lo) + lo``);
* y/x sizes: a multiple of the model's ``multiple`` from its smallest exported side (dynamic artifacts) or the
  static size;
* test tensors: a deterministic input (a smooth blob pattern with noise, the raw sample type) and the output
  ONNX Runtime computes for it; a cover image shows the middle frame beside the output.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from vs_colorize.core.contract import ContractError, ModelInfo, read_model_info
from vs_colorize.core.fileio import atomic_output
from vs_colorize.core.percentile import EPS, normalize, percentile_range

from .errors import ExportError

log = logging.getLogger(__name__)

#: Raw sample types a package can declare for its input, and the value that maps to 1.0.
INPUT_DTYPES: dict[str, float] = {"uint8": 255.0, "uint16": 65535.0, "float32": 1.0}

#: The paper whose method the model follows (PSSR: crappify, three frames in, one out).
PSSR_CITATION = (
    "Fang L. et al., Deep learning-based point-scanning super-resolution imaging, Nature Methods 18, 406–416 (2021)",
    "10.1038/s41592-021-01080-z",
)


def _import_spec() -> tuple[Any, Any]:
    """The spec's model module and packager, imported on first use (an optional dependency)."""
    try:
        from bioimageio.spec import save_bioimageio_package
        from bioimageio.spec.model import v0_5
    except ImportError as exc:
        raise ExportError(
            'bioimageio: needs the bioimage.io spec package: pip install "vs-colorize[export]"'
        ) from exc
    return v0_5, save_bioimageio_package


def sample_input(info: ModelInfo, dtype: str, *, seed: int = 0) -> np.ndarray:
    """A deterministic ``[1, window, h, w]`` test input in the raw sample type: drifting blobs plus noise."""
    h, w = info.static_size or (max(info.dynamic_range[0], 2 * info.multiple),) * 2  # type: ignore[index]
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    frames = []
    for t in range(info.window):
        img = np.zeros((h, w), np.float32)
        for cy, cx, r in ((0.3, 0.3, 0.08), (0.6, 0.7, 0.12), (0.75, 0.25, 0.05)):
            img += np.exp(-(((yy / h - cy - 0.01 * t) ** 2 + (xx / w - cx) ** 2) / (2 * r * r)))
        img = np.clip(0.8 * img + rng.normal(0.0, 0.03, img.shape), 0.0, 1.0)
        frames.append(img)
    x = np.stack(frames)[None]
    scale = INPUT_DTYPES[dtype]
    return x.astype(np.float32) if dtype == "float32" else np.round(x * scale).astype(dtype)


def _run_onnx(path: Path, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(os.fspath(path), providers=["CPUExecutionProvider"])
    (out,) = session.run(None, {session.get_inputs()[0].name: x})
    return np.asarray(out, dtype=np.float32)


def _cover(x: np.ndarray, y: np.ndarray, path: Path) -> None:
    """Middle input frame (nearest-neighbour upscaled) beside the output, grey PNG."""
    import av

    mid = x[0, x.shape[1] // 2].astype(np.float32)
    mid = mid / (mid.max() or 1.0)
    s = y.shape[-1] // mid.shape[-1]
    left = np.kron(mid, np.ones((s, s), np.float32))
    img = np.concatenate([left, np.ones((left.shape[0], 4), np.float32), y[0, 0]], axis=1)
    frame = av.VideoFrame.from_ndarray((np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8), format="gray")
    with av.open(os.fspath(path), "w", format="image2") as c:
        stream = c.add_stream("png", rate=1)
        stream.width, stream.height, stream.pix_fmt = frame.width, frame.height, "gray"
        c.mux(stream.encode(frame))
        c.mux(stream.encode(None))


def _readme(info: ModelInfo, name: str, dtype: str) -> str:
    norm = ""
    if info.percentiles is not None:
        pmin, pmax = info.percentiles
        norm = (
            f"* Normalisation: after the type scaling, each sample (the three frames together) is mapped by "
            f"`(x - lo) / (hi - lo + {EPS:g})` with lo/hi its {pmin:g}th/{pmax:g}th percentiles (`scale_range`). "
            "The output `hr` is in those units: `hr * (hi - lo) + lo` gives intensities in [0, 1] of the input type "
            "(what vs-colorize's `superres` filter returns).\n"
        )
    return (
        f"# {name}\n\n"
        f"Point-scanning microscopy super-resolution ({info.scale}x) from three consecutive frames of a grey "
        "time-lapse (t-1, t, t+1 as channels), trained with vs-colorize's PSSR-style pipeline: low-resolution "
        "inputs made from high-resolution frames by a crappifier, a stability loss on two noisy copies.\n\n"
        f"* Input: `frames` [batch, 3, y, x], raw {dtype}; preprocessing scales the type's range to [0, 1].\n"
        f"* Output: `hr` [batch, 1, {info.scale}y, {info.scale}x], float32 in [0, 1].\n"
        f"{norm}"
        f"* Sizes: {info.shapes()}.\n"
        f"* Architecture: `{info.arch}`, {info.precision}; made by vs-colorize {info.package_version or '?'}"
        f"{', source sha256 ' + info.source_sha256 if info.source_sha256 else ''}.\n\n"
        "A frame at the start or end of a sequence is fed with itself as its missing neighbour.\n"
    )


def package(
    model: str | os.PathLike[str],
    path: str | os.PathLike[str],
    *,
    name: str | None = None,
    authors: tuple[str, ...] = ("vs-colorize developers",),
    license: str = "MIT",
    input_dtype: str = "uint16",
    overwrite: bool = False,
) -> Path:
    """Write a BioImage Model Zoo package (zip) for a ``superres`` ONNX artifact and validate it.

    Args:
        model: a ``superres`` ``.onnx`` artifact (``vs-colorize-export superres``).
        path: the ``.zip`` to write (atomically; an existing file needs ``overwrite``).
        name: the model's name in the zoo (default from the artifact's arch and scale).
        authors: author names.
        license: SPDX licence identifier of the weights (default MIT).
        input_dtype: raw sample type of the input, one of ``uint8``, ``uint16`` (default), ``float32``.
        overwrite: replace an existing ``path``.

    Returns:
        ``path``.

    Raises:
        ExportError: not a superres artifact, bad arguments, or a package the spec does not accept.
    """
    func = "bioimageio"
    src = Path(model)
    if input_dtype not in INPUT_DTYPES:
        raise ExportError(f"{func}: input_dtype must be one of {tuple(INPUT_DTYPES)}, got {input_dtype!r}")
    if not authors:
        raise ExportError(f"{func}: authors must name at least one author")
    out = Path(path)
    if out.suffix != ".zip":
        raise ExportError(f"{func}: path must end in .zip, got {os.fspath(out)!r}")
    if out.exists() and not overwrite:
        raise ExportError(f"{func}: {os.fspath(out)!r} exists; pass overwrite to replace it")
    try:
        info = read_model_info(src)
    except (ContractError, OSError) as exc:
        raise ExportError(
            f"{func}: model {os.fspath(src)!r} is not a vs-colorize ONNX artifact: {exc}"
        ) from exc
    if info.kind != "superres" or info.window != 3:
        raise ExportError(f"{func}: model must be a 3-frame superres artifact, got {info.describe()}")
    v0_5, save_package = _import_spec()
    title = name or f"vs-colorize {info.arch} {info.scale}x super-resolution (3 frames)"

    with tempfile.TemporaryDirectory(prefix="bioimageio-") as tmp:
        work = Path(tmp)
        x = sample_input(info, input_dtype)
        unit = x.astype(np.float32) / np.float32(INPUT_DTYPES[input_dtype])
        if info.percentiles is not None:
            unit = normalize(unit, *percentile_range(unit[0], *info.percentiles))
        y = _run_onnx(src, unit)
        np.save(work / "test_input.npy", x)
        np.save(work / "test_output.npy", y)
        _cover(x, y, work / "cover.png")
        (work / "README.md").write_text(_readme(info, title, input_dtype))
        (work / "model.onnx").write_bytes(src.read_bytes())

        if info.static_size is not None:
            sizes: tuple[object, object] = info.static_size
        else:
            lo = info.dynamic_range[0]  # type: ignore[index]
            sizes = (v0_5.ParameterizedSize(min=lo, step=info.multiple),) * 2
        pre = [v0_5.EnsureDtypeDescr(kwargs=v0_5.EnsureDtypeKwargs(dtype="float32"))]
        if input_dtype != "float32":
            gain = 1.0 / INPUT_DTYPES[input_dtype]
            pre.append(v0_5.ScaleLinearDescr(kwargs=v0_5.ScaleLinearKwargs(gain=gain, offset=0.0)))
        if info.percentiles is not None:
            pmin, pmax = info.percentiles
            joint = [v0_5.AxisId(a) for a in ("channel", "y", "x")]  # per sample, the window together
            kwargs = v0_5.ScaleRangeKwargs(axes=joint, min_percentile=pmin, max_percentile=pmax, eps=EPS)
            pre.append(v0_5.ScaleRangeDescr(kwargs=kwargs))
        # end in float32 explicitly: otherwise the spec appends a cast back to the raw input type
        pre.append(v0_5.EnsureDtypeDescr(kwargs=v0_5.EnsureDtypeKwargs(dtype="float32")))
        frames = v0_5.InputTensorDescr(
            id=v0_5.TensorId("frames"),
            description="frames t-1, t, t+1 of a grey time-lapse, as channels",
            axes=[
                v0_5.BatchAxis(),
                v0_5.ChannelAxis(channel_names=[v0_5.Identifier(n) for n in ("t_minus_1", "t", "t_plus_1")]),
                v0_5.SpaceInputAxis(id=v0_5.AxisId("y"), size=sizes[0]),
                v0_5.SpaceInputAxis(id=v0_5.AxisId("x"), size=sizes[1]),
            ],
            test_tensor=v0_5.FileDescr(source=work / "test_input.npy"),
            data=v0_5.IntervalOrRatioDataDescr(type=input_dtype),
            preprocessing=pre,
        )
        hr = v0_5.OutputTensorDescr(
            id=v0_5.TensorId("hr"),
            description=f"frame t at {info.scale}x the sampling, float32 "
            + ("in [0, 1]" if info.percentiles is None else "in the input's percentile-normalised units"),
            axes=[
                v0_5.BatchAxis(),
                v0_5.ChannelAxis(channel_names=[v0_5.Identifier("intensity")]),
                *(
                    v0_5.SpaceOutputAxis(
                        id=v0_5.AxisId(a),
                        size=v0_5.SizeReference(tensor_id=v0_5.TensorId("frames"), axis_id=v0_5.AxisId(a)),
                        scale=1.0 / info.scale,
                    )
                    for a in ("y", "x")
                ),
            ],
            test_tensor=v0_5.FileDescr(source=work / "test_output.npy"),
            data=v0_5.IntervalOrRatioDataDescr(
                type="float32", range=(0.0, 1.0) if info.percentiles is None else (None, None)
            ),
        )
        descr = v0_5.ModelDescr(
            name=title,
            description=f"{info.scale}x super-resolution of point-scanning microscopy from three consecutive frames",
            authors=[v0_5.Author(name=a) for a in authors],
            cite=[v0_5.CiteEntry(text=PSSR_CITATION[0], doi=v0_5.Doi(PSSR_CITATION[1]))],
            license=license,
            documentation=v0_5.FileDescr(source=work / "README.md"),
            covers=[v0_5.FileDescr(source=work / "cover.png")],
            tags=["super-resolution", "microscopy", "time-lapse", "pssr", "onnx", "2d"],
            inputs=[frames],
            outputs=[hr],
            weights=v0_5.WeightsDescr(
                onnx=v0_5.OnnxWeightsDescr(source=work / "model.onnx", opset_version=max(info.opset, 15))
            ),
        )
        with atomic_output(out, overwrite=overwrite, suffix=".zip") as part:
            part.unlink()  # the packager writes the file itself
            save_package(descr, output_path=part)
    problems = validate(out)
    if problems:
        out.unlink()
        raise ExportError(f"{func}: the spec rejects the package: {problems}")
    log.info("%s: wrote %s (%s)", func, out, info.describe())
    return out


def validate(path: str | os.PathLike[str]) -> str:
    """Validate a package with the spec's own loader (I/O checks on); '' when valid, else the summary's errors."""
    from bioimageio.spec import load_description

    descr = load_description(Path(path), perform_io_checks=True)
    summary = descr.validation_summary
    if summary.status in ("passed", "valid-format"):
        return ""
    return "; ".join(f"{e.loc}: {e.msg}" for d in summary.details for e in d.errors) or str(summary.status)
