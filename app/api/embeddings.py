"""Embedding sets: ``PUT`` as ``.npy`` bytes or JSON ``{vectors}``; list them."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from app.deps import ProjectName, StoreDep
from app.jsonbody import JsonRoute
from app.openapi import problem_responses
from app.schemas import EmbeddingOut, EmbeddingsIn
from app.services import embeddings as svc

router = APIRouter(route_class=JsonRoute,
    prefix="/api/v1/projects/{name}/embeddings",
    tags=["embeddings"],
    responses=problem_responses(401, 403, 404, 422, 503),
)


@router.put(
    # ``:path``: a domain name may carry a family prefix (``dclm/web``), sent as ``dclm%2Fweb`` or ``dclm/web``
    "/{set_name:path}",
    response_model=EmbeddingOut,
    responses=problem_responses(400, 413),
    openapi_extra={
        "requestBody": {
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
                "application/json": {"schema": EmbeddingsIn.model_json_schema()},
            },
            "required": True,
        }
    },
)
async def put_embedding(name: ProjectName, set_name: str, request: Request, store: StoreDep) -> EmbeddingOut:
    """Store the set ``set_name`` (a domain name or ``target``) of the project.

    A domain name with a family prefix goes URL-encoded (``dclm%2Fweb``; the plain ``dclm/web`` is read the same).
    """
    body = await request.body()
    ctype = request.headers.get("content-type", "").split(";")[0].strip()
    parse = svc.parse_json if ctype == "application/json" else svc.parse_npy
    # Parsing a large body is CPU-bound: a worker thread keeps the event loop answering other requests.
    arr = await run_in_threadpool(parse, body)
    stored = await run_in_threadpool(svc.put_embedding, store, name, set_name, arr)
    return EmbeddingOut.model_validate(stored, from_attributes=True)


@router.get("", response_model=list[EmbeddingOut])
def list_embeddings(name: ProjectName, store: StoreDep) -> list[EmbeddingOut]:
    return [EmbeddingOut.model_validate(e, from_attributes=True) for e in svc.list_embeddings(store, name)]
