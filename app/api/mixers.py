"""Mixer endpoints: the catalog, proposals, recommendations, predictions, evaluations."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from app.api.convert import run_out
from app.api.history import answer_evaluation, answer_recommendation
from app.deps import ProjectName, SettingsDep, StoreDep, get_scope
from app.jsonbody import JsonRoute
from app.openapi import problem_responses
from app.schemas import (
    EvaluationIn,
    EvaluationOut,
    MixerInfo,
    PredictionIn,
    PredictionsOut,
    ProposalIn,
    ProposalOut,
    RecommendationIn,
    RecommendationOut,
)
from app.services import catalog, evaluation, projects
from app.services import mixing as svc

router = APIRouter(
    route_class=JsonRoute,
    tags=["mixers"],
    dependencies=[Depends(get_scope)],
    responses=problem_responses(401, 403, 422, 503),
)
# a mixer that runs past MIXOPT_FIT_TIMEOUT_SECONDS answers 504
FIT = problem_responses(400, 404, 413, 429, 504)


@router.get("/api/v1/mixers", response_model=list[MixerInfo])
def list_mixers() -> list[MixerInfo]:
    return [MixerInfo.model_validate(m, from_attributes=True) for m in catalog.mixer_catalog()]


@router.post(
    "/api/v1/projects/{name}/proposals",
    status_code=201,
    response_model=ProposalOut,
    responses={**FIT, **problem_responses(409)},
)
def create_proposal(name: ProjectName, body: ProposalIn, store: StoreDep, settings: SettingsDep) -> ProposalOut:
    proposal, runs, source, diagnostics = svc.propose(
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
        body.tags,
    )
    return ProposalOut(
        id=proposal.id,
        mixer=proposal.mixer,
        config=proposal.config,
        seed=proposal.seed,
        runs=[run_out(r) for r in runs],
        fidelity_source=source,
        diagnostics=diagnostics,
    )


@router.post("/api/v1/projects/{name}/recommendations", response_model=RecommendationOut, responses=FIT)
def recommend(name: ProjectName, body: RecommendationIn, store: StoreDep, settings: SettingsDep) -> RecommendationOut:
    project = projects.get_project(store, name)
    rec = svc.recommend(store, project, body.mixer, body.config, body.fidelity, body.seed, settings.fit_timeout_seconds)
    out = RecommendationOut.model_validate(rec, from_attributes=True)
    return answer_recommendation(store, project, body, out, settings.fit_timeout_seconds)


@router.post("/api/v1/projects/{name}/predictions", response_model=PredictionsOut, responses=FIT)
def predict(name: ProjectName, body: PredictionIn, store: StoreDep, settings: SettingsDep) -> PredictionsOut:
    out = svc.predict(
        store, name, body.mixer, body.config, body.fidelity, body.mixtures, body.seed, settings.fit_timeout_seconds
    )
    return PredictionsOut.model_validate(out, from_attributes=True)


@router.post("/api/v1/projects/{name}/evaluations", response_model=EvaluationOut, responses=FIT)
def evaluate(name: ProjectName, body: EvaluationIn, store: StoreDep, settings: SettingsDep) -> EvaluationOut:
    request = evaluation.EvaluationRequest(body.choices(), body.folds, body.fidelity, body.seed, body.default_mixer)
    answer = evaluation.compare(store, name, request, settings.fit_timeout_seconds)
    return answer_evaluation(store, name, body, EvaluationOut.model_validate(answer, from_attributes=True))
