"""Queue side of the service: job records in Redis, RQ queues, stage tasks and the worker process.

Only ``worker.runtime`` and ``worker.tasks`` (at run time) import torch; everything else here is light so
that the API process can share the job store, the Redis keys and the queue helpers.
"""
