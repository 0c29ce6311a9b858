"""mixopt's Python client: :class:`Client` wraps the HTTP API, :class:`OnlineMixing` drives an online session.

Only ``httpx`` is needed to use it (``numpy`` for embeddings); the server lives in the ``app`` package.
Modules: ``client`` (the :class:`Client` and its transport), ``types`` (response models), ``errors`` (problem
answers as exceptions), ``wire`` (request encoding), ``uploads`` (run files cut into parts for the import
endpoint), ``online`` (the training-loop helper).
"""

from mixopt.client import (
    Client,
    Conflict,
    ConnectionFailed,
    Directive,
    Domain,
    EmbeddingSet,
    Evaluation,
    EvaluationResult,
    FieldError,
    Forbidden,
    Importance,
    ImportResult,
    MixerInfo,
    MixoptError,
    NotFound,
    Prediction,
    Project,
    Proposal,
    RateLimited,
    Recommendation,
    Run,
    RunPage,
    ServerError,
    Session,
    SessionEvent,
    SessionStart,
    Unauthorized,
    ValidationFailed,
)
from mixopt.online import OnlineMixing

__all__ = [
    "Client",
    "Conflict",
    "ConnectionFailed",
    "Directive",
    "Domain",
    "EmbeddingSet",
    "Evaluation",
    "EvaluationResult",
    "FieldError",
    "Forbidden",
    "ImportResult",
    "Importance",
    "MixerInfo",
    "MixoptError",
    "NotFound",
    "OnlineMixing",
    "Prediction",
    "Project",
    "Proposal",
    "RateLimited",
    "Recommendation",
    "Run",
    "RunPage",
    "ServerError",
    "Session",
    "SessionEvent",
    "SessionStart",
    "Unauthorized",
    "ValidationFailed",
]
