"""gunicorn settings read by `make serve` (-c gunicorn.conf.py).

With PROMETHEUS_MULTIPROC_DIR set, every worker writes its metrics to files there and /metrics
adds them up; a worker that exits is marked dead so its live gauges stop counting. Each worker
freezes its loaded application out of the garbage collector before serving (billing_project.gc_tuning).
"""

import os


def child_exit(server, worker):
    """Mark an exited worker dead for prometheus_client's multiprocess mode."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def post_worker_init(worker):
    """Freeze the loaded application out of the garbage collector's work (billing_project.gc_tuning)."""
    from billing_project.gc_tuning import freeze_loaded_app

    frozen = freeze_loaded_app()
    worker.log.debug("worker %s: %d objects frozen out of garbage collection", worker.pid, frozen)
