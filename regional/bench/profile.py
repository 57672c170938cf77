"""``regional bench profile``: where the time of one injected step goes, per method (torch.profiler).

Each method (``plain``, ``regional``, ``flex``, ``authors`` as in ``regional bench cost``) runs one warm-up
generation, then one generation of a single injected step under ``torch.profiler``: on CUDA the kernels
ranked by their own GPU time, on CPU the operators by their own CPU time. Every entry falls in one group
(attention, matmul, copy and indexing, other; on CPU also compiled graphs, whose kernels the profiler does
not see: ``flex``'s compiled FlexAttention, or the whole transformer with ``--compiled``), so a method's
overhead over plain reads per group: more attention calls (one per token group), copies from reordering
tokens, or neither.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import asdict, dataclass, field

from regional.bench.cost import (
    WALL_MODELS,
    Sweep,
    _run_method,
    bench_layout,
    side_by_side_pipelines,
)

PROFILED_METHODS = ("plain", "regional", "flex", "authors")

GROUPS = (
    ("compiled graph", re.compile(r"CompiledFxGraph")),  # on CPU Inductor's code is one opaque call
    ("attention", re.compile(r"attention|attn|flash|fmha|flex|sdpa|softmax", re.IGNORECASE)),
    ("matmul", re.compile(r"gemm|matmul|\bmm\b|aten::mm|addmm|bmm|linear|cutlass|xmma|cublas|_mm_", re.I)),
    (
        "copy and indexing",
        re.compile(
            r"copy|index|gather|scatter|cat\b|aten::cat|catarray|clone|contiguous|transpose|permute|"
            r"slice|select|stack|pad",
            re.IGNORECASE,
        ),
    ),
)
"""Groups of kernels or operators, first match wins; everything else is "other"."""


@dataclass
class Entry:
    name: str
    group: str
    calls: int
    self_ms: float


@dataclass
class MethodProfile:
    method: str
    regions: int
    device: str
    compiled: bool
    total_ms: float
    groups: dict[str, float]
    """Own time per group, ms."""
    group_calls: dict[str, int]
    top: list[Entry] = field(default_factory=list)


def group_of(name: str) -> str:
    for group, pattern in GROUPS:
        if pattern.search(name):
            return group
    return "other"


def summarise(events, device: str) -> tuple[float, dict[str, float], dict[str, int], list[Entry]]:
    """(total own ms, own ms per group, calls per group, entries by own time) of ``key_averages()``: GPU
    kernels on CUDA, CPU operators otherwise (own time, so nested operators are not counted twice)."""
    entries = []
    for event in events:
        own_us = event.self_device_time_total if device == "cuda" else event.self_cpu_time_total
        if own_us > 0:
            entries.append(Entry(event.key, group_of(event.key), event.count, own_us / 1000))
    entries.sort(key=lambda e: e.self_ms, reverse=True)
    groups = {name: 0.0 for name, _ in GROUPS} | {"other": 0.0}
    calls = dict.fromkeys(groups, 0)
    for entry in entries:
        groups[entry.group] += entry.self_ms
        calls[entry.group] += entry.calls
    return sum(groups.values()), groups, calls, entries


def profile_methods(
    regions: int,
    size: int,
    device: str,
    methods: tuple[str, ...] = PROFILED_METHODS,
    model: str = "scaled",
    compiled: bool = False,
    top: int = 12,
) -> list[MethodProfile]:
    """One injected step of each method, profiled after a warm-up generation of the same shape."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    pipe, plain_pipe = side_by_side_pipelines(model, device, compiled)
    layout = bench_layout(regions, size, size)
    one_step = Sweep(size, size, 1, 1, ())
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device == "cuda" else [])
    results = []
    for method in methods:
        _run_method(method, pipe, plain_pipe, layout, one_step, 0)
        if device == "cuda":
            torch.cuda.synchronize()
        with profile(activities=activities) as profiler:
            _run_method(method, pipe, plain_pipe, layout, one_step, 0)
            if device == "cuda":
                torch.cuda.synchronize()
        total, groups, calls, entries = summarise(profiler.key_averages(), device)
        results.append(MethodProfile(method, regions, device, compiled, total, groups, calls, entries[:top]))
    return results


def format_profiles(profiles: list[MethodProfile]) -> str:
    """Per group: own time (ms) and calls of each method, then each method's top entries."""
    names = [p.method for p in profiles]
    lines = [f"{'group':<18}" + "".join(f"{n:>22}" for n in names)]
    for group in profiles[0].groups:
        cells = "".join(f"{p.groups[group]:>11.2f} ms {p.group_calls[group]:>5}x" for p in profiles)
        lines.append(f"{group:<18}{cells}")
    lines.append(f"{'total':<18}" + "".join(f"{p.total_ms:>11.2f} ms{'':>7}" for p in profiles))
    for p in profiles:
        lines.append(f"\n{p.method}: top {len(p.top)} of one injected step ({p.regions} regions)")
        for entry in p.top:
            share = 100 * entry.self_ms / p.total_ms
            lines.append(f"  {entry.self_ms:>9.2f} ms {share:>5.1f}% {entry.calls:>5}x  {entry.group:<17} "
                         f"{entry.name[:90]}")  # fmt: skip
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument("--model", choices=WALL_MODELS, default="scaled",
                        help="scaled-down FLUX, or FLUX.1-dev's transformer (random bfloat16 weights, CUDA)")  # fmt: skip
    parser.add_argument("--regions", type=int, default=16)
    parser.add_argument("--size", type=int, default=1024, help="square canvas size in px")
    parser.add_argument("--methods", nargs="+", choices=PROFILED_METHODS, default=list(PROFILED_METHODS))
    parser.add_argument("--compiled", action="store_true", help="with the transformer compiled (Inductor)")
    parser.add_argument("--top", type=int, default=12, help="entries listed per method")
    parser.add_argument("--json", action="store_true", help="print one JSON list (the tables go to stderr)")


def run(args: argparse.Namespace) -> int:
    import torch

    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    profiles = profile_methods(
        args.regions, args.size, device, tuple(args.methods), args.model, args.compiled, args.top
    )
    where = torch.cuda.get_device_name() if device == "cuda" else device
    variant = "compiled" if args.compiled else "eager"
    table = (f"# one injected step, {args.size}x{args.size}, {args.regions} regions, {variant} {args.model} "
             f"model on {where}; own time per group\n{format_profiles(profiles)}")  # fmt: skip
    if args.json:  # the JSON to stdout (to keep), the table to the terminal
        print(json.dumps([asdict(p) for p in profiles]))
        print(table, file=sys.stderr)
    else:
        print(table)
    return 0
