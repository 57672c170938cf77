"""The two stage functions RQ runs: ``plan_stage`` (CPU queue) and ``generate_stage`` (GPU queue).

Both take (generation_id, namespace), read the job record, and end every outcome they can see themselves
(success, cancel, bad parameters, out of memory, timeout, any error) by writing the record; they never
raise, so RQ's own failure path is left for what they cannot see: a worker that died.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from rq import get_current_job
from rq.timeouts import JobTimeoutException

from regional.layout import Layout
from worker.exceptions import INTERNAL_ERROR_MESSAGE, JobCanceled, WorkerError
from worker.keys import GENERATE, PLAN, Keys
from worker.queues import enqueue_stage
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
        set_sampler(Sampler.load(settings.model, settings.dtype, settings.cpu_offload))
    return _sampler


def _context(namespace: str) -> tuple[JobStore, str]:
    job = get_current_job()
    if job is None:
        raise RuntimeError("stage functions run inside an RQ worker")
    return JobStore(job.connection, namespace, get_service_settings().job_ttl_s), job.worker_name or ""


def _cancel(store: JobStore, generation_id: str) -> None:
    store.transition(generation_id, ACTIVE, CANCELED, t_finished=time.time())


def _run_guarded(store: JobStore, generation_id: str, body: Callable[[], None], timeout_s: int) -> None:
    """Run a stage body; map whatever it raises to the record's terminal state."""
    try:
        body()
    except JobCanceled:
        _cancel(store, generation_id)
    except WorkerError as exc:
        store.fail(generation_id, exc.code, str(exc))
    except JobTimeoutException:
        store.fail(
            generation_id,
            "timeout",
            f"the stage ran longer than its timeout ({timeout_s} s)",
        )
    except ValueError as exc:
        store.fail(generation_id, "invalid_parameters", str(exc))
    except Exception:
        logger.exception("generation %s failed", generation_id)
        store.fail(generation_id, "internal_error", INTERNAL_ERROR_MESSAGE)


def plan_stage(generation_id: str, namespace: str) -> None:
    """Plan the prompt into a layout, then hand the job to the generation queue."""
    store, worker_name = _context(namespace)
    started = time.time()
    record = store.get(generation_id)
    if record is None or record.get("stage_queue") != PLAN:
        return  # gone, or a retry of a planning that already handed the job over
    if not store.transition(
        generation_id,
        ACTIVE,
        RUNNING,
        worker=worker_name,
        progress={"stage": "planning"},
        t_plan_started=started,
    ):
        return  # canceled while it waited
    store.incr_attempts(generation_id)
    request = record["request"]

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
            store.fail(generation_id, "planning_failed", str(exc))
            return
        except Exception:  # a backend's own error (network, model): logged, not stored
            logger.exception("generation %s: planning failed", generation_id)
            store.fail(
                generation_id, "planning_failed", "the planner failed; the details are in the service log"
            )
            return
        layout = report.layout
        store.count_plan(report.backend, report.outcome, report.rejections)
        finished = time.time()
        store.observe_stage("planning", finished - started)
        if store.cancel_requested(generation_id):
            raise JobCanceled()
        settings = get_service_settings().model_copy(update={"namespace": namespace})
        handed_over = store.transition(
            generation_id,
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

    _run_guarded(store, generation_id, body, get_service_settings().plan_timeout_s)


def generate_stage(generation_id: str, namespace: str) -> None:
    """Sample the layout on the warm pipeline, store the images, end the job ``succeeded``."""
    store, worker_name = _context(namespace)
    settings = get_service_settings()
    sampler = _get_sampler()
    record = store.get(generation_id)
    if record is None:
        return
    started = time.time()
    if not store.transition(
        generation_id,
        ACTIVE,
        RUNNING,
        worker=worker_name,
        progress={"stage": "sampling", "step": 0, "total_steps": None, "fraction": 0.0},
        t_sampling_started=started,
    ):
        return
    store.incr_attempts(generation_id)

    def body() -> None:
        from worker.runtime import png_with_parameters

        if store.cancel_requested(generation_id):
            raise JobCanceled()
        layout = Layout.model_validate(record["layout"])
        params = sampler.effective_parameters(record["parameters"])
        store.update(generation_id, parameters=params)
        marks = {"sampling_done": started}
        last_write = [0.0]

        def on_step(done: int, total: int) -> None:
            if store.cancel_requested(generation_id):
                raise JobCanceled()
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
            store.update(generation_id, progress=progress)

        images = sampler.sample(layout, params, on_step)
        decoded = time.time()
        store.update(
            generation_id,
            progress={
                "stage": "saving",
                "step": params["steps"],
                "total_steps": params["steps"],
                "fraction": 1.0,
            },
        )
        results = ResultStore(settings.results_url)
        outputs = []
        for index, image in enumerate(images):
            doc = _metadata(layout, params, sampler, index)
            sha256 = results.put(png_with_parameters(image, layout, doc), doc)
            outputs.append({"index": index, "sha256": sha256, "width": image.width, "height": image.height})
        finished = time.time()
        store.observe_stage("sampling", marks["sampling_done"] - started)
        store.observe_stage("decoding", decoded - marks["sampling_done"])
        store.observe_stage("saving", finished - decoded)
        if not store.transition(
            generation_id,
            (RUNNING,),
            SUCCEEDED,
            outputs=outputs,
            t_sampling_finished=marks["sampling_done"],
            t_finished=finished,
        ):
            logger.info("generation %s finished after it was canceled; images kept", generation_id)

    _run_guarded(store, generation_id, body, settings.job_timeout_s)


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
