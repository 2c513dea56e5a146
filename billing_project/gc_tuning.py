"""The garbage collector in a served worker: what the app loads once is frozen out of every collection.

A loaded Django app holds ~130,000 container objects (modules, classes, URL patterns, serializers'
fields, model metadata) that live as long as the process. Left to CPython's collector they sit in
the oldest generation, and every full collection walks all of them: measured on the 1M-event bench
tenant (bench/tails.py --inproc), one full collection every ~900 read requests, 389 ms of wall time
at load 7 for the request it lands in, against 5–50 ms for the request itself. `gc.freeze()` moves
them to the permanent generation, which no collection visits; what requests leave behind in the old
generation stays small (3,000–8,000 objects after 900–1,800 reads), and no full collection came
within 1,800 requests. The young generations keep their default thresholds: raising gen0's to 10,000
cut the number of collections twentyfold but made each one longer (8.4 ms at most, against 4.7),
the wrong trade for tails.

gunicorn.conf.py calls `freeze_loaded_app()` in each worker once the application is loaded
(`post_worker_init`), before it serves its first request.
"""

from __future__ import annotations

import gc


def freeze_loaded_app() -> int:
    """Return how many objects are frozen after loading the URLconf, collecting and freezing the heap.

    Django imports the URLconf (every view, serializer and their fields) at the first request, not
    at start-up: it is loaded here first so it is frozen too. Only what survives a full collection
    is frozen, so no garbage is kept for the life of the process.
    """
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 - imports the URLconf's modules
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
