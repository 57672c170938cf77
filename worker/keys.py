"""Every Redis key and queue name of the service, built here and nowhere else."""

from __future__ import annotations

PLAN = "plan"
GENERATE = "generate"
STAGES = (PLAN, GENERATE)
"""The two queues: planning runs on CPU workers, generation on GPU workers."""


class Keys:
    """Key builder for one namespace (``REGIONAL_NAMESPACE``)."""

    def __init__(self, namespace: str) -> None:
        self.ns = namespace

    def queue(self, stage: str) -> str:
        """RQ queue name of a stage."""
        return f"{self.ns}.{stage}"

    def rq_job_id(self, generation_id: str, stage: str) -> str:
        """RQ allows letters, digits, '_' and '-' in job ids."""
        namespace = "".join(c if c.isalnum() or c in "_-" else "_" for c in self.ns)
        return f"{namespace}-{generation_id}-{stage}"

    def generation(self, generation_id: str) -> str:
        """Hash: the job record."""
        return f"{self.ns}:gen:{generation_id}"

    def attempt_lease(self, generation_id: str) -> str:
        """String (expiring): '<worker name>/<token>' of the attempt running a stage; renewed while it runs."""
        return f"{self.ns}:gen:{generation_id}:attempt"

    def cancel(self, generation_id: str) -> str:
        """String: set when cancel was requested; the sampler checks it between steps."""
        return f"{self.ns}:gen:{generation_id}:cancel"

    def upload(self, upload_id: str) -> str:
        """Hash (expiring): an uploaded input image's record (owner, sha256, type, size); its bytes are in the
        result store."""
        return f"{self.ns}:upload:{upload_id}"

    def owner_index(self, owner: str) -> str:
        """Sorted set: an owner's generation ids scored by creation time (ms)."""
        return f"{self.ns}:owner:{owner}:gens"

    def owner_active(self, owner: str) -> str:
        """Sorted set: an owner's ``queued`` or ``running`` generation ids (what the concurrency quota counts).
        The status scripts build this name from the namespace and the record's owner: keep them in step."""
        return f"{self.ns}:owner:{owner}:active"

    def events(self, generation_id: str) -> str:
        """Stream: a generation's status changes and progress, in order (what SSE clients read)."""
        return f"{self.ns}:gen:{generation_id}:events"

    def webhook_attempts(self, generation_id: str) -> str:
        """List (JSON items): every webhook delivery attempt made for a generation."""
        return f"{self.ns}:gen:{generation_id}:webhooks"

    def webhooks_due(self) -> str:
        """Sorted set: webhook message ids scored by when their next delivery attempt is due (Unix time)."""
        return f"{self.ns}:webhooks:due"

    def webhooks_pending(self) -> str:
        """Hash: webhook message id -> JSON (generation id, status, attempts so far) until delivered or given up."""
        return f"{self.ns}:webhooks:pending"

    def webhook_secret(self, owner: str) -> str:
        """String: the secret an owner's webhooks are signed with ('whsec_' + base64), issued by the API."""
        return f"{self.ns}:owner:{owner}:webhook_secret"

    def rate(self, owner: str) -> str:
        """String (expiring): the owner's rate limiter state (GCRA theoretical arrival time, microseconds)."""
        return f"{self.ns}:owner:{owner}:rate"

    def owner_secret(self) -> str:
        """String: the server secret owner ids are derived with (HMAC of the API key's hash), shared by replicas."""
        return f"{self.ns}:secret:owner"

    def idempotency(self, owner: str, key: str) -> str:
        """String: '<body sha256> <generation id>' for an Idempotency-Key of an owner."""
        return f"{self.ns}:idem:{owner}:{key}"

    def queued_index(self) -> str:
        """Sorted set: ids of generations that are ``queued``, scored by when they entered it (Unix time)."""
        return f"{self.ns}:queued"

    def running_index(self) -> str:
        """Sorted set: ids of generations that are ``running``, scored by when they entered it (Unix time)."""
        return f"{self.ns}:running"

    def status_counts(self) -> str:
        """Hash: status -> number of generations that entered it and (for queued/running) are still there."""
        return f"{self.ns}:stats:status"

    def stage_histogram(self, stage: str) -> str:
        """Hash: histogram of a stage's durations: bucket upper bounds -> counts, plus 'sum' and 'count'."""
        return f"{self.ns}:stats:stage:{stage}"

    def plan_outcomes(self) -> str:
        """Hash: '<backend>|<outcome>' -> plans that ended so (accepted, fallback, offline)."""
        return f"{self.ns}:stats:plans"

    def plan_rejections(self) -> str:
        """Hash: '<backend>|<reason>' -> LLM planner attempts rejected for that reason."""
        return f"{self.ns}:stats:plan_rejections"

    def webhook_outcomes(self) -> str:
        """Hash: webhook delivery attempts by outcome (delivered, failed, given_up)."""
        return f"{self.ns}:stats:webhooks"

    def worker_ready(self, name: str) -> str:
        """String (JSON, expiring): a live worker with its model loaded."""
        return f"{self.ns}:worker:{name}"

    def worker_ready_pattern(self) -> str:
        return f"{self.ns}:worker:*"

    def reaper_lock(self) -> str:
        """String (expiring): set by the process that looked for lost jobs last; spaces the sweeps out."""
        return f"{self.ns}:lock:reaper"

    def reaper_mutex(self) -> str:
        """String (expiring): held while one process hands lost RQ jobs back, so no job is retried twice."""
        return f"{self.ns}:lock:reaping"
