"""API tokens: stored as hashes, scoped to a project or admin, expiring on the database clock."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from store.base import StoreBase
from store.clock import utcnow
from store.errors import NotFound
from store.mapping import token_record
from store.models import ProjectRow, TokenRow
from store.records import TokenGrant, TokenRecord


class TokenStore(StoreBase):
    def create_token(
        self, token_hash: str, name: str, project_id: int | None, prefix: str = "", expires_in: float | None = None
    ) -> TokenRecord:
        """Store a token's hash; it expires ``expires_in`` seconds from now on the database clock (None: never)."""
        with self.tx() as s:
            row = TokenRow(
                token_hash=token_hash,
                name=name,
                project_id=project_id,
                prefix=prefix,
                expires_at=None if expires_in is None else utcnow(expires_in),
            )
            s.add(row)
            s.flush()
            s.refresh(row)
            return token_record(row, self._project_names(s, [row.project_id]))

    def token_scope(self, token_hash: str) -> TokenGrant | None:
        """What a live token (not revoked, not expired) may use, with its project's name; None for no such token."""
        with self.read() as s:
            row = s.execute(
                select(TokenRow.project_id, ProjectRow.name)
                .outerjoin(ProjectRow, ProjectRow.id == TokenRow.project_id)
                .where(
                    TokenRow.token_hash == token_hash,
                    TokenRow.revoked_at.is_(None),
                    (TokenRow.expires_at.is_(None)) | (TokenRow.expires_at > utcnow()),
                )
            ).one_or_none()
            return None if row is None else TokenGrant(row[0], row[1])

    def list_tokens(self) -> list[TokenRecord]:
        with self.read() as s:
            rows = s.scalars(select(TokenRow).order_by(TokenRow.id)).all()
            names = self._project_names(s, [r.project_id for r in rows])
            return [token_record(r, names) for r in rows]

    def revoke_token(self, token_id: int) -> TokenRecord:
        """Mark the token revoked (idempotent: a revoked token keeps its first revocation time)."""
        with self.tx() as s:
            row = s.get(TokenRow, token_id)
            if row is None:
                raise NotFound(f"token {token_id} does not exist", code="token_not_found")
            if row.revoked_at is None:
                row.revoked_at = utcnow()
                s.flush()
                s.refresh(row)
            return token_record(row, self._project_names(s, [row.project_id]))

    @staticmethod
    def _project_names(s: Session, ids: Sequence[int | None]) -> dict[int, str]:
        wanted = {i for i in ids if i is not None}
        if not wanted:
            return {}
        rows = s.execute(select(ProjectRow.id, ProjectRow.name).where(ProjectRow.id.in_(wanted))).all()
        return {pid: name for pid, name in rows}
