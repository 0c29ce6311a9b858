"""The configuration of the ``mfbo`` mixer (published by ``GET /api/v1/mixers``) and the constants its fields cite."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from mixers.base import MAX_PENALTY, MixerConfig

CostExponent = Annotated[float, Field(ge=0, le=10, allow_inf_nan=False)]  # cost ~ prod fidelity[k] ** e[k]
AcquisitionKind = Literal["kg", "ei", "screen"]

# Runs per domain from which ``ard=None`` turns on one lengthscale per domain.
ARD_RUNS_PER_DOMAIN = 4
# Pairs (mixtures run both at a lower fidelity and at the target) needed to measure its transfer correlation.
MIN_TRANSFER_PAIRS = 3


class MFBOConfig(MixerConfig):
    """Configuration of :class:`MFBOMixer`."""

    multi_fidelity: bool = Field(
        True, description="model all fidelities jointly; False: single-fidelity BO on the target-fidelity runs only"
    )
    acquisition: AcquisitionKind | None = Field(
        None,
        description="screen: the mixture of highest expected improvement at the target, run first at the cheapest "
        "lower fidelity whose transfer passed the gate while the model is unsure there, and the best screened "
        "mixture climbed to the target once it beats the screening value of every target run; kg: knowledge "
        "gradient at the target per unit cost; ei: expected improvement (augmented EI per unit cost when "
        "multi-fidelity). Default: screen when multi_fidelity, else ei",
    )
    kernel: Literal["matern52", "rbf"] = Field("matern52", description="kernel on the mixture weights")
    ard: bool | None = Field(
        None,
        description="one lengthscale per domain (ARD) or one shared lengthscale; default: ARD once the model has "
        f"at least {ARD_RUNS_PER_DOMAIN} runs per domain (from fewer, d lengthscales are not identifiable and the "
        "posterior-mean minimizer exploits the dimensions the fit switched off)",
    )
    restarts: int = Field(3, ge=1, le=20, description="L-BFGS-B starts for the marginal-likelihood fit")
    max_fit_points: int = Field(600, ge=10, le=5000, description="runs used to fit hyperparameters (seeded subset)")
    cost_model: Literal["observed", "product"] = Field(
        "observed",
        description="observed: fit log cost on log fidelity from the runs' cost (product of the fidelity values "
        "with fewer than 2 costs); product: cost = product of the fidelity values",
    )
    cost_exponents: dict[str, CostExponent] | None = Field(
        None, description="set the cost model by hand: cost = prod fidelity[k] ** e[k] (unnamed keys: 0)"
    )
    n_candidates: int = Field(1024, ge=16, le=100_000, description="Dirichlet candidates per search")
    refine_top: int = Field(4, ge=0, le=64, description="best candidates refined locally (0: no refinement)")
    kg_set_size: int = Field(128, ge=1, le=4096, description="target-fidelity points in the KG discretization")
    kl_to_prior: float = Field(
        0.0, ge=0, le=MAX_PENALTY,
        description="lambda in predicted loss + lambda * KL(p || prior)"
    )
    min_correlation: float = Field(
        0.7, ge=0, le=1,
        description="a lower fidelity whose transfer correlation with the target (see fidelity_correlations in "
        "the diagnostics) is below this is not proposed; its runs still enter the model. 0: never gate",
    )
    screen_runs: int | None = Field(
        None, ge=0, le=256,
        description="runs at the cheapest lower fidelity (by expected improvement there) before its best mixtures "
        "are paired at the target to learn the transfer (see calibration_runs); default: max(5, 2 x domains) (a "
        "BO initial design) and at least one target run's worth of cost there (up to 20 x domains)",
    )
    calibration_runs: int = Field(
        MIN_TRANSFER_PAIRS, ge=0, le=64,
        description="mixtures run at both the target and the cheapest lower fidelity (done or pending) wanted "
        "before the screening acquisition starts: without them how much a lower fidelity tells about the target "
        "cannot be learned; 0: no calibration",
    )


def acquisition_kind(config: MFBOConfig) -> AcquisitionKind:
    """The configured acquisition, or the default: ``screen`` when multi-fidelity, else ``ei``."""
    if config.acquisition is not None:
        return config.acquisition
    return "screen" if config.multi_fidelity else "ei"
