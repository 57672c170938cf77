"""``regional worker``: run a queue worker (the generation worker loads its model once, before serving)."""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys

QUEUE_CHOICES = {"generate": ("generate",), "plan": ("plan",), "all": ("generate", "plan")}


HELP = "Run a queue worker."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--queues",
        choices=sorted(QUEUE_CHOICES),
        default="all",
        help="generate: GPU sampling; plan: CPU planning; all: both (default)",
    )
    parser.add_argument("--name", help="worker name (default: host.pid)")
    parser.add_argument("--burst", action="store_true", help="exit when the queues are empty")
    parser.add_argument(
        "--check",
        action="store_true",
        help="health check: exit 0 if a worker on this host is live with its model loaded, else 1",
    )


def check(settings_redis_url: str, namespace: str) -> int:
    from redis import Redis

    from worker.keys import Keys
    from worker.queues import live_workers

    host = socket.gethostname()
    workers = live_workers(Redis.from_url(settings_redis_url, socket_timeout=5), Keys(namespace))
    return 0 if any(w.get("host") == host for w in workers) else 1


def run(args: argparse.Namespace) -> int:
    from rq.serializers import JSONSerializer

    from worker import tasks
    from worker.keys import GENERATE, Keys
    from worker.runner import LeasedSimpleWorker, Presence, worker_redis
    from worker.settings import get_service_settings

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = get_service_settings()
    if not settings.redis_url:
        print("error: REDIS_URL is not set (a worker needs the Redis of the API)", file=sys.stderr)
        return 2
    if args.check:
        return check(settings.redis_url, settings.namespace)
    stages = QUEUE_CHOICES[args.queues]
    name = args.name or f"{socket.gethostname()}.{os.getpid()}"
    redis = worker_redis(settings)
    info: dict = {"queues": list(stages)}
    if GENERATE in stages:
        from worker.runtime import Sampler

        sampler = Sampler.from_settings(settings)
        tasks.set_sampler(sampler)
        info.update(model=sampler.model, device=sampler.device)
        print(f"worker {name}: model {sampler.model!r} loaded on {sampler.device}", flush=True)
    keys = Keys(settings.namespace)
    worker = LeasedSimpleWorker(
        [keys.queue(stage) for stage in stages],
        connection=redis,
        serializer=JSONSerializer,
        name=name,
        namespace=settings.namespace,
        lease_s=settings.lease_s,
    )
    presence = Presence(redis, settings, name, info)
    presence.start()
    try:
        worker.work(burst=args.burst, logging_level="INFO")
    finally:
        presence.stopped.set()
        presence.join(timeout=5)
    return 0
