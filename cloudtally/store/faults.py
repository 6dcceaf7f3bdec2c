"""Faults a command must survive with the store whole, and what to tell the user.

Crash points for the crash-safety tests: with CLOUDTALLY_CRASH_AT=<point> set, the process
kills itself (SIGKILL, as a power cut or `kill -9` would) when it reaches that point.

Ctrl-C and a full disk: `Store.commit` runs with Ctrl-C held back, so an interrupt lands
either before the catalog swap (the store is unchanged) or after the commit finished (the
store holds the new state), and the message says which.
"""

from __future__ import annotations

import errno
import os
import signal
import socket
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

POINTS = ("after-stage", "after-move", "after-cube", "after-catalog", "after-gc")

_DISK_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT}
_DISK_FULL_TEXT = ("No space left on device", "Disk quota exceeded")
_committed = False
_interrupted = False
# Connections that Ctrl-C must interrupt (the store registers each one it opens).
_connections: weakref.WeakSet[Any] = weakref.WeakSet()
# The socket pair of `watch_interrupts`, kept for the life of the process (the C handler
# writes to the descriptor: it must never be closed and reused).
_wakeup: tuple[socket.socket, socket.socket] | None = None


def crash_point(point: str) -> None:
    if os.environ.get("CLOUDTALLY_CRASH_AT") == point:
        os.kill(os.getpid(), signal.SIGKILL)


@contextmanager
def uninterrupted() -> Iterator[None]:
    """Hold back Ctrl-C for the block: a SIGINT that arrives during it raises
    KeyboardInterrupt when the block has finished.

    (Blocking the signal in the main thread would not do: the kernel then delivers it to
    another thread, DuckDB's, and Python still raises it in the main thread.)
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: pending.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if pending:
        raise KeyboardInterrupt


def interrupted() -> bool:
    """Whether Ctrl-C reached this process under `watch_interrupts`: a library that was
    importing or running Python code then may have turned the KeyboardInterrupt into an
    error of its own (DuckDB importing a module it needs says the module is not installed)."""
    return _interrupted


def _on_sigint(signum: int, frame: Any) -> None:
    """Python's own handler, noting that the interrupt came (`interrupted`)."""
    global _interrupted
    _interrupted = True
    raise KeyboardInterrupt


def mark_committed() -> None:
    """This process changed the store (a catalog swap went through)."""
    global _committed
    _committed = True


def interrupted_message() -> str:
    if _committed:
        return "Interrupted after the store was updated; it holds the new state."
    return "Interrupted; the store is unchanged."


def disk_full(exc: BaseException) -> bool:
    if isinstance(exc, OSError) and exc.errno in _DISK_FULL_ERRNOS:
        return True
    return any(text in str(exc) for text in _DISK_FULL_TEXT)


def disk_full_message(exc: BaseException) -> str:
    where = getattr(exc, "filename", None)
    writing = f" while writing {where}" if where else ""
    state = (
        "the store was updated before that and holds the new state"
        if _committed
        else "the store is unchanged"
    )
    return f"The disk is full{writing}; {state}. Free some space and run the command again."


def interruptible(connection: Any) -> None:
    """Register a DuckDB connection for `watch_interrupts`."""
    _connections.add(connection)


def watch_interrupts() -> None:
    """Make Ctrl-C stop a running query at once.

    DuckDB's Python client looks for a pending Ctrl-C only at some points of a query, and can
    miss it for the rest of a long one. The C-level signal handler writes every signal to a
    socket (`signal.set_wakeup_fd`, which works while the main thread is inside DuckDB); a
    thread reading it interrupts the store's open connections. Call from the main thread,
    once per process (the CLI does).
    """
    global _wakeup
    if _wakeup is not None or threading.current_thread() is not threading.main_thread():
        return
    receive, send = socket.socketpair()
    send.setblocking(False)
    _wakeup = (receive, send)
    signal.set_wakeup_fd(send.fileno(), warn_on_full_buffer=False)
    signal.signal(signal.SIGINT, _on_sigint)

    def watch() -> None:
        while True:
            data = receive.recv(64)
            if not data:
                return
            if signal.SIGINT in data:
                # Python's own handler raises KeyboardInterrupt in the main thread as soon as
                # it runs Python code again; this gets it out of DuckDB first.
                for connection in list(_connections):
                    with suppress(Exception):  # a closed connection has nothing to stop
                        connection.interrupt()

    threading.Thread(target=watch, name="cloudtally-interrupts", daemon=True).start()
