"""Embedding sets for the OT mixer: validate an ``(n, dim)`` array and store it by content hash."""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from pydantic import ValidationError

from app.services.inputs import DuplicateKeys, EmbeddingsIn, loads
from mixers.text_embedding import embed_texts
from store.errors import FieldError, InvalidInput, TooLarge, loc_text
from store.repository import Store

MAX_ROWS = 200_000
MAX_ELEMENTS = 50_000_000
# A JSON body costs about 30 bytes of Python objects per number while parsed; larger sets go as .npy.
MAX_JSON_BYTES = 32 * 1024 * 1024


# embed_texts: the CLI's text -> vectors
__all__ = ["embed_texts", "parse_json", "parse_npy", "put_embedding", "validate"]


def _bad(msg: str, loc: str = "body") -> InvalidInput:
    return InvalidInput(msg, code="invalid_embeddings", errors=[FieldError(loc, msg)])


def parse_npy(data: bytes) -> np.ndarray:
    """Read ``.npy`` bytes without pickles; anything malformed is a 422."""
    try:
        arr = np.load(io.BytesIO(data), allow_pickle=False)
    except Exception as exc:  # numpy raises ValueError, OSError, EOFError... for malformed files
        raise _bad(f"not a valid .npy array: {exc}") from exc
    if not isinstance(arr, np.ndarray):
        raise _bad("expected a single .npy array, not an archive")
    return arr


def parse_json(body: bytes) -> np.ndarray:
    """``{"vectors": [[...], ...]}`` of finite numbers, rows of one length; CPU-bound: call it off the event loop."""
    if len(body) > MAX_JSON_BYTES:
        msg = f"a JSON embedding body is at most {MAX_JSON_BYTES} bytes; send larger sets as .npy bytes"
        raise TooLarge(msg, "body_too_large", [FieldError("body", msg)])
    shape = 'body must be {"vectors": [[...], ...]} of finite numbers'
    try:
        if b"\\" not in body and body.count(b'"vectors"') <= 1:
            # No escapes and one "vectors": no key can repeat, so pydantic's own parser (3-4x faster, bounded
            # nesting) reads it; otherwise ``loads`` finds repeated keys.
            parsed = EmbeddingsIn.model_validate_json(body)
        else:
            parsed = EmbeddingsIn.model_validate(loads(body))
    except DuplicateKeys as exc:
        errors = [FieldError(loc_text(loc), f"duplicate key {loc[-1]!r} in a JSON object") for loc in exc.locs[:20]]
        raise InvalidInput(shape, code="invalid_embeddings", errors=errors) from None
    except ValidationError as exc:
        errors = [FieldError(loc_text(tuple(e["loc"])) or "body", e["msg"]) for e in exc.errors()[:20]]
        raise InvalidInput(shape, code="invalid_embeddings", errors=errors) from None
    except (ValueError, RecursionError) as exc:  # malformed JSON, nesting too deep for the parser
        raise InvalidInput(shape, code="invalid_embeddings", errors=[FieldError("body", str(exc)[:200])]) from None
    if len({len(v) for v in parsed.vectors}) != 1:
        ragged = [FieldError("vectors", "ragged rows")]
        raise InvalidInput("every vector must have the same length", code="invalid_embeddings", errors=ragged)
    return np.asarray(parsed.vectors, dtype=np.float64)


def validate(arr: np.ndarray, loc: str = "body") -> np.ndarray:
    """A non-empty, finite, 2-D numeric array within the size caps, as float32."""
    if arr.dtype.kind not in "fiu":
        raise _bad(f"dtype {arr.dtype} is not numeric", loc)
    if arr.ndim != 2:
        raise _bad(f"expected a 2-D array (n, dim), got shape {list(arr.shape)}", loc)
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise _bad("the array is empty", loc)
    if arr.shape[0] > MAX_ROWS or arr.size > MAX_ELEMENTS:
        raise _bad(f"at most {MAX_ROWS} vectors and {MAX_ELEMENTS} numbers per set", loc)
    out = arr.astype(np.float32)
    if not np.isfinite(out).all():
        raise _bad("the array holds NaN or infinite values (or values too large for float32)", loc)
    return out


@dataclass(frozen=True)
class EmbeddingSet:
    """A stored embedding set: its name, the content hash of its array and the array's shape ``(n, dim)``."""

    name: str
    sha256: str
    shape: list[int]


def put_embedding(store: Store, project_name: str, set_name: str, arr: np.ndarray) -> EmbeddingSet:
    project = store.get_project(project_name)
    if set_name != "target" and set_name not in project.domain_names:
        raise InvalidInput(
            f"set must be a domain name or 'target', got {set_name!r}",
            code="unknown_set",
            errors=[FieldError("set", f"unknown set {set_name!r}")],
        )
    arr = validate(arr)
    index = store.embedding_index(project.id)
    dims = {shape[1] for name, (_h, shape) in index.items() if name != set_name}
    if dims and arr.shape[1] not in dims:
        raise _bad(f"dimension {arr.shape[1]} differs from the project's other sets ({sorted(dims)[0]})")
    digest = store.put_embedding(project.id, set_name, arr)
    return EmbeddingSet(set_name, digest, list(arr.shape))


def list_embeddings(store: Store, project_name: str) -> list[EmbeddingSet]:
    project = store.get_project(project_name)
    return [EmbeddingSet(n, h, s) for n, (h, s) in sorted(store.embedding_index(project.id).items())]
