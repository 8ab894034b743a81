"""The demo model's quality figures in docs/quality.md, recomputed: the photo tables' ``grey`` and ``demo`` rows
and the demo's flicker at temporal radius 0 (scripts/quality_report.py's own functions on the shared data). The
``untrained`` rows and the radius-2 flicker are not re-tested (docs/quality.md says so)."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from scripts.quality_report import (
    CLIP,
    DEFAULT_MODEL,
    KEYS,
    flicker,
    grey_colorizer,
    ort_colorizer,
    score_set,
)

DOC = Path(__file__).resolve().parents[1] / "docs" / "quality.md"
COLUMNS = KEYS  # the report's own columns, in its order


def _documented_rows(section: str) -> dict[str, dict[str, float]]:
    """The table under the ``### <section> (`` heading: colorizer → metric → value as printed."""
    text = DOC.read_text()
    start = text.index(f"### {section} (")
    table = text[start:].split("\n\n")[1]
    rows: dict[str, dict[str, float]] = {}
    for line in table.splitlines()[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        numbers = [float(x) for x in re.findall(r"[-+]?\d+\.\d+", " ".join(cells[1:]))]
        rows[cells[0]] = dict(zip(COLUMNS, numbers, strict=True))
    return rows


def _printed_precision(value: float, documented: float) -> bool:
    """``value`` printed the way the doc prints ``documented`` (its number of decimals) equals it."""
    decimals = len(repr(documented).split(".")[1]) if documented != int(documented) else 1
    return math.isclose(round(value, decimals), documented, abs_tol=10**-decimals * 1.01)


@pytest.mark.slow
@pytest.mark.parametrize("photo_set", ["bsds500_test_sample50", "imagenet_sample30"])
def test_photo_table_grey_and_demo_rows(data_dir: Path, tmp_path: Path, photo_set: str) -> None:
    documented = _documented_rows(photo_set)
    colorizers = {"grey": grey_colorizer, "demo": ort_colorizer(DEFAULT_MODEL, 1)}
    measured = score_set(data_dir / photo_set, colorizers, 16 * 21, tmp_path / "samples.png")
    for name in colorizers:
        for key, want in documented[name].items():
            got = measured[name][key]
            assert _printed_precision(got, want), (photo_set, name, key, got, want)


@pytest.mark.slow
def test_demo_flicker_row(data_dir: Path) -> None:
    text = DOC.read_text()
    row = re.search(r"^\| demo \| 0 \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \|$", text, re.MULTILINE)
    assert row is not None, "docs/quality.md lost its demo flicker row"
    chroma, luma, ratio = (float(x) for x in row.groups())
    got = flicker(data_dir / CLIP, DEFAULT_MODEL, 21, 0)
    assert got["frames"] == 360
    assert _printed_precision(got["chroma_change"], chroma)
    assert _printed_precision(got["luma_change"], luma)
    assert _printed_precision(got["flicker_ratio"], ratio)
