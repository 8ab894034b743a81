"""The DPX (SMPTE 268M) header fields a restorer cares about: read them, and write them into a DPX.

FFmpeg's DPX encoder writes the generic and image headers only (1664 bytes); :func:`with_header` moves
the picture to offset 2048 and adds the film and television headers with the timecode, the frame rate
and the transfer characteristic, so that FFmpeg, NLEs and graders read them back. Unset fields stay
"undefined" (all bits set), as the standard says.
"""

from __future__ import annotations

import math
import os
import struct
from dataclasses import dataclass
from fractions import Fraction

#: DPX transfer characteristic codes (image element byte 801) by name.
DPX_TRANSFERS: dict[int, str] = {
    0: "user-defined", 1: "printing density", 2: "linear", 3: "logarithmic", 4: "unspecified video",
    5: "SMPTE 274M", 6: "BT.709", 7: "BT.601 625", 8: "BT.601 525", 9: "NTSC", 10: "PAL",
}  # fmt: skip
#: Common frame rates, to undo the DPX header's 32-bit float (23.976… → 24000/1001).
_RATES = [Fraction(n, d) for n, d in ((24000, 1001), (30000, 1001), (60000, 1001), (48000, 1001))] + [
    Fraction(r) for r in (23, 24, 25, 30, 48, 50, 60, 16, 18, 12)
]
HEADER = 2048
_TIMECODE, _FILM_RATE, _TV_RATE, _TRANSFER, _DEVICE = 1920, 1724, 1940, 801, 1556


@dataclass(frozen=True, kw_only=True)
class DpxHeader:
    """What a DPX file says about itself (None: undefined or absent)."""

    timecode: str | None
    frame_rate: Fraction | None
    transfer: int | None  # DPX_TRANSFERS code
    input_device: str | None
    bits: int


def _endian(data: bytes) -> str:
    if data[:4] == b"SDPX":
        return ">"
    if data[:4] == b"XPDS":
        return "<"
    raise ValueError("dpx: not a DPX file (no SDPX magic)")


def _bcd(tc: int) -> str | None:
    digits = f"{tc:08x}"
    if not digits.isdigit():
        return None
    return ":".join(digits[i : i + 2] for i in range(0, 8, 2))


def _rate(value: float) -> Fraction | None:
    if math.isnan(value) or value <= 0 or value > 1000:  # undefined (all bits set) or nonsense
        return None
    near = min(_RATES, key=lambda r: abs(float(r) - value))
    return near if abs(float(near) - value) < 1e-3 else Fraction(value).limit_denominator(1001)


def _text(raw: bytes) -> str | None:
    text = raw.split(b"\0", 1)[0].decode("ascii", "replace").strip()
    return text or None


def read_header(path: str | os.PathLike[str]) -> DpxHeader:
    """The header of a DPX file (ValueError when it is not one)."""
    with open(path, "rb") as f:
        data = f.read(HEADER)
    e = _endian(data)
    offset = struct.unpack_from(e + "I", data, 4)[0]

    def u32(at: int) -> int | None:
        if offset < at + 4 or len(data) < at + 4:
            return None
        v: int = struct.unpack_from(e + "I", data, at)[0]
        return None if v == 0xFFFFFFFF else v

    def f32(at: int) -> float:
        if offset < at + 4 or len(data) < at + 4:
            return float("nan")
        v: float = struct.unpack_from(e + "f", data, at)[0]
        return v

    tc = u32(_TIMECODE)
    transfer = data[_TRANSFER] if len(data) > _TRANSFER else 255
    return DpxHeader(
        timecode=None if tc is None else _bcd(tc),
        frame_rate=_rate(f32(_FILM_RATE)) or _rate(f32(_TV_RATE)),
        transfer=None if transfer == 255 else transfer,
        input_device=_text(data[_DEVICE : _DEVICE + 32]) if offset >= _DEVICE + 32 else None,
        bits=data[803],
    )


def with_header(
    data: bytes, *, timecode: str | None = None, rate: Fraction | None = None, transfer: int | None = None
) -> bytes:
    """A DPX file's bytes with full film/TV headers holding ``timecode`` (``HH:MM:SS:FF``), ``rate`` and
    the ``transfer`` code (each left as it is when None)."""
    e = _endian(data)
    offset = struct.unpack_from(e + "I", data, 4)[0]
    body = data[offset:]
    if offset < HEADER:
        head = bytearray(data[:offset]) + bytearray(b"\xff" * (HEADER - offset))
        for start, size in (
            (1670, 6),
            (1676, 4),
            (1680, 32),
            (1732, 32),
            (1764, 100),
            (1864, 56),
            (1956, 76),
        ):
            head[start : start + size] = bytes(size)  # text fields of the new headers: empty
        struct.pack_into(e + "II", head, 24, 1664, 384)  # generic and industry header lengths
        struct.pack_into(e + "I", head, 4, HEADER)
        struct.pack_into(e + "I", head, 808, HEADER)  # the image element's data offset
    else:
        head = bytearray(data[:offset])
    struct.pack_into(e + "I", head, 16, len(head) + len(body))
    if timecode is not None:
        digits = timecode.replace(";", ":").replace(":", "")
        if len(digits) != 8 or not digits.isdigit():
            raise ValueError(f"dpx: timecode must be HH:MM:SS:FF, got {timecode!r}")
        struct.pack_into(e + "I", head, _TIMECODE, int(digits, 16))
    if rate is not None:
        struct.pack_into(e + "f", head, _FILM_RATE, float(rate))
        struct.pack_into(e + "f", head, _TV_RATE, float(rate))
    if transfer is not None:
        head[_TRANSFER] = transfer
    return bytes(head) + body
