"""Clear, one-line errors from the command lines, and the flags all three share."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import av
import onnx_models as om
import pytest
import vapoursynth as vs

from vs_colorize import colorize
from vs_colorize.cli import EXIT_FAILED, EXIT_INPUT, EXIT_OK, EXIT_USAGE, main
from vs_colorize.cli.errors import render_failed
from vs_colorize.filters.superres import superres
from vs_colorize.io.source import open_source


@pytest.fixture(scope="module")
def tint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return om.tint(tmp_path_factory.mktemp("m") / "tint.onnx")


def _video(path: Path, pix_fmt: str = "yuv420p", *, colorspace: int | None = None, frames: int = 3) -> Path:
    with av.open(str(path), "w") as out:
        s = out.add_stream("ffv1", rate=5)
        s.width, s.height, s.pix_fmt = 32, 24, pix_fmt
        if colorspace is not None:
            s.codec_context.colorspace = colorspace
        for i in range(frames):
            f = av.VideoFrame(32, 24, pix_fmt)
            for plane in f.planes:
                plane.update(bytes([60 + 20 * i]) * plane.buffer_size)
            if colorspace is not None:
                f.colorspace = colorspace
            out.mux(s.encode(f))
        out.mux(s.encode(None))
    return path


def _colorize(src: Path, out: Path, model: Path, *extra: str) -> int:
    return main(["colorize", str(src), str(out), "--model", str(model), "--render-factor", "4", *extra])


def test_render_failure_is_one_line_with_the_frame(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src, model = _video(tmp_path / "in.mkv"), om.nan(tmp_path / "nan.onnx")
    assert _colorize(src, tmp_path / "out.mkv", model, "-q") == EXIT_FAILED
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert "render of" in err and "failed at frame 0: colorize: " in err and "NaN/Inf" in err
    assert _colorize(src, tmp_path / "out.mkv", model, "-v") == EXIT_FAILED
    assert "Traceback" in capsys.readouterr().err  # the whole story with -v


def test_disk_full_names_the_file_and_the_free_space(tmp_path: Path) -> None:
    full = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    wrapped = RuntimeError("encode: libx264 failed")
    wrapped.__cause__ = full
    short = OSError("16384 requested and 3968 written")  # numpy's tofile (tifffile) on a full disk
    for exc in (full, wrapped, short):
        message = str(render_failed("colorize", exc, output=tmp_path / "o.mkv", frame=7))
        assert f"while writing {str(tmp_path / 'o.mkv')!r} at frame 7" in message
        assert "free in" in message and str(tmp_path) in message


def test_unconvertible_matrix_is_refused_up_front(
    tmp_path: Path, tint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = _video(tmp_path / "ictcp.mkv", "yuv444p", colorspace=14)
    assert _colorize(src, tmp_path / "out.mkv", tint) == EXIT_INPUT
    err = capsys.readouterr().err
    assert "_Matrix=14 (MATRIX_ICTCP)" in err and "Traceback" not in err and "Resize error" not in err
    assert not (tmp_path / "out.mkv").exists()
    with pytest.raises(
        vs.Error, match=r"colorize: frame 0 is tagged _Matrix=14"
    ):  # vspipe: a clear frame error
        colorize(open_source(src), tint, 4).get_frame(0)


def test_yuv410_input_renders_where_the_codec_takes_it(
    tmp_path: Path, tint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = _video(tmp_path / "in.mkv", "yuv410p")
    assert _colorize(src, tmp_path / "out.mkv", tint, "--codec", "ffv1", "-q") == EXIT_OK
    with av.open(str(tmp_path / "out.mkv")) as c:
        assert c.streams.video[0].codec_context.pix_fmt == "yuv410p"
    assert _colorize(src, tmp_path / "x.mkv", tint, "-q") == EXIT_OK  # x264 has no 4:1:0: the least lossy
    with av.open(str(tmp_path / "x.mkv")) as c:
        assert c.streams.video[0].codec_context.pix_fmt == "yuv420p"
    args = ("--pix-fmt", "yuv410p", "--overwrite")  # asked for by name: refused, saying so
    assert _colorize(src, tmp_path / "x.mkv", tint, *args) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "cannot write YUV410P8 (yuv410p)" in err and "--pix-fmt" in err


def test_ffv1_refuses_crf(tmp_path: Path, tint: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = _video(tmp_path / "in.mkv")
    assert _colorize(src, tmp_path / "out.mkv", tint, "--codec", "ffv1", "--crf", "99") == EXIT_USAGE
    assert "takes no crf" in capsys.readouterr().err


@pytest.mark.parametrize("model", [42, 4.2, ["a.onnx"]])
def test_model_of_a_wrong_type_is_a_clear_error(tmp_path: Path, model: object) -> None:
    clip = vs.core.std.BlankClip(format=vs.GRAY8, width=32, height=32, length=3)
    name = type(model).__name__
    with pytest.raises(
        vs.Error, match=rf"^colorize: model must be a file path or a registry name \(str\), got {name}"
    ):
        colorize(clip, model)  # type: ignore[arg-type]
    with pytest.raises(
        vs.Error, match=rf"^superres: model must be a file path or a registry name \(str\), got {name}"
    ):
        superres(clip, model)  # type: ignore[arg-type]


def test_missing_superres_model_does_not_list_colorize_models(tmp_path: Path) -> None:
    clip = vs.core.std.BlankClip(format=vs.GRAY8, width=32, height=32, length=3)
    for model in ("video", str(tmp_path / "nope.onnx")):
        with pytest.raises(vs.Error, match=r"^superres: model .* is not a file \(a superres model") as info:
            superres(clip, model)
        assert "stable" not in str(info.value)


def test_version_quiet_and_verbose_on_every_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    import vs_colorize.export.cli
    import vs_colorize.training.cli
    from vs_colorize.cli.main import build_parser

    parsers = {
        "vs-colorize": (build_parser, ["models"]),
        "vs-colorize-export": (vs_colorize.export.cli._parser, ["verify", "a.onnx", "--checkpoint", "c.pt"]),
        "vs-colorize-train": (vs_colorize.training.cli.build_parser, ["show-config"]),
    }
    for prog, (build, command) in parsers.items():
        with pytest.raises(SystemExit) as done:
            build().parse_args(["--version"])
        assert done.value.code == 0 and capsys.readouterr().out.startswith(f"{prog} 0.")
        for argv, quiet, verbose in [
            ([*command], False, False),
            (["-q", *command], True, False),
            ([*command, "-q"], True, False),
            (["-v", *command], False, True),
            ([*command, "--verbose"], False, True),
        ]:
            args = build().parse_args(argv)
            assert (args.quiet, args.verbose) == (quiet, verbose), (prog, argv)
