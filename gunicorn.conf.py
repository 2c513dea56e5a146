"""gunicorn settings read by `make serve` (-c gunicorn.conf.py).

With PROMETHEUS_MULTIPROC_DIR set, every worker writes its metrics to files there and /metrics
adds them up; a worker that exits is marked dead so its live gauges stop counting.
"""

import os


def child_exit(server, worker):
    """Mark an exited worker dead for prometheus_client's multiprocess mode."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
