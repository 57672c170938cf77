"""``regional bench cost|profile|quality``: each benchmark is its own module with add_arguments/run."""

from __future__ import annotations

import argparse
import importlib

BENCHMARKS = {
    "cost": (
        "regional.bench.cost",
        "FLOPs, wall time and peak memory versus plain FLUX, authors' method, RPG.",
    ),
    "profile": (
        "regional.bench.profile",
        "Where one injected step's time goes per method (torch.profiler, grouped by kind of kernel).",
    ),
    "quality": ("regional.bench.quality", "Regional control measured on the toy shapes world."),
}


HELP = "Benchmarks: cost (FLOPs, time, memory), profile, and quality."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    benches = parser.add_subparsers(dest="bench", required=True, metavar="BENCHMARK")
    for name, (module_name, help_text) in BENCHMARKS.items():
        sub = benches.add_parser(name, help=help_text, description=help_text)
        sub.set_defaults(bench_module=module_name)
        try:
            importlib.import_module(module_name).add_arguments(sub)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise


def run(args: argparse.Namespace) -> int:
    return importlib.import_module(args.bench_module).run(args)
