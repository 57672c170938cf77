"""The ``regional`` console command. Each subcommand lives in the module that owns it.

A subcommand module defines ``add_arguments(parser)`` and ``run(args) -> int``; it must import heavy
dependencies (torch, diffusers, redis) inside ``run`` so that ``regional --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

SUBCOMMANDS = {
    "generate": ("regional.generate_cli", "Generate an image from a layout JSON file."),
    "plan": ("planner.cli", "Plan a layout from a text prompt."),
    "serve": ("api.cli", "Run the HTTP API (with embedded Redis and worker when REDIS_URL is unset)."),
    "worker": ("worker.cli", "Run a queue worker."),
    "bench": ("regional.bench.cli", "Benchmarks: cost (FLOPs, time, memory) and quality."),
    "drill": ("drill.cli", "Fault drills against real processes: worker kills, Redis outage, load, bad input."),
    "client": ("client.cli", "Talk to a running service: submit, wait, get, list, cancel, images, plan."),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="regional", description="Layout-to-image with regional prompting on FLUX.1"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if not module_name.startswith(exc.name or "\0"):
                raise
            continue  # that part of the product is not installed
        sub = commands.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(sub)
        sub.set_defaults(run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
