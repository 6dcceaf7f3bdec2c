"""`python -m cloudtally`, and the `cloudtally` command's entry point.

The command line is imported inside `run` so that Ctrl-C while it loads is the same one message
as Ctrl-C during a command."""

from __future__ import annotations

import sys


def run() -> None:
    try:
        from cloudtally.cli import main
    except KeyboardInterrupt:
        sys.stderr.write("Interrupted; the store is unchanged.\n")
        sys.exit(130)
    main()


if __name__ == "__main__":
    run()
