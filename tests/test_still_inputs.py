"""Every still-image input keeps its luma through ``vs-colorize colorize`` (the real CLI, the packaged demo
model): grey/RGB PNG 8/16, grey/colour JPEG, TIFF 8/16/float16/float32 (grey and RGB, plain and LZW),
image sequences and multi-page TIFFs.

Outputs: a video file (ffv1, YUV/GRAY kept at the source depth: luma bit-identical for integer grey/YUV
input, within one code value where the source is RGB or float) and images (RGB: luma within one code
value, computed with the matrix the output is tagged with).
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import tifffile
import vapoursynth as vs
from PIL import Image

from vs_colorize.cli import EXIT_OK, main
from vs_colorize.io.pyav_source import pyav_source
from vs_colorize.io.still import still_source

W, H = 64, 48
#: (Kr, Kb) of the matrices these tests meet: BT.601 (5, 6) for small YUV/GRAY frames, BT.709 (1) for RGB.
KRB = {1: (0.2126, 0.0722), 5: (0.299, 0.114), 6: (0.299, 0.114)}


def ramp(seed: int, peak: int) -> np.ndarray:
    """A grey test picture that reaches both ends of the range (black and white crush would show)."""
    y, x = np.mgrid[0:H, 0:W]
    base = (x / (W - 1) * 0.8 + y / (H - 1) * 0.2) * peak
    noise = np.random.default_rng(seed).normal(0, peak * 0.03, (H, W))
    img = np.clip(np.round(base + noise), 0, peak)
    img[:4, :4], img[-4:, -4:] = 0, peak
    return img


def colourful(grey: np.ndarray, peak: float, seed: int) -> np.ndarray:
    """RGB from three grey ramps, with a band of random saturated colours (out-of-gamut chroma bait)."""
    rgb = np.dstack([grey, grey[::-1], grey[:, ::-1]])
    rgb[16:32] = np.random.default_rng(seed).integers(0, 2, (16, W, 3)) * peak
    return rgb


def luma(rgb: np.ndarray, matrix: int) -> np.ndarray:
    kr, kb = KRB[matrix]
    return kr * rgb[..., 0] + (1 - kr - kb) * rgb[..., 1] + kb * rgb[..., 2]


def write_av(path: Path, arr: np.ndarray, codec: str, fmt: str, enc_fmt: str) -> None:
    """One picture through an FFmpeg image encoder (16-bit PNG wants big-endian samples)."""
    ctx = av.CodecContext.create(codec, "w")
    ctx.width, ctx.height, ctx.pix_fmt, ctx.time_base = W, H, enc_fmt, Fraction(1, 1)
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(arr), format=fmt).reformat(format=enc_fmt)
    frame.pts = 0
    path.write_bytes(b"".join(bytes(p) for p in [*ctx.encode(frame), *ctx.encode(None)]))


class Case:
    """An input written into a folder, with its source luma per frame (code values, float) and depth."""

    def __init__(self, name: str, write: Callable[[Path], tuple[Path, list[np.ndarray], int, int, bool]]):
        self.name, self.write = name, write

    def __repr__(self) -> str:
        return self.name


def grey_png(bits: int) -> Case:
    def write(d: Path) -> tuple[Path, list[np.ndarray], int, int, bool]:
        img = ramp(1, (1 << bits) - 1)
        fmt = "gray" if bits == 8 else "gray16le"
        write_av(
            d / "in.png",
            img.astype(np.uint8 if bits == 8 else np.uint16),
            "png",
            fmt,
            fmt.replace("le", "be"),
        )
        return d / "in.png", [img], bits, 6, True

    return Case(f"grey-png-{bits}", write)


def rgb_png(bits: int) -> Case:
    def write(d: Path) -> tuple[Path, list[np.ndarray], int, int, bool]:
        peak = (1 << bits) - 1
        rgb = colourful(ramp(2, peak), peak, 3)
        fmt = "rgb24" if bits == 8 else "rgb48le"
        enc = "rgb24" if bits == 8 else "rgb48be"
        write_av(d / "in.png", rgb.astype(np.uint8 if bits == 8 else np.uint16), "png", fmt, enc)
        return d / "in.png", [luma(rgb, 1)], bits, 1, False

    return Case(f"rgb-png-{bits}", write)


def jpeg(grey: bool) -> Case:
    def write(d: Path) -> tuple[Path, list[np.ndarray], int, int, bool]:
        img = ramp(5, 255).astype(np.uint8)
        pic = Image.fromarray(img, "L") if grey else Image.fromarray(np.dstack([img, img[::-1], img]), "RGB")
        pic.save(d / "in.jpg", quality=92)
        with av.open(str(d / "in.jpg")) as c:  # the source luma is the decoded Y plane
            frame = next(c.decode(video=0))
        y = np.frombuffer(frame.planes[0], np.uint8).reshape(frame.planes[0].height, -1)[:H, :W]
        return d / "in.jpg", [y.astype(float)], 8, 6, True

    return Case("grey-jpeg" if grey else "colour-jpeg", write)


def tiff(kind: str, rgb: bool = False, lzw: bool = False) -> Case:
    dtype = {"8": np.uint8, "16": np.uint16, "f16": np.float16, "f32": np.float32}[kind]

    def write(d: Path) -> tuple[Path, list[np.ndarray], int, int, bool]:
        floating = kind.startswith("f")
        peak = 1.0 if floating else float((1 << int(kind)) - 1)
        grey = ramp(6, 65535) / 65535 * peak if floating else ramp(6, int(peak))
        arr = colourful(grey, peak, 7) if rgb else grey
        arr = arr.astype(dtype)
        if lzw:
            Image.fromarray(arr).save(d / "in.tif", compression="tiff_lzw")
        else:
            tifffile.imwrite(d / "in.tif", arr, photometric="rgb" if rgb else "minisblack")
        scale = 65535 if floating else 1  # float pictures come out 16 bits deep
        values = arr.astype(np.float64) * scale
        return (
            d / "in.tif",
            [luma(values, 1) if rgb else values],
            16 if floating else int(kind),
            (1 if rgb else 6),
            not (rgb or floating),
        )

    return Case(f"{'rgb' if rgb else 'grey'}-tiff-{kind}{'-lzw' if lzw else ''}", write)


def sequence(ext: str) -> Case:
    def write(d: Path) -> tuple[Path, list[np.ndarray], int, int, bool]:
        frames = [ramp(10 + i, 255) for i in range(3)]
        for i, img in enumerate(frames):
            if ext == "png":
                write_av(d / f"in_{i + 7:03d}.png", img.astype(np.uint8), "png", "gray", "gray")
            else:
                tifffile.imwrite(d / f"in_{i + 7:03d}.tif", img.astype(np.uint8))
        return d / f"in_%03d.{ext}", frames, 8, 6, True

    return Case(f"{ext}-sequence", write)


def multipage() -> Case:
    def write(d: Path) -> tuple[Path, list[np.ndarray], int, int, bool]:
        frames = [ramp(20 + i, 65535) for i in range(3)]
        tifffile.imwrite(d / "in.tif", np.stack(frames).astype(np.uint16), photometric="minisblack")
        return d / "in.tif", frames, 16, 6, True

    return Case("multipage-tiff-16", write)


CASES = [
    grey_png(8), grey_png(16), rgb_png(8), rgb_png(16), jpeg(True), jpeg(False),
    tiff("8"), tiff("16"), tiff("f16"), tiff("f32"), tiff("8", rgb=True), tiff("16", rgb=True),
    tiff("f32", rgb=True), tiff("8", lzw=True), sequence("png"), sequence("tif"), multipage(),
]  # fmt: skip


def video_luma(path: Path, bits: int) -> tuple[list[np.ndarray], int]:
    """Y planes of a video file and its range tag (1 limited, 2 full)."""
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        rng = int(stream.codec_context.color_range)
        out = []
        for frame in c.decode(stream):
            dtype = np.uint8 if bits == 8 else np.uint16
            out.append(np.frombuffer(frame.planes[0], dtype).reshape(frame.planes[0].height, -1)[:H, :W])
    return out, rng


def image_frames(path: Path) -> list[np.ndarray]:
    """The RGB pictures of a PNG (PyAV) or a (multi-page) TIFF (tifffile)."""
    if path.suffix == ".tif":
        arr = tifffile.imread(path)
        return list(arr) if arr.ndim == 4 else [arr]
    with av.open(str(path)) as c:
        frame = next(c.decode(video=0))
        return [frame.to_ndarray(format="rgb48le" if "48" in frame.format.name else "rgb24")]


@pytest.mark.parametrize("case", CASES, ids=repr)
def test_luma_survives_the_cli(capsys: pytest.CaptureFixture[str], tmp_path: Path, case: Case) -> None:
    src, expected, bits, matrix, exact = case.write(tmp_path)
    video = tmp_path / "out.mkv"
    code = main(
        ["colorize", str(src), str(video), "--model", "demo", "--render-factor", "4", "--codec", "ffv1"]
    )
    assert code == EXIT_OK, capsys.readouterr().err
    ys, rng = video_luma(video, bits)
    assert rng == 2, "a full-range picture must come out tagged full range"
    assert len(ys) == len(expected)
    for y, ref in zip(ys, expected, strict=True):
        if exact:
            assert np.array_equal(y, ref.astype(y.dtype)), "luma changed"
        else:
            assert np.abs(y - ref).max() <= 1.0, "luma moved by more than rounding"

    many = len(expected) > 1
    images = tmp_path / ("out.tif" if many and "tiff" in case.name else "o_%02d.png" if many else "out.png")
    code = main(["colorize", str(src), str(images), "--model", "demo", "--render-factor", "4"])
    assert code == EXIT_OK, capsys.readouterr().err
    files = [images] if "%" not in images.name else sorted(tmp_path.glob("o_*.png"))
    pictures = [p for f in files for p in image_frames(f)]
    assert len(pictures) == len(expected)
    for rgb, ref in zip(pictures, expected, strict=True):
        assert rgb.dtype == (np.uint8 if bits == 8 else np.uint16)
        assert np.abs(luma(rgb.astype(np.float64), matrix) - ref).max() <= 1.0, "luma moved"
        assert np.ptp(rgb.astype(np.float64), axis=-1).max() > 0, "the picture was not colorized"


def test_real_bw_photo_keeps_its_tones(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, data_dir: Path
) -> None:
    """The issue's case: a real grey JPEG (Ansel Adams, public domain) as grey TIFF and grey JPEG.

    Before the fix: mean luma error 9.0/255, 11 % of the pixels crushed to black (0.1 % in the source).
    """
    photo = data_dir / "bw_historical_photos/zhang_ansel_adams_tetons_snake_river.jpg"
    with av.open(str(photo)) as c:
        frame = next(c.decode(video=0))
    assert frame.format.name == "gray"
    grey = np.frombuffer(frame.planes[0], np.uint8).reshape(frame.planes[0].height, -1)[:330, :374]
    tifffile.imwrite(tmp_path / "photo.tif", grey)
    Image.fromarray(np.ascontiguousarray(grey), "L").save(tmp_path / "photo.jpg", quality=95)
    with av.open(str(tmp_path / "photo.jpg")) as c:
        frame = next(c.decode(video=0))
    grey_jpeg = np.frombuffer(frame.planes[0], np.uint8).reshape(frame.planes[0].height, -1)[:330, :374]
    for name, ref in (("photo.tif", grey), ("photo.jpg", grey_jpeg)):
        out = tmp_path / f"{name}.png"
        assert main(["colorize", str(tmp_path / name), str(out), "--model", "demo", "-q"]) == EXIT_OK
        rgb = image_frames(out)[0].astype(np.float64)
        error = np.abs(luma(rgb, 6) - ref)
        assert error.max() <= 1.0 and error.mean() < 0.3, (name, error.max(), error.mean())


@pytest.mark.parametrize("kind", ["grey.jpg", "grey.tif", "grey.png", "grey.bmp", "float.tif", "rgba.png"])
def test_every_still_reader_says_range_and_sample_type(
    tmp_path: Path, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    img = ramp(30, 255).astype(np.uint8)
    path = tmp_path / kind
    if kind == "float.tif":
        tifffile.imwrite(path, (img / 255).astype(np.float16))
    elif kind == "rgba.png":
        Image.fromarray(np.dstack([img, img, img, img]), "RGBA").save(path)
    else:
        Image.fromarray(img, "L").save(path)  # Pillow writes grey BMP as an 8-bit palette
    clip = still_source(path)
    props = clip.get_frame(0).props
    assert props["_Range"] == 1
    if kind == "float.tif":
        assert clip.format.sample_type == vs.FLOAT and clip.format.bits_per_sample == 32
        exact = (img / 255).astype(np.float16).astype(np.float32)  # float16 -> float32 is exact
        assert np.array_equal(np.asarray(clip.get_frame(0)[0]), exact)
        return
    if kind == "rgba.png":
        assert "has an alpha channel; it is dropped" in caplog.text
        return
    if not kind.endswith(".jpg"):  # lossless: the picture itself (a grey palette reads as RGB)
        assert np.array_equal(np.asarray(clip.get_frame(0)[0]), img)
    # the film reader, pointed at a still directly, says the same range
    assert pyav_source(path).get_frame(0).props["_Range"] == 1


def test_a_sequence_is_never_its_own_output(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    for i in range(3):
        tifffile.imwrite(tmp_path / f"f_{i:02d}.tif", ramp(40 + i, 255).astype(np.uint8))
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    (tmp_path / "sub").mkdir()
    for out in ("f_%02d.tif", "sub/../f_%02d.tif"):  # the same files, spelled two ways
        code = main(
            ["colorize", str(tmp_path / "f_%02d.tif"), str(tmp_path / out), "--model", "demo", "--overwrite"]
        )
        assert code == 2 and "is the input file" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()} == before
