"""No command ever writes over its input, into a directory or into a folder it cannot write — however the
output is spelled — and each refusal comes before any frame is rendered (exit 2, input untouched)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
import pytest
import tifffile
from onnx_models import nan, tint
from test_superres import sr_model

from vs_colorize.cli import EXIT_OK, EXIT_USAGE, main
from vs_colorize.io.outputs import OutputError, check_folder, check_outputs, same_file

#: How an output may name the input file ``d/in.EXT`` (``d`` is the working directory).
SPELLINGS: dict[str, Callable[[Path], str]] = {
    "same": lambda p: str(p),
    "relative": lambda p: p.name,
    "dot": lambda p: f"./{p.name}",
    "dotdot": lambda p: str(p.parent / "sub" / ".." / p.name),
    "symlink": lambda p: _link(p, os.symlink, "link"),
    "hardlink": lambda p: _link(p, os.link, "hard"),
}


def _link(p: Path, make: Callable[[Path, Path], None], stem: str) -> str:
    other = p.with_name(f"{stem}{p.suffix}")
    make(p, other)
    return str(other)


def _png(path: Path) -> Path:
    img = np.add.outer(np.arange(24), np.arange(32)).astype(np.uint8)
    with av.open(str(path), "w") as out:
        s = out.add_stream("png")
        s.width, s.height, s.pix_fmt = 32, 24, "gray"
        out.mux(s.encode(av.VideoFrame.from_ndarray(img, format="gray")))
        out.mux(s.encode(None))
    return path


def _gray_video(path: Path, frames: int = 3) -> Path:
    with av.open(str(path), "w") as out:
        s = out.add_stream("ffv1", rate=5)
        s.width, s.height, s.pix_fmt = 32, 24, "gray"
        for i in range(frames):
            out.mux(
                s.encode(av.VideoFrame.from_ndarray(np.full((24, 32), 40 * i % 256, np.uint8), format="gray"))
            )
        out.mux(s.encode(None))
    return path


def _tiff(path: Path) -> Path:
    tifffile.imwrite(
        path, np.arange(3 * 16 * 16, dtype=np.uint16).reshape(3, 16, 16), photometric="minisblack"
    )
    return path


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("models")
    return {
        "colorize": tint(d / "tint.onnx"),
        "superres": sr_model(d / "sr.onnx"),
        "nan": nan(d / "nan.onnx"),
    }


def _run(command: str, src: str | Path, out: str | Path, models: dict[str, Path], *extra: str) -> int:
    args = [command, str(src), str(out), "--model", str(models[command]), "-q", *extra]
    return main([*args, "--render-factor", "4"] if command == "colorize" else args)


CASES = [("colorize", "in.png", _png), ("colorize", "in.mkv", _gray_video), ("superres", "in.tif", _tiff)]
CASES += [("superres", "in.mkv", _gray_video)]


@pytest.fixture(params=CASES, ids=[f"{c}-{n}" for c, n, _ in CASES])
def case(request: pytest.FixtureRequest) -> tuple[str, str, Callable[[Path], Path]]:
    """(command, input name, the function that writes that input): each command on each kind of input."""
    return request.param  # type: ignore[no-any-return]


@pytest.mark.parametrize("spelling", sorted(SPELLINGS))
def test_output_that_is_the_input_is_refused_however_spelled(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    models: dict[str, Path],
    case: tuple[str, str, Callable[[Path], Path]],
    spelling: str,
) -> None:
    command, name, make = case
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    src = make(tmp_path / name)
    before = src.read_bytes()
    out = SPELLINGS[spelling](src)
    assert _run(command, src, out, models, "-y") == EXIT_USAGE
    assert "is the input file" in capsys.readouterr().err
    assert src.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if ".part" in p.name] == []


@pytest.mark.parametrize("spelling", ["same", "symlink", "hardlink"])
def test_image_sequence_pattern_that_names_the_input_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], models: dict[str, Path], spelling: str
) -> None:
    src = _png(tmp_path / "img_000000.png")
    before = src.read_bytes()
    if spelling != "same":  # the pattern's first file is another name of the input
        (os.symlink if spelling == "symlink" else os.link)(src, tmp_path / "out_000000.png")
    pattern = tmp_path / ("img_%06d.png" if spelling == "same" else "out_%06d.png")
    assert _run("colorize", src, pattern, models, "-y") == EXIT_USAGE
    assert "is the input file" in capsys.readouterr().err
    assert src.read_bytes() == before


def test_existing_directory_output_is_refused_before_rendering(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    models: dict[str, Path],
    case: tuple[str, str, Callable[[Path], Path]],
) -> None:
    command, name, make = case
    src = make(tmp_path / name)
    out = tmp_path / f"out{src.suffix}"
    out.mkdir()
    assert _run(command, src, out, models, "-y") == EXIT_USAGE
    assert "is an existing directory" in capsys.readouterr().err
    assert out.is_dir() and list(out.iterdir()) == []


def test_missing_or_unwritable_folder_is_refused_and_never_created(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    models: dict[str, Path],
    case: tuple[str, str, Callable[[Path], Path]],
) -> None:
    command, name, make = case
    src = make(tmp_path / name)
    missing = tmp_path / "no" / "such" / f"out{src.suffix}"
    assert _run(command, src, missing, models) == EXIT_USAGE
    assert "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "no").exists()
    # /sys refuses new files even to root: a real read-only folder
    assert _run(command, src, f"/sys/out{src.suffix}", models) == EXIT_USAGE
    assert "is not writable" in capsys.readouterr().err


def test_folder_is_checked_before_any_frame_renders(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], models: dict[str, Path]
) -> None:
    """With a model whose every frame fails (NaN), a bad output is still the command's error (2), not the
    render's (1): the checks ran first."""
    src = _gray_video(tmp_path / "in.mkv")
    models = models | {"colorize": models["nan"]}
    assert _run("colorize", src, tmp_path / "ok.mkv", models) == 1  # the model really fails
    capsys.readouterr()
    for out in (tmp_path / "missing" / "o.mkv", Path("/sys/o.mkv"), src):
        assert _run("colorize", src, out, models, "-y") == EXIT_USAGE, out


def test_overwrite_short_flag_replaces_a_real_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], models: dict[str, Path]
) -> None:
    src, out = _tiff(tmp_path / "in.tif"), tmp_path / "out.tif"
    out.write_bytes(b"old")
    assert _run("superres", src, out, models) == EXIT_USAGE
    assert "pass -y/--overwrite" in capsys.readouterr().err and out.read_bytes() == b"old"
    assert _run("superres", src, out, models, "-y") == EXIT_OK
    assert tifffile.imread(out).shape == (3, 32, 32)


def test_the_check_itself(tmp_path: Path) -> None:
    a = tmp_path / "a.mkv"
    a.write_bytes(b"x")
    os.link(a, tmp_path / "b.mkv")
    assert same_file(a, tmp_path / "b.mkv") and same_file(a, tmp_path / "." / "a.mkv")
    assert not same_file(a, tmp_path / "c.mkv")
    assert same_file(tmp_path / "new.mkv", tmp_path / "x" / ".." / "new.mkv")  # neither exists: by path
    assert check_outputs([a, tmp_path / "c.mkv"], inputs=[tmp_path / "z.mkv"]) == [a]
    with pytest.raises(OutputError, match="is the input file"):
        check_outputs([tmp_path / "b.mkv"], inputs=[a])
    with pytest.raises(OutputError, match="is not a directory"):
        check_folder(a)
