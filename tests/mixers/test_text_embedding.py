"""Tests of the offline text embedding used by the ``ot`` mixer."""

from __future__ import annotations

import numpy as np
import pytest

from mixers.ot import OTMixer
from mixers.text_embedding import embed_texts
from mixers.types import DomainSpec, Objective, Problem

SHARED = "the a of and to in is it that for with as on this".split()  # noqa: SIM905
TOPICS = {
    name: words.split()
    for name, words in (
        ("code", "function return variable compiler python loop array pointer class method debug stack"),
        ("cooking", "flour sugar oven butter recipe bake salt pepper onion garlic simmer dough"),
        ("law", "court judge statute appeal plaintiff contract liability verdict counsel ruling clause tort"),
    )
}


def sentences(topic: str, n: int, rng: np.random.Generator) -> list[str]:
    """``n`` sentences: 6 topic words and 6 shared words each, in random order."""
    out = []
    for _ in range(n):
        words = list(rng.choice(TOPICS[topic], 6)) + list(rng.choice(SHARED, 6))
        rng.shuffle(words)
        out.append(" ".join(words))
    return out


def corpus(seed: int = 0, n: int = 40) -> dict[str, list[str]]:
    rng = np.random.default_rng(seed)
    return {t: sentences(t, n, rng) for t in TOPICS}


def test_shape_dtype_and_determinism() -> None:
    texts = corpus()
    texts["target"] = texts["code"][:5]
    a = embed_texts(texts, dim=32, seed=1)
    b = embed_texts(dict(reversed(list(texts.items()))), dim=32, seed=1)  # key order does not matter
    assert list(a) == list(texts)
    for name, arr in a.items():
        assert arr.dtype == np.float32 and arr.shape == (len(texts[name]), 32)
        np.testing.assert_array_equal(arr, b[name])
        np.testing.assert_allclose(np.linalg.norm(arr, axis=1), 1.0, rtol=1e-5)


def test_few_texts_pad_with_zeros_and_empty_sets() -> None:
    out = embed_texts({"a": ["one text", "another text"], "b": [], "c": ["third"]}, dim=16)
    assert out["a"].shape == (2, 16) and out["b"].shape == (0, 16) and out["c"].shape == (1, 16)
    assert np.all(out["a"][:, 2:] == 0)  # 3 texts: at most 2 components
    with pytest.raises(ValueError):
        embed_texts({"a": ["x"]}, dim=0)


def test_same_domain_is_closer_than_other_domains() -> None:
    emb = embed_texts(corpus(), dim=64, seed=0)
    names = list(emb)
    x = np.vstack([emb[n] for n in names])
    label = np.repeat(np.arange(len(names)), [len(emb[n]) for n in names])
    d2 = ((x[:, None, :] - x[None, :, :]) ** 2).sum(axis=2)
    same = label[:, None] == label[None, :]
    off = ~np.eye(len(x), dtype=bool)
    assert d2[same & off].mean() < 0.95 * d2[~same].mean()
    # Nearest neighbour (other than itself) is from the same domain for nearly every text.
    nn = np.where(off, d2, np.inf).argmin(axis=1)
    assert (label[nn] == label).mean() > 0.95


def test_ot_mixer_on_text_finds_the_target_composition() -> None:
    rng = np.random.default_rng(5)
    texts = corpus(seed=1, n=50)
    texts["target"] = sentences("code", 42, rng) + sentences("law", 18, rng)  # 70% code, 30% law
    emb = embed_texts(texts, dim=64, seed=0)
    prob = Problem(domains=tuple(DomainSpec(t) for t in TOPICS), objective=Objective({"loss": 1.0}), embeddings=emb)
    rec = OTMixer(prob, seed=0).fit([]).recommend()
    assert np.abs(rec.weights - np.array([0.7, 0.0, 0.3])).sum() < 0.1
