"""One progress helper for every place a person waits (ingest, SOMA reads, fetch, run, report).

On a terminal it draws a rich progress bar (done / total, units, rate, ETA); in a non-interactive log
(a file, a pipe, a SLURM job) it prints one plain line every ``interval_s`` seconds and a final line, so a
log shows progress instead of nothing::

    with progress("ingest", total=n_cells, unit="cells") as bar:
        for chunk in chunks:
            ...
            bar.advance(len(chunk), note=f"file {i}/{n}")

    for path in track(paths, "fetch", unit="files"):
        ...

Output goes to stderr (stdout stays the command's result). ``CELLPLATEAU_PROGRESS=rich|plain|off``
forces a mode; ``CELLPLATEAU_PROGRESS_INTERVAL`` sets the seconds between plain lines (default 10).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TextIO, TypeVar

T = TypeVar("T")
MODES = ("rich", "plain", "off")


def _fmt_seconds(s: float) -> str:
    if s != s or s == float("inf"):
        return "?"
    s = int(round(s))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def _fmt_count(v: float) -> str:
    return f"{int(v):,}" if float(v).is_integer() else f"{v:,.1f}"


def resolve_mode(mode: str | None = None, stream: TextIO | None = None) -> str:
    """``mode`` if given, else ``CELLPLATEAU_PROGRESS``, else ``rich`` on a terminal and ``plain`` otherwise."""
    mode = mode or os.environ.get("CELLPLATEAU_PROGRESS") or None
    if mode is not None:
        if mode not in MODES:
            raise ValueError(f"progress mode {mode!r}: expected one of {list(MODES)} (CELLPLATEAU_PROGRESS)")
        return mode
    stream = stream if stream is not None else sys.stderr
    return "rich" if getattr(stream, "isatty", lambda: False)() else "plain"


class Progress:
    """Progress of one activity: ``done`` of ``total`` ``unit`` (total may be unknown), failures, a note.

    Use as a context manager; ``advance``/``update``/``fail`` from the loop. Thread-safe enough for one
    producer (the counters are plain attributes; rendering is throttled).
    """

    def __init__(self, description: str, *, total: float | None = None, unit: str = "items",
                 interval_s: float | None = None, mode: str | None = None, stream: TextIO | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.description = description
        self.total = total
        self.unit = unit
        self.done: float = 0
        self.failed = 0
        self.note = ""
        self.stream = stream if stream is not None else sys.stderr
        self.mode = resolve_mode(mode, self.stream)
        env_interval = os.environ.get("CELLPLATEAU_PROGRESS_INTERVAL")
        self.interval_s = float(interval_s if interval_s is not None else env_interval or 10.0)
        self._clock = clock
        self._start = clock()
        self._last_line = self._start
        self._bar = None
        self._task = None

    # --- context -----------------------------------------------------------------------------------
    def __enter__(self) -> Progress:
        self._start = self._last_line = self._clock()
        if self.mode == "rich":
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
            from rich.progress import Progress as RichProgress

            self._bar = RichProgress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                     TextColumn("{task.fields[unit]}"), TimeElapsedColumn(), TextColumn("ETA"),
                                     TimeRemainingColumn(), TextColumn("{task.fields[extra]}"),
                                     console=Console(file=self.stream), transient=False)
            self._bar.start()
            self._task = self._bar.add_task(self.description, total=self.total, unit=self.unit, extra="")
        elif self.mode == "plain":
            self._line()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._bar is not None:
            self._refresh()
            self._bar.stop()
            self._bar = None
        elif self.mode == "plain":
            self._line(final=exc_type is None)

    # --- updates -----------------------------------------------------------------------------------
    def advance(self, n: float = 1, *, note: str | None = None) -> None:
        """``n`` more units done (``note``: a short text such as the current file)."""
        self.done += n
        if note is not None:
            self.note = note
        self._tick()

    def update(self, *, done: float | None = None, total: float | None = None, note: str | None = None) -> None:
        """Set the absolute count, the total (once known) or the note."""
        if done is not None:
            self.done = done
        if total is not None:
            self.total = total
        if note is not None:
            self.note = note
        self._tick()

    def fail(self, n: int = 1, *, note: str | None = None) -> None:
        """``n`` units failed (shown beside the count; they are not counted as done)."""
        self.failed += n
        if note is not None:
            self.note = note
        self._tick()

    # --- numbers -----------------------------------------------------------------------------------
    @property
    def elapsed_s(self) -> float:
        return self._clock() - self._start

    @property
    def eta_s(self) -> float:
        """Seconds left at the rate so far (NaN while unknown: no total or nothing done yet)."""
        if not self.total or self.done <= 0:
            return float("nan")
        rate = self.done / max(self.elapsed_s, 1e-9)
        return max(self.total - self.done, 0) / rate

    def text(self, *, final: bool = False) -> str:
        """The plain line: ``description: done/total unit (pct), failures, elapsed, ETA, note``."""
        count = _fmt_count(self.done)
        if self.total:
            count += f"/{_fmt_count(self.total)} {self.unit} ({self.done / self.total:.0%})"
        else:
            count += f" {self.unit}"
        parts = [f"{self.description}: {count}"]
        if self.failed:
            parts.append(f"{self.failed} failed")
        parts.append(f"{_fmt_seconds(self.elapsed_s)} elapsed")
        if not final and self.total:
            parts.append(f"ETA {_fmt_seconds(self.eta_s)}")
        elif final:
            parts.append("done")
        if self.note:
            parts.append(self.note)
        return ", ".join(parts)

    # --- rendering ---------------------------------------------------------------------------------
    def _extra(self) -> str:
        return ", ".join(x for x in ((f"[red]{self.failed} failed[/]" if self.failed else ""), self.note) if x)

    def _refresh(self) -> None:
        self._bar.update(self._task, completed=self.done, total=self.total, extra=self._extra())

    def _tick(self) -> None:
        if self._bar is not None:
            self._refresh()
        elif self.mode == "plain" and self._clock() - self._last_line >= self.interval_s:
            self._line()

    def _line(self, *, final: bool = False) -> None:
        self._last_line = self._clock()
        print(self.text(final=final), file=self.stream, flush=True)


def progress(description: str, *, total: float | None = None, unit: str = "items", interval_s: float | None = None,
             mode: str | None = None, stream: TextIO | None = None, enabled: bool = True) -> Progress:
    """A :class:`Progress` to use as ``with progress(...) as bar:`` (see the module docstring).

    ``enabled=False`` gives a silent one (the counters still work), so library code can take a
    ``progress: bool`` argument and call the same lines either way.
    """
    return Progress(description, total=total, unit=unit, interval_s=interval_s,
                    mode=mode if enabled else "off", stream=stream)


def track(items: Iterable[T], description: str, *, total: float | None = None, unit: str = "items",
          interval_s: float | None = None, mode: str | None = None, stream: TextIO | None = None,
          enabled: bool = True) -> Iterator[T]:
    """Iterate ``items`` with progress (one unit per item; ``total`` defaults to ``len(items)`` if it has one)."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    with progress(description, total=total, unit=unit, interval_s=interval_s, mode=mode, stream=stream,
                  enabled=enabled) as bar:
        for item in items:
            yield item
            bar.advance()
