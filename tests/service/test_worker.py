"""The queue side without HTTP: a real RQ worker in this process with a fake sampler, and the job store."""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Iterator
from types import SimpleNamespace

import pytest
import torch
from PIL import Image
from redis import Redis
from rq.exceptions import AbandonedJobError
from rq.serializers import JSONSerializer

from regional.families.flux import SCHNELL
from regional.layout import Layout
from worker import tasks
from worker.callbacks import on_stage_failure
from worker.keys import GENERATE, PLAN, Keys
from worker.queues import enqueue_stage, fetch_job, queue, reap_if_due, requeue_lost_enqueues
from worker.runner import LeasedSimpleWorker
from worker.runtime import Sampler
from worker.settings import ServiceSettings
from worker.store import FAILED, QUEUED, RUNNING, SUCCEEDED, JobStore, decode_cursor

LAYOUT = Layout(
    width=64, height=64, base_prompt="a red car", regions=[{"prompt": "a fox", "box": [0, 0, 0.5, 0.5]}]
)


class FakePipe:
    """Stands in for the pipeline: the first call runs out of GPU memory, later ones draw grey images."""

    sampling_defaults = SCHNELL
    family = "flux"

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, layout: Layout, num_inference_steps: int, num_images_per_prompt: int,
                 callback_on_step_end, **kwargs) -> SimpleNamespace:  # fmt: skip
        self.calls += 1
        if self.calls == 1:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        for step in range(num_inference_steps):
            callback_on_step_end(self, step, None, {})
        return SimpleNamespace(
            images=[Image.new("RGB", (layout.width, layout.height), "grey")] * num_images_per_prompt
        )


def fake_sampler(pipe=None) -> Sampler:
    return Sampler(pipe=pipe or FakePipe(), model="fake", device="cpu", model_info={"id": "fake"})


@pytest.fixture
def settings(redis_url: str, tmp_path) -> Iterator[ServiceSettings]:
    """Settings with a fresh namespace; its keys (ours and RQ's) are deleted afterwards."""
    namespace = f"test-{uuid.uuid4().hex[:12]}"
    yield ServiceSettings(redis_url=redis_url, namespace=namespace, results_url=str(tmp_path), max_retries=0)
    redis = Redis.from_url(redis_url)
    for pattern in (f"{namespace}:*", f"rq:*{namespace}*"):
        for key in redis.scan_iter(match=pattern, count=500):
            redis.delete(key)


@pytest.fixture
def redis(redis_url: str) -> Redis:
    return Redis.from_url(redis_url)


def new_layout_job(store: JobStore, settings: ServiceSettings, redis: Redis) -> str:
    generation_id = "gen_" + uuid.uuid4().hex
    store.create(
        generation_id,
        "owner",
        {"request": {"prompt": None}, "parameters": {"steps": 2, "num_images": 1, "seed": 1},
         "layout": LAYOUT.model_dump(mode="json"), "stage_queue": GENERATE,
         "rq_job": store.keys.rq_job_id(generation_id, GENERATE)},
    )  # fmt: skip
    enqueue_stage(redis, settings, generation_id, GENERATE)
    return generation_id


def work_generate_queue(settings, redis, sampler: Sampler, max_jobs: int, lease_s: int | None = None) -> None:
    """Run a burst worker on the generate queue with ``sampler`` installed, then uninstall it."""
    tasks.set_sampler(sampler)
    try:
        worker = LeasedSimpleWorker([Keys(settings.namespace).queue(GENERATE)], connection=redis,
                                    serializer=JSONSerializer, namespace=settings.namespace,
                                    lease_s=lease_s or 30)  # fmt: skip
        worker.work(burst=True, max_jobs=max_jobs)
    finally:
        tasks.set_sampler(None)


def test_gpu_oom_fails_that_job_and_the_worker_goes_on(settings, redis, monkeypatch) -> None:
    monkeypatch.setenv("RESULTS_URL", settings.results_url)
    tasks.get_service_settings.cache_clear()
    store = JobStore(redis, settings.namespace)
    first, second = new_layout_job(store, settings, redis), new_layout_job(store, settings, redis)
    try:
        work_generate_queue(settings, redis, fake_sampler(), max_jobs=2, lease_s=5)
    finally:
        tasks.get_service_settings.cache_clear()
    oom, ok = store.get(first), store.get(second)
    assert oom["status"] == FAILED and oom["error"]["code"] == "gpu_oom"
    assert ok["status"] == SUCCEEDED and len(ok["outputs"]) == 1, ok
    assert ok["progress"]["stage"] == "saving" and ok["attempts"] == 1
    counts = store.status_counts()
    assert counts[FAILED] == 1 and counts[SUCCEEDED] == 1 and counts[QUEUED] == 0 and counts[RUNNING] == 0


def test_lost_worker_without_retries_left_fails_with_worker_lost(settings, redis) -> None:
    store = JobStore(redis, settings.namespace)
    generation_id = new_layout_job(store, settings, redis)
    assert store.transition(generation_id, [QUEUED], RUNNING)
    job = fetch_job(redis, store.keys.rq_job_id(generation_id, GENERATE))
    on_stage_failure(job, redis, AbandonedJobError, AbandonedJobError(), None)
    record = store.get(generation_id)
    assert record["status"] == FAILED and record["error"]["code"] == "worker_lost"


def test_lost_worker_with_retries_left_requeues(settings, redis) -> None:
    settings = settings.model_copy(update={"max_retries": 2})
    store = JobStore(redis, settings.namespace)
    generation_id = new_layout_job(store, settings, redis)
    store.transition(generation_id, [QUEUED], RUNNING)
    job = fetch_job(redis, store.keys.rq_job_id(generation_id, GENERATE))
    assert job.retries_left == 2
    on_stage_failure(job, redis, AbandonedJobError, AbandonedJobError(), None)
    record = store.get(generation_id)
    assert record["status"] == QUEUED and record["last_error"]["code"] == "worker_lost"


def test_transition_is_a_compare_and_set(settings, redis) -> None:
    store = JobStore(redis, settings.namespace)
    store.create("gen_a", "owner", {"request": {}, "parameters": {}})
    assert store.transition("gen_a", [QUEUED], "canceled", t_finished=time.time())
    assert not store.transition("gen_a", [QUEUED], RUNNING)  # the worker loses the race to the cancel
    assert not store.transition("gen_missing", [QUEUED], RUNNING)
    assert store.get("gen_a")["status"] == "canceled"
    assert store.status_counts()["canceled"] == 1 and store.status_counts()[QUEUED] == 0


def test_idempotency_and_pagination_in_the_store(settings, redis) -> None:
    store = JobStore(redis, settings.namespace)
    assert store.create("gen_1", "o", {"request": {}}, ("k", "hash1")) == ("gen_1", True)
    assert store.create("gen_2", "o", {"request": {}}, ("k", "hash1")) == ("gen_1", False)
    with pytest.raises(Exception, match="different request body"):
        store.create("gen_3", "o", {"request": {}}, ("k", "hash2"))
    for index in range(5):
        store.create(f"gen_p{index}", "p", {"request": {}})
    redis.zadd(store.keys.owner_index("p"), {f"gen_p{i}": 1000 for i in range(5)})  # equal timestamps
    seen, cursor = [], None
    while True:
        page, cursor = store.list("p", cursor=cursor, limit=2)
        seen += [r["id"] for r in page]
        if cursor is None:
            break
        assert decode_cursor(cursor)[0] == 1000
    assert sorted(seen) == [f"gen_p{i}" for i in range(5)] and len(seen) == 5


class SlowPipe(FakePipe):
    """Never runs out of memory; sleeps a second per step."""

    def __call__(self, layout: Layout, num_inference_steps: int, num_images_per_prompt: int,
                 callback_on_step_end, **kwargs) -> SimpleNamespace:  # fmt: skip
        for step in range(num_inference_steps):
            time.sleep(1.0)
            callback_on_step_end(self, step, None, {})
        return SimpleNamespace(images=[])


def test_a_stage_over_its_timeout_fails_with_timeout_and_the_worker_goes_on(
    settings, redis, monkeypatch
) -> None:
    settings = settings.model_copy(update={"job_timeout_s": 1})
    store = JobStore(redis, settings.namespace)
    slow, after = new_layout_job(store, settings, redis), new_layout_job(store, settings, redis)
    pipe = SlowPipe()
    pipe.calls = 1  # skip FakePipe's out-of-memory call
    started = time.monotonic()
    work_generate_queue(settings, redis, fake_sampler(pipe), max_jobs=2)
    assert time.monotonic() - started < 6  # two 1 s timeouts, not two 2-step sleeps plus more
    for generation_id in (slow, after):
        record = store.get(generation_id)
        assert record["status"] == FAILED and record["error"]["code"] == "timeout", record


def test_a_stale_stage_failure_does_not_touch_a_job_that_moved_on(settings, redis) -> None:
    """A planning job reaped after it handed the generation over must not requeue or fail the generation."""
    store = JobStore(redis, settings.namespace)
    generation_id = new_layout_job(store, settings, redis)  # on the generate stage
    store.transition(generation_id, [QUEUED], RUNNING)
    plan_job = SimpleNamespace(
        args=[generation_id, settings.namespace], func_name="worker.tasks.plan_stage", retries_left=0
    )
    on_stage_failure(plan_job, redis, AbandonedJobError, AbandonedJobError(), None)
    assert store.get(generation_id)["status"] == RUNNING


def test_result_store_is_content_addressed_on_any_fsspec_filesystem() -> None:
    from worker.results import ResultStore

    store = ResultStore(f"memory://results-{uuid.uuid4().hex}")
    sha = store.put(b"\x89PNG fake", {"seed": 3})
    assert sha == hashlib.sha256(b"\x89PNG fake").hexdigest()
    assert store.put(b"\x89PNG fake", {"seed": 3}) == sha  # same bytes, same address
    assert store.get_png(sha) == b"\x89PNG fake" and store.get_metadata(sha) == {"seed": 3}
    with pytest.raises(FileNotFoundError):
        store.get_png("0" * 64)
    with pytest.raises(ValueError):
        store.get_png("../../etc/passwd")


def _start_and_abandon(store: JobStore, settings: ServiceSettings, redis: Redis) -> str:
    """A generation whose worker took it, then stopped renewing its 1 s lease (as if killed)."""
    generation_id = new_layout_job(store, settings, redis)
    worker = LeasedSimpleWorker([Keys(settings.namespace).queue(GENERATE)], connection=redis,
                                serializer=JSONSerializer, namespace=settings.namespace, lease_s=1)  # fmt: skip
    job, _ = worker.dequeue_job_and_maintain_ttl(1)
    worker.prepare_execution(job)
    worker.prepare_job_execution(job)
    assert store.transition(generation_id, [QUEUED], RUNNING)
    time.sleep(1.5)
    return generation_id


def test_reaper_in_a_thread_fails_a_lost_job(settings, redis) -> None:
    """The API and the workers reap from threads, where SIGALRM cannot be armed: the record must still end."""
    import threading

    from worker.queues import reap_lost_jobs

    store = JobStore(redis, settings.namespace)
    generation_id = _start_and_abandon(store, settings, redis)
    reaper = threading.Thread(target=reap_lost_jobs, args=(redis, Keys(settings.namespace)))
    reaper.start()
    reaper.join(timeout=30)
    record = store.get(generation_id)
    assert record["status"] == FAILED and record["error"]["code"] == "worker_lost", record
    assert store.status_counts()[RUNNING] == 0


def _lost_enqueue(store: JobStore, settings: ServiceSettings, stage: str) -> str:
    """A queued record whose stage never reached RQ, queued for longer than the grace period."""
    generation_id = "gen_" + uuid.uuid4().hex
    fields = {"request": {"prompt": "a fox", "width": 64, "height": 64}, "parameters": {"steps": 2},
              "stage_queue": PLAN, "rq_job": store.keys.rq_job_id(generation_id, PLAN)}  # fmt: skip
    store.create(generation_id, "owner", fields)
    if stage == GENERATE:  # the plan worker handed the job over, then died before enqueueing it
        assert store.transition(generation_id, [QUEUED], RUNNING)
        assert store.transition(
            generation_id, [RUNNING], QUEUED, layout=LAYOUT.model_dump(mode="json"), stage_queue=GENERATE,
            rq_job=store.keys.rq_job_id(generation_id, GENERATE),
        )  # fmt: skip
    store.redis.zadd(store.keys.queued_index(), {generation_id: time.time() - settings.requeue_grace_s - 1})
    return generation_id


@pytest.mark.parametrize("stage", [PLAN, GENERATE], ids=["api_died_before_enqueue", "plan_worker_died"])
def test_reaper_enqueues_a_queued_job_that_never_reached_its_queue_once(settings, redis, stage) -> None:
    settings = settings.model_copy(update={"max_retries": 1, "reaper_interval_s": 0.1})
    store, keys = JobStore(redis, settings.namespace), Keys(settings.namespace)
    recent = new_layout_job(store, settings, redis)  # enqueued normally: never touched
    redis.delete(f"rq:job:{keys.rq_job_id(recent, GENERATE)}")  # lost, but within the grace period
    generation_id = _lost_enqueue(store, settings, stage)
    if stage == PLAN:  # a retried plan stage sees the job has moved on and leaves it alone
        assert requeue_lost_enqueues(redis, settings) == [generation_id]
    else:
        assert reap_if_due(redis, settings)  # the sweep runs inside the reaper
    rq_job_id = keys.rq_job_id(generation_id, stage)
    assert fetch_job(redis, rq_job_id).get_status() == "queued"
    assert store.get(generation_id)["status"] == QUEUED and store.get(generation_id)["requeues"] == 1
    # nothing runs twice: a late enqueue by the process that was thought dead, and later sweeps, are no-ops
    enqueue_stage(redis, settings, generation_id, stage)
    redis.zadd(keys.queued_index(), {generation_id: 0})
    assert requeue_lost_enqueues(redis, settings) == []
    assert queue(redis, keys, stage).job_ids.count(rq_job_id) == 1
    assert store.get(recent)["status"] == QUEUED and store.get(recent).get("requeues") is None


def test_a_job_lost_from_its_queue_past_its_retries_fails_with_queue_lost(settings, redis) -> None:
    settings = settings.model_copy(update={"max_retries": 1})
    store = JobStore(redis, settings.namespace)
    generation_id = _lost_enqueue(store, settings, GENERATE)
    assert requeue_lost_enqueues(redis, settings) == [generation_id]
    fetch_job(redis, store.keys.rq_job_id(generation_id, GENERATE)).delete()  # lost again
    redis.zadd(store.keys.queued_index(), {generation_id: 0})
    assert requeue_lost_enqueues(redis, settings) == []
    record = store.get(generation_id)
    assert record["status"] == FAILED and record["error"]["code"] == "queue_lost", record
    assert store.status_counts()[QUEUED] == 0 and redis.zcard(store.keys.queued_index()) == 0


class BrokenPipe(FakePipe):
    def __call__(self, *args, **kwargs) -> SimpleNamespace:
        raise RuntimeError("cannot open /srv/secret/model.safetensors?token=hunter2")


def test_unexpected_errors_are_logged_not_stored_in_the_job(settings, redis, caplog) -> None:
    store = JobStore(redis, settings.namespace)
    generation_id = new_layout_job(store, settings, redis)
    work_generate_queue(settings, redis, fake_sampler(BrokenPipe()), max_jobs=1)
    error = store.get(generation_id)["error"]
    assert error["code"] == "internal_error" and "hunter2" not in error["message"], error
    assert "hunter2" in caplog.text and generation_id in caplog.text


def test_effective_parameters_come_from_the_pipelines_sampling_defaults() -> None:
    from dataclasses import fields

    from regional.defaults import SamplingDefaults
    from regional.families.flux import DEV
    from worker.runtime import DEFAULTED_PARAMETERS

    assert set(DEFAULTED_PARAMETERS.values()) == {f.name for f in fields(SamplingDefaults)} - {
        "max_sequence_length"
    }
    sampler = Sampler(pipe=SimpleNamespace(sampling_defaults=DEV, family="flux"), model="fake", device="cpu")
    unset = dict.fromkeys(DEFAULTED_PARAMETERS, None) | {"seed": 3, "num_images": 1}
    assert sampler.effective_parameters(unset) == {
        "steps": 24, "guidance": 3.5, "base_ratio": 0.2, "inject_steps": 10, "double_inject_interval": 1,
        "single_inject_interval": 2, "seed": 3, "num_images": 1, "model": "fake", "family": "flux",
    }  # fmt: skip
    few_steps = sampler.effective_parameters(unset | {"steps": 4, "guidance": 0.0})
    assert few_steps["inject_steps"] == 4 and few_steps["guidance"] == 0.0  # T clipped; 0 is not unset
    assert sampler.effective_parameters(unset | {"steps": 4, "inject_steps": 0})["inject_steps"] == 0


def test_sampler_load_picks_the_model_the_library_picks(monkeypatch) -> None:
    import regional.loading

    loaded = []
    pipe = SimpleNamespace(set_progress_bar_config=lambda **_: None, transformer=SimpleNamespace(dtype="x"))
    monkeypatch.setattr(regional.loading, "default_model", lambda device: f"chosen-for-{device}")
    monkeypatch.setattr(regional.loading, "load_pipeline", lambda model, **kw: loaded.append(model) or pipe)
    sampler = Sampler.load(None)
    assert loaded == [f"chosen-for-{sampler.device}"] and sampler.model == loaded[0]
    assert Sampler.load("schnell").model == "schnell"


def test_one_attempt_holds_a_job_and_a_superseded_one_cannot_write(settings, redis) -> None:
    store = JobStore(redis, settings.namespace)
    generation_id = new_layout_job(store, settings, redis)
    assert not store.claim(generation_id, PLAN, "w1/a", lease_s=0.3)  # the job is on the generate stage
    assert store.claim(generation_id, GENERATE, "w1/a", lease_s=0.3, worker="w1")
    assert not store.claim(generation_id, GENERATE, "w2/b", lease_s=0.3)  # held: a second run does nothing
    assert store.attempt_state(generation_id, "w1/a") == "ok"
    assert store.renew_lease(generation_id, "w1", lease_s=0.3) and not store.renew_lease(
        generation_id, "w2", 1
    )
    time.sleep(0.5)  # w1 stopped renewing (killed) and nothing handed the job back: another run may take it
    assert store.claim(generation_id, GENERATE, "w2/b", lease_s=5, worker="w2")
    assert store.attempt_state(generation_id, "w1/a") == "lost"
    assert not store.update(generation_id, attempt="w1/a", progress={"stage": "sampling"})
    assert not store.transition(generation_id, [RUNNING], SUCCEEDED, attempt="w1/a")
    assert not store.fail(generation_id, "internal_error", "late", attempt="w1/a")
    store.request_cancel(generation_id)
    assert store.attempt_state(generation_id, "w2/b") == "canceled"
    assert store.transition(generation_id, [RUNNING], SUCCEEDED, attempt="w2/b")
    record = store.get(generation_id)
    assert record["attempts"] == 2 and record["worker"] == "w2" and record["attempt"] == "w2/b"
    assert store.status_counts()[RUNNING] == 0 and store.status_counts()[SUCCEEDED] == 1


def test_a_job_queued_twice_is_sampled_once(settings, redis, caplog) -> None:
    """RQ retried the same job twice (two cleanups at once): the second run finds it held or done."""
    store = JobStore(redis, settings.namespace)
    generation_id = new_layout_job(store, settings, redis)
    rq_job_id = store.keys.rq_job_id(generation_id, GENERATE)
    queue(redis, Keys(settings.namespace), GENERATE).push_job_id(rq_job_id)
    pipe = FakePipe()
    pipe.calls = 1  # skip FakePipe's out-of-memory call
    with caplog.at_level("INFO", logger="worker.tasks"):
        work_generate_queue(settings, redis, fake_sampler(pipe), max_jobs=2)
    record = store.get(generation_id)
    assert record["status"] == SUCCEEDED and record["attempts"] == 1 and pipe.calls == 2, record
    assert "not claimed by this run" in caplog.text


def test_rq_maintenance_and_the_reaper_never_retry_a_lost_job_twice(settings, redis) -> None:
    """Both hand abandoned jobs back; they take one mutex, so a job goes back to its queue once."""
    import threading

    from worker.queues import reaping

    settings = settings.model_copy(update={"max_retries": 2, "reaper_interval_s": 0.01})
    store, keys = JobStore(redis, settings.namespace), Keys(settings.namespace)
    worker = LeasedSimpleWorker([keys.queue(GENERATE)], connection=redis, serializer=JSONSerializer,
                                namespace=settings.namespace)  # fmt: skip
    generation_id = _start_and_abandon(store, settings, redis)
    rq_job_id = keys.rq_job_id(generation_id, GENERATE)
    with reaping(redis, keys) as held:  # another process is reaping: RQ's maintenance waits its turn
        assert held
        worker.clean_registries()
    assert (
        store.get(generation_id)["status"] == RUNNING
        and rq_job_id not in queue(redis, keys, GENERATE).job_ids
    )
    start = threading.Barrier(2)

    def reap() -> None:
        start.wait()
        reap_if_due(redis, settings)

    # RQ's maintenance runs in the worker's main thread, as in a worker process: its cleanup runs the failure
    # callback under RQ's SIGALRM death penalty, which works in the main thread only.
    reaper = threading.Thread(target=reap)
    reaper.start()
    start.wait()
    worker.clean_registries()
    reaper.join(timeout=30)
    assert queue(redis, keys, GENERATE).job_ids.count(rq_job_id) == 1
    record = store.get(generation_id)
    assert record["status"] == QUEUED and record["last_error"]["code"] == "worker_lost", record


def test_claiming_again_with_the_same_attempt_renews_it(settings, redis) -> None:
    """redis-py retries a script whose reply was lost (Redis killed after it ran): the claim stands."""
    store = JobStore(redis, settings.namespace)
    generation_id = new_layout_job(store, settings, redis)
    assert store.claim(generation_id, GENERATE, "w1/a", lease_s=5)
    assert store.claim(generation_id, GENERATE, "w1/a", lease_s=5)
    assert store.get(generation_id)["attempts"] == 1 and store.status_counts()[RUNNING] == 1


def test_a_handed_back_job_takes_no_writes_from_its_old_attempt(settings, redis) -> None:
    store = JobStore(redis, settings.namespace)
    generation_id = new_layout_job(store, settings, redis)
    assert store.claim(generation_id, GENERATE, "w1/a", lease_s=5)
    job = fetch_job(redis, store.keys.rq_job_id(generation_id, GENERATE))
    job.retries_left = 1
    on_stage_failure(job, redis, AbandonedJobError, AbandonedJobError(), None)  # w1 was thought dead
    assert store.get(generation_id)["status"] == QUEUED
    assert not store.update(generation_id, attempt="w1/a", progress={"stage": "sampling", "step": 3})
    assert store.attempt_state(generation_id, "w1/a") == "lost"
    assert "progress" not in store.get(generation_id)  # the claim set none here; the stale write was refused


def test_a_job_canceled_before_its_worker_was_lost_ends_canceled(settings, redis) -> None:
    store = JobStore(redis, settings.namespace)
    generation_id = new_layout_job(store, settings, redis)
    assert store.claim(generation_id, GENERATE, "w1/a", lease_s=5)
    store.request_cancel(generation_id)
    job = fetch_job(redis, store.keys.rq_job_id(generation_id, GENERATE))
    job.retries_left = 2
    on_stage_failure(job, redis, AbandonedJobError, AbandonedJobError(), None)
    assert store.get(generation_id)["status"] == "canceled"


def test_a_run_orphaned_behind_a_finished_rq_job_is_handed_back_and_queued_again(settings, redis) -> None:
    """A second run of the job found it held and ended, so RQ calls the stage finished; then the attempt
    holding it dies. RQ's cleanup skips a finished job: the reaper's sweep must still hand it back."""
    settings = settings.model_copy(update={"max_retries": 2, "reaper_interval_s": 0.01})
    store, keys = JobStore(redis, settings.namespace), Keys(settings.namespace)
    generation_id = new_layout_job(store, settings, redis)
    rq_job_id = keys.rq_job_id(generation_id, GENERATE)
    queue(redis, keys, GENERATE).remove(rq_job_id)
    fetch_job(redis, rq_job_id).set_status("finished")
    assert store.claim(generation_id, GENERATE, "w1/a", lease_s=0.2)  # the holder, killed at once
    assert reap_if_due(redis, settings)
    assert store.get(generation_id)["status"] == RUNNING  # its lease has not expired yet
    time.sleep(0.3)
    assert reap_if_due(redis, settings)
    record = store.get(generation_id)
    assert record["status"] == QUEUED and record["last_error"]["code"] == "worker_lost", record
    assert record["requeues"] == 1 and fetch_job(redis, rq_job_id).get_status() == "queued"
    assert redis.zcard(keys.running_index()) == 0 and store.status_counts()[RUNNING] == 0
