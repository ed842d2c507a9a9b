"""How `nanoservices run` shows a run as it goes: a rich progress bar on a terminal, plain lines
(one every few seconds) when the output is a file or a pipe. The library hands over Progress
values and event lines; only this module draws."""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import TracebackType
from typing import Any

from nanoservices.progress import Progress

PLAIN_EVERY = 5.0  # seconds of run time between two plain progress lines, at most


def figures(p: Progress) -> str:
    """The figures both renderers show after the run clock."""
    return (
        f"{p.issued:,} requests issued, {p.completed:,} completed ({p.rate:,.0f}/s), {p.failed:,} failed; "
        f"spans {p.spans_exported:,} exported, {p.spans_dropped:,} dropped"
    )


def plain_line(p: Progress) -> str:
    run = f"{min(p.elapsed, p.duration):.0f}/{p.duration:g} s"
    slow = f" ({p.hosts - p.answered} of {p.hosts} hosts slow to answer)" if p.answered < p.hosts else ""
    return f"[{p.at:6.1f}s] traffic {run}: {figures(p)}{slow}"


def plain_every(duration: float) -> float:
    """Seconds between plain lines: about five lines for a short run, one per 5 s for a long one."""
    return min(max(duration / 5, 1.0), PLAIN_EVERY)


class PlainProgress:
    """Event lines as they come; a progress line at the first figures and then every `every` s
    of run time (default: plain_every of the run's duration)."""

    def __init__(self, write: Callable[[str], None], every: float | None = None) -> None:
        self._write = write
        self._every = every
        self._next: float | None = None  # run time of the next progress line

    def line(self, text: str) -> None:
        self._write(text)

    def live(self, p: Progress) -> None:
        if self._next is None or p.elapsed >= self._next:
            self._next = p.elapsed + (self._every or plain_every(p.duration))
            self._write(plain_line(p))

    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(self, *_: object) -> None:
        return None


class RichProgress:
    """A bar for the run time and, under it, the figures; event lines print above both."""

    def __init__(self, console: Any = None) -> None:
        from rich.console import Console

        self._console = console if console is not None else Console(stderr=True)
        self._bar: Any = None
        self._task: Any = None

    def line(self, text: str) -> None:
        self._console.print(text, markup=False, highlight=False)

    def live(self, p: Progress) -> None:
        if self._bar is None:
            self._bar = _bar_with_figures(self._console)
            self._task = self._bar.add_task("traffic", total=p.duration)
            self._bar.start()
        self._bar.figures = figures(p)
        self._bar.update(self._task, completed=min(p.elapsed, p.duration))

    def __enter__(self) -> RichProgress:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._bar is not None:
            self._bar.stop()


def _bar_with_figures(console: Any) -> Any:
    """rich's Progress with a line of figures under the bar (rich documents overriding
    get_renderables for this), so a narrow terminal shows the whole bar."""
    from rich.progress import BarColumn, TaskProgressColumn, TextColumn, TimeElapsedColumn
    from rich.progress import Progress as Bar
    from rich.text import Text

    class FiguresBar(Bar):
        figures = ""

        def get_renderables(self) -> Any:
            yield self.make_tasks_table(self.tasks)
            yield Text(self.figures, no_wrap=True, overflow="ellipsis")

    return FiguresBar(
        TextColumn("traffic"), BarColumn(), TaskProgressColumn(), TimeElapsedColumn(), console=console
    )


def renderer(write: Callable[[str], None]) -> PlainProgress | RichProgress:
    """Rich on a terminal (stdout and stderr both), plain lines through `write` otherwise."""
    if sys.stdout.isatty() and sys.stderr.isatty():
        return RichProgress()
    return PlainProgress(write)
