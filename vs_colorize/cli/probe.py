"""``vs-colorize probe IN``: what an input holds, as a restorer needs it before a render.

Prints (stdout: it is a report, not a render) the kind of input, size, pixel format and depth, frame
rate and count, colour tags, timecode and reel name, and for a sequence its first and last frame
numbers and any missing ones; DPX header fields (transfer characteristic, input device) where present.
``--json`` prints one JSON object instead of ``key: value`` lines. Only the first picture is decoded; a
film whose container does not state its frame count (Matroska) is demuxed once to count its packets.
"""

from __future__ import annotations

import argparse
import json
import os
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from ..core.cli_flags import add_common_flags, examples
from ..io import dpx
from ..io.formats import MATRIX_NAMES, PRIMARIES_NAMES, TRANSFER_NAMES
from ..io.pyav_source import SourceError
from ..io.source import container_timecode, is_image
from ..io.still import STILL_FPS, is_sequence, sequence_rate, still_pages
from .errors import EXIT_INPUT, EXIT_OK, CliError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "probe",
        help="print what an input holds: size, depth, rate, timecode, sequence numbers",
        **examples(
            "vs-colorize probe film.mov                # size, rate, colour tags, timecode, reel",
            "vs-colorize probe 'scan/r1_%06d.dpx'      # first number, gaps, depth, DPX timecode",
            "vs-colorize probe scan/ --json | jq .timecode",
        ),
    )
    p.add_argument("input", help="film, still image, or sequence (scan_%%06d.dpx, 'frames/*.tif', a folder)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    add_common_flags(p)
    p.set_defaults(run=run)


def _rate(rate: Fraction | None) -> str | None:
    return None if rate is None else f"{rate.numerator}/{rate.denominator}"


def _tag(names: dict[int, str], value: int | None) -> str | None:
    """An H.273 code point's ffmpeg name, None when unspecified or unknown."""
    return None if value is None else names.get(int(value))


def _picture(path: Path) -> dict[str, Any]:
    """Codec, size, pixel format and colour tags of a film's video stream or a still's picture."""
    with av.open(os.fspath(path)) as c:
        video = c.streams.video[0]
        ctx = video.codec_context
        frame = next(c.decode(video), None)  # the tags as decoded (the stream header may lack them)
        if frame is None:
            raise SourceError(f"probe: {os.fspath(path)!r} holds no picture")
        info: dict[str, Any] = {
            "codec": ctx.name,
            "width": frame.width,
            "height": frame.height,
            "pix_fmt": frame.format.name,
            "bits": max(comp.bits for comp in frame.format.components),
            "matrix": _tag(MATRIX_NAMES, frame.colorspace),
            "primaries": _tag(PRIMARIES_NAMES, frame.color_primaries),
            "transfer": _tag(TRANSFER_NAMES, frame.color_trc),
            "range": {1: "limited", 2: "full"}.get(int(frame.color_range)),
        }
        if not is_image(path):
            timecode, reel = container_timecode(c)
            rate = video.average_rate or video.guessed_rate
            frames = video.frames
            if not frames:  # Matroska and others do not say: count the packets (one demux pass)
                c.seek(0)
                frames = sum(1 for packet in c.demux(video) if packet.size)
            info |= {
                "container": c.format.name,
                "frame_rate": _rate(Fraction(rate.numerator, rate.denominator) if rate else None),
                "frames": frames or None,
                "duration_s": float(c.duration / av.time_base) if c.duration else None,
                "timecode": timecode,
                "reel": reel,
                "audio_streams": len(c.streams.audio),
            }
    return info


def _dpx(path: Path) -> dict[str, Any]:
    head = dpx.read_header(path)
    return {
        "timecode": head.timecode,
        "frame_rate": _rate(head.frame_rate),
        "dpx_transfer": dpx.DPX_TRANSFERS.get(head.transfer or -1, head.transfer),
        "input_device": head.input_device,
        "bits": head.bits,
    }


def describe(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The report for one input (FileNotFoundError, SourceError or ValueError when it cannot be read)."""
    p = Path(path)
    if is_image(p) and is_sequence(p):
        pages, missing = still_pages(p, allow_damaged=True)
        numbers = [int(page.number or 0) for page in pages]
        first = pages[0].path
        report: dict[str, Any] = {"input": os.fspath(p), "kind": "sequence", "files": len(pages)}
        report |= {"first_frame": numbers[0], "last_frame": numbers[-1], "missing_frames": missing}
        report |= _picture(first)
        report["frame_rate"] = _rate(sequence_rate(first))
        report["frame_rate_from"] = "header" if sequence_rate(first) != STILL_FPS else "default"
        if first.suffix.lower() == ".dpx":
            report |= {k: v for k, v in _dpx(first).items() if k != "frame_rate"}
            report["last_timecode"] = dpx.read_header(pages[-1].path).timecode
        return report
    if not p.is_file():
        raise FileNotFoundError(f"probe: input {os.fspath(p)!r} does not exist")
    kind = "still" if is_image(p) else "film"
    report = {"input": os.fspath(p), "kind": kind} | _picture(p)
    if p.suffix.lower() == ".dpx":
        report |= _dpx(p)
    return report


def run(args: argparse.Namespace) -> int:
    try:
        report = describe(args.input)
    except (FileNotFoundError, SourceError, ValueError, av.FFmpegError, OSError) as exc:
        raise CliError(EXIT_INPUT, f"probe: cannot read {args.input!r}: {exc}") from None
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for key, value in report.items():
            if value is not None and value != []:
                print(f"{key}: {value}")
    return EXIT_OK
