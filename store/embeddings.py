"""Embedding sets: arrays stored once by content hash, named per project."""

from __future__ import annotations

import hashlib
import io

import numpy as np
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from store.base import StoreBase
from store.clock import utcnow
from store.models import BlobRow, EmbeddingSetRow


class EmbeddingStore(StoreBase):
    def put_embedding(self, project_id: int, name: str, array: np.ndarray) -> str:
        """Store ``array`` once by content hash and point the project's set ``name`` at it.

        Upserts, so concurrent writes of the same set (or the same array) never collide; an array no set points
        at any more is removed.
        """
        buf = io.BytesIO()
        np.save(buf, np.ascontiguousarray(array), allow_pickle=False)
        data = buf.getvalue()
        digest = hashlib.sha256(data).hexdigest()
        for attempt in range(3):
            try:
                old = self._put_embedding(project_id, name, array, data, digest)
                break
            except IntegrityError:
                # Another writer removed the array between our upsert and our set (it had just stopped using it).
                if attempt == 2:
                    raise
        if old is not None and old != digest:
            self._collect_blobs({old})
        return digest

    def _put_embedding(
        self, project_id: int, name: str, array: np.ndarray, data: bytes, digest: str
    ) -> str | None:
        """One write of the set; returns the array it pointed at before (None for a new set)."""
        with self.tx() as s:
            self._bump(s, project_id)  # locks the project row first: one embedding write per project at a time
            blob = self._insert(BlobRow).values(
                sha256=digest, dtype=str(array.dtype), shape=list(array.shape), data=data
            )
            # DO UPDATE (not NOTHING) locks an existing array's row: a concurrent collection waits for this write.
            s.execute(blob.on_conflict_do_update(index_elements=["sha256"], set_={"sha256": blob.excluded.sha256}))
            old = s.scalars(
                select(EmbeddingSetRow.sha256).where(
                    EmbeddingSetRow.project_id == project_id, EmbeddingSetRow.name == name
                )
            ).one_or_none()
            stmt = self._insert(EmbeddingSetRow).values(project_id=project_id, name=name, sha256=digest)
            s.execute(
                stmt.on_conflict_do_update(
                    index_elements=["project_id", "name"], set_={"sha256": digest, "updated_at": utcnow()}
                )
            )
            return old

    def blob_digests(self) -> set[str]:
        """Content hashes of every stored array (for checks and tests)."""
        with self.read() as s:
            return set(s.scalars(select(BlobRow.sha256)).all())

    def embedding_index(self, project_id: int) -> dict[str, tuple[str, list[int]]]:
        """Set name -> (content hash, shape)."""
        with self.read() as s:
            rows = s.execute(
                select(EmbeddingSetRow.name, BlobRow.sha256, BlobRow.shape)
                .join(BlobRow, BlobRow.sha256 == EmbeddingSetRow.sha256)
                .where(EmbeddingSetRow.project_id == project_id)
            ).all()
            return {name: (digest, list(shape)) for name, digest, shape in rows}

    def load_embeddings(self, project_id: int) -> dict[str, np.ndarray]:
        with self.read() as s:
            rows = s.execute(
                select(EmbeddingSetRow.name, BlobRow.data)
                .join(BlobRow, BlobRow.sha256 == EmbeddingSetRow.sha256)
                .where(EmbeddingSetRow.project_id == project_id)
            ).all()
        return {name: np.load(io.BytesIO(data), allow_pickle=False) for name, data in rows}
