"""The first batch of ``mfbo``, before any run: a space-filling design of prior samples."""

from __future__ import annotations

import numpy as np
from scipy.spatial.distance import cdist

from mixers.cancel import checkpoint
from mixers.mfbo.batches.believer import Pick
from mixers.mfbo.candidates import generate
from mixers.mfbo.model import MFBOModel
from mixers.simplex import novel_mask
from mixers.types import FloatArray, fidelity_key

# Candidates per pick of the empty-history space-filling design.
SPACE_FILL_DRAWS = 16


def space_fill(
    rng: np.random.Generator, model: MFBOModel, n: int, fid: dict[str, float], pool: FloatArray | None,
    existing: dict[str, FloatArray], tol: float,
) -> list[Pick]:
    """A space-filling design of prior samples at ``fid`` by Mitchell's best-candidate rule.

    Each pick draws ``SPACE_FILL_DRAWS`` candidates (Dirichlet(prior x d) samples, or random pool rows) and
    keeps the one farthest from the runs at ``fid`` and the earlier picks; the first pick of an empty
    design is the candidate nearest the prior. The picks stay distributed like prior samples (unlike a
    global maximin, which would pick the simplex's corners) while avoiding near-duplicates.
    """
    prior = model.problem.prior()
    ref = existing[fidelity_key(fid)]
    chosen: list[Pick] = []
    left = pool
    for _ in range(n):
        checkpoint()
        if left is not None:
            left = left[novel_mask(left, ref, tol)]
            if len(left) == 0:
                break
            draws = left[rng.permutation(len(left))[:SPACE_FILL_DRAWS]]
        else:
            draws = generate(rng, model, SPACE_FILL_DRAWS, strengths=(1.0,))
            draws = draws[novel_mask(draws, ref, tol)]
            if len(draws) == 0:
                continue
        if len(ref):
            i = int(np.argmax(cdist(draws, ref).min(axis=1)))
        else:
            i = int(np.argmin(np.linalg.norm(draws - prior, axis=1)))
        chosen.append((draws[i].copy(), fid))
        ref = np.vstack([ref, draws[i]])
    return chosen
