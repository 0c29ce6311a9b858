"""Try the simulator: ``python -m bench.sim --domains 6 --weights uniform --fidelity small``.

``--weights`` is ``uniform``, ``prior`` (token shares), ``relevance`` (the target's construction), or
``name=w,name=w`` (missing domains count 0). Prints the world, then the losses along the run.
"""

from __future__ import annotations

import argparse
import json
import sys

from bench.sim.domains import PRESETS, World, make_world, preset_world
from bench.sim.runner import FIDELITY_PRESETS, run


def _parse_weights(world: World, text: str) -> dict[str, float] | str:
    if "=" not in text:
        return text
    out: dict[str, float] = {}
    for part in text.split(","):
        name, _, value = part.partition("=")
        out[name.strip()] = float(value)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.sim", description=__doc__.splitlines()[0])
    ap.add_argument("--domains", type=int, default=6, help=f"number of domains; presets: {sorted(PRESETS)}")
    ap.add_argument("--world-seed", type=int, default=None, help="build a fresh world with this seed")
    ap.add_argument("--weights", default="uniform", help="uniform | prior | relevance | name=w,name=w,...")
    ap.add_argument("--fidelity", default="small", choices=list(FIDELITY_PRESETS))
    ap.add_argument("--seed", type=int, default=0, help="run seed (initialization and batches)")
    ap.add_argument("--json", action="store_true", help="print the result as JSON")
    args = ap.parse_args(argv)
    try:
        if args.world_seed is None and args.domains in PRESETS:
            world = preset_world(args.domains)
        else:
            world = make_world(args.domains, seed=args.world_seed or 0)
        result = run(world, _parse_weights(world, args.weights), args.fidelity, args.seed)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(
            json.dumps(
                {
                    "metrics": result.metrics,
                    "cost": result.cost,
                    "weights": result.weights,
                    "fidelity": result.fidelity,
                    "trajectory": result.trajectory,
                },
                indent=2,
            )
        )
        return 0
    floor = world.entropy()
    print(f"world: {world.n} domains, vocab {world.vocab}, fidelity {args.fidelity} {result.fidelity}")
    print(f"{'domain':<8} {'role':<9} {'tokens':>10} {'prior':>6} {'weight':>7} {'val loss':>9} {'floor':>6}")
    for j, name in enumerate(world.names):
        print(
            f"{name:<8} {world.roles[j]:<9} {world.tokens[j]:>10} {world.prior()[j]:>6.3f} "
            f"{result.weights[name]:>7.3f} {result.metrics['val/' + name]:>9.4f} {floor[name]:>6.3f}"
        )
    print(f"{'target':<8} {'':<9} {'':>10} {'':>6} {'':>7} {result.metrics['target']:>9.4f} {floor['target']:>6.3f}")
    print("target loss along the run: " + ", ".join(f"{int(p['tokens'])}:{p['target']:.4f}" for p in result.trajectory))
    print(f"cost (params x tokens): {result.cost:.3g}   wall time: {result.seconds:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
