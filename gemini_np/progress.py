"""A one-line progress bar that knows whether it writes to a terminal.

    bar = ProgressBar(total=25, label="epoch  3/10")
    for i in range(1, 26):
        ...
        bar.update(i, loss=0.412, acc=0.812)     # redrawn in place on a terminal
    bar.close(loss=0.398, acc=0.825)             # the finished line, always

On a terminal the line is redrawn in place (``\\r``) after every update; into a
file or a pipe only the finished line is written, so logs hold no ``\\r`` noise.
"""
from __future__ import annotations

import sys


class ProgressBar:
    """``epoch  3/10 [#####.....] 12/25 loss 0.412 acc 0.812`` on stderr (or ``stream``)."""

    def __init__(self, total: int, label: str, stream=None, width: int = 24, enabled: bool = True):
        self.total, self.label, self.width, self.enabled = total, label, width, enabled
        self.done = 0
        self.stream = sys.stderr if stream is None else stream
        isatty = getattr(self.stream, "isatty", None)
        self.live = bool(isatty and isatty())

    def _line(self, done: int, values: dict) -> str:
        filled = int(self.width * done / max(1, self.total))
        bar = "#" * filled + "." * (self.width - filled)
        extra = " ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in values.items())
        return f"{self.label} [{bar}] {done}/{self.total} {extra}".rstrip()

    def update(self, done: int, **values) -> None:
        """Redraw the line with ``done`` of ``total`` finished (terminal only)."""
        self.done = done
        if self.enabled and self.live:
            self.stream.write("\r" + self._line(done, values))
            self.stream.flush()

    def step(self, **values) -> None:
        """One more finished: ``update(done + 1)``."""
        self.update(self.done + 1, **values)

    def close(self, **values) -> None:
        """Write the finished line and a newline."""
        if self.enabled:
            self.stream.write(("\r" if self.live else "") + self._line(self.total, values) + "\n")
            self.stream.flush()
