"""Crash points for the crash-safety tests: with CLOUDTALLY_CRASH_AT=<point> set, the process
kills itself (SIGKILL, as a power cut or `kill -9` would) when it reaches that point."""

from __future__ import annotations

import os
import signal

POINTS = ("after-stage", "after-move", "after-catalog", "after-gc")


def crash_point(point: str) -> None:
    if os.environ.get("CLOUDTALLY_CRASH_AT") == point:
        os.kill(os.getpid(), signal.SIGKILL)
