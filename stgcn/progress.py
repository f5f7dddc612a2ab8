"""A dependency-free progress bar for long work (conversion, epochs, evaluation).

Draws on stderr only when it is a terminal, so logs and CI output stay clean.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def _fmt_seconds(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


class Progress:
    """`for x in Progress(items, desc='convert'):` with count, rate and ETA.

    `enabled=None` means: draw only when stderr is a terminal.
    """

    def __init__(self, iterable: Iterable[T] | None = None, total: int | None = None,
                 desc: str = "", enabled: bool | None = None, stream=None) -> None:
        self.iterable = iterable
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)  # type: ignore[arg-type]
        self.total = total
        self.desc = desc
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.count = 0
        self.start = time.perf_counter()
        self._last_draw = 0.0

    def __iter__(self) -> Iterator[T]:
        assert self.iterable is not None
        try:
            for item in self.iterable:
                yield item
                self.update(1)
        finally:
            self.close()

    def update(self, n: int = 1) -> None:
        self.count += n
        now = time.perf_counter()
        if self.enabled and (now - self._last_draw > 0.1 or self.count == self.total):
            self._last_draw = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        elapsed = now - self.start
        rate = self.count / elapsed if elapsed > 0 else 0.0
        if self.total:
            frac = min(self.count / self.total, 1.0)
            bar = "#" * int(30 * frac) + "-" * (30 - int(30 * frac))
            eta = (self.total - self.count) / rate if rate > 0 else 0.0
            line = (f"{self.desc} [{bar}] {self.count}/{self.total} "
                    f"{rate:.1f}/s elapsed {_fmt_seconds(elapsed)} eta {_fmt_seconds(eta)}")
        else:
            line = f"{self.desc} {self.count} {rate:.1f}/s elapsed {_fmt_seconds(elapsed)}"
        self.stream.write("\r" + line)
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self._draw(time.perf_counter())
            self.stream.write("\n")
            self.stream.flush()
            self.enabled = False
