"""``regional drill``: run the fault drills against real processes and print what they measured."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

DRILLS = ("kills", "outage", "bad_inputs", "load")


HELP = "Fault drills against real processes: worker kills, Redis outage, load, bad input."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kills", type=int, default=100, help="worker SIGKILLs mid-job (default: 100)")
    parser.add_argument("--outage-s", type=float, default=15.0, help="seconds Redis is down (default: 15)")
    parser.add_argument(
        "--clients", type=int, default=50, help="concurrent clients of the load (default: 50)"
    )
    parser.add_argument(
        "--load-s", type=float, default=20.0, help="seconds of load per endpoint (default: 20)"
    )
    parser.add_argument("--lease-s", type=int, default=5, help="the workers' job lease (default: 5)")
    parser.add_argument("--reaper-interval-s", type=float, default=2.0, help="reaper interval (default: 2)")
    parser.add_argument(
        "--redis-retry-s",
        type=float,
        default=30.0,
        help="how long workers retry a Redis command (default: 30, the service's default)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a short run for CI: 5 kills; a 5 s outage past a 0.5 s retry budget (the running job is given "
        "up and retried); 20 clients for 3 s",
    )
    parser.add_argument("--only", nargs="+", choices=DRILLS, help="run only these drills")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--workdir", type=Path, help="keep Redis data and logs here (default: a temp dir)")


def run(args: argparse.Namespace) -> int:
    from drill import scenarios
    from drill.cluster import Cluster

    if args.quick:
        args.kills, args.outage_s, args.redis_retry_s, args.clients, args.load_s = 5, 5.0, 0.5, 20, 3.0
    chosen = args.only or DRILLS
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="regional-drill-"))
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"drill: processes, Redis data and logs in {workdir}", flush=True)
    cluster = Cluster(workdir, args.lease_s, args.reaper_interval_s, args.redis_retry_s)
    outcomes = []
    started = time.monotonic()
    try:
        cluster.start_redis()
        cluster.start_api()
        steps = {
            "kills": lambda: scenarios.worker_kills(cluster, args.kills),
            "outage": lambda: scenarios.redis_outage(cluster, args.outage_s),
            "bad_inputs": lambda: scenarios.bad_inputs(cluster),
            "load": lambda: scenarios.load(cluster, args.clients, args.load_s),
        }
        for name in DRILLS:
            if name not in chosen:
                continue
            print(f"\n== {name}", flush=True)
            outcome = steps[name]()
            outcomes.append(outcome)
            print(json.dumps(outcome.figures, indent=2), flush=True)
            for failure in outcome.failures:
                print(f"FAILED: {failure}", flush=True)
    finally:
        cluster.close()
    failures = [f"{o.name}: {f}" for o in outcomes for f in o.failures]
    report = {
        "drills": {o.name: o.figures for o in outcomes},
        "failures": failures,
        "settings": {
            "lease_s": args.lease_s,
            "reaper_interval_s": args.reaper_interval_s,
            "redis_retry_s": args.redis_retry_s,
        },
        "seconds": round(time.monotonic() - started, 1),
    }
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    verdict = "all promises held" if not failures else f"{len(failures)} promises broken"
    print(f"\ndrill: {verdict} ({report['seconds']} s)", flush=True)
    return 0 if not failures else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="regional drill")
    add_arguments(parser)
    sys.exit(run(parser.parse_args()))
