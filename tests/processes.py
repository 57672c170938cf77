"""Stopping the real servers that tests start (API, workers, moto, transformers serve)."""

from __future__ import annotations

import signal
import subprocess


def stop_processes(*processes: subprocess.Popen | None, timeout: float, sig: int = signal.SIGTERM) -> None:
    """Send ``sig`` to every running process at once, wait up to ``timeout`` s for each, then kill the rest."""
    running = [p for p in processes if p is not None and p.poll() is None]
    for process in running:
        process.send_signal(sig)
    for process in running:
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
