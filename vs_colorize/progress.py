"""A progress bar on stderr (frames, fps, ETA) and the one-line summary a render ends with.

The bar is drawn only when enabled and the stream is a terminal; stdout is never touched (it belongs to
vspipe and to whatever a farm pipes). The summary goes through :mod:`logging` so that farms get exactly
one line per file in their logs.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import TextIO

log = logging.getLogger("vs_colorize")

#: Seconds between two redraws of the bar.
REDRAW_INTERVAL = 0.2


def format_duration(seconds: float) -> str:
    """``H:MM:SS`` for a duration in seconds (``--:--`` when unknown)."""
    if seconds != seconds or seconds == float("inf") or seconds < 0:
        return "--:--"
    s = round(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


class Progress:
    """Track ``total`` frames; draw ``label [####    ] 120/360 33% 12.3 fps ETA 0:00:19`` on ``stream``.

    ``enabled``: None (default) draws only when ``stream`` is a terminal; False never draws; True always
    draws (for tests). Call :meth:`update` with the number of frames done, :meth:`finish` at the end.
    """

    def __init__(
        self, total: int, *, label: str = "render", enabled: bool | None = None, stream: TextIO | None = None
    ) -> None:
        if total < 0:
            raise ValueError(f"Progress: total must be >= 0, got {total}")
        self.total, self.label = total, label
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
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

    def update(self, done: int) -> None:
        """Record ``done`` frames finished; redraw at most every :data:`REDRAW_INTERVAL` seconds."""
        self.done = done
        if not self.enabled:
            return
        now = time.monotonic()
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
        """Close the bar and log ``what: N frames in T s (F fps)`` at INFO."""
        self.close()
        log.info("%s: %d frames in %.1f s (%.2f fps)", what, self.done, self.elapsed, self.fps)
