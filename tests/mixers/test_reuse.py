"""Reuse after a domain-set change (``mixers.reuse``): proposals keep the earlier recommendation's ratios on the
unaffected domains exactly, vary only their total and the free domains, respect the bounds; recommendations over
the mapped old runs plus the new ones; removals with and without family siblings."""

from __future__ import annotations

import numpy as np
import pytest

from mixers.base import MixerError
from mixers.domain_sets import affected_domains, domains_after, map_weights
from mixers.families import build_families
from mixers.mixing_law import MixingLawConfig, MixingLawMixer
from mixers.proposals import ProposalRecipe
from mixers.regmix import RegMixConfig, RegMixMixer
from mixers.reuse import ReuseConfig, ReuseSpace, recommend_in_space, renormalized
from mixers.types import DomainSpec, FloatArray, Objective, Observation, Problem, ProposedBatch

FID = {"params": 1e6, "tokens": 1e9}
OLD = ("web/a", "web/b", "code", "books")
# the earlier recommendation over OLD, and the truth's optimum once "math" is added
V1 = {"web/a": 0.4, "web/b": 0.1, "code": 0.3, "books": 0.2}
OPT = np.array([0.32, 0.08, 0.24, 0.16, 0.2])  # V1's ratios at a total of 0.8, and 0.2 of math


def problem(names: tuple[str, ...], **bounds: tuple[float | None, float | None]) -> Problem:
    doms = tuple(
        DomainSpec(
            n,
            tokens=1e9 * (i + 1),
            min_weight=bounds.get(n, (None, None))[0],
            max_weight=bounds.get(n, (None, None))[1],
        )
        for i, n in enumerate(names)
    )
    return Problem(
        doms, Objective({"loss": 1.0}), target_fidelity={"params": 1e8, "tokens": 1e10}, families=build_families(names)
    )


def loss(x: FloatArray) -> float:
    return 3.0 + 4.0 * float(np.sum((np.asarray(x) - OPT) ** 2))


def test_candidates_keep_the_frozen_ratios_and_vary_only_the_free_domains() -> None:
    p = problem((*OLD, "math"))
    space = ReuseSpace.build(p, {**V1, "math": 0.0}, ["math"])
    x, strength = space.sample(np.random.default_rng(0), p, ProposalRecipe(), 400)
    assert len(x) == 400 and len(strength) == 400
    assert np.allclose(x.sum(axis=1), 1.0)
    # the frozen block is exactly total x V1's ratios in every row
    frozen = x[:, :4]
    ratios = np.array([V1[n] for n in OLD])
    assert np.abs(frozen - frozen.sum(axis=1, keepdims=True) * ratios).max() < 1e-12
    assert space.deviation(x).max() < 1e-12
    # the free domain and the virtual total vary over a wide range
    assert x[:, 4].min() < 0.05 and x[:, 4].max() > 0.6
    assert np.allclose(space.expand(space.reduce(x)), x)
    assert space.describe() == {"frozen": V1, "free": ["math"]}


def test_candidates_respect_domain_epoch_and_family_bounds() -> None:
    p = problem((*OLD, "math"), **{"math": (0.05, 0.5), "code": (None, 0.2)})
    fams = tuple(f if f.name != "web" else type(f)(f.name, f.members, 0.3, None) for f in p.families)
    p = Problem(p.domains, p.objective, p.target_fidelity, families=fams)
    space = ReuseSpace.build(p, V1, ["math"])
    # code's max 0.2 at ratio 0.3 caps the virtual total at 2/3; the web family's min 0.3 at ratio 0.5 needs 0.6
    assert space.virtual_bounds(p) == pytest.approx((0.6, 2 / 3))
    x, _ = space.sample(np.random.default_rng(1), p, ProposalRecipe(), 300, allow_projection=True)
    assert len(x) == 300
    assert p.feasible(x).all()
    assert (x[:, 4] >= 0.05 - 1e-12).all() and (x[:, 4] <= 0.5 + 1e-12).all()
    assert (x[:, 0] + x[:, 1] >= 0.3 - 1e-9).all()  # the web family's min_weight
    assert space.deviation(x).max() < 1e-12


def test_mixer_proposals_with_config_reuse_stay_in_the_space_and_say_what_was_frozen() -> None:
    p = problem((*OLD, "math"))
    cfg = {"reuse": {"frozen": {**V1, "math": 0.0}, "free": ["math"], "from_version": 1, "source": "rec 7"}}
    for cls, config in (
        (RegMixMixer, RegMixConfig.model_validate(cfg)),
        (MixingLawMixer, MixingLawConfig.model_validate(cfg)),
    ):
        batch = cls(p, config, seed=3).propose(12, FID)
        x = np.vstack([r.weights for r in batch])
        assert len(x) == 12 and ReuseSpace.build(p, V1, ["math"]).deviation(x).max() < 1e-12
        assert len({tuple(np.round(r, 6)) for r in x}) == 12
        assert batch.diagnostics["reuse"] == {"frozen": V1, "free": ["math"], "from_version": 1, "source": "rec 7"}
    # from a candidate pool: the pool rows nearest to reuse draws
    pool = np.random.default_rng(2).dirichlet(np.ones(5), 300)
    batch = RegMixMixer(p, RegMixConfig.model_validate(cfg), seed=3).propose(6, FID, candidates=pool)
    assert batch.diagnostics["method"] == "pool_reuse"
    rows = np.vstack([r.weights for r in batch])
    assert all(np.isclose(pool, r).all(axis=1).any() for r in rows) and len(rows) == 6


def test_recommendation_over_mapped_old_runs_and_new_reuse_runs() -> None:
    """v1 runs over OLD (mapped into the new set with weight 0 on math) plus 16 reuse runs: the answer gives math
    weight and beats the earlier recommendation, searched over the full space or only the reuse space."""
    rng = np.random.default_rng(4)
    change = {"op": "add", "domains": [{"name": "math", "tokens": 5e9}]}
    old_runs = rng.dirichlet(np.ones(4), 60)
    mapped = []
    for w in old_runs:
        m = map_weights(dict(zip(OLD, w, strict=True)), [change])
        assert m.how == "exact" and m.weights is not None
        row = np.array([m.weights[n] for n in (*OLD, "math")])
        mapped.append(Observation(row, FID, {"loss": loss(row)}))
    p = problem((*OLD, "math"))
    free = affected_domains(change, p.names)
    assert free == ["math"]
    cfg = RegMixConfig(n_candidates=20_000, top_k=32, reuse=ReuseConfig(frozen={**V1, "math": 0.0}, free=free))
    batch = RegMixMixer(p, cfg, seed=0).fit(mapped).propose(16, FID)
    new = [Observation(r.weights, FID, {"loss": loss(r.weights)}) for r in batch]
    mixer = RegMixMixer(p, cfg, seed=0).fit([*mapped, *new])
    v1_mapped = np.array([*V1.values(), 0.0])
    # the same model and runs searched over the full space (config without reuse)
    full = RegMixMixer(p, cfg.model_copy(update={"reuse": None}), seed=0).fit([*mapped, *new]).recommend().weights
    assert mixer.recommend().diagnostics["reuse"]["search"] == "reduced"  # with reuse, recommend() searches the space
    space = ReuseSpace.build(p, V1, free)
    reduced = recommend_in_space(mixer, space, np.random.default_rng(0))
    assert space.deviation(reduced.weights[None, :])[0] < 1e-12 and reduced.diagnostics["reuse"]["search"] == "reduced"
    for w in (full, reduced.weights):
        assert p.feasible(w[None, :])[0]
        assert w[4] > 0.03
        assert loss(w) < loss(v1_mapped) - 0.03
    # the search over the reuse space only gets nearer the optimum (math at 0.2) than the full-space one
    assert reduced.weights[4] > 0.1 and loss(reduced.weights) < loss(full) - 0.05
    # without the new runs the old runs say nothing about math: the answer leaves it near 0
    only_old = RegMixMixer(p, cfg.model_copy(update={"reuse": None}), seed=0).fit(mapped).recommend().weights
    assert loss(reduced.weights) < loss(only_old)


def test_removal_with_siblings_frees_them_and_renormalizes_the_rest() -> None:
    change = {"op": "remove", "names": ["web/b"]}
    after = [d["name"] for d in domains_after([{"name": n} for n in OLD], change)]
    free = affected_domains(change, after)
    assert free == ["web/a"]
    frozen = renormalized(V1, after)
    assert frozen == pytest.approx({"web/a": 0.4 / 0.9, "code": 0.3 / 0.9, "books": 0.2 / 0.9})
    p = problem(tuple(after))
    space = ReuseSpace.build(p, frozen, free)
    assert space.frozen_ratios() == pytest.approx({"code": 0.6, "books": 0.4})
    x, _ = space.sample(np.random.default_rng(5), p, ProposalRecipe(), 100)
    assert np.allclose(x[:, 2], x[:, 1] * 0.4 / 0.6)
    assert x[:, 0].std() > 0.1


def test_removal_without_siblings_spends_runs_around_the_renormalized_recommendation() -> None:
    change = {"op": "remove", "names": ["books"]}
    after = [d["name"] for d in domains_after([{"name": n} for n in OLD], change)]
    assert affected_domains(change, after) == []
    p = problem(tuple(after))
    frozen = renormalized(V1, after)
    space = ReuseSpace.build(p, frozen, [])
    assert space.k == 1
    center = np.array([frozen[n] for n in after])
    batch = RegMixMixer(p, RegMixConfig(reuse=ReuseConfig(frozen=frozen, free=[])), seed=0).propose(10, FID)
    x = np.vstack([r.weights for r in batch])
    assert len({tuple(np.round(r, 6)) for r in x}) == 10
    dist = np.abs(x - center).sum(axis=1)
    assert dist.max() < 0.35 and dist.min() > 0
    obs = [Observation(r, FID, {"loss": float(np.sum(r**2))}) for r in x]
    mixer = RegMixMixer(p, RegMixConfig(model="ridge"), seed=0).fit(obs)
    # nothing is free: the reuse space is the renormalized recommendation itself
    assert recommend_in_space(mixer, space, np.random.default_rng(0)).weights == pytest.approx(center)


@pytest.mark.parametrize(
    ("frozen", "free", "match"),
    [
        ({"nope": 1.0}, None, "unknown domain 'nope'"),
        (V1, ["nope"], "reuse.free: unknown domain"),
        (V1, [], "'math' is neither frozen nor free"),
        ({n: 0.0 for n in V1}, ["math"], "positive sum"),
    ],
)
def test_bad_reuse_values_are_mixer_errors_naming_the_field(
    frozen: dict[str, float], free: list[str] | None, match: str
) -> None:
    with pytest.raises(MixerError, match=match):
        ReuseSpace.build(problem((*OLD, "math")), frozen, free)


def test_ratios_that_cannot_meet_the_bounds_are_refused() -> None:
    # code must be >= 0.5 but only 30% of the frozen block, whose total math's min_weight caps at 0.6
    p = problem((*OLD, "math"), code=(0.5, None), math=(0.4, None))
    with pytest.raises(MixerError, match="cannot meet"):
        ReuseSpace.build(p, V1, ["math"])


def test_auto_passes_reuse_to_the_mixer_it_chooses() -> None:
    from mixers.auto import AutoConfig, AutoMixer

    p = problem((*OLD, "math"))
    rng = np.random.default_rng(6)
    runs = [Observation(w, FID, {"loss": loss(w)}) for w in rng.dirichlet(np.ones(5), 20)]
    cfg = AutoConfig.model_validate({"reuse": {"frozen": V1, "free": ["math"], "source": "rec 2"}})
    batch = AutoMixer(p, cfg, seed=0).fit(runs).propose(6, FID)
    x = np.vstack([r.weights for r in batch])
    assert ReuseSpace.build(p, V1, ["math"]).deviation(x).max() < 1e-12
    assert isinstance(batch, ProposedBatch)
    assert batch.diagnostics["reuse"]["source"] == "rec 2" and batch.diagnostics["auto"]["mixer"] == "regmix"
