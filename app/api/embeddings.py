"""Embedding sets: ``PUT`` as ``.npy`` bytes or JSON ``{vectors}``; list them."""

from __future__ import annotations

import numpy as np
from fastapi import APIRouter, Request
from pydantic import ValidationError

from app.deps import ProjectName, StoreDep
from app.openapi import problem_responses
from app.problems import format_loc
from app.schemas import EmbeddingOut, EmbeddingsIn
from app.services import embeddings as svc
from store.errors import FieldError, InvalidInput

router = APIRouter(
    prefix="/api/v1/projects/{name}/embeddings",
    tags=["embeddings"],
    responses=problem_responses(401, 403, 404, 422, 503),
)


@router.put(
    "/{set_name}",
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
    """Store the set ``set_name`` (a domain name or ``target``) of the project."""
    body = await request.body()
    ctype = request.headers.get("content-type", "").split(";")[0].strip()
    if ctype == "application/json":
        try:
            # pydantic's own JSON parser: bounded nesting depth (a 1,000-deep body is an error, not a RecursionError)
            parsed = EmbeddingsIn.model_validate_json(body)
        except ValidationError as exc:
            raise InvalidInput(
                'body must be {"vectors": [[...], ...]} of finite numbers',
                code="invalid_embeddings",
                errors=[FieldError(format_loc(e["loc"]) if e["loc"] else "body", e["msg"]) for e in exc.errors()[:20]],
            ) from None
        rows = {len(v) for v in parsed.vectors}
        if len(rows) != 1:
            raise InvalidInput(
                "every vector must have the same length",
                code="invalid_embeddings",
                errors=[FieldError("vectors", "ragged rows")],
            )
        arr = np.asarray(parsed.vectors, dtype=np.float64)
    else:
        arr = svc.parse_npy(body)
    from starlette.concurrency import run_in_threadpool

    return EmbeddingOut(**await run_in_threadpool(svc.put_embedding, store, name, set_name, arr))


@router.get("", response_model=list[EmbeddingOut])
def list_embeddings(name: ProjectName, store: StoreDep) -> list[EmbeddingOut]:
    return [EmbeddingOut(**e) for e in svc.list_embeddings(store, name)]
