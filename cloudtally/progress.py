"""Progress bars for long work: a DuckDB query runs in a worker thread while the main thread
polls `query_progress()` and draws it with rich."""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import duckdb
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

T = TypeVar("T")


class Reporter:
    """Shows progress on stderr when it is a terminal (or when forced); silent otherwise."""

    def __init__(self, enabled: bool | None = None) -> None:
        self.console = Console(stderr=True)
        self.enabled = self.console.is_terminal if enabled is None else enabled
        self._progress: Progress | None = None

    @contextmanager
    def session(self) -> Iterator[Reporter]:
        if not self.enabled:
            yield self
            return
        self._progress = Progress(
            TextColumn("{task.description}", markup=False),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=self.console,
            transient=False,
        )
        with self._progress:
            yield self
        self._progress = None

    def task(self, description: str, total: float = 100.0) -> TaskID | None:
        if self._progress is None:
            return None
        return self._progress.add_task(description, total=total)

    def advance(self, task: TaskID | None, amount: float = 1.0) -> None:
        if self._progress is not None and task is not None:
            self._progress.advance(task, amount)

    def update(self, task: TaskID | None, completed: float) -> None:
        if self._progress is not None and task is not None:
            self._progress.update(task, completed=completed)

    def run_query(
        self, con: duckdb.DuckDBPyConnection, work: Callable[[], T], task: TaskID | None
    ) -> T:
        """Run `work` (which executes on `con`) while showing the query's progress."""
        if self._progress is None or task is None:
            return work()
        result: list[T] = []
        error: list[BaseException] = []

        def target() -> None:
            try:
                result.append(work())
            except BaseException as exc:  # handed back to the caller's thread
                error.append(exc)

        # (in a copy of this context: the store's catalog pin holds there too)
        worker = threading.Thread(
            target=contextvars.copy_context().run, args=(target,), daemon=True
        )
        worker.start()
        while worker.is_alive():
            worker.join(0.2)
            try:
                done = con.query_progress()
            except duckdb.Error:
                done = -1
            if done >= 0:
                self.update(task, min(done, 99.0))
        if error:
            raise error[0]
        self.update(task, 100.0)
        return result[0]
