"""The database clock: UTC timestamps computed by the database, the same for every API process.

SQLAlchemy's ``func.now()`` means second-resolution local strings on SQLite, so the two dialects get their
own SQL here (SQLAlchemy's documented ``@compiles`` extension point).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement


class utcnow(FunctionElement[Any]):
    """Current UTC time on the database server, optionally shifted by ``seconds``."""

    type = DateTime(timezone=True)
    # The shift is part of the SQL text, so statements using it must not share a compiled-cache entry.
    inherit_cache = False

    def __init__(self, seconds: float = 0.0) -> None:
        super().__init__()
        self.seconds = float(seconds)


@compiles(utcnow, "postgresql")
def _pg_utcnow(element: utcnow, compiler: Any, **kw: Any) -> str:
    if element.seconds:
        return f"(CURRENT_TIMESTAMP + make_interval(secs => {element.seconds!r}))"
    return "CURRENT_TIMESTAMP"


@compiles(utcnow, "sqlite")
def _sqlite_utcnow(element: utcnow, compiler: Any, **kw: Any) -> str:
    # Same text format SQLAlchemy writes for DateTime on SQLite, so string comparisons order correctly.
    if element.seconds:
        return f"(strftime('%Y-%m-%d %H:%M:%f000', 'now', '{element.seconds:+.3f} seconds'))"
    return "(strftime('%Y-%m-%d %H:%M:%f000', 'now'))"
