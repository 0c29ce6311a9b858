"""A tiny stand-in for a training job, for the campaign runner's tests.

Reads the mixture from ``--weights`` (a JSON file), and writes ``{"metrics": {"loss": ...}, "cost": tokens}``
to ``--out``: the loss is a smooth bowl in the weights (lowest at the middle of the simplex's first two
domains) that falls with the token budget. ``--fail-every K`` fails (exit 3, a message on stderr) the runs whose
id is a multiple of K; ``--sleep S`` trains for S seconds; ``--gate FILE`` waits until FILE exists;
``--trace FILE`` appends ``<run id> <tag>`` (one line, one write) when the run starts.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", required=True)
    ap.add_argument("--tokens", type=float, default=1e6)
    ap.add_argument("--out", required=True)
    ap.add_argument("--run-id", type=int, default=0)
    ap.add_argument("--fail-every", type=int, default=0)
    ap.add_argument("--sleep", type=float, default=0.0)
    ap.add_argument("--gate", default=None)
    ap.add_argument("--trace", default=None)
    ap.add_argument("--tag", default="")
    args = ap.parse_args()
    if args.trace:
        fd = os.open(args.trace, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.write(fd, f"{args.run_id} {args.tag}\n".encode())
        os.close(fd)
    weights = json.loads(Path(args.weights).read_text())
    print(f"training run {args.run_id} on {weights} for {args.tokens:g} tokens")
    if args.gate:
        while not Path(args.gate).exists():
            time.sleep(0.05)
    time.sleep(args.sleep)
    if args.fail_every and args.run_id % args.fail_every == 0:
        print(f"CUDA out of memory in run {args.run_id} (simulated)", file=sys.stderr)
        return 3
    names = sorted(weights)
    w = [weights[n] for n in names]
    bowl = sum((x - (0.4 if i < 2 else 0.2 / max(1, len(w) - 2))) ** 2 for i, x in enumerate(w))
    loss = 2.0 + 3.0 * bowl + 10.0 / math.log(args.tokens)
    Path(args.out).write_text(json.dumps({"metrics": {"loss": loss}, "cost": args.tokens}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
