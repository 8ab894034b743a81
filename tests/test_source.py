"""Sources: the PyAV fallback against BestSource, still images, the index location, clear errors."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import vapoursynth as vs

from vs_colorize.core import cache
from vs_colorize.io.source import SourceError, open_source, probe

core = vs.core


def planes_equal(a: vs.VideoFrame, b: vs.VideoFrame) -> bool:
    return a.format.id == b.format.id and all(
        np.array_equal(np.asarray(a[p]), np.asarray(b[p])) for p in range(a.format.num_planes)
    )


def test_pyav_source_matches_bestsource_on_random_access(film: Path) -> None:
    path = film
    ours = open_source(path, source="pyav")
    ref = core.bs.VideoSource(str(path), cachemode=0, showprogress=0)
    assert ours.num_frames == ref.num_frames == 360
    assert ours.fps == ref.fps == 29
    assert ours.format.id == ref.format.id == vs.YUV420P8
    # backward jumps, far jumps, neighbours, both ends: every seek path of the decoder
    for n in (0, 359, 17, 120, 121, 5, 200, 64, 63, 300, 299, 1, 0):
        assert planes_equal(ours.get_frame(n), ref.get_frame(n)), f"frame {n} differs"
    props = ours.get_frame(3).props
    assert (props["_DurationNum"], props["_DurationDen"]) == (1, 29)


@pytest.mark.parametrize(
    ("name", "frames", "fps", "fmt"),
    [
        ("color_video_clips/cockatoo.mp4", 280, Fraction(20), vs.YUV444P8),
        ("color_video_clips/carphone_pristine_qcif.mp4", 120, Fraction(30000, 1001), vs.YUV420P8),
    ],
)
def test_pyav_source_on_other_clips(data_dir: Path, name: str, frames: int, fps: Fraction, fmt: int) -> None:
    ours = open_source(data_dir / name, source="pyav")
    ref = core.bs.VideoSource(str(data_dir / name), cachemode=0, showprogress=0)
    assert (
        (ours.num_frames, ours.fps, ours.format.id)
        == (ref.num_frames, ref.fps, ref.format.id)
        == (frames, fps, fmt)
    )
    for n in (frames - 1, 0, frames // 2, 3, frames // 2 + 1, frames - 60):
        assert planes_equal(ours.get_frame(n), ref.get_frame(n)), f"frame {n} differs"


def test_pyav_source_sequential_read_is_complete(film: Path) -> None:
    ours = open_source(film, source="pyav")[:40]
    ref = core.bs.VideoSource(str(film), cachemode=0, showprogress=0)[:40]
    for n, (a, b) in enumerate(zip(ours.frames(), ref.frames(), strict=True)):
        assert planes_equal(a, b), f"frame {n} differs"


def test_bestsource_index_goes_to_the_user_cache(film: Path, tmp_path: Path) -> None:
    local = tmp_path / "film.mp4"
    local.write_bytes((film).read_bytes())
    clip = open_source(local)
    assert clip.num_frames == 360
    indexes = list(cache.subdir("bsindex").rglob("*.bsindex"))
    assert [p.name for p in indexes] == ["film.mp4.0.bsindex"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["film.mp4"]  # nothing next to the media


def test_still_images_open_as_one_frame(data_dir: Path) -> None:
    png = open_source(data_dir / "bw_film_clips/a-bomb_references/0000874_out.png")
    ref = core.bs.VideoSource(str(data_dir / "bw_film_clips/a-bomb_references/0000874_out.png"), cachemode=0)
    assert png.num_frames == 1 and png.format.id == vs.RGB24
    assert planes_equal(png.get_frame(0), ref.get_frame(0))
    assert png.get_frame(0).props["_Range"] == 1

    # a JPEG 971 lines high: 4:2:0 cannot hold it, so it comes back as full-range 4:4:4 (uncropped)
    jpg = open_source(data_dir / "bw_historical_photos/ddcolor_einstein.jpg")
    assert (jpg.num_frames, jpg.format.id, jpg.width, jpg.height) == (1, vs.YUV444P8, 728, 971)
    assert jpg.get_frame(0).props["_Range"] == 1
    with av.open(str(data_dir / "bw_historical_photos/ddcolor_einstein.jpg")) as c:
        decoded = next(c.decode(video=0)).reformat(format="yuvj444p")
    y = np.frombuffer(decoded.planes[0], np.uint8).reshape(971, -1)[:, :728]
    assert np.array_equal(np.asarray(jpg.get_frame(0)[0]), y)


def test_missing_input_is_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        open_source(tmp_path / "nope.mp4")


def test_unreadable_input_names_the_file(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"this is not a film" * 100)
    with pytest.raises(SourceError, match=r"junk\.mp4"):
        open_source(junk)
    with pytest.raises(FileNotFoundError, match="no image file matches"):
        probe(tmp_path)  # a folder is an image sequence now (scans): one without images is no input


def test_audio_only_file_has_no_video_stream(tmp_path: Path) -> None:
    wav = tmp_path / "tone.wav"
    with av.open(str(wav), "w") as out:
        stream = out.add_stream("pcm_s16le", rate=8000, layout="mono")
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16", layout="mono")
        frame.sample_rate = 8000
        out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    for source in ("auto", "pyav"):
        with pytest.raises(SourceError, match="no video stream"):
            open_source(wav, source=source)


def test_pyav_source_keeps_full_chroma_of_formats_vs_cannot_hold(tmp_path: Path) -> None:
    # yuva444p (FFV1 with alpha) has no VS format: the frames go to yuv444p, not down to 4:2:0
    path = tmp_path / "alpha.mkv"
    rgba = np.random.default_rng(0).integers(0, 256, (16, 32, 4), dtype=np.uint8)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("ffv1", rate=25)
        stream.width, stream.height, stream.pix_fmt = 32, 16, "yuva444p"
        frame = av.VideoFrame.from_ndarray(rgba, format="rgba").reformat(format="yuva444p")
        frame.pts = 0
        out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    clip = open_source(path, source="pyav")
    assert clip.format.id == vs.YUV444P8
    want = frame.reformat(format="yuv444p").to_ndarray()  # (3, H, W): Y, U, V planes
    got = clip.get_frame(0)
    for p in range(3):
        assert np.array_equal(np.asarray(got[p]), want[p])


def test_bad_source_name() -> None:
    with pytest.raises(ValueError, match="source must be one of"):
        open_source(__file__, source="ffms2")  # type: ignore[arg-type]
