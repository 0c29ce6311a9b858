"""``mfbo``: multi-fidelity Bayesian optimization of the mixture (DESIGN 4.5, after ADMIRE-BayesOpt 2025).

Split as in BoTorch, one module per part:

- :mod:`~mixers.mfbo.config`: :class:`MFBOConfig`, the fields ``GET /api/v1/mixers`` publishes.
- model (:mod:`~mixers.mfbo.features`, :mod:`~mixers.mfbo.model`, on :mod:`mixers.gp`): an exact GP over
  ``(mixture, log-fidelity features)`` with a mixture kernel times a floor-lifted fidelity kernel plus a
  linear-in-log-fidelity mean, hyperparameters by marginal likelihood. It models the loss ``sign * objective``;
  answers are reported in the objective's own units.
- acquisition (:mod:`~mixers.mfbo.acquisition`, on :mod:`mixers.acquisition`): screen-then-climb on the target's
  expected improvement (default), discretized multi-fidelity knowledge gradient per unit cost, or (augmented)
  expected improvement; the cost comes from the runs' ``cost`` (log-linear in log fidelity), the product of the
  fidelity values, or configured exponents.
- optimizer (:mod:`~mixers.mfbo.candidates`, on :mod:`mixers.search`, which the other offline mixers share):
  Dirichlet candidates around the prior and around the best mixtures, then local refinement by projected random
  steps on the bounded simplex; or only the rows of a given candidate pool.
- transfer gate (:mod:`~mixers.mfbo.transfer`): how much each lower fidelity tells about the target, learned from
  mixtures run at both; a lower fidelity that tells too little is no longer proposed.
- batches (:mod:`~mixers.mfbo.batches`): space fill, calibration, screening, and the kriging-believer batch of
  the knowledge gradient or expected improvement.
- :mod:`~mixers.mfbo.mixer`: :class:`MFBOMixer`, which wires them into the offline mixer interface.

With ``multi_fidelity=False`` only the runs at the target fidelity are used and the mixer is plain
single-fidelity BO (EI by default), the baseline for the multi-fidelity campaigns.
"""

from mixers.mfbo.config import MFBOConfig
from mixers.mfbo.mixer import MFBO_TAG_PROPOSE, MFBO_TAG_RECOMMEND, MFBOMixer

__all__ = ["MFBO_TAG_PROPOSE", "MFBO_TAG_RECOMMEND", "MFBOConfig", "MFBOMixer"]
