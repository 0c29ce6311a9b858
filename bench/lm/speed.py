"""Aggregate training throughput of the worker pool: how many runs to train at once on this machine.

    python -m bench.lm.speed --procs 1 8 16 --size small --steps 300

For each process count, trains that many identical static runs at once and prints steps per second of one run
and of the whole pool (first jobs include each worker's start-up: torch import, CUDA context).
"""

from __future__ import annotations

import argparse
import time

from bench.lm.experiment import data_dir, uniform
from bench.lm.pool import Pool


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--procs", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--size", default="small")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--domains", nargs="+", default=["python", "man", "dictionary"])
    args = parser.parse_args(argv)
    path = str(data_dir())
    for procs in args.procs:
        job = {
            "kind": "static",
            "data_dir": path,
            "domains": args.domains,
            "size": args.size,
            "steps": args.steps,
            "batch": args.batch,
            "seed": 0,
            "weights": uniform(args.domains),
        }
        with Pool(procs) as pool:
            list(pool.map([{**job, "steps": 5}] * procs))  # warm every worker up
            t0 = time.perf_counter()
            res = list(pool.map([job] * procs))
            wall = time.perf_counter() - t0
        per_run = sum(r["train_seconds"] for r in res) / len(res)
        print(
            f"size {args.size} batch {args.batch} procs {procs:3d}: {args.steps / per_run:8.1f} steps/s per run, "
            f"{procs * args.steps / wall:8.1f} steps/s together, loss {res[0]['mean']:.3f}, wall {wall:.1f} s",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
