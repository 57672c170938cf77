"""The ``regional`` console command. Each package registers its subcommands under the ``regional.commands``
entry-point group (``pyproject.toml``), so this dispatcher names none of them.

A subcommand module defines ``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``; it must import
heavy dependencies (torch, diffusers, redis) inside ``run`` so that ``regional --help`` stays fast.
"""

from __future__ import annotations

import argparse
import sys
from importlib.metadata import entry_points

COMMANDS = "regional.commands"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="regional", description="Layout-to-image with regional prompting")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for entry in sorted(entry_points(group=COMMANDS), key=lambda e: e.name):
        try:
            module = entry.load()
        except ModuleNotFoundError as exc:
            if not entry.value.startswith(exc.name or "\0"):
                raise
            continue  # that part of the product is not installed
        sub = commands.add_parser(entry.name, help=module.HELP, description=module.HELP)
        module.add_arguments(sub)
        sub.set_defaults(run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
