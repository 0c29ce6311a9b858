"""Offline text -> vectors for the ``ot`` mixer: hashed word n-grams, TF-IDF, truncated SVD (LSA).

No model download: scikit-learn's ``HashingVectorizer`` (word unigrams and bigrams, 2^18 buckets) feeds a
``TfidfTransformer`` (sublinear tf) and a ``TruncatedSVD``, all fitted jointly on the texts of every set
(domains and target) so that the vectors share one space; rows are then L2-normalized, so squared
Euclidean distances lie in [0, 4] (``2 - 2 cos``). Deterministic for a given ``seed`` (the SVD's random
start is seeded and its signs fixed by scikit-learn; sets are stacked in sorted name order, whatever the
dict order).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from numpy.typing import NDArray
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer
from sklearn.preprocessing import normalize

N_FEATURES = 2**18
ARPACK_MAX = 1000  # texts or used buckets up to which the SVD is exact (ARPACK)


def embed_texts(
    texts_by_set: Mapping[str, Sequence[str]], dim: int = 384, seed: int = 0
) -> dict[str, NDArray[np.float32]]:
    """Embed each set's texts: returns ``{set: (n_set, dim) float32}`` in the input's key order.

    The SVD has at most ``min(dim, n_texts - 1)`` components (it needs fewer components than texts); the
    remaining columns are zero, which leaves every distance unchanged. Empty sets give ``(0, dim)`` arrays.
    """
    if dim < 1:
        raise ValueError("dim must be at least 1")
    names = sorted(texts_by_set)
    docs = [str(t) for name in names for t in texts_by_set[name]]
    out_all = np.zeros((len(docs), dim), dtype=np.float32)
    if docs:
        hashed = HashingVectorizer(
            n_features=N_FEATURES, ngram_range=(1, 2), alternate_sign=False, norm=None
        ).transform(docs)
        tfidf = TfidfTransformer(sublinear_tf=True).fit_transform(hashed).tocsc()
        # Only the buckets some text uses: empty columns change no product, but the randomized SVD would
        # draw and orthogonalize a dense 2^18-row matrix for them (seconds on a few hundred texts).
        used = np.flatnonzero(np.diff(tfidf.indptr))
        tfidf = tfidf[:, used].tocsr()
        k = min(dim, len(docs) - 1, tfidf.shape[1] - 1)
        if k >= 1 and tfidf.nnz:
            # ARPACK is exact and fast on small corpora; the randomized solver scales to large ones.
            algorithm = "arpack" if min(tfidf.shape) <= ARPACK_MAX else "randomized"
            svd = TruncatedSVD(n_components=k, algorithm=algorithm, random_state=seed)
            z = normalize(svd.fit_transform(tfidf))
            out_all[:, :k] = z.astype(np.float32)
    out: dict[str, NDArray[np.float32]] = {}
    start = 0
    for name in names:
        n = len(texts_by_set[name])
        out[name] = out_all[start : start + n].copy()
        start += n
    return {name: out[name] for name in texts_by_set}
