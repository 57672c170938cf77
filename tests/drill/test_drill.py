"""The drills: their detectors on hand-made logs, and the short drill (CI's) against real processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from drill.bad_inputs import png
from drill.scenarios import attempts_from_log, double_runs

LOG = """\
2026-12-01 10:00:00,000 INFO worker.tasks: generation gen_a: attempt w1/aaa started
2026-12-01 10:00:05,000 INFO worker.tasks: generation gen_a: attempt w2/bbb started
2026-12-01 10:00:07,000 INFO worker.tasks: generation gen_a: attempt w2/bbb ended
2026-12-01 10:00:00,000 INFO worker.tasks: generation gen_b: attempt w3/ccc started
2026-12-01 10:00:01,000 INFO worker.tasks: generation gen_b: attempt w4/ddd started
2026-12-01 10:00:02,000 INFO worker.tasks: generation gen_b: attempt w4/ddd ended
2026-12-01 10:00:03,000 INFO worker.tasks: generation gen_b: attempt w3/ccc lost the job; stopped without writing
2026-12-01 10:00:00,000 INFO worker.tasks: generation gen_c: attempt w5/eee started
2026-12-01 10:00:01,000 INFO worker.tasks: generation gen_c: attempt w5/eee ended
2026-12-01 10:00:02,000 INFO worker.tasks: generation gen_c: attempt w6/fff started
2026-12-01 10:00:03,000 INFO worker.tasks: generation gen_c: attempt w6/fff ended
"""


def test_double_runs_are_overlapping_attempts_or_two_completed_ones() -> None:
    attempts = attempts_from_log(LOG)
    assert len(attempts["gen_a"]) == 2 and attempts["gen_a"][1]["completed"]
    w1_killed = attempts["gen_a"][0]["start"] + 1.0  # w1 was killed a second after it started: no overlap
    # gen_b: w4 started while w3 still ran (w3 found out later): a double run, though only w4 wrote;
    # gen_c: two attempts both completed their writes
    assert sorted(double_runs(attempts, {"w1": w1_killed})) == ["gen_b", "gen_c"]
    assert sorted(double_runs(attempts, {})) == ["gen_a", "gen_b", "gen_c"]  # w1 never killed: it overlaps


def test_the_corpus_png_with_text_first_is_a_png_pillow_reads() -> None:
    from io import BytesIO

    from PIL import Image

    image = Image.open(BytesIO(png(4096, 4096, text_first=True)))
    assert image.size == (4096, 4096) and image.text["Comment"] == "drill"


@pytest.mark.slow
def test_the_short_drill_holds_every_promise(tmp_path: Path) -> None:
    """CI's drill: 5 worker kills, a Redis outage past the workers' retry budget, the bad-input corpus and
    a short load, against a Redis, an API and workers of its own."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    report_path = tmp_path / "drill.json"
    run = subprocess.run(
        [sys.executable, "-m", "regional.cli", "drill", "--quick", "--workdir", str(tmp_path / "work"),
         "--json", str(report_path)],  # fmt: skip
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    report = json.loads(report_path.read_text())
    drills = report["drills"]
    assert report["failures"] == []
    assert drills["worker_kills"]["kills"] == 5 and drills["worker_kills"]["lost"] == 0
    assert drills["worker_kills"]["double_runs"] == 0
    assert drills["redis_outage"]["jobs_succeeded"] == drills["redis_outage"]["jobs"]
    assert drills["redis_outage"]["statuses_during_outage"] == [503]
    assert drills["bad_inputs"]["five_xx"] == 0 and drills["bad_inputs"]["leaks"] == 0
    assert drills["load"]["status_read"]["5xx"] == 0
    # the outage outlasted the workers' retry budget: they waited for Redis instead of quitting
    workers_log = (tmp_path / "work" / "logs" / "workers.log").read_text()
    assert "Redis answers again" in workers_log and "unhandled exception" not in workers_log
