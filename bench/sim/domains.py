"""Synthetic domains: Markov chains over one shared vocabulary, and the target distribution.

Vocabulary layout (``V`` tokens): the first ``V // 4`` are *common* tokens every domain uses; the rest
lie on a circle and each real domain owns a window of them (its *topic*; neighbouring windows overlap).
A real domain's transition logits are

    L_j = beta_j * (rho_j * G + sqrt(1 - rho_j^2) * H_j) + tau * t_j[y] * (1 + t_j[x]) + u[y]

with ``G`` a low-rank structure shared by all domains, ``H_j`` the domain's private low-rank structure,
``t_j`` its topic indicator and ``u`` a shared unigram bias. Roles, assigned to real domains by a seeded
permutation:

- ``relevant``: part of the target with weight ``c_j`` (decreasing ``0.55 ** rank``);
- ``easy``: the second most relevant; sharp (low entropy) with a narrow topic, so it is learned early;
- ``far``: not in the target (``c_j = 0``) and mostly private structure (worlds with 3+ real domains);
- ``noise``: near-uniform random transitions (optional, named ``noise``); it helps nothing.

The target is the conditional of a true ``c``-mixture of the domains' sequences (row ``x`` mixes
``P_j[x]`` with weights ``c_j pi_j(x)``, ``pi_j`` the stationary distribution), tilted by a private
low-rank perturbation, so it is close to but not equal to any mixture of the domains.

Each domain has a finite training corpus (documents of ``seq_len + 1`` tokens started from its stationary
distribution; ``tokens`` = training tokens available, a token-share prior) and a fixed validation set kept
as bigram counts ``(V * V,)`` so evaluating every domain is one matrix-vector product.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
TokenArray = NDArray[np.uint8]

NOISE = "noise"
EASY_RANK = 1  # relevance rank of the easy domain


@dataclass(frozen=True)
class WorldSpec:
    """Everything a world is built from; two equal specs give identical worlds (in any process).

    ``n_domains`` counts the noisy domain when ``noisy_domain`` is set. ``token_scale`` multiplies every
    corpus size (training tokens available); ``val_docs`` is the number of validation documents per domain.
    ``families`` > 0 builds a family world (:func:`build_world`): that many topics each as ``t<k>/high`` and
    ``t<k>/low`` (both counted in ``n_domains``), the other real domains singletons ``s<j>``.
    """

    n_domains: int = 6
    vocab: int = 128
    seed: int = 0
    noisy_domain: bool = True
    seq_len: int = 64
    val_docs: int = 1024
    token_scale: float = 1.0
    families: int = 0

    def __post_init__(self) -> None:
        real = self.n_domains - int(self.noisy_domain) - self.families
        if self.families < 0 or real < self.families:
            raise ValueError("a family world needs families >= 0 and at least as many other real domains")
        if real < 1 or self.n_domains < 2:
            raise ValueError("a world needs at least 2 domains, one of them real")
        if not 16 <= self.vocab <= 256:
            raise ValueError("vocab must lie in [16, 256] (tokens are stored as uint8)")
        if self.seq_len < 2 or self.val_docs < 1 or self.token_scale <= 0:
            raise ValueError("seq_len >= 2, val_docs >= 1 and token_scale > 0 are required")


@dataclass(frozen=True, eq=False)
class World:
    """A set of domains plus the target. Arrays: ``n`` domains, ``V`` vocabulary.

    - ``transitions`` ``(n, V, V)``, ``stationary`` ``(n, V)``; ``target_transition`` ``(V, V)``,
      ``target_stationary`` ``(V,)``;
    - ``relevance`` ``(n,)``: the weights ``c`` of the domains in the target's construction;
    - ``docs`` ``(D, seq_len + 1)`` uint8 training documents of every domain, domain ``j`` in rows
      ``doc_offsets[j]:doc_offsets[j + 1]`` (``doc_offsets`` ``(n + 1,)``);
    - ``val_counts`` ``(n, V * V)`` and ``target_val_counts`` ``(V * V,)``: validation bigram counts,
      index ``x * V + y`` for the pair (previous token ``x``, next token ``y``).

    Pickling sends only the spec; the receiving process rebuilds (and caches) the world.
    """

    spec: WorldSpec
    names: tuple[str, ...]
    roles: tuple[str, ...]
    relevance: FloatArray
    transitions: FloatArray
    stationary: FloatArray
    target_transition: FloatArray
    target_stationary: FloatArray
    docs: TokenArray = field(repr=False)
    doc_offsets: NDArray[np.int64]
    val_counts: FloatArray = field(repr=False)
    target_val_counts: FloatArray = field(repr=False)

    def __reduce__(self) -> tuple[object, tuple[WorldSpec]]:
        return (build_world, (self.spec,))

    @property
    def n(self) -> int:
        return len(self.names)

    @property
    def vocab(self) -> int:
        return self.spec.vocab

    @property
    def tokens(self) -> NDArray[np.int64]:
        """Training tokens (predicted positions) available per domain, ``(n,)``."""
        return np.diff(self.doc_offsets) * self.spec.seq_len

    def corpus(self, j: int) -> TokenArray:
        """Training documents of domain ``j``, ``(docs_j, seq_len + 1)`` (a view)."""
        return self.docs[self.doc_offsets[j] : self.doc_offsets[j + 1]]

    def prior(self) -> FloatArray:
        """Token-share prior ``(n,)``: each domain's share of the available training tokens."""
        t = self.tokens.astype(np.float64)
        return t / t.sum()

    def entropy(self) -> dict[str, float]:
        """Conditional entropy (nats/token) of each domain and of ``"target"``: the loss floor."""
        out = {name: _entropy_rate(self.stationary[j], self.transitions[j]) for j, name in enumerate(self.names)}
        out["target"] = _entropy_rate(self.target_stationary, self.target_transition)
        return out

    def ideal_loss(self, weights: Mapping[str, float] | Sequence[float] | FloatArray | str) -> dict[str, float]:
        """Losses of the best bigram model for a mixture, at unlimited capacity and data.

        That model is the mixture's own conditional ``Q(y|x) = sum_j w_j pi_j(x) P_j[x, y] / sum_j w_j pi_j(x)``;
        returns the expected cross-entropy of each domain and of ``"target"`` under it (a diagnostic).
        """
        w = self.mixture(weights)
        mass = w[:, None] * self.stationary
        q = np.einsum("jx,jxy->xy", mass, self.transitions) / np.maximum(mass.sum(axis=0), 1e-300)[:, None]
        nlq = -np.log(np.maximum(q, 1e-300))
        out = {
            name: float((self.stationary[j][:, None] * self.transitions[j] * nlq).sum())
            for j, name in enumerate(self.names)
        }
        out["target"] = float((self.target_stationary[:, None] * self.target_transition * nlq).sum())
        return out

    def mixture(self, weights: Mapping[str, float] | Sequence[float] | FloatArray | str) -> FloatArray:
        """Normalize weights to an ``(n,)`` array in domain order.

        Accepts a mapping by domain name (missing names count 0), a sequence in domain order, or the
        strings ``"uniform"``, ``"prior"`` (token shares) and ``"relevance"`` (the target's construction).
        """
        if isinstance(weights, str):
            presets = {"uniform": np.full(self.n, 1.0 / self.n), "prior": self.prior(), "relevance": self.relevance}
            if weights not in presets:
                raise ValueError(f"unknown weights {weights!r}; use one of {sorted(presets)} or a mapping")
            w = presets[weights]
        elif isinstance(weights, Mapping):
            unknown = set(weights) - set(self.names)
            if unknown:
                raise ValueError(f"unknown domains {sorted(unknown)}; the world has {list(self.names)}")
            w = np.array([float(weights.get(name, 0.0)) for name in self.names])
        else:
            w = np.asarray(weights, dtype=np.float64).reshape(-1)
            if w.shape != (self.n,):
                raise ValueError(f"expected {self.n} weights, got {w.shape[0]}")
        if not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
            raise ValueError("weights must be finite, non-negative and not all zero")
        return np.asarray(w / w.sum(), dtype=np.float64)

    def weights_dict(self, weights: Mapping[str, float] | Sequence[float] | FloatArray | str) -> dict[str, float]:
        """:meth:`mixture` as ``{domain: weight}``."""
        return dict(zip(self.names, map(float, self.mixture(weights)), strict=True))

    def domain_specs(self) -> list[dict[str, object]]:
        """The domains as the HTTP API takes them: ``[{"name", "tokens"}]``."""
        return [{"name": name, "tokens": float(t)} for name, t in zip(self.names, self.tokens, strict=True)]


# -- construction -----------------------------------------------------------------------------------


PRESETS: dict[int, WorldSpec] = {
    2: WorldSpec(n_domains=2, noisy_domain=False, seed=2),
    3: WorldSpec(n_domains=3, noisy_domain=True, seed=3),
    5: WorldSpec(n_domains=5, noisy_domain=True, seed=5),
    6: WorldSpec(n_domains=6, noisy_domain=True, seed=0),
    7: WorldSpec(n_domains=7, noisy_domain=True, seed=7),
}
"""Preset worlds by domain count; 6 (5 real + noise) is the default world for mixer campaigns."""

DEFAULT_DOMAINS = 6


def make_world(
    n_domains: int = DEFAULT_DOMAINS,
    vocab: int = 128,
    seed: int = 0,
    noisy_domain: bool = True,
    *,
    seq_len: int = 64,
    val_docs: int = 1024,
    token_scale: float = 1.0,
) -> World:
    """Build (or fetch from the per-process cache) the world for these settings."""
    return build_world(
        WorldSpec(n_domains, vocab, seed, noisy_domain, seq_len=seq_len, val_docs=val_docs, token_scale=token_scale)
    )


def preset_world(n_domains: int = DEFAULT_DOMAINS) -> World:
    """One of the ``PRESETS`` worlds (2, 3, 5, 6 or 7 domains)."""
    if n_domains not in PRESETS:
        raise ValueError(f"no preset with {n_domains} domains; presets: {sorted(PRESETS)}")
    return build_world(PRESETS[n_domains])


@functools.lru_cache(maxsize=8)
def build_world(spec: WorldSpec) -> World:
    """Build the world of ``spec`` (deterministic; cached per process)."""
    v, rng = spec.vocab, np.random.default_rng([spec.seed, 7919])
    n_real = spec.n_domains - int(spec.noisy_domain) - spec.families
    n_common = v // 4
    shared = _low_rank(rng, v, 8)
    unigram = 0.5 * rng.normal(size=v)
    unigram[:n_common] += 1.0

    # roles: the order of relevance is a seeded permutation of the real domains
    order = rng.permutation(n_real)
    c_by_rank = _relevance_pattern(n_real)
    relevance = np.zeros(spec.n_domains)
    roles = ["relevant"] * n_real
    for rank, j in enumerate(order):
        relevance[j] = c_by_rank[rank]
        if rank == EASY_RANK:
            roles[j] = "easy"
        if n_real >= 3 and rank == n_real - 1:
            roles[j] = "far"

    topic_span = v - n_common
    offset = rng.uniform(0, topic_span)
    logits = np.empty((n_real + int(spec.noisy_domain), v, v))
    for j in range(n_real):
        width = 0.12 * topic_span if roles[j] == "easy" else 0.3 * topic_span
        center = offset + j * topic_span / n_real
        pos = np.arange(topic_span)
        dist = np.abs((pos - center + topic_span / 2) % topic_span - topic_span / 2)
        topic = np.zeros(v)
        topic[n_common:] = (dist <= width / 2).astype(np.float64)
        beta = 3.0 if roles[j] == "easy" else 1.6
        rho = 0.2 if roles[j] == "far" else rng.uniform(0.5, 0.8)
        private = _low_rank(rng, v, 4)
        structure = rho * shared + math.sqrt(1 - rho**2) * private
        logits[j] = beta * structure + 2.5 * topic[None, :] * (1.0 + topic[:, None]) + unigram[None, :]
    if spec.noisy_domain:
        logits[-1] = 0.3 * rng.normal(size=(v, v))
    transitions = _softmax(logits)
    stationary = np.stack([_stationary(p) for p in transitions])
    relevance = relevance[: len(logits)]

    # target: the conditional of a c-mixture of the domains' sequences, tilted by its own perturbation
    mass = relevance[:, None] * stationary  # (n, V)
    mixed = np.einsum("jx,jxy->xy", mass, transitions) / mass.sum(axis=0)[:, None]
    target_transition = _softmax(np.log(mixed) + 0.6 * _low_rank(rng, v, 3))
    target_stationary = _stationary(target_transition)

    # corpora (tokens available) and validation sets, each from its own seeded stream
    base = 2**20 * spec.token_scale
    sizes = base * np.exp(rng.uniform(np.log(0.75), np.log(6.0), size=len(logits)))
    if spec.noisy_domain:
        sizes[-1] = 8.0 * base
    names = [f"d{j}" for j in range(n_real)] + ([NOISE] if spec.noisy_domain else [])
    roles = [*roles, *([NOISE] if spec.noisy_domain else [])]
    if spec.families:
        transitions, stationary, relevance, sizes, names, roles = _add_low_quality(
            spec, logits, transitions, stationary, relevance, sizes, roles, base
        )
    doc_len = spec.seq_len + 1
    tables = [_alias_tables(p) for p in transitions]
    corpora = tuple(
        _sample_docs(
            np.random.default_rng([spec.seed, 1, j]),
            tables[j],
            stationary[j],
            max(1, int(sizes[j] // spec.seq_len)),
            doc_len,
        )
        for j in range(spec.n_domains)
    )
    val_counts = np.stack(
        [
            _pair_counts(
                _sample_docs(
                    np.random.default_rng([spec.seed, 2, j]), tables[j], stationary[j], spec.val_docs, doc_len
                ),
                v,
            )
            for j in range(spec.n_domains)
        ]
    )
    target_val = _pair_counts(
        _sample_docs(
            np.random.default_rng([spec.seed, 3]),
            _alias_tables(target_transition),
            target_stationary,
            spec.val_docs,
            doc_len,
        ),
        v,
    )

    return World(
        spec=spec,
        names=tuple(names),
        roles=tuple(roles),
        relevance=relevance,
        transitions=transitions,
        stationary=stationary,
        target_transition=target_transition,
        target_stationary=target_stationary,
        docs=np.concatenate(corpora),
        doc_offsets=np.concatenate([[0], np.cumsum([c.shape[0] for c in corpora])]).astype(np.int64),
        val_counts=val_counts,
        target_val_counts=target_val,
    )


def _add_low_quality(
    spec: WorldSpec,
    logits: FloatArray,
    transitions: FloatArray,
    stationary: FloatArray,
    relevance: FloatArray,
    sizes: FloatArray,
    roles: list[str],
    base: float,
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, list[str], list[str]]:
    """A family world from the base domains: the first ``spec.families`` real domains become topics ``t<k>/high``
    (scarce: 0.08-0.3 x ``base`` tokens), each gets a ``t<k>/low`` twin (its logits halved plus random ones, so half
    topic and half noise; plentiful: 1-4 x ``base``; not in the target), the other real domains are singletons
    ``s<j>``. Order: highs, singletons, lows, noise. The target (built before) is unchanged."""
    rng = np.random.default_rng([spec.seed, 104729])
    k = spec.families
    n_real = len(logits) - int(spec.noisy_domain)
    low = _softmax(0.5 * logits[:k] + rng.normal(size=(k, spec.vocab, spec.vocab)))
    order = [*range(n_real), *range(n_real, len(logits))]  # real, then noise
    trans = np.concatenate([transitions[:n_real], low, transitions[n_real:]])
    stat = np.concatenate([stationary[:n_real], np.stack([_stationary(p) for p in low]), stationary[n_real:]])
    rel = np.concatenate([relevance[:n_real], np.zeros(k), relevance[n_real:]])
    high_sizes = base * np.exp(rng.uniform(np.log(0.08), np.log(0.3), size=k))
    low_sizes = base * np.exp(rng.uniform(np.log(1.0), np.log(4.0), size=k))
    sz = np.concatenate([high_sizes, sizes[k:n_real], low_sizes, sizes[n_real:]])
    names = ([f"t{j}/high" for j in range(k)] + [f"s{j}" for j in range(k, n_real)] + [f"t{j}/low" for j in range(k)]
             + ([NOISE] if spec.noisy_domain else []))
    new_roles = [*(roles[j] for j in order[:n_real]), *(["low"] * k), *roles[n_real:]]
    return trans, stat, rel, sz, names, new_roles


def _relevance_pattern(n_real: int) -> FloatArray:
    """Target weights by relevance rank ``(n_real,)``: ``0.55 ** rank``, the last one 0 when 3+ domains."""
    if n_real == 1:
        return np.ones(1)
    if n_real == 2:
        return np.array([0.6, 0.4])
    c = 0.55 ** np.arange(n_real, dtype=np.float64)
    c[-1] = 0.0
    return c / c.sum()


def _low_rank(rng: np.random.Generator, v: int, k: int) -> FloatArray:
    """A ``(v, v)`` matrix of rank ``k`` with entries of unit variance."""
    a, b = rng.normal(size=(v, k)), rng.normal(size=(v, k))
    return np.asarray(a @ b.T / math.sqrt(k), dtype=np.float64)


def _softmax(z: FloatArray) -> FloatArray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return np.asarray(e / e.sum(axis=-1, keepdims=True), dtype=np.float64)


def _stationary(p: FloatArray) -> FloatArray:
    """Stationary distribution ``(V,)`` of the row-stochastic ``p`` ``(V, V)``: solves ``pi (P - I) = 0``
    with ``sum(pi) = 1`` (one balance equation replaced by the normalization)."""
    v = p.shape[0]
    a = p.T - np.eye(v)
    a[-1] = 1.0
    b = np.zeros(v)
    b[-1] = 1.0
    pi = np.clip(np.linalg.solve(a, b), 0.0, None)
    return np.asarray(pi / pi.sum(), dtype=np.float64)


def _entropy_rate(pi: FloatArray, p: FloatArray) -> float:
    return float(-(pi[:, None] * p * np.log(np.maximum(p, 1e-300))).sum())


def _alias_tables(p: FloatArray) -> tuple[FloatArray, NDArray[np.int64]]:
    """Walker's alias tables ``(prob, alias)``, each ``(V, V)``, for the rows of ``p`` ``(V, V)``.

    Written by hand: numpy has no alias sampler, and drawing through it costs O(1) per token, which keeps
    building a world's corpora (tens of millions of tokens) fast. Vose's construction, row by row.
    """
    v = p.shape[1]
    prob = np.ones_like(p)
    alias = np.tile(np.arange(v), (p.shape[0], 1))
    for r in range(p.shape[0]):
        scaled = p[r] * v
        small = [i for i in range(v) if scaled[i] < 1.0]
        large = [i for i in range(v) if scaled[i] >= 1.0]
        while small and large:
            s, g = small.pop(), large.pop()
            prob[r, s], alias[r, s] = scaled[s], g
            scaled[g] -= 1.0 - scaled[s]
            (small if scaled[g] < 1.0 else large).append(g)
    return prob, alias


def _sample_docs(
    rng: np.random.Generator, tables: tuple[FloatArray, NDArray[np.int64]], pi: FloatArray, n_docs: int, length: int
) -> TokenArray:
    """``n_docs`` independent chains of ``length`` tokens ``(n_docs, length)`` started from ``pi``.

    ``tables`` are the chain's alias tables; all chains advance together, one alias draw per position.
    """
    prob, alias = tables
    v = prob.shape[0]
    out = np.empty((n_docs, length), dtype=np.uint8)
    start_cdf = np.cumsum(pi)
    start_cdf[-1] = 1.0
    cur = np.minimum(np.searchsorted(start_cdf, rng.random(n_docs), side="right"), v - 1)
    out[:, 0] = cur
    for t in range(1, length):
        u = rng.random(n_docs) * v
        k = u.astype(np.int64)
        keep = (u - k) < prob[cur, k]
        cur = np.where(keep, k, alias[cur, k])
        out[:, t] = cur
    return out


def _pair_counts(docs: TokenArray, v: int) -> FloatArray:
    """Bigram counts ``(V * V,)`` of documents ``(m, L)``, index ``x * V + y``."""
    pairs = docs[:, :-1].astype(np.int64) * v + docs[:, 1:]
    return np.bincount(pairs.ravel(), minlength=v * v).astype(np.float64)
