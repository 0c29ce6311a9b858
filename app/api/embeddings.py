"""Embedding sets: ``PUT`` as ``.npy`` bytes or JSON ``{vectors}``; list them."""

from __future__ import annotations

import json

import numpy as np
from fastapi import APIRouter, Request
from pydantic import ValidationError

from app.deps import ProjectName, StoreDep
from app.schemas import EmbeddingOut, EmbeddingsIn
from app.services import embeddings as svc
from store.errors import FieldError, InvalidInput

router = APIRouter(prefix="/api/v1/projects/{name}/embeddings", tags=["embeddings"])


@router.put(
    "/{set_name}",
    response_model=EmbeddingOut,
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
            parsed = EmbeddingsIn.model_validate(json.loads(body))
        except (ValueError, ValidationError) as exc:
            errs = exc.errors() if isinstance(exc, ValidationError) else []
            raise InvalidInput(
                'body must be {"vectors": [[...], ...]} of finite numbers',
                code="invalid_embeddings",
                errors=[FieldError(".".join(map(str, e["loc"])), e["msg"]) for e in errs[:20]]
                or [FieldError("body", "invalid JSON")],
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
