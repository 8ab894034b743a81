"""Pixel formats and colour tags shared by the sources and the encoders.

VapourSynth frame props and FFmpeg both use the ITU-T H.273 code points for matrix, primaries and
transfer, so those copy straight across; only the range differs (VS ``_Range`` 0 = limited, 1 = full;
FFmpeg ``AVColorRange`` 1 = MPEG/limited, 2 = JPEG/full, 0 = unspecified).
"""

from __future__ import annotations

from dataclasses import dataclass

import vapoursynth as vs

#: VS ``_Range`` → FFmpeg ``AVColorRange``.
VS_TO_AV_RANGE: dict[int, int] = {0: 1, 1: 2}
#: FFmpeg ``AVColorRange`` → VS ``_Range`` (unspecified has no entry).
AV_TO_VS_RANGE: dict[int, int] = {1: 0, 2: 1}

#: H.273 code points → the names the ``ffmpeg`` command line accepts.
MATRIX_NAMES: dict[int, str] = {
    0: "rgb", 1: "bt709", 4: "fcc", 5: "bt470bg", 6: "smpte170m", 7: "smpte240m", 8: "ycgco",
    9: "bt2020nc", 10: "bt2020c", 11: "smpte2085", 12: "chroma-derived-nc", 13: "chroma-derived-c",
    14: "ictcp",
}  # fmt: skip
PRIMARIES_NAMES: dict[int, str] = {
    1: "bt709", 4: "bt470m", 5: "bt470bg", 6: "smpte170m", 7: "smpte240m", 8: "film", 9: "bt2020",
    10: "smpte428", 11: "smpte431", 12: "smpte432", 22: "jedec-p22",
}  # fmt: skip
TRANSFER_NAMES: dict[int, str] = {
    1: "bt709", 4: "gamma22", 5: "gamma28", 6: "smpte170m", 7: "smpte240m", 8: "linear", 9: "log100",
    10: "log316", 11: "iec61966-2-4", 12: "bt1361e", 13: "iec61966-2-1", 14: "bt2020-10",
    15: "bt2020-12", 16: "smpte2084", 17: "smpte428", 18: "arib-std-b67",
}  # fmt: skip
RANGE_NAMES: dict[int, str] = {1: "tv", 2: "pc"}


@dataclass(frozen=True, kw_only=True)
class ColourTags:
    """Colour description of an encoded stream, as FFmpeg code points (2 / 0 = unspecified)."""

    matrix: int = 2
    primaries: int = 2
    transfer: int = 2
    range: int = 0

    @classmethod
    def from_frame(cls, frame: vs.VideoFrame) -> ColourTags:
        """Read ``_Matrix``/``_Primaries``/``_Transfer``/``_Range`` of a VS frame.

        A YUV or GRAY frame without ``_Range`` is limited range (VapourSynth's own default); an RGB
        frame is full range with matrix ``rgb``.
        """
        props = frame.props
        family = frame.format.color_family
        rng = props.get("_Range")
        if rng is None:
            rng = 1 if family == vs.RGB else 0
        matrix = int(props.get("_Matrix", 0 if family == vs.RGB else 2))
        if matrix not in MATRIX_NAMES:
            matrix = 2
        primaries = int(props.get("_Primaries", 2))
        transfer = int(props.get("_Transfer", 2))
        return cls(
            matrix=matrix,
            primaries=primaries if primaries in PRIMARIES_NAMES else 2,
            transfer=transfer if transfer in TRANSFER_NAMES else 2,
            range=VS_TO_AV_RANGE[int(rng)],
        )

    def ffmpeg_args(self) -> list[str]:
        """``-colorspace``/``-color_primaries``/``-color_trc``/``-color_range`` for what is known."""
        args: list[str] = []
        for flag, value, names in (
            ("-colorspace", self.matrix, MATRIX_NAMES),
            ("-color_primaries", self.primaries, PRIMARIES_NAMES),
            ("-color_trc", self.transfer, TRANSFER_NAMES),
            ("-color_range", self.range, RANGE_NAMES),
        ):
            if value in names:
                args += [flag, names[value]]
        return args


_YUV_SUB: dict[tuple[int, int], str] = {
    (1, 1): "420", (1, 0): "422", (0, 0): "444", (2, 0): "411", (2, 2): "410", (0, 1): "440",
}  # fmt: skip


def pix_fmt_of(fmt: vs.VideoFormat) -> str:
    """The planar FFmpeg pixel format holding a VS integer format plane by plane, or raise ValueError."""
    if fmt.sample_type != vs.INTEGER:
        raise ValueError(f"{fmt.name} is floating point; convert the clip to an integer format first")
    bits = fmt.bits_per_sample
    depth = "" if bits == 8 else f"{bits}le"
    if fmt.color_family == vs.GRAY:
        return "gray" if bits == 8 else f"gray{depth}"
    if fmt.color_family == vs.RGB:
        return "gbrp" + depth
    sub = _YUV_SUB.get((fmt.subsampling_w, fmt.subsampling_h))
    name = f"yuv{sub}p{depth}"
    if sub is None or not _ffmpeg_has(name):
        raise ValueError(
            f"{fmt.name} has no FFmpeg pixel format (subsampling or depth); convert it with --pix-fmt first"
        )
    return name


def _ffmpeg_has(pix_fmt: str) -> bool:
    import av

    try:
        av.VideoFormat(pix_fmt)
    except ValueError:
        return False
    return True


#: FFmpeg full-range "J" formats → their plain counterparts (same planes, full range).
JPEG_FORMATS: dict[str, str] = {
    "yuvj420p": "yuv420p",
    "yuvj422p": "yuv422p",
    "yuvj444p": "yuv444p",
    "yuvj440p": "yuv440p",
}


def vs_format_of(pix_fmt: str) -> tuple[int, int, int, int, int] | None:
    """``(color_family, sample_type, bits, ssw, ssh)`` for a planar FFmpeg format VS can hold, else None."""
    name = JPEG_FORMATS.get(pix_fmt, pix_fmt)
    if name in ("grayf32le", "gbrpf32le"):
        return (vs.GRAY if name == "grayf32le" else vs.RGB, vs.FLOAT, 32, 0, 0)
    bits = 8
    for suffix in ("9le", "10le", "12le", "14le", "16le"):
        if name.endswith(suffix):
            bits = int(suffix[:-2])
            name = name[: -len(suffix)]
            break
    if name == "gray":
        return (vs.GRAY, vs.INTEGER, bits, 0, 0)
    if name == "gbrp":
        return (vs.RGB, vs.INTEGER, bits, 0, 0)
    if name.startswith("yuv") and name.endswith("p"):
        inv = {v: k for k, v in _YUV_SUB.items()}
        sub = inv.get(name[3:-1])
        if sub is not None:
            return (vs.YUV, vs.INTEGER, bits, *sub)
    return None
