"""Scan sequences in and out (issue 20): DPX/TIFF/PNG/EXR at every depth, named by a ``%d`` pattern, a
glob or a folder, any start number; gaps named; outputs numbered like the input, at the input's depth,
luma kept; ``--skip-existing`` resumes a sequence. Real CLI, real PyAV encoders, the packaged demo model.
"""

from __future__ import annotations

import subprocess
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import tifffile
import vapoursynth as vs
from test_vspipe import BIN, SCRIPT, vspipe_env  # noqa: F401 (fixture)

from vs_colorize.cli import EXIT_INPUT, EXIT_OK, EXIT_USAGE, main
from vs_colorize.io.encode import EncodeSettings, best_pix_fmt
from vs_colorize.io.source import open_source
from vs_colorize.io.still import SEQ_FRAME_PROP

W, H, START = 64, 48, 86397  # an odd start, crossing a digit boundary of nothing in particular
#: (extension, depth name, peak code value or 1.0 for float)
CASES = [
    ("dpx", "10", 1023), ("dpx", "16", 65535), ("dpx", "8", 255), ("png", "8", 255), ("png", "16", 65535),
    ("tif", "8", 255), ("tif", "16", 65535), ("tif", "float", 1.0), ("exr", "half", 1.0), ("exr", "float", 1.0),
]  # fmt: skip
#: The pixel format FFmpeg decodes each written depth back to.
DECODED = {
    ("dpx", "10"): "gbrp10le", ("dpx", "16"): "rgb48le", ("dpx", "8"): "rgb24", ("png", "8"): "rgb24",
    ("png", "16"): "rgb48be", ("tif", "8"): "rgb24", ("tif", "16"): "rgb48le", ("exr", "half"): "gbrpf16le",
    ("exr", "float"): "gbrpf32le",
}  # fmt: skip


def grey(n: int, peak: float, w: int = W, h: int = H) -> np.ndarray:
    """A grey picture per frame number, reaching black and white."""
    y, x = np.mgrid[0:h, 0:w]
    img = (x / (w - 1) * 0.7 + y / (h - 1) * 0.2 + (n % 5) * 0.02) * peak
    img[:4, :4], img[-4:, -4:] = 0, peak
    return img if peak == 1.0 else np.round(img)


def write_picture(path: Path, ext: str, depth: str, img: np.ndarray) -> None:
    """One grey-as-RGB picture written by PyAV's encoder (tifffile for float TIFF)."""
    rgb = np.dstack([img] * 3)
    h, w = img.shape
    if ext == "tif" and depth == "float":
        tifffile.imwrite(path, rgb.astype(np.float32), photometric="rgb")
        return
    codec = {"tif": "tiff"}.get(ext, ext)
    ctx = av.CodecContext.create(codec, "w")
    if depth in ("half", "float") or depth in ("10", "12"):
        pix = "gbrpf32le" if depth in ("half", "float") else f"gbrp{depth}le"
        frame = av.VideoFrame(w, h, pix)
        for plane in frame.planes:
            dtype = np.float32 if "f32" in pix else np.uint16
            np.frombuffer(plane, dtype).reshape(plane.height, -1)[:, :w] = img
        ctx.options = {"format": depth} if ext == "exr" else {}
    else:
        packed = "rgb24" if depth == "8" else "rgb48le"
        pix = DECODED[(ext, depth)]
        data = rgb.astype(np.uint8 if depth == "8" else np.uint16)
        frame = av.VideoFrame.from_ndarray(data, format=packed).reformat(format=pix)
    ctx.width, ctx.height, ctx.pix_fmt, ctx.time_base = w, h, pix, Fraction(1, 1)
    frame.pts = 0
    path.write_bytes(b"".join(bytes(p) for p in [*ctx.encode(frame), *ctx.encode(None)]))


def write_sequence(
    folder: Path, ext: str, depth: str, peak: float, numbers: range, size: tuple[int, int] = (W, H)
) -> None:
    folder.mkdir(exist_ok=True)
    for n in numbers:
        write_picture(folder / f"scan_{n:06d}.{ext}", ext, depth, grey(n, peak, *size))


def read_rgb(path: Path) -> tuple[str, np.ndarray]:
    """Decoded pixel format and the picture as float RGB in code values (0..1 for float)."""
    if path.suffix == ".tif":
        with tifffile.TiffFile(path) as tif:
            arr = tif.pages[0].asarray()
            return str(arr.dtype), arr.astype(np.float64)
    with av.open(str(path)) as c:
        f = next(c.decode(video=0))
        name = f.format.name
        if name.startswith("gbrp"):
            order = (2, 0, 1)
            dtype = np.float16 if "f16" in name else np.float32 if "f32" in name else np.uint16
            planes = [np.frombuffer(f.planes[i], dtype).reshape(f.planes[i].height, -1)[:, :W] for i in order]
            return name, np.dstack(planes).astype(np.float64)
        return name, f.reformat(format="rgb48le" if "48" in name else "rgb24").to_ndarray().astype(np.float64)


def srgb_encode(lin: np.ndarray) -> np.ndarray:
    lin = np.maximum(lin, 0)
    return np.where(lin <= 0.0031308, 12.92 * lin, 1.055 * lin ** (1 / 2.4) - 0.055)


def bt709_luma(rgb: np.ndarray) -> np.ndarray:
    return 0.2126 * rgb[..., 0] + 0.7152 * rgb[..., 1] + 0.0722 * rgb[..., 2]


@pytest.mark.parametrize(("ext", "depth", "peak"), CASES, ids=[f"{e}-{d}" for e, d, _ in CASES])
def test_sequence_in_and_out_keeps_depth_numbers_and_luma(
    tmp_path: Path, ext: str, depth: str, peak: float
) -> None:
    write_sequence(tmp_path / "scan", ext, depth, peak, range(START, START + 3))
    out = tmp_path / "out" / f"c_%07d.{ext}"
    out.parent.mkdir()
    argv = ["colorize", str(tmp_path / "scan" / f"scan_%06d.{ext}"), str(out), "--model", "demo", "-q"]
    assert main(argv) == EXIT_OK
    names = sorted(p.name for p in out.parent.iterdir())
    assert names == [f"c_{n:07d}.{ext}" for n in range(START, START + 3)]
    for n in range(START, START + 3):
        fmt, rgb = read_rgb(out.parent / f"c_{n:07d}.{ext}")
        if ext == "tif":
            want = {"8": "uint8", "16": "uint16", "float": "float32"}[depth]
        else:
            want = DECODED[(ext, depth)]
        assert fmt == want, f"frame {n} written as {fmt}, not at the input's depth ({want})"
        assert np.ptp(rgb[..., 0] - rgb[..., 2]) > 0, "the output is still grey: not colorized"
        tol = 1.0 if peak != 1.0 else 3e-3 if depth == "half" else 1e-4
        src = grey(n, peak)
        if ext == "exr":  # EXR is linear light: the model sees (and keeps the luma of) its sRGB picture
            rgb, src = srgb_encode(rgb), srgb_encode(src)
        diff = np.abs(bt709_luma(rgb) - src)
        assert diff.max() <= tol + 0.5 * (peak != 1.0), f"frame {n}: luma moved by {diff.max()}"


@pytest.mark.parametrize("form", ["pattern", "glob", "folder"])
def test_every_way_of_naming_a_sequence_opens_it_from_its_first_number(tmp_path: Path, form: str) -> None:
    write_sequence(tmp_path / "s", "dpx", "10", 1023, range(7, 12))
    (tmp_path / "s" / "notes.txt").write_text("not an image")
    src = {"pattern": "s/scan_%06d.dpx", "glob": "s/*.dpx", "folder": "s"}[form]
    clip = open_source(tmp_path / src)
    assert clip.num_frames == 5
    assert [clip.get_frame(i).props[SEQ_FRAME_PROP] for i in (0, 4)] == [7, 11]
    first = np.asarray(clip.get_frame(0)[0])
    assert np.array_equal(first, grey(7, 1023)), "the first frame is not the lowest-numbered file"


@pytest.mark.parametrize("form", ["scan_%06d.dpx", "*.dpx", ""])
def test_a_gap_is_an_error_naming_the_missing_frame(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, form: str
) -> None:
    write_sequence(tmp_path / "s", "dpx", "10", 1023, range(99, 104))
    (tmp_path / "s" / "scan_000101.dpx").unlink()
    src = str(tmp_path / "s" / form) if form else str(tmp_path / "s")
    assert main(["colorize", src, str(tmp_path / "o_%06d.dpx"), "--model", "demo", "-q"]) == EXIT_INPUT
    assert "misses frame numbers 101" in capsys.readouterr().err
    assert not list(tmp_path.glob("o_*"))


def test_a_folder_of_two_series_is_refused(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    write_sequence(tmp_path / "s", "dpx", "10", 1023, range(1, 3))
    write_picture(tmp_path / "s" / "other_0001.dpx", "dpx", "10", grey(1, 1023))
    assert main(["colorize", str(tmp_path / "s"), str(tmp_path / "o_%02d.dpx"), "--model", "demo"]) != EXIT_OK
    assert "more than one numbered series" in capsys.readouterr().err


def test_skip_existing_resumes_a_sequence(tmp_path: Path) -> None:
    write_sequence(tmp_path / "s", "dpx", "16", 65535, range(40, 44))
    out = tmp_path / "o_%04d.dpx"
    argv = ["colorize", str(tmp_path / "s"), str(out), "--model", "demo", "-q"]
    assert main(argv) == EXIT_OK
    kept = tmp_path / "o_0041.dpx"
    kept.write_bytes(b"a finished frame, kept as it is")
    (tmp_path / "o_0042.dpx").unlink()
    assert main([*argv, "--skip-existing"]) == EXIT_OK
    assert kept.read_bytes() == b"a finished frame, kept as it is"
    assert read_rgb(tmp_path / "o_0042.dpx")[0] == "rgb48le"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "a temporary file was left"


def test_depth_is_asked_for_and_checked(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    write_sequence(tmp_path / "s", "dpx", "10", 1023, range(1, 3))
    argv = ["colorize", str(tmp_path / "s"), str(tmp_path / "o_%02d.exr"), "--model", "demo", "-q"]
    assert main([*argv, "--depth", "float"]) == EXIT_OK
    assert read_rgb(tmp_path / "o_01.exr")[0] == "gbrpf32le"
    assert main([*argv[:2], str(tmp_path / "p_%02d.png"), *argv[3:], "--depth", "10"]) != EXIT_OK
    assert "depth '10'" in capsys.readouterr().err


#: Intermediate → (extension, pixel format decoded back) from a 10-bit RGB DPX scan, no --pix-fmt.
INTERMEDIATES = {
    "prores422": (".mov", "yuv422p10le"), "prores4444": (".mov", "yuv444p12le"),  # FFmpeg decodes 4444 at 12 bits
    "dnxhr_hq": (".mov", "yuv422p"), "dnxhr_hqx": (".mov", "yuv422p10le"), "dnxhr_444": (".mov", "yuv444p10le"),
    "ffv1": (".mkv", "yuv444p10le"), "x264": (".mkv", "yuv444p10le"), "x265": (".mkv", "yuv444p10le"),
}  # fmt: skip


@pytest.mark.parametrize("codec", list(INTERMEDIATES))
def test_every_intermediate_works_without_pix_fmt(tmp_path: Path, codec: str) -> None:
    size = (256, 120) if codec.startswith("dnxhr") else (W, H)  # DNxHR's smallest picture
    write_sequence(tmp_path / "s", "dpx", "10", 1023, range(5, 8), size)
    ext, want = INTERMEDIATES[codec]
    out = tmp_path / f"out{ext}"
    argv = ["colorize", str(tmp_path / "s"), str(out), "--model", "demo", "--codec", codec, "-q"]
    assert main(argv) == EXIT_OK
    with av.open(str(out)) as c:
        stream = c.streams.video[0]
        frames = list(c.decode(stream))
        assert stream.codec_context.pix_fmt == want
    assert len(frames) == 3
    first = frames[0]
    bits = 8 if want == "yuv422p" else 10
    y = np.frombuffer(first.planes[0], np.uint16 if bits > 8 else np.uint8)
    y = y.reshape(first.planes[0].height, -1)[: first.height, : first.width].astype(float)
    src = bt709_luma(np.dstack([grey(5, 1023, *size)] * 3)) / 1023
    limited = codec.startswith(("prores", "dnxhr"))  # they hold no range flag: limited, always
    assert (first.color_range == 1) == limited
    if want.endswith("12le"):  # ProRes 4444 decoded at 12 bits
        y, bits = y / 4, 10
    expect = (16 + 219 * src) * (1 << (bits - 8)) if limited else src * ((1 << bits) - 1)
    err = np.abs(y - expect)
    if codec.startswith("x26"):  # lossy at their default quality: the levels, fitted over the picture
        slope, offset = np.polyfit(expect.ravel(), y.ravel(), 1)
        assert abs(slope - 1) < 0.02 and abs(offset) < 8 and err.mean() <= 4, f"{codec}: luma or range off"
    else:
        assert err.max() <= (1 if codec == "ffv1" else 3 if bits == 8 else 6), f"{codec}: luma or range off"
    if codec.startswith(("prores", "dnxhr")):
        profile = {"prores422": "HQ", "prores4444": "4444", "dnxhr_hq": "DNXHR HQ"}.get(codec)
        if profile is not None:
            assert (stream.profile or "").upper().startswith(profile), stream.profile


def test_the_vapoursynth_script_reads_a_dpx_sequence(
    tmp_path: Path,
    vspipe_env: dict[str, str],  # noqa: F811 (fixture)
) -> None:
    write_sequence(tmp_path, "dpx", "10", 1023, range(1001, 1004))
    src = tmp_path / "scan_%06d.dpx"  # vspipe runs the script in its own folder: an absolute path
    cmd = [str(BIN / "vspipe"), str(SCRIPT), "-a", f"src={src}", "-a", "model=demo", "-"]
    done = subprocess.run(cmd, env=vspipe_env, cwd=tmp_path, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode()
    assert len(done.stdout) == 3 * W * H * 3 * 2  # three RGB30 frames, 16-bit words
    gbr = np.frombuffer(done.stdout, np.uint16)[: W * H * 3].reshape(3, H, W)  # vspipe writes G, B, R
    rgb = np.moveaxis(gbr[[2, 0, 1]], 0, -1).astype(float)
    assert np.abs(bt709_luma(rgb) - grey(1001, 1023)).max() <= 1.5


@pytest.mark.parametrize(
    ("fmt", "codec", "want"),
    [
        (vs.YUV444P16, "x264", "yuv444p10le"),  # colour resolution kept before depth
        (vs.YUV444P16, "x265", "yuv444p12le"),
        (vs.YUV420P16, "x264", "yuv420p10le"),  # no needless upsampling either
        (vs.YUV420P8, "prores", "yuv422p10le"),
        (vs.YUV444P10, "prores", None),  # taken as it is
        (vs.YUV410P8, "x264", "yuv420p"),
        (vs.GRAY16, "x264", "gray10le"),
        (vs.YUV422P10, "dnxhr_hq", "yuv422p"),  # the profile's format, not the encoder's list
    ],
)
def test_the_least_lossy_pixel_format_is_picked(fmt: int, codec: str, want: str | None) -> None:
    assert best_pix_fmt(EncodeSettings(codec=codec), vs.core.get_video_format(fmt)) == want


def test_dnxhr_small_pictures_are_refused_before_rendering(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    write_sequence(tmp_path / "s", "dpx", "10", 1023, range(1, 3))
    out = tmp_path / "o.mov"
    argv = ["colorize", str(tmp_path / "s"), str(out), "--model", "demo", "--codec", "dnxhr_hqx", "-q"]
    assert main(argv) == EXIT_USAGE
    assert "at least 256x120, not 64x48" in capsys.readouterr().err and not out.exists()


def test_a_float_multipage_tiff_stays_float(tmp_path: Path) -> None:
    pages = np.stack([grey(n, 1.0) for n in range(3)]).astype(np.float32)
    tifffile.imwrite(tmp_path / "in.tif", pages, photometric="minisblack")
    assert (
        main(["colorize", str(tmp_path / "in.tif"), str(tmp_path / "out.tif"), "--model", "demo", "-q"]) == 0
    )
    with tifffile.TiffFile(tmp_path / "out.tif") as tif:
        out = [p.asarray() for p in tif.pages]
    assert len(out) == 3 and all(o.dtype == np.float32 and o.shape == (H, W, 3) for o in out)
    rgb = out[2].astype(float)  # a grey picture is colorized as YUV, BT.601 at this size
    luma = 0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]
    assert np.abs(luma - grey(2, 1.0)).max() < 1e-4


def test_an_allowed_gap_stays_a_gap_and_chunks_keep_their_numbers(tmp_path: Path) -> None:
    write_sequence(tmp_path / "s", "dpx", "10", 1023, range(20, 26))
    (tmp_path / "s" / "scan_000022.dpx").unlink()
    out = tmp_path / "o" / "c_%04d.dpx"
    out.parent.mkdir()
    argv = ["colorize", str(tmp_path / "s"), str(out), "--model", "demo", "-q", "--allow-damaged"]
    assert main([*argv, "--frames", "1:4"]) == EXIT_OK  # the 2nd..4th files that exist: 21, 23, 24
    assert sorted(p.name for p in out.parent.iterdir()) == ["c_0021.dpx", "c_0023.dpx", "c_0024.dpx"]
    assert np.abs(bt709_luma(read_rgb(out.parent / "c_0023.dpx")[1]) - grey(23, 1023)).max() <= 1.5
