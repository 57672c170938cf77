"""Prometheus metrics, read from Redis at scrape time so that every API replica reports the same numbers."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from worker import queues
from worker.keys import STAGES
from worker.store import JobStore

STAGE_NAMES = ("planning", "sampling", "decoding", "saving")


class ServiceCollector(Collector):
    def __init__(self, store: JobStore) -> None:
        self.store = store

    def collect(self) -> Iterator[Metric]:
        redis, keys = self.store.redis, self.store.keys
        depth = GaugeMetricFamily("regional_queue_depth", "Jobs waiting in each queue.", labels=["queue"])
        for stage, count in queues.queue_depths(redis, keys).items():
            depth.add_metric([stage], count)
        yield depth
        jobs = GaugeMetricFamily(
            "regional_generations",
            "Generations per status: current count for queued/running, total ever for final statuses.",
            labels=["status"],
        )
        for status, count in self.store.status_counts().items():
            jobs.add_metric([status], count)
        yield jobs
        workers = GaugeMetricFamily(
            "regional_workers_ready", "Live workers with their model loaded.", labels=["queue"]
        )
        ready = {stage: 0 for stage in STAGES}
        for info in queues.live_workers(redis, keys):
            for stage in info.get("queues", []):
                ready[stage] = ready.get(stage, 0) + 1
        for stage, count in ready.items():
            workers.add_metric([stage], count)
        yield workers
        outcomes, rejections = self.store.plan_counts()
        plans = CounterMetricFamily(
            "regional_plans",
            "Plans by backend and outcome: accepted (the LLM's layout), fallback (the offline planner took "
            "over), offline (asked of the offline planner).",
            labels=["backend", "outcome"],
        )
        for (backend, outcome), count in sorted(outcomes.items()):
            plans.add_metric([backend, outcome], count)
        yield plans
        rejected = CounterMetricFamily(
            "regional_plan_rejections",
            "LLM planner attempts rejected, by reason (a check category, unusable, unavailable, timeout).",
            labels=["backend", "reason"],
        )
        for (backend, reason), count in sorted(rejections.items()):
            rejected.add_metric([backend, reason], count)
        yield rejected
        webhooks = CounterMetricFamily(
            "regional_webhook_deliveries",
            "Webhook delivery attempts by outcome: delivered, failed (to be retried), given_up (the last).",
            labels=["outcome"],
        )
        for outcome, count in sorted(self.store.webhook_outcome_counts().items()):
            webhooks.add_metric([outcome], count)
        yield webhooks
        durations = HistogramMetricFamily(
            "regional_stage_duration_seconds", "Time spent in each job stage.", labels=["stage"]
        )
        for stage in STAGE_NAMES:
            buckets, total, _ = self.store.stage_histogram(stage)
            durations.add_metric([stage], buckets, sum_value=total)
        yield durations


def build_registry(store: JobStore) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ServiceCollector(store))
    return registry
