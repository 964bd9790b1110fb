"""The ``tasuke`` command: one entry point, one sub-command per program.

Each sub-command lives in its own package and registers itself through a
``register(subparsers)`` function, imported lazily so that ``tasuke join`` on a
customer PC never imports the server stack and vice versa.
"""

import argparse
import importlib
import sys
from collections.abc import Sequence

__all__ = ["main"]

# sub-command group -> module with register(subparsers)
_GROUPS: tuple[str, ...] = (
    "tasuke.server.cli",
    "tasuke.agent.cli",
    "tasuke.rfb.cli",
)


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser with every sub-command registered."""
    parser = argparse.ArgumentParser(
        prog="tasuke",
        description="Tasuke (助け): self-hosted, consent-first remote support.",
    )
    from tasuke import __version__

    parser.add_argument("--version", action="version", version=f"tasuke {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in _GROUPS:
        module = importlib.import_module(name)
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command named in ``argv`` and return its exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
