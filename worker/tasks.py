"""The two stage functions RQ runs: ``plan_stage`` (CPU queue) and ``generate_stage`` (GPU queue).

Both take (generation_id, namespace), claim the job for one attempt (``JobStore.claim``: a second run of
the same job, e.g. one RQ retried twice, finds it held and does nothing), and end every outcome they can
see themselves (success, cancel, bad parameters, out of memory, timeout, any error) by writing the record,
fenced by their attempt. They raise only when Redis itself is unreachable past the worker's reconnect
budget: RQ's failure path and the lease are left for what a stage cannot record, a worker that died.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from rq import get_current_job
from rq.timeouts import JobTimeoutException

from regional.layout import Layout
from worker.exceptions import INTERNAL_ERROR_MESSAGE, REDIS_UNREACHABLE, AttemptLost, JobCanceled, WorkerError
from worker.keys import GENERATE, PLAN, Keys
from worker.queues import enqueue_stage, stage_timeout_s
from worker.results import ResultStore
from worker.settings import get_service_settings
from worker.store import ACTIVE, CANCELED, QUEUED, RUNNING, SUCCEEDED, JobStore

logger = logging.getLogger(__name__)

_sampler = None
"""The warm ``worker.runtime.Sampler`` of this process, set by the worker at start."""


def set_sampler(sampler: Any) -> None:
    global _sampler
    _sampler = sampler


def _get_sampler() -> Any:
    if _sampler is None:
        from worker.runtime import Sampler

        settings = get_service_settings()
        set_sampler(Sampler.from_settings(settings))
    return _sampler


@dataclass
class Attempt:
    """One run of a stage on a job. While it holds the claim it is the only writer of the record; every
    write is fenced by ``token``, so a run that lost the job (the reaper handed it to another worker after
    this one's lease lapsed) cannot overwrite the winner's."""

    store: JobStore
    generation_id: str
    token: str

    @classmethod
    def start(cls, namespace: str, generation_id: str, stage: str, **fields: Any) -> Attempt | None:
        """Claim the job's ``stage`` for this run; None when it is not there to run (gone, canceled,
        finished, in another stage, or held by another live attempt)."""
        job = get_current_job()
        if job is None:
            raise RuntimeError("stage functions run inside an RQ worker")
        settings = get_service_settings()
        store = JobStore(job.connection, namespace, settings.job_ttl_s)
        worker_name = job.worker_name or ""
        attempt = cls(store, generation_id, f"{worker_name}/{uuid.uuid4().hex[:12]}")
        if not store.claim(
            generation_id, stage, attempt.token, settings.lease_s, worker=worker_name, **fields
        ):
            logger.info(
                "generation %s: not claimed by this run (not queued, or held by another)", generation_id
            )
            return None
        logger.info("generation %s: attempt %s started", generation_id, attempt.token)
        return attempt

    def check(self) -> None:
        """Raise ``JobCanceled`` when a cancel was requested, ``AttemptLost`` when the job was taken over."""
        state = self.store.attempt_state(self.generation_id, self.token)
        if state == "canceled":
            raise JobCanceled()
        if state == "lost":
            raise AttemptLost()

    def update(self, **fields: Any) -> None:
        if not self.store.update(self.generation_id, attempt=self.token, **fields):
            raise AttemptLost()

    def transition(self, allowed: Iterable[str], status: str, **fields: Any) -> bool:
        return self.store.transition(self.generation_id, allowed, status, attempt=self.token, **fields)

    def fail(self, code: str, message: str) -> None:
        self.store.fail(self.generation_id, code, message, attempt=self.token)

    def end(self) -> None:
        self.store.release_lease(self.generation_id, self.token)


def _run_guarded(attempt: Attempt, body: Callable[[], None], timeout_s: int) -> None:
    """Run a stage body; map whatever it raises to the record's terminal state, then end the attempt."""
    generation_id = attempt.generation_id
    try:
        body()
    except AttemptLost:
        logger.warning(
            "generation %s: attempt %s lost the job; stopped without writing", generation_id, attempt.token
        )
        return
    except REDIS_UNREACHABLE:
        logger.error("generation %s: attempt %s gave up: Redis unreachable", generation_id, attempt.token)
        raise  # nothing can be recorded now: the lease lapses and the job is retried once Redis is back
    except JobCanceled:
        attempt.transition(ACTIVE, CANCELED, t_finished=time.time())
    except WorkerError as exc:
        attempt.fail(exc.code, str(exc))
    except JobTimeoutException:
        attempt.fail("timeout", f"the stage ran longer than its timeout ({timeout_s} s)")
    except ValueError as exc:
        attempt.fail("invalid_parameters", str(exc))
    except Exception:
        logger.exception("generation %s failed", generation_id)
        attempt.fail("internal_error", INTERNAL_ERROR_MESSAGE)
    attempt.end()
    logger.info("generation %s: attempt %s ended", generation_id, attempt.token)


def plan_stage(generation_id: str, namespace: str) -> None:
    """Plan the prompt into a layout, then hand the job to the generation queue."""
    started = time.time()
    attempt = Attempt.start(
        namespace, generation_id, stage=PLAN, progress={"stage": "planning"}, t_plan_started=started
    )
    if attempt is None:
        return  # gone, canceled, held by another run, or a retry of a planning that handed the job over
    store = attempt.store
    request = store.get(generation_id)["request"]

    def body() -> None:
        from planner import plan_report

        try:
            report = plan_report(
                request["prompt"],
                width=request["width"],
                height=request["height"],
                backend=request.get("planner"),
            )
        except JobTimeoutException:
            raise
        except ValueError as exc:  # the prompt or the canvas: the planner's messages are meant for clients
            attempt.fail("planning_failed", str(exc))
            return
        except Exception:  # a backend's own error (network, model): logged, not stored
            logger.exception("generation %s: planning failed", generation_id)
            attempt.fail("planning_failed", "the planner failed; the details are in the service log")
            return
        layout = report.layout
        store.count_plan(report.backend, report.outcome, report.rejections)
        finished = time.time()
        store.observe_stage("planning", finished - started)
        attempt.check()
        settings = get_service_settings().model_copy(update={"namespace": namespace})
        handed_over = attempt.transition(
            (RUNNING,),
            QUEUED,
            layout=layout.model_dump(mode="json", exclude_none=True),
            stage_queue=GENERATE,
            rq_job=Keys(namespace).rq_job_id(generation_id, GENERATE),
            progress={"stage": "planning", "fraction": 1.0},
            t_plan_finished=finished,
            worker="",
        )
        if handed_over:
            enqueue_stage(store.redis, settings, generation_id, GENERATE)

    _run_guarded(attempt, body, stage_timeout_s(get_service_settings(), PLAN))


def generate_stage(generation_id: str, namespace: str) -> None:
    """Sample the layout on the warm pipeline, store the images, end the job ``succeeded``."""
    settings = get_service_settings()
    sampler = _get_sampler()
    started = time.time()
    attempt = Attempt.start(
        namespace,
        generation_id,
        stage=GENERATE,
        progress={"stage": "sampling", "step": 0, "total_steps": None, "fraction": 0.0},
        t_sampling_started=started,
    )
    if attempt is None:
        return
    store = attempt.store
    record = store.get(generation_id)

    def body() -> None:
        from worker.runtime import png_with_parameters

        attempt.check()
        layout = Layout.model_validate(record["layout"])
        params = sampler.effective_parameters(record["parameters"])
        attempt.update(parameters=params)
        marks = {"sampling_done": started}
        last_write = [0.0]

        def on_step(done: int, total: int) -> None:
            attempt.check()
            now = time.monotonic()
            if done == total:
                marks["sampling_done"] = time.time()
                progress = {"stage": "decoding", "step": done, "total_steps": total, "fraction": 1.0}
            elif now - last_write[0] >= settings.progress_interval_s:
                progress = {
                    "stage": "sampling",
                    "step": done,
                    "total_steps": total,
                    "fraction": round(done / total, 4),
                }
            else:
                return
            last_write[0] = now
            attempt.update(progress=progress)

        results = ResultStore(settings.results_url)
        images = sampler.sample(layout, params, on_step, read_input=results.get_input)
        decoded = time.time()
        attempt.update(
            progress={
                "stage": "saving",
                "step": params["steps"],
                "total_steps": params["steps"],
                "fraction": 1.0,
            },
        )
        outputs = []
        for index, image in enumerate(images):
            doc = _metadata(layout, params, sampler, index)
            sha256 = results.put(png_with_parameters(image, layout, doc), doc)
            outputs.append({"index": index, "sha256": sha256, "width": image.width, "height": image.height})
        finished = time.time()
        store.observe_stage("sampling", marks["sampling_done"] - started)
        store.observe_stage("decoding", decoded - marks["sampling_done"])
        store.observe_stage("saving", finished - decoded)
        if not attempt.transition(
            (RUNNING,),
            SUCCEEDED,
            outputs=outputs,
            t_sampling_finished=marks["sampling_done"],
            t_finished=finished,
        ):
            logger.info("generation %s: taken over while saving; images kept", generation_id)

    _run_guarded(attempt, body, stage_timeout_s(settings, GENERATE))


def _metadata(layout: Layout, params: dict[str, Any], sampler: Any, index: int) -> dict[str, Any]:
    """All that is needed to reproduce image ``index`` of the batch."""
    from worker.runtime import package_versions

    return {
        "layout": layout.model_dump(mode="json", exclude_none=True),
        "parameters": params,
        "image_index": index,
        "model": sampler.model_info,
        "versions": package_versions(),
    }
