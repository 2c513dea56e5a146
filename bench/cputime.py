"""CPU time spent by a served API, for benches that measure the cost of a unit of work (Linux /proc).

`CpuMeter(root_pid, application_name)` reads, at each `snapshot()`, the CPU time of a process tree
(gunicorn's master and workers) and of the PostgreSQL backends whose `application_name` is the
given one (the server's connections, named through DATABASE_URL's `?application_name=`). The
difference of two snapshots is the CPU those processes used in between, whatever else ran on the
machine: unlike wall-clock throughput it hardly moves when other processes compete for the cores.

Times come from `se.sum_exec_runtime` in /proc/<pid>/task/<tid>/sched (nanosecond resolution);
where the kernel does not expose it, from utime + stime in /proc/<pid>/stat (clock ticks).
A backend that exits between two snapshots takes its CPU since the first with it (Django reopens a
connection once it is older than CONN_MAX_AGE); a new one counts from zero.
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass

import psycopg

TICK = os.sysconf("SC_CLK_TCK")
Snapshot = tuple[dict[int, float], dict[int, float]]  # CPU seconds by pid: (web processes, database backends)


def _thread_seconds(pid: int, tid: str) -> float:
    try:
        with open(f"/proc/{pid}/task/{tid}/sched") as f:
            for line in f:
                if line.startswith("se.sum_exec_runtime"):
                    return float(line.split(":")[1]) / 1000
    except OSError:
        return 0.0
    return _stat_seconds(f"/proc/{pid}/task/{tid}/stat")


def _stat_seconds(path: str) -> float:
    try:
        with open(path) as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


def process_seconds(pid: int) -> float:
    """Return the CPU seconds used so far by the live threads of process `pid` (0 if it is gone)."""
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return 0.0
    return sum(_thread_seconds(pid, tid) for tid in tids)


def descendants(root: int) -> list[int]:
    """Return `root` and every process below it."""
    children: dict[int, list[int]] = defaultdict(list)
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children[ppid].append(int(entry))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, ()))
    return out


def machine_busy() -> tuple[float, float]:
    """Return (busy, total) jiffies of all CPUs since boot (/proc/stat), for the machine's load in between."""
    with open("/proc/stat") as f:
        values = [int(x) for x in f.readline().split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    total = sum(values[:8])
    return total - idle, total


@dataclass
class CpuUse:
    web: float  # seconds, gunicorn master and workers
    db: float  # seconds, their PostgreSQL backends

    @property
    def total(self) -> float:
        return self.web + self.db


class CpuMeter:
    """CPU of one gunicorn tree and of its PostgreSQL backends; `measure()` wraps a load."""

    def __init__(self, root_pid: int, application_name: str, conn: psycopg.Connection) -> None:
        self.root = root_pid
        self.app = application_name
        self.conn = conn

    def _backends(self) -> list[int]:
        rows = self.conn.execute("SELECT pid FROM pg_stat_activity WHERE application_name = %s", [self.app])
        return [r[0] for r in rows.fetchall()]

    def snapshot(self) -> Snapshot:
        web = {pid: process_seconds(pid) for pid in descendants(self.root)}
        db = {pid: process_seconds(pid) for pid in self._backends()}
        return web, db

    @staticmethod
    def used(before: Snapshot, after: Snapshot) -> CpuUse:
        """Return the CPU used between two snapshots (a process absent before counts from zero)."""
        web = sum(s - before[0].get(pid, 0.0) for pid, s in after[0].items())
        db = sum(s - before[1].get(pid, 0.0) for pid, s in after[1].items())
        return CpuUse(web=web, db=db)
