"""`python -m teambot` and the `teambot` console script.

The stop signals are handled before anything else is imported: a SIGTERM or Ctrl-C while
click, pydantic and rich load exits 130 without a traceback, like one at any later moment.
A plain `status` of a still run is answered from its memo when nothing it read has changed,
before click is imported (teambot/statusmemo/).
"""

from __future__ import annotations

import sys

from teambot import signals

signals.exit_on_stop_signals()


def main() -> int:
    """Run the CLI; exit 130 (never a traceback) whenever a signal stops teambot."""
    from teambot import statusmemo  # standard library only, like signals

    try:
        if statusmemo.served(sys.argv[1:]):
            code = 0
        else:
            from teambot.cli.main import main as cli_main

            code = cli_main()
    except KeyboardInterrupt:  # a signal outside the boundary's reach (it raises only once)
        code = signals.EXIT_INTERRUPTED
    signals.block_stop_signals()
    return code


if __name__ == "__main__":
    sys.exit(main())
