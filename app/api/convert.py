"""Records to response bodies."""

from __future__ import annotations

from app.schemas import DomainOut, FamilyOut, FidelityBestOut, ProjectOut, ProjectSummaryOut, RunOut
from app.services import domains
from app.services.wire import run_wire
from store.records import ProjectRecord, ProjectSummary, RunRecord


def project_out(p: ProjectRecord) -> ProjectOut:
    return ProjectOut(
        id=p.id,
        name=p.name,
        description=p.description,
        domains=[DomainOut(**d) for d in p.domains],
        objective=p.objective,
        target_fidelity=p.target_fidelity,
        fidelities=p.fidelities,
        allow_missing_domains=p.allow_missing_domains,
        created_at=p.created_at,
        updated_at=p.updated_at,
        archived_at=p.archived_at,
        default_mixer=p.default_mixer,
        families=[FamilyOut(**f) for f in domains.families_view(p)],
        domain_version=p.domain_version,
    )


def summary_out(s: ProjectSummary) -> ProjectSummaryOut:
    return ProjectSummaryOut(
        runs=s.runs,
        completed=s.completed,
        open=s.open,
        best_value=s.best_value,
        last_activity=s.last_activity,
        best_by_fidelity=[
            FidelityBestOut(fidelity=b.fidelity, value=b.value, run_id=b.run_id, n_completed=b.n_completed)
            for b in s.best_by_fidelity
        ],
    )


def run_out(r: RunRecord) -> RunOut:
    return RunOut.model_validate(run_wire(r))
