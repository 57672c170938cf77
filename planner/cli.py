"""``regional plan``: print the layout JSON for a prompt, or one layout per line for ``--jsonl`` input."""

from __future__ import annotations

import argparse
import sys

from planner.exceptions import PlannerError

HELP = "Plan a layout from a text prompt."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("prompt", nargs="?", help="the text prompt (omit with --jsonl)")
    parser.add_argument(
        "--planner",
        choices=("openai", "local", "offline"),
        default=None,
        help="backend (default: $REGIONAL_PLANNER, else offline)",
    )
    parser.add_argument("--width", type=int, default=1024, help="canvas width in pixels, multiple of 16")
    parser.add_argument("--height", type=int, default=1024, help="canvas height in pixels, multiple of 16")
    parser.add_argument(
        "--jsonl",
        action="store_true",
        help="read one prompt per line on stdin, print one layout JSON per line",
    )
    parser.add_argument("--indent", type=int, default=None, help="indent the JSON (single prompt only)")


def _plan_line(prompt: str, args: argparse.Namespace) -> str:
    from planner.offline import plan_offline
    from planner.planning import plan_report

    try:
        report = plan_report(prompt, args.width, args.height, backend=args.planner)
    except PlannerError as exc:  # includes an empty or over-long prompt
        print(f"regional plan: {exc}; using the offline planner", file=sys.stderr)
        return plan_offline(prompt.strip() or "an empty scene", args.width, args.height).model_dump_json()
    for error in report.errors:
        print(f"regional plan: {error}", file=sys.stderr)
    if report.fell_back:
        print(f"regional plan: fell back to the offline planner for {prompt[:60]!r}", file=sys.stderr)
    return report.layout.model_dump_json()


def run(args: argparse.Namespace) -> int:
    from planner.planning import check_request, plan_report

    if args.jsonl:
        if args.prompt:
            print("regional plan: give either a prompt or --jsonl, not both", file=sys.stderr)
            return 2
        try:
            check_request("x", args.width, args.height)
        except PlannerError as exc:
            print(f"regional plan: {exc}", file=sys.stderr)
            return 2
        for line in sys.stdin:
            print(_plan_line(line.rstrip("\n")[:2000], args), flush=True)
        return 0
    if not args.prompt:
        print("regional plan: give a prompt, or --jsonl to read prompts from stdin", file=sys.stderr)
        return 2
    try:
        report = plan_report(args.prompt, args.width, args.height, backend=args.planner)
    except PlannerError as exc:
        print(f"regional plan: {exc}", file=sys.stderr)
        return 2
    for error in report.errors:
        print(f"regional plan: {error}", file=sys.stderr)
    print(report.layout.model_dump_json(indent=args.indent))
    return 0
