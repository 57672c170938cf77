"""Fault drills: the service's promises checked against real processes (``regional drill``).

A drill starts its own Redis on a free port (never the service's), an API and workers, then kills workers
mid-job, takes Redis away and back, loads the API beside a minimal endpoint, and sends a corpus of bad
requests. Every figure it prints is measured; it exits non-zero on any loss, double run, 5xx, hang or leak.
"""
