"""Mixer endpoints: the catalog, proposals, recommendations, predictions, evaluations."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from app.api.convert import run_out
from app.deps import ProjectName, SettingsDep, StoreDep, get_scope
from app.schemas import (
    EvaluationIn,
    EvaluationOut,
    EvaluationResult,
    MixerInfo,
    PredictionIn,
    PredictionOut,
    PredictionsOut,
    ProposalIn,
    ProposalOut,
    RecommendationIn,
    RecommendationOut,
)
from app.services import mixing as svc

router = APIRouter(tags=["mixers"], dependencies=[Depends(get_scope)])


@router.get("/api/v1/mixers", response_model=list[MixerInfo])
def list_mixers() -> list[MixerInfo]:
    return [MixerInfo(**m) for m in svc.mixer_catalog()]


@router.post("/api/v1/projects/{name}/proposals", status_code=201, response_model=ProposalOut)
def create_proposal(name: ProjectName, body: ProposalIn, store: StoreDep, settings: SettingsDep) -> ProposalOut:
    proposal, runs, diagnostics = svc.propose(
        store,
        name,
        body.mixer,
        body.config,
        body.n,
        body.fidelity,
        body.fidelities,
        body.candidates,
        body.seed,
        settings.lease_seconds,
        settings.fit_timeout_seconds,
    )
    return ProposalOut(
        id=proposal.id,
        mixer=proposal.mixer,
        config=proposal.config,
        seed=proposal.seed,
        runs=[run_out(r) for r in runs],
        diagnostics=diagnostics,
    )


@router.post("/api/v1/projects/{name}/recommendations", response_model=RecommendationOut)
def recommend(name: ProjectName, body: RecommendationIn, store: StoreDep, settings: SettingsDep) -> RecommendationOut:
    rec = svc.recommend(store, name, body.mixer, body.config, body.fidelity, body.seed, settings.fit_timeout_seconds)
    return RecommendationOut(**rec)


@router.post("/api/v1/projects/{name}/predictions", response_model=PredictionsOut)
def predict(name: ProjectName, body: PredictionIn, store: StoreDep, settings: SettingsDep) -> PredictionsOut:
    preds = svc.predict(
        store, name, body.mixer, body.config, body.fidelity, body.mixtures, body.seed, settings.fit_timeout_seconds
    )
    return PredictionsOut(predictions=[PredictionOut(**p) for p in preds])


@router.post("/api/v1/projects/{name}/evaluations", response_model=EvaluationOut)
def evaluate(name: ProjectName, body: EvaluationIn, store: StoreDep, settings: SettingsDep) -> EvaluationOut:
    results = svc.evaluate(
        store,
        name,
        [(m.mixer, m.config) for m in body.mixers],
        body.folds,
        body.fidelity,
        body.seed,
        settings.fit_timeout_seconds,
    )
    return EvaluationOut(results=[EvaluationResult(**r) for r in results])
