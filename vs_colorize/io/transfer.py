"""The transfer the model sees: scans in linear light or in log are re-encoded for it, and back.

DeOldify-style models were trained on display-referred pictures (sRGB/BT.709 gamma), so a linear-light
OpenEXR or a Cineon/DPX log scan is converted to sRGB before the model runs and the colorized result is
converted back, so the output keeps the input's encoding. ``transfer_in``:

* ``auto`` (default): from the metadata: a DPX header's printing-density or logarithmic code → ``log``;
  ``_Transfer`` linear (EXR, DPX "linear") → ``linear``; sRGB → ``srgb``; anything else → ``bt709``;
* ``srgb``/``bt709``: display-referred already: the picture goes to the model as it is (luma
  bit-identical where the output holds the input's depth);
* ``linear``: scene-linear light (values above 1 survive the round trip: the sRGB curve is extended);
* ``log``: Cineon printing density, 10-bit code values, black at 95, white at 685, 0.002 density per
  code, display gamma 0.6 (Kodak's conversion; what most DPX log scans hold).
"""

from __future__ import annotations

import math

import vapoursynth as vs

from .image import TRANSFER_PROP

TRANSFERS: tuple[str, ...] = ("auto", "srgb", "bt709", "linear", "log")
#: H.273 transfer codes: linear light, sRGB (IEC 61966-2-1).
_LINEAR, _SRGB = 8, 13
_BLACK, _WHITE, _DENSITY, _GAMMA = 95.0, 685.0, 0.002, 0.6
_OFFSET = 10 ** ((_BLACK - _WHITE) * _DENSITY / _GAMMA)


def resolve_transfer(clip: vs.VideoNode, transfer_in: str = "auto", *, func: str = "transfer") -> str:
    """The transfer ``clip`` is encoded in: ``transfer_in``, or for ``auto`` what its first frame says."""
    if transfer_in not in TRANSFERS:
        raise ValueError(f"{func}: transfer_in must be one of {TRANSFERS}, got {transfer_in!r}")
    if transfer_in != "auto":
        return transfer_in
    props = clip.get_frame(0).props
    if int(props.get(TRANSFER_PROP, -1)) in (1, 3):
        return "log"
    code = int(props.get("_Transfer", 2))
    return {_LINEAR: "linear", _SRGB: "srgb"}.get(code, "bt709")


def log_to_linear_expr() -> str:
    """std.Expr (RPN) from Cineon code values (0..1 = 0..1023) to linear light (black 0, white 1)."""
    k = _DENSITY / _GAMMA * math.log(10) * 1023
    return f"x {k} * {(_WHITE / 1023) * k} - exp {_OFFSET} - {1 / (1 - _OFFSET)} *"


def linear_to_log_expr() -> str:
    """The inverse of :func:`log_to_linear_expr` (linear light at or below the film's black → code 0)."""
    k = _GAMMA / _DENSITY / math.log(10) / 1023
    return f"x {1 - _OFFSET} * {_OFFSET} + 1e-10 max log {k} * {_WHITE / 1023} + 0 max"


#: The sRGB curve (IEC 61966-2-1) both ways, extended above 1 (zimg's stops at linear 2.0).
SRGB_ENCODE = "x 0.0031308 <= x 12.92 * x 1 2.4 / pow 1.055 * 0.055 - ?"
SRGB_DECODE = "x 0.04045 <= x 12.92 / x 0.055 + 1.055 / 2.4 pow ?"


def _float(clip: vs.VideoNode) -> vs.VideoNode:
    family = vs.GRAY if clip.format.color_family == vs.GRAY else vs.RGB
    fmt = vs.core.query_video_format(family, vs.FLOAT, 32, 0, 0)
    return clip if clip.format.id == fmt.id else vs.core.resize.Point(clip, format=fmt.id)


def to_model(clip: vs.VideoNode, transfer: str) -> vs.VideoNode:
    """``clip`` as the model wants it: unchanged for ``srgb``/``bt709``, else float RGB (or GRAY) in sRGB."""
    if transfer in ("srgb", "bt709"):
        return clip
    lin = _float(clip)
    if transfer == "log":
        lin = vs.core.std.Expr(lin, log_to_linear_expr())
    elif transfer != "linear":
        raise ValueError(f"transfer: unknown transfer {transfer!r}")
    return vs.core.std.SetFrameProps(vs.core.std.Expr(lin, SRGB_ENCODE), _Transfer=_SRGB)


def from_model(colored: vs.VideoNode, transfer: str, source: vs.VideoNode) -> vs.VideoNode:
    """The colorized clip back in ``source``'s transfer and format (the inverse of :func:`to_model`)."""
    if transfer in ("srgb", "bt709"):
        return colored
    lin = vs.core.std.SetFrameProps(vs.core.std.Expr(_float(colored), SRGB_DECODE), _Transfer=_LINEAR)
    if transfer == "log":
        lin = vs.core.std.SetFrameProps(vs.core.std.Expr(lin, linear_to_log_expr()), _Transfer=2)
    fmt = source.format
    if lin.format.color_family != fmt.color_family:
        fmt = fmt.replace(color_family=lin.format.color_family)
    return lin if lin.format.id == fmt.id else vs.core.resize.Point(lin, format=fmt.id)
