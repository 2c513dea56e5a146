"""`make bench`: run bench/ingest.py, then every other bench/<name>.py that defines main().

`--quick` is passed on to each bench's main(quick=True) for a smaller run. `--scale 100m` (make bench
SCALE=100m) also runs the opt-in growth bench (bench/growth.py) up to that many events.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

NOT_BENCHES = {"__init__", "common", "run", "views", "ingest", "growth", "tails_inproc"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller, faster runs")
    parser.add_argument("--scale", help="also run the growth bench up to this many events (e.g. 100m)")
    parser.add_argument("only", nargs="*", help="bench names to run (default: all)")
    args = parser.parse_args()
    names = ["ingest"] + sorted(p.stem for p in HERE.glob("*.py") if p.stem not in NOT_BENCHES)
    names += ["growth"] if args.scale else []
    if args.only:
        names = [n for n in names if n in args.only]
    failed = []
    for name in names:
        module = importlib.import_module(f"bench.{name}")
        entry = getattr(module, "main", None)
        if not callable(entry):
            continue
        t0 = time.perf_counter()
        params = inspect.signature(entry).parameters
        saved_argv = sys.argv
        sys.argv = [str(HERE / f"{name}.py")]  # a bench parsing sys.argv itself gets its defaults
        try:
            if "scale" in params:
                entry(quick=args.quick, scale=args.scale)
            elif "quick" in params:
                entry(quick=args.quick)
            elif "argv" in params:
                entry(argv=[])
            else:
                entry()
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - report and go on with the other benches
            failed.append(name)
            print(f"!! bench {name} failed: {exc!r}", flush=True)
        finally:
            sys.argv = saved_argv
        print(f"-- {name}: {time.perf_counter() - t0:.0f} s\n", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
