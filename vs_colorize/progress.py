"""Progress on stderr — a bar (frames, fps, ETA) or JSON lines for dashboards — and the one-line summary a
render ends with.

The bar is drawn only when enabled and the stream is a terminal; stdout is never touched (it belongs to
vspipe and to whatever a farm pipes). ``--progress json`` writes one JSON object per line instead, about
once a second and at the end::

    {"event": "progress", "label": "colorize", "done": 120, "total": 360, "fps": 12.3, "eta_s": 19.5, "elapsed_s": 9.8}
    {"event": "done", "label": "colorize", "done": 360, "total": 360, "fps": 12.1, "eta_s": 0.0, "elapsed_s": 29.8}

The summary goes through :mod:`logging` so that farms get exactly one line per file in their logs.
"""

from __future__ import annotations

import json
import logging
import math
import sys
import time
from typing import Literal, TextIO

log = logging.getLogger("vs_colorize")

#: Seconds between two redraws of the bar.
REDRAW_INTERVAL = 0.2
#: Seconds between two JSON progress lines.
JSON_INTERVAL = 1.0

#: What ``--progress`` may ask for: ``auto`` (a bar on a terminal), ``bar``, ``json`` or ``none``.
ProgressMode = Literal["auto", "bar", "json", "none"]
PROGRESS_MODES: tuple[str, ...] = ("auto", "bar", "json", "none")


def format_duration(seconds: float) -> str:
    """``H:MM:SS`` for a duration in seconds (``--:--`` when unknown)."""
    if seconds != seconds or seconds == float("inf") or seconds < 0:
        return "--:--"
    s = round(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


class Progress:
    """Track ``total`` frames; draw ``label [####    ] 120/360 33% 12.3 fps ETA 0:00:19`` on ``stream``.

    ``enabled``: None (default) draws only when ``stream`` is a terminal; False never draws; True always
    draws (for tests). ``json_lines`` writes JSON lines instead of the bar (always, terminal or not).
    Call :meth:`update` with the number of frames done, :meth:`finish` at the end.
    """

    def __init__(
        self,
        total: int,
        *,
        label: str = "render",
        enabled: bool | None = None,
        stream: TextIO | None = None,
        json_lines: bool = False,
    ) -> None:
        if total < 0:
            raise ValueError(f"Progress: total must be >= 0, got {total}")
        self.total, self.label = total, label
        self.stream = stream if stream is not None else sys.stderr
        self.json_lines = json_lines
        self.enabled = json_lines or (self.stream.isatty() if enabled is None else enabled)
        self.start = time.monotonic()
        self.done = 0
        self._last_draw = 0.0
        self._drawn = False

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.start

    @property
    def fps(self) -> float:
        elapsed = self.elapsed
        return self.done / elapsed if elapsed > 0 else 0.0

    def line(self) -> str:
        """The bar's text for the current state."""
        fps = self.fps
        eta = (self.total - self.done) / fps if fps > 0 else float("nan")
        frac = self.done / self.total if self.total else 1.0
        width = 24
        filled = int(frac * width)
        bar = "#" * filled + " " * (width - filled)
        return (
            f"{self.label} [{bar}] {self.done}/{self.total} {frac:4.0%} "
            f"{fps:6.2f} fps ETA {format_duration(eta)}"
        )

    def record(self, event: str = "progress") -> str:
        """The state as one JSON line (no newline)."""
        fps = self.fps
        eta = (self.total - self.done) / fps if fps > 0 else math.nan
        state = {
            "event": event,
            "label": self.label,
            "done": self.done,
            "total": self.total,
            "fps": round(fps, 3),
            "eta_s": None if math.isnan(eta) else round(eta, 1),
            "elapsed_s": round(self.elapsed, 1),
        }
        return json.dumps(state)

    def update(self, done: int) -> None:
        """Record ``done`` frames finished; redraw at most every :data:`REDRAW_INTERVAL` seconds (JSON lines:
        every :data:`JSON_INTERVAL` seconds)."""
        self.done = done
        if not self.enabled:
            return
        now = time.monotonic()
        if self.json_lines:
            if now - self._last_draw >= JSON_INTERVAL:
                self._last_draw = now
                self.stream.write(self.record() + "\n")
                self.stream.flush()
            return
        if now - self._last_draw >= REDRAW_INTERVAL or done >= self.total:
            self._last_draw = now
            self.stream.write("\r" + self.line() + "\x1b[K")
            self.stream.flush()
            self._drawn = True

    def close(self) -> None:
        """End the bar's line (also after an interruption)."""
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False

    def finish(self, what: str) -> None:
        """Close the bar (JSON lines: write the ``done`` record) and log ``what: N frames in T s (F fps)``."""
        if self.json_lines:
            self.stream.write(self.record("done") + "\n")
            self.stream.flush()
        self.close()
        log.info("%s: %d frames in %.1f s (%.2f fps)", what, self.done, self.elapsed, self.fps)
