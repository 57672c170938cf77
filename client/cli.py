"""``regional client``: the service from the shell, through the Python client.

JSON on stdout; progress and errors on stderr. Exit code 1 for an error answer (its problem's title and
detail are printed), a request that never got through, or a waited-for job that did not succeed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from client import Event, GenerationOut, RegionalClient

SAMPLING = {
    "width": (int, "canvas width in pixels (prompt jobs; a layout sets its own)"),
    "height": (int, "canvas height in pixels (prompt jobs)"),
    "steps": (int, "denoising steps"),
    "guidance": (float, "distilled guidance scale"),
    "seed": (int, "random seed (drawn when unset)"),
    "num_images": (int, "images from one layout"),
    "base_ratio": (float, "base-prompt share in injected blocks (beta)"),
    "inject_steps": (int, "steps with regional control"),
    "double_inject_interval": (int, "inject in every k-th double block"),
    "single_inject_interval": (int, "inject in every k-th single block"),
    "planner": (str, "planner backend for prompt jobs: offline, openai, local"),
}
"""The sampling options of ``submit``: ``GenerationCreate``'s fields (not imported here, so that
``regional --help`` stays fast; the model checks the values before they are sent)."""

STATUSES = ("queued", "running", "succeeded", "failed", "canceled")
WEBHOOK_EVENTS = ("running", "succeeded", "failed", "canceled")


HELP = "Talk to a running service: submit, wait, get, list, cancel, images, plan."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", help="the service (default: $REGIONAL_URL, else http://127.0.0.1:8000)")
    common.add_argument("--api-key", help="bearer API key (default: $REGIONAL_API_KEY)")
    common.add_argument("--timeout", type=float, default=30.0, help="seconds per request (default: 30)")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    submit = actions.add_parser("submit", parents=[common], help="submit a job: a prompt, or --layout FILE")
    submit.add_argument("prompt", nargs="?", help="the prompt (planned into a layout first)")
    submit.add_argument("--layout", type=Path, help="a layout JSON file ('-': stdin)")
    for name, (kind, help_text) in SAMPLING.items():
        submit.add_argument(f"--{name.replace('_', '-')}", dest=name, type=kind, help=help_text)
    submit.add_argument("--webhook-url", help="POST the job's status changes there, signed")
    submit.add_argument(
        "--webhook-event",
        dest="webhook_events",
        action="append",
        choices=WEBHOOK_EVENTS,
        help="a status to send (repeat; default: succeeded, failed, canceled)",
    )
    submit.add_argument("--idempotency-key", help="the same key returns the same job (default: a fresh one)")
    _wait_arguments(submit, "--wait")

    for name, help_text in (("get", "print a job"), ("cancel", "cancel a job")):
        actions.add_parser(name, parents=[common], help=help_text).add_argument("id")
    wait = actions.add_parser("wait", parents=[common], help="wait for a job to finish, then print it")
    wait.add_argument("id")
    _wait_arguments(wait, None)
    images = actions.add_parser("images", parents=[common], help="save a succeeded job's PNGs")
    images.add_argument("id")
    images.add_argument("--out", type=Path, required=True, help="folder to write <id>-<k>.png into")

    plan = actions.add_parser("plan", parents=[common], help="plan a prompt into a layout (no image)")
    plan.add_argument("prompt")
    for name in ("width", "height", "planner"):
        kind, help_text = SAMPLING[name]
        plan.add_argument(f"--{name}", type=kind, help=help_text)

    listing = actions.add_parser("list", parents=[common], help="your jobs, newest first")
    listing.add_argument("--status", choices=STATUSES)
    listing.add_argument("--limit", type=int, default=20, help="most jobs to print (default: 20)")


def _wait_arguments(parser: argparse.ArgumentParser, flag: str | None) -> None:
    if flag is not None:
        parser.add_argument(flag, action="store_true", help="wait for the job, showing progress on stderr")
    parser.add_argument("--wait-timeout", type=float, help="give up waiting after this many seconds")
    parser.add_argument(
        "--out",
        type=Path,
        help="save the succeeded job's images into this folder" + (f" (implies {flag})" if flag else ""),
    )


def run(args: argparse.Namespace) -> int:
    from client import ClientError, ProblemError, RegionalClient

    try:
        with RegionalClient(args.url, args.api_key, timeout=args.timeout) as client:
            return ACTIONS[args.action](client, args)
    except ProblemError as exc:  # the service's detail already names each field of a 422
        _error(f"{exc.title}: {exc.detail}")
        return 1
    except (ClientError, ValueError, OSError) as exc:  # unreachable, timed out, invalid options, files
        _error(str(exc))
        return 1


def _submit(client: RegionalClient, args: argparse.Namespace) -> int:
    if (args.prompt is None) == (args.layout is None):
        raise ValueError("give a prompt or --layout FILE (one of them)")
    options = {name: getattr(args, name) for name in SAMPLING}
    job = client.submit(
        args.prompt,
        layout=None if args.layout is None else _read_json(args.layout),
        webhook_url=args.webhook_url,
        webhook_events=args.webhook_events,
        idempotency_key=args.idempotency_key,
        **options,
    )
    if not args.wait and args.out is None:
        _print_json(job.model_dump(mode="json"))
        return 0
    return _finish(client, job, args)


def _wait(client: RegionalClient, args: argparse.Namespace) -> int:
    return _finish(client, args.id, args)


def _finish(client: RegionalClient, job: GenerationOut | str, args: argparse.Namespace) -> int:
    """Wait with progress on stderr, print the finished job, save its images; 1 unless it succeeded."""
    with Progress(sys.stderr) as progress:
        final = client.wait(job, timeout=args.wait_timeout, on_event=progress.show)
    _print_json(final.model_dump(mode="json"))
    if final.status != "succeeded":
        reason = f": {final.error.code}: {final.error.message}" if final.error else ""
        _error(f"generation {final.id} {final.status}{reason}")
        return 1
    if args.out is not None:
        for path in _save_images(client, final, args.out):
            print(f"saved {path}", file=sys.stderr)
    return 0


def _get(client: RegionalClient, args: argparse.Namespace) -> int:
    _print_json(client.get(args.id).model_dump(mode="json"))
    return 0


def _cancel(client: RegionalClient, args: argparse.Namespace) -> int:
    _print_json(client.cancel(args.id).model_dump(mode="json"))
    return 0


def _images(client: RegionalClient, args: argparse.Namespace) -> int:
    _print_json([str(path) for path in _save_images(client, args.id, args.out)])
    return 0


def _plan(client: RegionalClient, args: argparse.Namespace) -> int:
    layout = client.plan(args.prompt, width=args.width, height=args.height, planner=args.planner)
    _print_json(layout.model_dump(mode="json", exclude_none=True))
    return 0


def _list(client: RegionalClient, args: argparse.Namespace) -> int:
    _print_json([job.model_dump(mode="json") for job in client.list(status=args.status, limit=args.limit)])
    return 0


ACTIONS = {
    "submit": _submit,
    "get": _get,
    "wait": _wait,
    "cancel": _cancel,
    "images": _images,
    "plan": _plan,
    "list": _list,
}


class Progress:
    """``wait``'s events on stderr: a tqdm bar per stage on a terminal, a line per event elsewhere (a log
    file would fill with a bar's redraws)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.bar: Any = None

    def show(self, event: Event) -> None:
        data = event.data if isinstance(event.data, dict) else {}
        if event.event == "progress" and self.stream.isatty() and data.get("total_steps"):
            self._bar(data.get("stage") or "", data["total_steps"], data.get("step") or 0)
        elif event.event == "progress":
            print(f"{data.get('stage')} {data.get('step')}/{data.get('total_steps')}", file=self.stream)
        elif event.event == "status":
            self._close()
            print(f"{data.get('status')} (attempt {data.get('attempts')})", file=self.stream)
        elif event.event == "done":
            self._close()

    def _bar(self, stage: str, total: int, step: int) -> None:
        from tqdm import tqdm

        if self.bar is None or self.bar.desc != stage or self.bar.total != total:
            self._close()
            self.bar = tqdm(total=total, desc=stage, file=self.stream, unit="step")
        self.bar.n = step
        self.bar.refresh()

    def _close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._close()


def _save_images(client: RegionalClient, job: GenerationOut | str, out: Path) -> list[Path]:
    pngs = client.images(job)
    job_id = job if isinstance(job, str) else job.id
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for k, png in enumerate(pngs):
        path = out / f"{job_id}-{k}.png"
        path.write_bytes(png)
        paths.append(path)
    return paths


def _read_json(path: Path) -> Any:
    text = sys.stdin.read() if str(path) == "-" else path.read_text()
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ValueError(f"{path} is not JSON: {exc}") from exc


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2))


def _error(message: str) -> None:
    print(f"regional client: {message}", file=sys.stderr)
