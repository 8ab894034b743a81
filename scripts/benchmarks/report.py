"""Turn a run's records into the short markdown tables printed last (and kept in docs/benchmarks.md) and a plot."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .common import Record


def markdown(rows: Sequence[Sequence[str]], header: Sequence[str]) -> str:
    """A markdown table with columns padded to equal width (readable in a terminal too)."""
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=True)]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    return "\n".join([line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, rows)])


def _num(value: Any, digits: int = 3) -> str:
    """A number with ``digits`` significant digits (no exponent for everyday sizes), or ``–``."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if value == 0:
        return "0"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(value))))
    return f"{value:.{decimals}f}"


def _pct(value: Any) -> str:
    return "–" if value is None else f"{100 * value:+.1f} %" if value < 0 or value > 0 else "0 %"


def model_table(records: Sequence[Record]) -> str:
    """fps (and roofline %) per model × side × backend; one column per backend that measured something."""
    measured = [r for r in records if r["section"] == "model" and "fps" in r]
    if not measured:
        return ""
    variants = list(dict.fromkeys(_variant(r) for r in measured))
    rows = []
    for model, side in dict.fromkeys((r["model"], r["side"]) for r in measured):
        cells = [
            model,
            f"{side}²",
            _num(next(r["gmac"] for r in measured if r["model"] == model and r["side"] == side)),
        ]
        for v in variants:
            r = next((r for r in measured if (r["model"], r["side"], _variant(r)) == (model, side, v)), None)
            roof = f" ({100 * r['roofline']:.0f} %)" if r and r.get("roofline") else ""
            cells.append(_num(r["fps"]) + roof if r else "–")
        rows.append(cells)
    return markdown(rows, ["model", "render", "GMAC", *variants])


def _variant(r: Record) -> str:
    extra = "" if r.get("batch", 1) == 1 else f" b{r['batch']}"
    return f"{r['backend']} {r['precision']}{extra}"


def pipeline_table(records: Sequence[Record]) -> str:
    """Model-only vs 720p/1080p pipeline fps and the overhead, per model × backend configuration."""
    rs = [r for r in records if r["section"] == "pipeline" and "fps" in r and r["model"] != "identity"]
    if not rs:
        return ""
    rows = []
    for model, backend in dict.fromkeys((r["model"], r["backend"]) for r in rs):
        by_res = {r["resolution"]: r for r in rs if (r["model"], r["backend"]) == (model, backend)}
        row = [model, backend, _num(by_res.get("model only", {}).get("fps"))]
        for res in ("720p", "1080p"):
            r = by_res.get(res)
            row += [_num(r["fps"]), _pct(r["overhead"])] if r else ["–", "–"]
        rows.append(row)
    ident = [r for r in records if r["section"] == "pipeline" and r.get("model") == "identity" and "fps" in r]
    if ident:
        cells = {r["resolution"]: f"{_num(r['fps'])} ({_num(r['cpu_ms'])} CPU-ms)" for r in ident}
        rows.append(
            ["identity", ident[0]["backend"], "–", cells.get("720p", "–"), "–", cells.get("1080p", "–"), "–"]
        )
    return markdown(
        rows,
        ["model", "backend", "model only fps", "720p fps", "720p overhead", "1080p fps", "1080p overhead"],
    )


def _pipeline_side(records: Sequence[Record]) -> str:
    side = next((r["side"] for r in records if r["section"] == "pipeline" and r.get("side")), None)
    return f"{side}²" if side else "–"


def generic_table(records: Sequence[Record], section: str, columns: Sequence[str]) -> str:
    """The given fields of a section's measured records, in order (sections written by other modules)."""
    rs = [r for r in records if r["section"] == section and "skipped" not in r]
    if not rs:
        return ""
    cols = [c for c in columns if any(c in r for r in rs)]

    def fmt(c: str, v: Any) -> str:
        return _pct(v) if c in ("overhead",) else (_num(v) if isinstance(v, float) else str(v))

    return markdown([[fmt(c, r[c]) if c in r else "–" for c in cols] for r in rs], cols)


def skipped_lines(records: Sequence[Record]) -> str:
    """One line per distinct (section, backend, reason) that was not measured."""
    seen = dict.fromkeys(
        f"- {r['section']}: {r.get('backend', '?')} {r.get('precision', '')}".rstrip() + f" — {r['skipped']}"
        for r in records
        if "skipped" in r
    )
    return "\n".join(seen)


def summary(run: dict[str, Any]) -> str:
    """The whole short report: machine line, then one table per section that has records, then what was skipped."""
    m = run["machine"]
    peaks = run["peaks"]
    cpu_peak = ", ".join(f"{t} thr {_num(1000 * v)} GFLOP/s" for t, v in peaks["cpu_tflops"].items())
    head = f"{m['date']} · CPU {m['cpu']} ×{m['cpu_count']} ({cpu_peak} fp32 GEMM) · GPU {m['gpu'] or 'none'}"
    if peaks.get("gpu"):
        head += f" ({_num(peaks['gpu']['fp16_gemm_tflops'])} TFLOP/s fp16 GEMM)"
    parts = [head]
    rec = run["records"]
    sections = [
        ("Model only (fps, batch 1 unless bN; roofline % in brackets)", model_table(rec)),
        (
            f"colorize filter into a null sink vs the model alone (render {_pipeline_side(rec)})",
            pipeline_table(rec),
        ),
        (
            "Batched inference (fps; ratio = over batch 1 of the same backend and resolution, same run)",
            generic_table(rec, "batch", ["model", "backend", "batch", "resolution", "fps", "ms", "ratio"]),
        ),
        (
            "superres filter (GRAY16)",
            generic_table(
                rec,
                "superres",
                [
                    "backend",
                    "precision",
                    "side",
                    "tile",
                    "fps",
                    "ms",
                    "model_only_ms",
                    "overhead",
                    "roofline",
                ],
            ),
        ),
        (
            "Training steps",
            generic_table(
                rec,
                "train",
                ["model", "backend", "precision", "side", "batch", "images_per_s", "speedup", "roofline"],
            ),
        ),
        (
            "farm: one process vs farm run with local Ray workers; concat (× real time)",
            generic_table(
                rec,
                "farm",
                [
                    "variant",
                    "workers",
                    "frames",
                    "chunks",
                    "wall_s",
                    "startup_s",
                    "render_s",
                    "fps",
                    "speedup",
                    "chunk_overhead_s",
                    "frame_s",
                    "x_realtime",
                ],
            ),
        ),
    ]
    parts += [f"\n### {title}\n\n{table}" for title, table in sections if table]
    if skipped := skipped_lines(rec):
        parts.append(f"\n### Not measured here\n\n{skipped}")
    return "\n".join(parts) + "\n"


def plot(run: dict[str, Any], path: Path) -> Path | None:
    """Model-only fps per backend at the default render size (log scale) beside the pipeline overheads; PNG.

    None when matplotlib is missing (it comes with the training extra).
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    rec = run["records"]
    measured = [r for r in rec if r["section"] == "model" and "fps" in r]
    sides = sorted({r["side"] for r in measured})
    side = 336 if 336 in sides else (sides[0] if sides else 0)  # DeOldify's default render size when measured
    models = [r for r in measured if r["side"] == side]
    pipes = [r for r in rec if r["section"] == "pipeline" and "overhead" in r]
    height = max(4.8, 0.32 * len(pipes) + 1.5)  # room for one readable label per pipeline bar
    fig, (a, b) = plt.subplots(1, 2, figsize=(13, height), gridspec_kw={"width_ratios": [3, 2]})
    names = list(dict.fromkeys(r["model"] for r in models))
    variants = list(dict.fromkeys(_variant(r) for r in models))
    width = 0.8 / max(1, len(variants))
    for i, v in enumerate(variants):
        xs = [names.index(r["model"]) + i * width for r in models if _variant(r) == v]
        a.bar(xs, [r["fps"] for r in models if _variant(r) == v], width, label=v)
    a.set_xticks([k + 0.4 - width / 2 for k in range(len(names))], names)
    a.set_yscale("log")
    a.set_ylabel("frames / s (log)")
    a.set_title(f"Model only at render {side}² (batch 1)")
    if variants:
        a.legend(fontsize=8)
    labels = [f"{r['model']} {r['backend']}\n{r['resolution']}" for r in pipes]
    b.barh(range(len(pipes)), [100 * r["overhead"] for r in pipes], color="tab:gray")
    b.axvline(15, color="tab:red", linestyle="--", label="15 % target")
    b.set_yticks(range(len(pipes)), labels, fontsize=7)
    b.set_xlabel("pipeline overhead over model only (%)")
    b.set_title("colorize filter into a null sink")
    b.legend(fontsize=8)
    m = run["machine"]
    fig.suptitle(f"vs-colorize benchmarks · {m['date'][:10]} · {m['cpu']} · GPU {m['gpu'] or 'none'}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
