"""`python -m sdkit` runs the command line, with Ctrl-C and SIGTERM handled from its first moment.

Importing the CLI takes a few tenths of a second; without a handler, a SIGTERM in that time would
kill the process (exit 143) before sdkit could say anything. So SIGTERM is made to act as Ctrl-C does
before anything else is imported, and a stop that arrives before the CLI can report it ends the
process with exit code 130 and one line. Commands that stop more carefully (`generate`) install their
own handlers over this one.
"""

import signal
import sys
from types import FrameType

INTERRUPTED_EXIT_CODE = 130


def _stop_as_ctrl_c(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main() -> None:
    """Install the early SIGTERM handler, then run the CLI; a stop escaping it still exits 130."""
    signal.signal(signal.SIGTERM, _stop_as_ctrl_c)
    started = False
    try:
        from sdkit.cli.app import main as run_cli

        started = True
        run_cli()
    except KeyboardInterrupt:
        # Before the CLI ran it could not report the stop; after, the CLI's own report was interrupted.
        if not started:
            sys.stderr.write("interrupted\n")
        sys.exit(INTERRUPTED_EXIT_CODE)


if __name__ == "__main__":
    main()
