"""The fit cache: pickled fitted mixers and memoized answers by key, the newest few per project."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from store.base import StoreBase
from store.models import FitCacheRow


class CacheStore(StoreBase):
    def cache_get(self, key: str) -> bytes | None:
        with self.read() as s:
            return s.scalar(select(FitCacheRow.data).where(FitCacheRow.key == key))

    def cache_put(self, project_id: int, key: str, data: bytes, keep: int = 32) -> None:
        """Store ``data`` under ``key``; keeps only the newest ``keep`` entries of the project."""
        try:
            with self.tx() as s:
                s.add(FitCacheRow(key=key, project_id=project_id, data=data))
                s.flush()
                old = s.scalars(
                    select(FitCacheRow.key)
                    .where(FitCacheRow.project_id == project_id)
                    .order_by(FitCacheRow.created_at.desc(), FitCacheRow.key)
                    .offset(keep)
                ).all()
                if old:
                    s.execute(delete(FitCacheRow).where(FitCacheRow.key.in_(old)))
        except IntegrityError:
            pass  # another process cached the same key first: same content by construction
