"""The batch builders of ``mfbo``: each returns the picks ``(mixture, fidelity)`` of one proposal.

- :func:`space_fill`: without runs, a space-filling design of prior samples;
- :func:`calibration_batch`: screening at the cheapest lower fidelity, then its best mixtures paired at the
  target, until the transfer can be measured;
- :func:`screen_batch`: the target's expected improvement picks, run first at a lower fidelity that passed the
  transfer gate, and the best screened mixtures climbed to the target;
- :func:`believer_batch`: knowledge gradient or (augmented) expected improvement per unit cost over every
  allowed fidelity.

All but the first build the batch one run at a time by kriging believer: pending and already chosen runs are
added with their posterior mean as observations (a fantasy), so later picks see the reduced uncertainty there and
the batch spreads out.
"""

from mixers.mfbo.batches.believer import Pick, believer_batch
from mixers.mfbo.batches.calibration import calibration_batch, screen_runs
from mixers.mfbo.batches.screen import screen_batch, screens
from mixers.mfbo.batches.space_fill import space_fill

__all__ = ["Pick", "believer_batch", "calibration_batch", "screen_batch", "screen_runs", "screens", "space_fill"]
