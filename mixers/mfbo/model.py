"""The fitted ``mfbo`` model: the runs it uses, the target fidelity, the fidelity features and the GP over
``(mixture, fidelity features)`` (:mod:`mixers.gp`), and the queries the acquisition, the transfer gate and the
batch builders make of them.

The GP models the loss ``sign * objective`` (answers are reported in the objective's own units): a mixture
kernel times a floor-lifted fidelity kernel plus a linear-in-log-fidelity mean, hyperparameters by marginal
likelihood. With ``multi_fidelity=False`` only the runs at the target fidelity are used and the model sees no
fidelity features.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from mixers.acquisition import CostModel, fit_cost_model
from mixers.base import MixerError
from mixers.gp import ExactGP, GPParams
from mixers.mfbo.config import ARD_RUNS_PER_DOMAIN, MFBOConfig
from mixers.mfbo.features import FidelityFeatures, FidelityKeys, largest_fidelity
from mixers.training import usable_observations
from mixers.types import FloatArray, Observation, PendingRun, Problem, fidelity_key


@dataclass(frozen=True, eq=False)
class MFBOModel:
    """What a fit of ``mfbo`` learned; ``gp`` is None without usable runs."""

    problem: Problem
    config: MFBOConfig
    observations: list[Observation]  # every run given to the fit
    used: list[Observation]  # the completed runs the model uses
    target: dict[str, float]  # over the keys the runs name
    keys: FidelityKeys
    key_notes: list[str]  # on the target's keys that the answers do not use as given
    features: FidelityFeatures
    fidelity_modeled: bool  # the runs name fidelity keys
    gp: ExactGP | None

    # -- inputs and losses -------------------------------------------------------------------------------

    def loss(self, o: Observation) -> float:
        value = self.problem.objective.value(o.metrics)
        assert value is not None  # usable_observations kept only runs with a value
        return self.problem.objective.sign * value

    def x(self, w: FloatArray, fidelity: Mapping[str, float], what: str = "fidelity") -> FloatArray:
        """Model inputs ``(m, d + f)`` for mixtures ``w`` ``(m, d)`` at one fidelity."""
        z = self.features(fidelity, what)
        return np.hstack([w, np.tile(z, (len(w), 1))])

    def require_gp(self) -> ExactGP:
        if self.gp is None:
            where = "" if self.config.multi_fidelity else f" at the target fidelity {self.target}"
            raise MixerError(f"mfbo has no completed runs{where} to model yet; propose runs first")
        return self.gp

    # -- fidelities --------------------------------------------------------------------------------------

    def effective(self, fidelity: Mapping[str, float]) -> dict[str, float]:
        """``fidelity`` over the keys the runs name (see :meth:`FidelityKeys.effective`)."""
        return self.keys.effective(fidelity)

    def at_target(self, fidelity: Mapping[str, float]) -> bool:
        """Whether ``fidelity`` is the target over the keys the runs name."""
        return fidelity_key(self.effective(fidelity)) == fidelity_key(self.target)

    def answer_fidelity(self, fidelity: Mapping[str, float] | None) -> dict[str, float]:
        """The fidelity an answer for ``fidelity`` (None: the target) is for."""
        fid = self.effective(fidelity) if fidelity is not None else dict(self.target)
        if not self.config.multi_fidelity and self.fidelity_modeled and fidelity_key(fid) != fidelity_key(self.target):
            raise MixerError(f"single-fidelity mode models only the target fidelity {self.target}; asked for {fid}")
        return fid

    def placeable(self, fidelity: Mapping[str, float]) -> bool:
        """Whether the model can place a run at ``fidelity`` (its keys match; single-fidelity: the target)."""
        if not self.config.multi_fidelity and self.fidelity_modeled:
            return all(k in fidelity for k in self.keys.varying) and self.at_target(fidelity)
        return all(k in fidelity for k in self.features.keys)

    def split_target(
        self, fids: Sequence[dict[str, float]]
    ) -> tuple[list[dict[str, float]], list[dict[str, float]]]:
        """``fids`` split into those at the target fidelity (over the keys the runs name) and the lower ones."""
        at = [self.at_target(f) for f in fids]
        return [f for f, t in zip(fids, at, strict=True) if t], [f for f, t in zip(fids, at, strict=True) if not t]

    # -- the runs ------------------------------------------------------------------------------------------

    def level_runs(self, key: str) -> tuple[FloatArray, FloatArray]:
        """Mixtures ``(k, d)`` run at the fidelity ``key`` and their losses ``(k,)``."""
        runs = [o for o in self.used if fidelity_key(o.fidelity) == key]
        w = np.array([np.asarray(o.weights, dtype=np.float64) for o in runs]).reshape(-1, self.problem.d)
        return w, np.array([self.loss(o) for o in runs])

    def levels(self) -> dict[str, tuple[dict[str, float], int]]:
        """Per fidelity key of the used runs, in order of appearance: the fidelity and its number of runs."""
        levels: dict[str, tuple[dict[str, float], int]] = {}
        for o in self.used:
            key = fidelity_key(o.fidelity)
            fid, count = levels.get(key, ({str(k): float(v) for k, v in o.fidelity.items()}, 0))
            levels[key] = (fid, count + 1)
        return levels

    def feasible_observed(self) -> FloatArray:
        """Distinct observed mixtures ``(k, d)`` (the runs the model uses) inside the bounds."""
        if not self.used:
            return np.zeros((0, self.problem.d))
        w = np.vstack([np.asarray(o.weights, dtype=np.float64) for o in self.used])
        w = w[self.problem.feasible(w)]
        _, first = np.unique(np.round(w, 9), axis=0, return_index=True)
        return w[np.sort(first)]

    def existing(self, pending: Sequence[PendingRun], fids: Sequence[Mapping[str, float]]) -> dict[str, FloatArray]:
        """Observed and pending mixtures ``(e, d)`` per fidelity key of ``fids``."""
        out: dict[str, list[FloatArray]] = {fidelity_key(f): [] for f in fids}
        runs: list[Observation | PendingRun] = [*self.observations, *pending]
        for r in runs:
            key = fidelity_key(r.fidelity)
            if key in out:
                out[key].append(np.asarray(r.weights, dtype=np.float64))
        d = self.problem.d
        return {k: np.vstack(v) if v else np.zeros((0, d)) for k, v in out.items()}

    def bounds(self) -> tuple[FloatArray, FloatArray]:
        """The problem's bounds ``(d,)`` each; MixerError when no mixture satisfies them."""
        lo, hi = self.problem.bounds()
        if lo.sum() > 1 + 1e-9 or hi.sum() < 1 - 1e-9:
            raise MixerError("the bounds are infeasible: sum(min_weight) > 1 or sum(max_weight) < 1")
        return lo, hi

    # -- costs ---------------------------------------------------------------------------------------------

    def cost_model(self, fids: Sequence[Mapping[str, float]]) -> CostModel:
        """The cost model over the modeled keys and those ``fids`` name (see ``cost_model`` in the config)."""
        keys = tuple(sorted(set(self.features.keys) | {str(k) for f in fids for k in f}))
        try:
            return fit_cost_model(
                keys,
                [o.fidelity for o in self.observations],
                [o.cost for o in self.observations],
                self.config.cost_model,
                self.config.cost_exponents,
            )
        except ValueError as exc:
            raise MixerError(str(exc)) from exc

    def costs(self, fids: Sequence[Mapping[str, float]]) -> FloatArray:
        """Cost ``(len(fids),)`` of a run at each of ``fids``, relative to the cheapest."""
        model = self.cost_model(fids)
        for f in fids:
            if set(f) != set(model.keys):
                raise MixerError(f"fidelities must all name the same keys {list(model.keys)}; got {dict(f)}")
        logc = np.array([model.log_cost(f) for f in fids])
        return np.asarray(np.exp(logc - logc.min()), dtype=np.float64)

    def cheapest(self, fids: list[dict[str, float]]) -> dict[str, float]:
        return fids[int(np.argmin(self.costs(fids)))]


def fit_model(
    problem: Problem,
    config: MFBOConfig,
    seed: int | None,
    observations: Sequence[Observation],
    gp_params: GPParams | None = None,
) -> MFBOModel:
    """Fit the model on ``observations`` (``gp_params`` set: these hyperparameters instead of a search).

    The model works on the keys the runs name (DESIGN 5): a key only the target names is dropped; a key the runs
    name with one value and the target does not name is taken at that value; a key the runs vary must be named.
    Without a target fidelity in the problem, the largest fidelity of the runs is the target.
    """
    usable = usable_observations(observations, problem.objective)
    for i, o in enumerate(usable):
        if np.shape(o.weights) != (problem.d,):
            raise MixerError(f"run {i}: weights must have {problem.d} entries, got {np.shape(o.weights)}")
    keys = FidelityKeys.of(usable)
    target = dict(problem.target_fidelity or {}) or largest_fidelity(usable)
    missing_t = [k for k in keys.varying if k not in target]
    if missing_t:
        raise MixerError(f"the target fidelity {target} does not name {missing_t}, which the runs vary; add "
                         f"them to the project's target_fidelity")
    key_notes = keys.notes(target, "the target fidelity")
    if usable:
        target = keys.effective(target)
    all_keys = keys.all
    if config.multi_fidelity or not all_keys:
        used = usable
    else:
        used = [o for o in usable if fidelity_key(o.fidelity) == fidelity_key(target)]
    model_keys = all_keys if config.multi_fidelity else ()
    features = (FidelityFeatures.spanning(model_keys, [o.fidelity for o in used], target) if model_keys
                else FidelityFeatures.none())
    model = MFBOModel(problem, config, list(observations), used, target, keys, key_notes, features,
                      bool(all_keys), None)
    if not used:
        return model
    x = np.vstack([model.x(np.asarray(o.weights, dtype=np.float64)[None, :], o.fidelity) for o in used])
    y = np.array([model.loss(o) for o in used])
    ard = config.ard if config.ard is not None else len(used) >= ARD_RUNS_PER_DOMAIN * problem.d
    gp = ExactGP(problem.d, kernel=config.kernel, ard=ard, restarts=config.restarts,
                 seed=0 if seed is None else int(seed) % (2**32),
                 max_fit_points=config.max_fit_points).fit(x, y, params=gp_params)
    return MFBOModel(problem, config, list(observations), used, target, keys, key_notes, features,
                     bool(all_keys), gp)
